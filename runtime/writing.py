"""Writing features: .npy, .npz, .jsonl or .csv, streamed, and never half-written.

Everything goes to a temporary file (`.NAME.PID-XXXXXXXX.part`) in the destination's directory, is
fsynced, and is renamed over the destination only when complete; on any exception (a full disk,
KeyboardInterrupt, SIGTERM, which the CLI turns into an exception) the temporary is removed. So
the destination is, at every instant, the previous file (or none) or the complete new one.
This module installs no signal handlers. A signal landing in the few bytecodes between creating
a temporary and entering the `try` that removes it can leave that hidden `.part` file behind,
never a changed destination (tests/runtime/test_writing.py,
test_sigint_at_every_line_of_the_writer).
Such a leftover, or one a SIGKILL or power loss left, is removed by the next write of the same
destination once the process named in it (PID, as runtime/staging.py does) is gone and no
writer holds its lock (flock: a writer in another PID namespace or on another NFS host).
`.npy` is streamed with a fixed-size header that is rewritten with the final row count.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from cnnfeat.contract.errors import OutputError
from cnnfeat.contract.layout import CARD_FILE, MODEL_FILE, TOKENIZER_FILE
from cnnfeat.runtime import signals
from cnnfeat.runtime.temporaries import lock_fd, release, sweep_temporaries, temporary_prefix

FORMATS = (".npy", ".npz", ".jsonl", ".csv")
_NPY_HEADER_BYTES = 128  # magic(6) + version(2) + length(2) + dict padded to a 64-byte multiple


class Output(NamedTuple):
    """Where features go and in which format: decided once, by `output_for`, where a command
    or API call starts, and handed on to FeatureWriter."""

    path: str  # a file, or "-" for standard output
    format: str  # one of FORMATS


def output_for(path: str) -> Output:
    """The output `path` names: its format from its extension (case-insensitive; "-" is JSON
    lines on standard output). Raises OutputError for any other extension."""
    if path == "-":
        return Output(path, ".jsonl")
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(
            f"unknown output format {suffix or '(none)'!r}",
            path,
            advice=f"use one of {', '.join(FORMATS)}",
        )
    return Output(path, suffix)


class FeatureWriter:
    """Context manager: `write(chunk)` any number of times; the file appears on clean exit.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    destination is left as it was. `-` writes JSON lines to stdout, which cannot be taken back.
    """

    def __init__(self, output: Output, dim: int):
        self.path, self.format = output
        self.dim, self.rows = dim, 0
        self._temps: list[Path] = []  # every temporary file that exists; removed on failure
        self._locks: list[int] = []  # fds holding the temporaries' locks (`_temporary`)
        self._handle: BinaryIO | None = None

    def __enter__(self) -> FeatureWriter:
        if self.path == "-":
            self._handle = standard_output()
            return self
        target = check_output_file(self.path)
        sweep_temporaries(target)
        try:
            fd = _temporary(target, "choose another -o", self._temps, locks=self._locks)
            self._handle = os.fdopen(fd, "w+b")
            if self.format in (".npy", ".npz"):
                self._handle.write(_npy_header(0, self.dim))
            elif self.format == ".csv":
                self._handle.write((",".join(f"f{i}" for i in range(self.dim)) + "\n").encode())
            return self
        except BaseException as exc:
            # __exit__ does not run when __enter__ fails, so clean up here.
            self._discard()
            if isinstance(exc, OSError):
                raise self._failed(exc) from None
            raise

    def write(self, features: np.ndarray) -> None:
        assert self._handle is not None
        features = np.ascontiguousarray(features, dtype=np.float32)
        if self.format in (".npy", ".npz"):
            data = features.tobytes()
        else:
            data = _as_text(features, self.format).encode()
        try:
            self._handle.write(data)
        except BrokenPipeError:
            if self.path == "-":
                raise  # the reader of stdout went away (`| head`); the CLI exits quietly
            raise self._failed(BrokenPipeError()) from None
        except OSError as exc:
            raise self._failed(exc) from None
        self.rows += len(features)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:  # first, so that an exception on any line below still cleans up
            if exc_type is not None:
                self._discard()
            elif self.path == "-":
                assert self._handle is not None  # set by __enter__
                self._handle.flush()
            else:
                self._finish()
        except BaseException as error:
            self._discard()
            if isinstance(error, OSError) and not (
                self.path == "-" and isinstance(error, BrokenPipeError)
            ):
                raise self._failed(error) from None
            raise

    def _finish(self) -> None:
        handle = self._handle
        assert handle is not None  # set by __enter__
        if self.format in (".npy", ".npz"):
            handle.seek(0)
            handle.write(_npy_header(self.rows, self.dim))
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        if self.format == ".npz":
            self._wrap_npz()
        _install(self._temps[-1], destination(self.path))
        self._temps.clear()
        release(self._locks)

    def _wrap_npz(self) -> None:
        # An .npz is a zip of .npy members; ours holds one, "features", stored uncompressed,
        # with a fixed date (as numpy.savez) so that the same features give the same bytes.
        npy = self._temps[-1]
        os.close(
            _temporary(
                destination(self.path), "choose another -o", self._temps, ".zip", self._locks
            )
        )
        zipped = self._temps[-1]
        member = zipfile.ZipInfo("features.npy", date_time=(1980, 1, 1, 0, 0, 0))
        member.external_attr = 0o644 << 16
        member.file_size = npy.stat().st_size  # decides whether ZIP64 records are needed
        archive = zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED, allowZip64=True)
        target = None
        try:
            target = archive.open(member, "w")
            with open(npy, "rb") as source:
                shutil.copyfileobj(source, target, 1 << 20)
            target.close()
            archive.close()
        except BaseException:
            # The member first: zipfile refuses to close an archive whose member is open, with
            # a ValueError over this exception (and again when the archive is collected).
            if target is not None:
                target.close()
            archive.close()
            raise
        fd = os.open(zipped, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        npy.unlink()  # then forgotten: removing a listed temporary that is gone is harmless
        self._temps.remove(npy)

    def _discard(self) -> None:
        if self.path != "-" and self._handle is not None and not self._handle.closed:
            try:
                self._handle.close()
            except OSError:
                pass  # a full disk fails the final flush too; the file goes anyway
        while self._temps:
            _remove(self._temps[-1])
            self._temps.pop()
        release(self._locks)

    def _failed(self, exc: OSError) -> OutputError:
        if self.path == "-":
            return OutputError(f"writing to stdout failed after {self.rows} rows: {_reason(exc)}")
        return OutputError(
            f"writing {self.path} failed: {_reason(exc)}", advice="nothing was written"
        )


def standard_output() -> BinaryIO:
    """Standard output's byte stream, for output named "-"; noted first (`signals.streaming`),
    as what is written there cannot be taken back: a command cut short then says so."""
    signals.streaming()
    return sys.stdout.buffer


def destination(path: str | Path) -> Path:
    """Where writing `path` lands: through a symlink, its target (as shell redirection does)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


