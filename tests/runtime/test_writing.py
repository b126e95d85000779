"""FeatureWriter: complete files or none, never a partial one, never a temporary left behind."""

from __future__ import annotations

import atexit
import errno
import gc
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    TinyModel,
    invoke,
    needs_proc_fd,
    one_error_line,
    read_features,
    sigint_at_line,
    tiny_line,
    write,
)

from cnnfeat.contract.errors import OutputError
from cnnfeat.runtime import writing
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.writing import FORMATS, FeatureWriter, output_for, write_file

DIM = 7
CHUNKS = [
    np.arange(3 * DIM, dtype=np.float32).reshape(3, DIM) / 7,
    np.full((2, DIM), 0.1, dtype=np.float32),
]
PREVIOUS = b"the previous output, which must survive any failure\n"


def write_all(path: Path, chunks=CHUNKS) -> None:
    with FeatureWriter(output_for(str(path)), DIM) as writer:
        for chunk in chunks:
            writer.write(chunk)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_and_nothing_else_left(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    write_all(out)
    assert np.array_equal(read_features(out, DIM), np.concatenate(CHUNKS))
    assert names(tmp_path) == [out.name]
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("suffix", FORMATS)
def test_empty_output_is_valid(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    write_all(out, chunks=[])
    assert read_features(out, DIM).shape == (0, DIM)
    if suffix in (".npy", ".npz"):
        assert read_features(out, DIM).dtype == np.float32


@pytest.mark.parametrize("suffix", FORMATS)
def test_temporary_in_same_directory_and_renamed_only_when_complete(
    tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"out{suffix}"
    out.write_bytes(PREVIOUS)
    with FeatureWriter(output_for(str(out)), DIM) as writer:
        writer.write(CHUNKS[0])
        parts = [n for n in names(tmp_path) if n != out.name]
        assert len(parts) == 1 and parts[0].startswith(f".{out.name}.")
        assert parts[0].endswith(".part")
        assert out.read_bytes() == PREVIOUS  # untouched while writing
        writer.write(CHUNKS[1])
    assert names(tmp_path) == [out.name]
    assert np.array_equal(read_features(out, DIM), np.concatenate(CHUNKS))


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("suffix", FORMATS)
def test_exception_inside_leaves_previous_file(
    tmp_path: Path, suffix: str, error: BaseException
) -> None:
    out = tmp_path / f"out{suffix}"
    out.write_bytes(PREVIOUS)
    with pytest.raises(type(error)):
        with FeatureWriter(output_for(str(out)), DIM) as writer:
            writer.write(CHUNKS[0])
            raise error
    assert names(tmp_path) == [out.name]
    assert out.read_bytes() == PREVIOUS


def test_keyboard_interrupt_inside_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.csv"

    def interrupted(features, fmt):
        raise KeyboardInterrupt

    monkeypatch.setattr(writing, "_as_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_all(out)
    assert names(tmp_path) == []


@pytest.mark.parametrize("where", ["fsync", "replace", "chmod", "zip"])
def test_keyboard_interrupt_while_finishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out = tmp_path / "out.npz"
    out.write_bytes(PREVIOUS)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "zip":
        monkeypatch.setattr(writing.shutil, "copyfileobj", interrupted)
    else:
        monkeypatch.setattr(writing.os, where, interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_all(out)
    assert names(tmp_path) == [out.name]
    assert out.read_bytes() == PREVIOUS


# --- disk full, unwritable places ------------------------------------------------------------


class FullDisk:
    """A file that takes `room` bytes and then fails every write with ENOSPC, like a full disk."""

    def __init__(self, real, room: int):
        self.real, self.room = real, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.real.close()


@pytest.mark.parametrize("room", [0, 200, 50_000])
@pytest.mark.parametrize("suffix", FORMATS)
def test_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, room: int) -> None:
    out = tmp_path / f"out{suffix}"
    out.write_bytes(PREVIOUS)
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        writing.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode), room)
    )
    big = [np.full((1000, DIM), 0.1234567, np.float32)] * 3  # 84 KB as .npy, more as text
    with pytest.raises(OutputError, match="No space left on device; nothing was written"):
        write_all(out, big)
    assert names(tmp_path) == [out.name]
    assert out.read_bytes() == PREVIOUS


def test_disk_full_at_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Network filesystems and quotas may only report a full disk when the data is flushed.
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writing.os, "fsync", full)
    out = tmp_path / "out.npy"
    with pytest.raises(OutputError, match=f"writing {out} failed: No space left on device"):
        write_all(out)
    assert names(tmp_path) == []


def test_disk_full_while_zipping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # .npz: the .npy temporary fits, the zip made from it does not.
    def full(source, target, length=0):
        target.write(source.read(100))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writing.shutil, "copyfileobj", full)
    out = tmp_path / "out.npz"
    out.write_bytes(PREVIOUS)
    with pytest.raises(OutputError, match="No space left on device"):
        write_all(out)
    assert names(tmp_path) == [out.name] and out.read_bytes() == PREVIOUS


def test_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(writing.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match=f"cannot write in {tmp_path}: Permission denied"):
        write_all(tmp_path / "out.npy")
    assert names(tmp_path) == []


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root may write anywhere (chmod ignored)"
)
def test_unwritable_directory_for_real(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write in .*Permission denied"):
            write_all(locked / "out.npy")
        assert names(locked) == []
    finally:
        locked.chmod(0o755)


def test_missing_directory_and_directory_target(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write in .*No such file or directory"):
        write_all(tmp_path / "no" / "out.npy")
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        write_all(tmp_path / "d.npy")


def test_the_output_format_is_decided_by_output_for(tmp_path: Path) -> None:
    """The one place the format is decided (runtime/pipeline.py's refusal before any work moved
    here and to the edges: tests/interface/test_api.py, test_cli.py)."""
    with pytest.raises(OutputError, match="unknown output format '.txt'"):
        output_for(str(tmp_path / "out.txt"))
    with pytest.raises(OutputError, match="unknown output format '[(]none[)]'"):
        output_for(str(tmp_path / "out"))
    assert output_for("-") == ("-", ".jsonl")
    assert output_for("F.NPZ") == ("F.NPZ", ".npz")


# --- stdout ----------------------------------------------------------------------------------


class Stdout:
    def __init__(self, buffer):
        self.buffer = buffer


def test_stdout_is_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", Stdout(buffer))
    write_all(Path("-"))
    got = np.array([json.loads(line) for line in buffer.getvalue().splitlines()], np.float32)
    assert np.array_equal(got, np.concatenate(CHUNKS))


def test_stdout_closed_by_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    class ClosedPipe(io.BytesIO):
        def write(self, data):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Stdout(ClosedPipe()))
    with pytest.raises(BrokenPipeError):  # the CLI turns this into a quiet exit 141
        write_all(Path("-"))


# --- a signal at any moment ------------------------------------------------------------------


def _complete_bytes(suffix: str, directory: Path) -> bytes:
    out = directory / f"reference{suffix}"
    write_all(out)
    data = out.read_bytes()
    out.unlink()
    return data


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("previous", [False, True])
@pytest.mark.parametrize("suffix", FORMATS)
def test_sigint_at_every_line_of_the_writer(tmp_path: Path, suffix: str, previous: bool) -> None:
    """Send a real SIGINT at the k-th line the writer executes, for every k.

    Afterwards there is either no file, the previous file, or (once the rename is done) the
    complete new file, and never a changed signal handler. The writer holds no signals back and
    keeps no registry of its temporaries: where the signal lands between creating one and
    noting it for removal (the line after `mkstemp`), or before Python has entered the `try`
    that removes it (the first line of `__exit__`), that hidden `.NAME.*` file stays behind; it
    never changes the output. Those line events are counted, and must stay that few.
    """
    complete = _complete_bytes(suffix, tmp_path)
    out = tmp_path / f"out{suffix}"
    source = writing.__file__
    interrupted_runs, left = 0, []
    for k in range(1, 10_000):
        if previous:
            out.write_bytes(PREVIOUS)
        elif out.exists():
            out.unlink()
        try:
            with sigint_at_line(k, {source}):
                write_all(out)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if not interrupted:
            assert names(tmp_path) == [out.name] and out.read_bytes() == complete
            break
        interrupted_runs += 1
        stray = [n for n in names(tmp_path) if n != out.name]
        if stray:
            assert all(n.startswith(".") and f"{out.name}." in n for n in stray), stray
            left.append(k)
            for name in stray:
                (tmp_path / name).unlink()
        if out.exists():
            assert out.read_bytes() in ((PREVIOUS, complete) if previous else (complete,))
        elif previous:
            pytest.fail(f"signal at line event {k} removed the previous output")
    assert interrupted_runs > 30  # the writer really was interrupted all along its way
    # The two lines named above, and for .npz the same first one for the zip's temporary.
    assert len(left) <= 2 + (suffix == ".npz"), f"temporaries left at line events {left}"


def test_no_stray_temporaries_in_system_tmp(tmp_path: Path) -> None:
    # The temporaries live next to the output, never in the system temp directory (where a
    # rename would cross filesystems and stop being atomic).
    before = set(os.listdir(tempfile.gettempdir()))
    write_all(tmp_path / "out.npz")
    after = set(os.listdir(tempfile.gettempdir()))
    assert not [n for n in after - before if n.endswith((".part", ".zip"))]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_that_ends_leaves_the_parents_temporary(tmp_path: Path) -> None:
    # What a child process runs as it ends (garbage collection, atexit handlers) must never
    # remove a temporary its parent is still writing.
    out = tmp_path / "out.npy"
    with FeatureWriter(output_for(str(out)), DIM) as writer:
        writer.write(CHUNKS[0])
        pid = os.fork()
        if pid == 0:
            gc.collect()
            atexit._run_exitfuncs()
            os._exit(0)
        os.waitpid(pid, 0)
        assert len(names(tmp_path)) == 1  # the parent's .part is still there
        writer.write(CHUNKS[1])
    assert np.array_equal(read_features(out, DIM), np.concatenate(CHUNKS))


# --- leftovers of a killed run are swept by the next write of the same output -----------------


CNNFEAT = [sys.executable, "-m", "cnnfeat"]  # one process, whose PID names its temporaries


def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


@pytest.mark.parametrize("via", ["FeatureWriter", "staged_file"])
def test_the_next_write_removes_a_dead_runs_temporaries_and_nothing_else(
    tmp_path: Path, via: str
) -> None:
    out = tmp_path / "out.npz"
    dead, live = dead_pid(), os.getppid()
    stale = [f".out.npz.{dead}-abc_1234.part", f".out.npz.{dead}-zz9yx8wv.zip"]
    kept = [
        f".out.npz.{live}-abcd1234.part",  # a run still going on
        ".out.npz.notes.part",  # not a temporary's name
        f".out.npz.{dead}-abc.part",  # nor this (8 random characters)
        f".out.npz.{dead}-abcd1234",  # nor this (no suffix)
        f".other.npz.{dead}-abcd1234.part",  # another output's
        f"out.npz.{dead}-abcd1234.part",  # not hidden
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".out.npz.{dead}-dirdir12.part").mkdir()  # a directory is never removed
    if via == "FeatureWriter":
        write_all(out)
    else:
        with writing.staged_file(out) as temp:
            temp.write_bytes(b"content")
    assert names(tmp_path) == sorted([*kept, f".out.npz.{dead}-dirdir12.part", "out.npz"])


def test_a_sigkilled_embed_leaves_a_temporary_that_the_next_run_removes(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"utterance number {i} of many\n" for i in range(400_000)))
    out = tmp_path / "out.npy"
    run = subprocess.Popen(
        [*CNNFEAT, "embed", str(lines), "-o", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # the temporary appears once the model is loaded
            if [n for n in names(tmp_path) if n.endswith(".part")]:
                break
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.05)
        run.kill()
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    left = [n for n in names(tmp_path) if n.endswith(".part")]
    assert left == [f".out.npy.{run.pid}-{left[0].split('-')[-1]}"], names(tmp_path)
    assert not out.exists()
    small = tmp_path / "small.txt"
    small.write_text("hello there\n")
    done = subprocess.run(
        [*CNNFEAT, "embed", str(small), "-o", str(out), "-q"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert names(tmp_path) == ["lines.txt", "out.npy", "small.txt"]
    assert read_features(out, 100).shape == (1, 100)


# --- the same-file check (writing.check_not_input) ------------------------------------------


def _cnnfeat(args: list[str], stdin_path: Path) -> subprocess.CompletedProcess:
    """`cnnfeat ARGS < stdin_path` in a subprocess: stdin is then a real file descriptor."""
    with open(stdin_path, "rb") as stdin:
        return subprocess.run(
            [sys.executable, "-c", "from cnnfeat.cli import main; main()", *args],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.mark.parametrize(
    ("command", "name", "content"),
    [
        ("tokenize", "mine.txt", "w1 w2\nw3\n"),
        ("embed", "s.jsonl", '{"text": "w1"}\n'),
        ("embed", "s.npz", "w1\n"),  # by dialogue: refused before "needs a file, not stdin"
    ],
)
def test_stdin_that_is_the_output_file_is_refused(
    tiny_global, tmp_path: Path, command: str, name: str, content: str
) -> None:
    """`cnnfeat tokenize - -o mine.txt < mine.txt` replaced the file with its ids (and `embed`
    the JSONL with features): the path check had no path for stdin. Also through a symlink."""
    path = tmp_path / name
    path.write_text(content)
    link = tmp_path / ("link" + path.suffix)
    link.symlink_to(path)
    extra = ["--dialogues"] if name.endswith(".npz") else []
    for out in (path, link):
        run = _cnnfeat(
            [command, "-", "-o", str(out), "--model", str(tiny_global.model_dir), *extra], path
        )
        assert run.returncode == 1, run.stderr
        want = f"{out} is the file standard input reads; choose another -o"
        assert run.stderr == f"cnnfeat: error: {want}\n"
        assert path.read_text() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, link.name])


@pytest.mark.parametrize(
    ("command", "stdin"), [("embed", False), ("tokenize", False), ("embed", True)]
)
def test_stdout_appending_to_the_input_file_is_refused(
    tiny_global, tmp_path: Path, command: str, stdin: bool
) -> None:
    """`cnnfeat embed big.txt -o - >> big.txt` read its own output back as utterances: the file
    grew to 149 MB in 30 s and would have filled the disk (the check skipped `-o -`). A
    tester's find; `-` input too. Standard output that is not a regular file stays allowed."""
    path = tmp_path / "s.txt"
    path.write_text("w1 w2\nw3\n")
    source = "-" if stdin else str(path)
    model = ["--model", str(tiny_global.model_dir)]
    argv = [sys.executable, "-c", "from cnnfeat.cli import main; main()", command, source]
    argv += ["-o", "-", *model]
    with open(path, "rb") as inp, open(path, "ab") as out:
        run = subprocess.run(argv, stdin=inp, stdout=out, stderr=subprocess.PIPE, text=True)
    what = "the file standard input reads" if stdin else "the input file"
    assert (run.returncode, run.stderr) == (
        1,
        f"cnnfeat: error: standard output is {what}; choose another -o\n",
    )
    assert path.read_text() == "w1 w2\nw3\n"
    with open(path, "rb") as inp:
        run = subprocess.run(argv, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert run.returncode == 0, run.stderr.decode()


def test_check_not_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device and inode, not names: a hard link, a symlink, `-` for stdin; a symlink loop, an
    absent output and stdin from another file are not the input."""
    source = tmp_path / "in.txt"
    source.write_text("w1\n")
    os.link(source, tmp_path / "hard.txt")
    (tmp_path / "soft.txt").symlink_to("in.txt")
    (tmp_path / "loop").symlink_to("loop")
    for out in ("hard.txt", "soft.txt", "in.txt"):
        with pytest.raises(OutputError, match="is the input file; choose another -o$"):
            writing.check_not_input(source, tmp_path / out)
    for out in ("loop", "absent.npy"):
        writing.check_not_input(source, tmp_path / out)
        writing.check_not_input(tmp_path / out, source)
    writing.check_not_input(source, "-")
    with open(source, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
        with pytest.raises(OutputError, match="standard input reads"):
            writing.check_not_input("-", tmp_path / "hard.txt")
        writing.check_not_input("-", tmp_path / "other.txt")


def test_output_symlink_loop_is_one_line(tiny_global, tmp_path: Path) -> None:
    """`embed --dialogues x.csv -o loop.npz` with loop.npz -> loop.npz was "internal error:
    RuntimeError: Symlink loop" (Path.resolve)."""
    from helpers import invoke, one_error_line

    source = tmp_path / "d.csv"
    source.write_text("Dialogue_ID,Utterance\n0,w1\n")
    (tmp_path / "loop.npz").symlink_to("loop.npz")
    for extra in (["--dialogues"], []):
        line = one_error_line(
            invoke(
                "embed",
                source,
                "-o",
                tmp_path / "loop.npz",
                "--model",
                tiny_global.model_dir,
                *extra,
            )
        )
        assert line.startswith(f"cnnfeat: error: cannot write {tmp_path / 'loop.npz'}: ")
        assert "internal error" not in line


@pytest.mark.parametrize("command", ["tokenize", "conformance"])
def test_a_model_file_under_another_name_is_not_written_over(
    tiny_global: TinyModel, tmp_path: Path, command: str
) -> None:
    """The model-directory check compared real paths, so a hard link to tokenizer.json (or
    standard output redirected onto it) passed, and the model's own file was replaced."""
    import shutil

    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))
    before = (model / "tokenizer.json").read_bytes()
    link = tmp_path / "ids.txt"
    os.link(model / "tokenizer.json", link)
    source = tmp_path / "in.txt"
    source.write_text(tiny_line(3) + "\n", encoding="utf-8")
    args = [source, "--model", model] if command == "tokenize" else [model]
    line = one_error_line(invoke(command, *args, "-o", link))
    assert line == (
        f"cnnfeat: error: {link} is part of the model directory {model}; it was left untouched; "
        "choose another -o"
    )
    with open(model / "tokenizer.json", "ab") as stdout:  # `-o - >> MODEL/tokenizer.json`
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "cnnfeat",
                "tokenize",
                str(source),
                "-o",
                "-",
                "--model",
                str(model),
            ],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert check.returncode == 1
    assert "standard output is part of the model directory" in check.stderr
    assert (model / "tokenizer.json").read_bytes() == before