_SPECIAL = {
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}


def check_output_file(path: str | Path) -> Path:
    """`destination(path)`, or OutputError when it is a directory or a special file (a device
    such as /dev/null, a FIFO): renaming a finished file over it would replace it. A name
    ending in '/', '/.' or '/..' names a directory too, as the shell's `> name/` does (pathlib
    drops it)."""
    ending = next((e for e in ("/", "/.", "/..") if str(path).endswith(e)), None)
    if ending is not None:  # pathlib would write `keep.txt/.` over keep.txt
        raise OutputError(
            f"{path} ends in '{ending}', which names a directory", advice="give a file name"
        )
    target = destination(path)
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return target
    except OSError as exc:  # a symlink loop, a name too long
        raise OutputError(
            f"cannot write {path}: {_reason(exc)}", advice="choose another -o"
        ) from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"{path} is a directory", advice="give a file name")
    if not stat.S_ISREG(mode):
        kind = _SPECIAL.get(stat.S_IFMT(mode), "special file")
        raise OutputError(
            f"{path} is a {kind}, not a regular file",
            advice="cnnfeat writes a "
            "file and renames it into place, which would replace it: write to a "
            "regular file, or -o - for standard output",
        )
    return target


def check_not_input(
    input_path: str | Path, output_path: str | Path, advice: str = "choose another -o"
) -> None:
    """OutputError when writing `output_path` would replace the file `input_path` reads: the
    same file by device and inode, through any symlinks, and for `-` the file behind standard
    input (`cnnfeat embed - -o s.jsonl < s.jsonl`). The one same-file check of every command.

    For `-o -` the file behind standard output (`cnnfeat embed s.txt -o - >> s.txt` would read
    its own output back without end); only a regular file there can be the input (not a
    terminal, a pipe or /dev/null). An output that does not exist yet, or a path that cannot be
    looked up (a symlink loop: reported by `check_output_file`) is never the input. `advice`:
    what to do, in the caller's terms (the Python API names its argument).
    """
    to_stdout = str(output_path) == "-"
    try:
        # follows symlinks; ELOOP, ENOENT... are OSError
        out = os.fstat(sys.stdout.fileno()) if to_stdout else os.stat(output_path)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return
    if to_stdout and not stat.S_ISREG(out.st_mode):
        return
    try:
        source = os.fstat(sys.stdin.fileno()) if str(input_path) == "-" else os.stat(input_path)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return  # no stdin (a host's worker), or an input that cannot be read: said when read
    if (source.st_dev, source.st_ino) == (out.st_dev, out.st_ino):
        what = "the file standard input reads" if str(input_path) == "-" else "the input file"
        where = "standard output" if to_stdout else str(output_path)
        raise OutputError(f"{where} is {what}", advice=advice)