# --- durability steps that no crash test can see ----------------------------------------


def _check_order(seen: list[tuple[str, str]], target: Path) -> None:
    renames = [i for i, (kind, path) in enumerate(seen) if kind == "rename" and path == str(target)]
    assert len(renames) == 1, seen
    at = renames[0]
    assert any(kind == "fsync-file" for kind, _ in seen[:at]), f"no data fsync before: {seen}"
    assert ("fsync-dir", str(target.parent)) in seen[at + 1 :], f"no directory fsync: {seen}"


@needs_proc_fd
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_feature_writer_syncs_data_then_renames_then_syncs_the_directory(
    tmp_path: Path, events: list, suffix: str
) -> None:
    """Found by breaking the line on purpose (issue 13, hollow tests)."""
    out = tmp_path / f"out{suffix}"
    with FeatureWriter(output_for(str(out)), 4) as writer:
        writer.write(np.ones((3, 4), np.float32))
    _check_order(events, out)


@needs_proc_fd
def test_write_file_syncs_data_then_renames_then_syncs_the_directory(
    tmp_path: Path, events: list
) -> None:
    """Found by breaking the line on purpose (issue 13, hollow tests)."""
    out = tmp_path / "conformance.json"
    write_file(out, b"{}\n")
    _check_order(events, out)
    assert out.read_bytes() == b"{}\n"


def test_write_file_to_a_directory_keeps_the_advice_to_give_a_file_name(
    tiny_global: TinyModel, tmp_path: Path
) -> None:
    """`cnnfeat conformance MODEL -o DIR` said "DIR is a directory; DIR was left as it was":
    write_file replaced check_output_file's advice with its own."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep").write_bytes(b"mine")
    with pytest.raises(OutputError) as caught:
        write_file(folder, b"{}")
    assert (caught.value.what, caught.value.advice) == (
        f"{folder} is a directory",
        "give a file name",
    )
    line = one_error_line(invoke("conformance", tiny_global.model_dir, "-o", folder))
    assert line == f"cnnfeat: error: {folder} is a directory; give a file name"
    assert [p.name for p in folder.iterdir()] == ["keep"]


# --- found by trying to break the API surface, tokenize and writing ---------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("tokenize", "IN", "-o", "OUT"),
        ("embed", "IN", "-o", "OUT.jsonl", "-q"),
        ("embed", "IN", "-o", "OUT.csv", "-q"),
        ("conformance", "MODEL", "-o", "OUT"),
    ],
)
def test_an_output_that_is_a_fifo_is_refused_not_replaced(
    tiny_global: TinyModel, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Staging renames a regular file over -o: over a FIFO (or a device such as /dev/null,
    as root) that replaced the special file with a regular one, exit 0.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    out = tmp_path / [a for a in args if a.startswith("OUT")][0]
    os.mkfifo(out)
    argv = [str(source) if a == "IN" else str(out) if a.startswith("OUT") else a for a in args]
    argv = [str(tiny_global.model_dir) if a == "MODEL" else a for a in argv]
    if args[0] != "conformance":
        argv += ["--model", str(tiny_global.model_dir)]
    line = one_error_line(invoke(*argv))
    assert "not a regular file" in line, line
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.txt", out.name])


def test_a_symlink_to_a_fifo_is_refused_too(tiny_global: TinyModel, tmp_path: Path) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "ids.txt").symlink_to("pipe")
    model = tiny_global.model_dir
    line = one_error_line(invoke("tokenize", source, "-o", tmp_path / "ids.txt", "--model", model))
    assert "ids.txt is a FIFO" in line, line
    assert stat.S_ISFIFO(os.stat(tmp_path / "ids.txt").st_mode)


@pytest.mark.parametrize("command", ["embed", "tokenize"])
def test_an_output_symlink_loop_is_one_line_not_an_internal_error(
    tiny_global: TinyModel, tmp_path: Path, command: str
) -> None:
    """Path.resolve() raises RuntimeError on a symlink loop: `cnnfeat embed -o loop.npy`
    said 'internal error: RuntimeError: Symlink loop ... this is a bug in cnnfeat'.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    a, b = ("a.npy", "b.npy") if command == "embed" else ("a.txt", "b.txt")
    (tmp_path / a).symlink_to(b)
    (tmp_path / b).symlink_to(a)
    model = tiny_global.model_dir
    line = one_error_line(invoke(command, source, "-o", tmp_path / a, "--model", model))
    assert "internal error" not in line and "symbolic links" in line, line
    assert (tmp_path / a).is_symlink() and (tmp_path / b).is_symlink()