def check_not_model(model_dir: str | Path, output_path: str | Path) -> None:
    """OutputError when `output_path` (or standard output, for `-`) is one of the files of the
    model directory a command reads (model.onnx, tokenizer.json, cnnfeat.json): `cnnfeat
    tokenize -o MODEL/tokenizer.json` would replace what it tokenises with. The same test as
    check_not_input, file by file."""
    for name in (MODEL_FILE, TOKENIZER_FILE, CARD_FILE):
        try:
            check_not_input(Path(model_dir) / name, output_path)
        except OutputError:
            where = "standard output" if str(output_path) == "-" else str(output_path)
            raise OutputError(
                f"{where} is part of the model directory {model_dir}; it was left untouched",
                advice="choose another -o",
            ) from None


def write_file(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all (`staged_file`); OutputError naming `path`,
    whose old content is then left as it was. A `path` that cannot be a file's (a directory,
    a device) is refused first, with check_output_file's own advice."""
    check_output_file(path)  # outside the `try`: its advice says what to do instead
    try:
        with staged_file(path) as temp:
            with open(temp, "wb") as handle:
                handle.write(data)
    except OutputError as exc:
        raise exc.replace(advice=f"{path} was left as it was") from None


def _temporary(
    target: Path,
    advice: str,
    temps: list[Path],
    suffix: str = ".part",
    locks: list[int] | None = None,
) -> int:
    """Create `.NAME.PID-XXXXXXXX.part` beside `target` and add it to `temps`, which the caller
    removes on failure; returns an fd open for writing. The file is locked (flock) through an
    fd added to `locks`, which the caller closes (`release`) once the file is renamed or gone."""
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{temporary_prefix(target)}{os.getpid()}-", suffix=suffix, dir=target.parent
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write in {target.parent}: {_reason(exc)}", advice=advice
        ) from None
    temps.append(Path(tmp))  # a signal just before this line leaves the file behind
    if locks is not None:
        lock_fd(fd, locks)
    return fd


def _install(tmp: Path, target: Path) -> None:
    """Rename the complete temporary over `target`: the mode of the file it replaces, else the
    umask's (mkstemp makes files private)."""
    os.chmod(tmp, replaced_mode(target, 0o666))
    signals.placing(target, tmp)  # so that a signal after the rename cannot deny it
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def replaced_mode(target: Path, base: int) -> int:
    """The permission bits of `target` if it exists, else `base` less the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return base & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for every thread)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # a staged directory (runtime/staging.py)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # nothing more can be done; never hide the error that got us here


def _fsync_dir(directory: Path) -> None:
    # Make the rename itself durable; not every system can open a directory (Windows).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _npy_header(rows: int, dim: int) -> bytes:
    described = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    body = described.ljust(_NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin-1")


def _as_text(features: np.ndarray, fmt: str) -> str:
    # %.9g round-trips float32 exactly while staying short.
    row = ",".join(["%.9g"] * features.shape[1])
    if fmt == ".jsonl":
        row = "[" + row + "]"
    return "".join(row % tuple(values) + "\n" for values in features.tolist())


@contextmanager
def staged_file(path: str | Path, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    For writers that need a file name rather than a stream (zipfile, pyarrow.parquet): the same
    promise as FeatureWriter (fsync, rename, directory fsync; on any exception the
    temporary is removed and `path` is left as it was; the umask, a replaced file's mode and a
    symlink's target are respected). Raises OutputError when the directory cannot be written or
    the write fails with an OSError.
    """
    target = check_output_file(path)
    sweep_temporaries(target)
    temps: list[Path] = []
    locks: list[int] = []
    try:
        os.close(_temporary(target, "choose another -o", temps, suffix, locks))
        temp = temps[0]
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _install(temp, target)
    except OSError as exc:
        raise OutputError(
            f"writing {path} failed: {_reason(exc)}", advice="nothing was written"
        ) from None
    finally:
        for temp in temps:
            _remove(temp)  # gone already once renamed
        release(locks)