def test_embed_file_to_a_symlink_loop_raises_output_error(
    tiny_global: TinyModel, tmp_path: Path
) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    from cnnfeat import OutputError
    from cnnfeat.runtime.pipeline import embed_file
    from cnnfeat.runtime.writing import output_for

    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    (tmp_path / "a.npy").symlink_to("b.npy")
    (tmp_path / "b.npy").symlink_to("a.npy")
    with pytest.raises(OutputError, match="a.npy"):
        embed_file(
            str(source), output_for(str(tmp_path / "a.npy")), Embedder(tiny_global.model_dir)
        )


# --- output files --------------------------------------------------------------------------------


ROWS = np.ones((2, 3), np.float32)


def write_rows(path: Path) -> None:
    with FeatureWriter(output_for(str(path)), 3) as writer:
        writer.write(ROWS)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    """From the round on the API's input and the program's files and first moment."""
    previous = os.umask(mask)
    try:
        write_rows(tmp_path / "out.npy")
        writing.write_file(tmp_path / "c.json", b"{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.npy").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    """From the round on the API's input and the program's files and first moment."""
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    out.chmod(0o600)
    write_rows(out)
    assert out.stat().st_mode & 0o777 == 0o600 and read_features(out, 3).shape == (2, 3)


@pytest.mark.parametrize("dangling", [False, True])
def test_output_through_a_symlink_writes_its_target(tmp_path: Path, dangling: bool) -> None:
    """From the round on the API's input and the program's files and first moment."""
    target = tmp_path / "real" / "features.npy"
    target.parent.mkdir()
    if not dangling:
        target.write_bytes(b"old")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    write_rows(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert np.array_equal(np.load(target), ROWS)
    assert sorted(p.name for p in target.parent.iterdir()) == ["features.npy"]


@pytest.mark.parametrize("length", [100, 200, 250, 255])
def test_any_name_the_filesystem_accepts(tmp_path: Path, length: int) -> None:
    """From the round on the API's input and the program's files and first moment."""
    for suffix in (".npy", ".npz"):
        name = "é" * ((length - 4) // 2) + "x" * ((length - 4) % 2) + suffix
        assert len(name.encode()) == length
        write_rows(tmp_path / name)
        assert np.array_equal(read_features(tmp_path / name, 3), ROWS)
    writing.write_file(tmp_path / ("c" * 250 + ".json"), b"{}")


@pytest.mark.parametrize(
    "command",
    [
        lambda model, out: ["conformance", model, "-o", out],
        lambda model, out: ["embed", "-", "--model", model, "-o", out],
        lambda model, out: ["tokenize", "-", "--model", model, "-o", out],
    ],
)
@pytest.mark.parametrize("exists", [False, True])
@pytest.mark.parametrize("ending", ["/", "/."])
def test_an_output_name_ending_in_a_slash_is_a_directory(
    tiny_global: TinyModel, tmp_path: Path, command, exists: bool, ending: str
) -> None:
    """`-o newdir/` made a file named newdir, and `-o mine.npy/` replaced mine.npy (pathlib
    drops the '/'); the shell refuses `> mine.npy/`."""
    name = "mine.npy" if "embed" in command("m", "o") else "mine.txt"
    if exists:
        (tmp_path / name).write_bytes(b"mine")
    out = f"{tmp_path / name}{ending}"  # `/.` too: pathlib makes keep.txt/. keep.txt
    line = one_error_line(invoke(*command(tiny_global.model_dir, out), input="w1\n"))
    assert line == (
        f"cnnfeat: error: {out} ends in '{ending}', which names a directory; give a file name"
    )
    assert [p.name for p in tmp_path.iterdir()] == ([name] if exists else [])
    if exists:
        assert (tmp_path / name).read_bytes() == b"mine"
