"""Directories that only ever appear complete: a run directory, a model directory.

`staged_directory(target)` gives an empty directory beside `target`; everything is written into
it, and only when the block ends cleanly does it take `target`'s place (an atomic exchange where
the system has one, renameat2(RENAME_EXCHANGE) on Linux; else two renames). On any exception,
SIGINT or SIGTERM (an exception at the CLI) the staging directory is removed and `target` is left
byte for byte as it was; cut short between the fallback's two renames, the old one is put back.
No signal is held back: everything after the staging directory exists runs inside the `try`
whose cleanup (`_tidy`) does this, so one signal anywhere leaves nothing else (a SIGINT at every
line: tests/runtime/test_staging.py). Only a second signal during that cleanup can leave a
staging or old directory beside `target`, as a SIGKILL can (below), with `target` there whole
unless the second signal lands between the fallback's renames.

A SIGKILL cannot be caught: it may leave `.NAME.staging-PID-XXXX` (always incomplete) or, between
the two renames of the fallback, `.NAME.old-PID-XXXX` with `target` missing. The next staging of
the same target removes the first kind and puts the second back, once that PID is gone and no
run holds the directory's lock (flock: a run in another PID namespace or on another NFS host).

`check_replaceable` refuses, before any work, a target that is not absent, an empty directory or
a directory of the kind the command writes: a command must never replace what the user made.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnfeat.contract.errors import CnnfeatError, OutputError
from cnnfeat.runtime import signals
from cnnfeat.runtime.temporaries import claim, lock_path, pid_alive, release, temporary_prefix
from cnnfeat.runtime.writing import _fsync_dir, _reason, _remove, replaced_mode

_STAGING, _OLD = "staging", "old"
_ANOTHER = "choose another --out"  # the advice where --out cannot be used
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def check_replaceable(target: Path, kind: str, marker: str, known: Iterable[str]) -> None:
    """Refuse `target` unless it is absent, an empty directory, or a `kind` directory: one that
    holds `marker` and nothing but the `known` names. Raises OutputError naming `target`."""
    _check_writable_beside(target)
    if not target.exists():
        if target.is_symlink():
            raise OutputError(f"{target} is a broken symbolic link", advice=_ANOTHER)
        return
    if not target.is_dir():
        raise OutputError(f"{target} is a file, not a directory", advice=_ANOTHER)
    try:
        entries = list(os.scandir(target))
    except OSError as exc:
        raise OutputError(f"cannot read {target}: {_reason(exc)}", advice=_ANOTHER) from None
    if not entries:
        return
    if marker not in {entry.name for entry in entries}:
        raise OutputError(
            f"{target} is not empty and is not a {kind} directory",
            advice="it was left untouched: choose a new or empty --out",
        )
    foreign = _foreign(entries, set(known))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"{target} is a {kind} directory but also holds {shown}, which cnnfeat did not write",
            advice="it was left untouched: move them or choose another --out",
        )


def _foreign(entries: list[os.DirEntry], known: set[str]) -> list[str]:
    """The entries the swap must not delete, sorted: names cnnfeat does not write, and anything
    but a regular file under a name it does (it writes only regular files; `model.onnx/` may
    hold the user's files, a symbolic link or a FIFO there is the user's own)."""
    foreign = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            foreign.append(entry.name + "/")
        elif entry.is_symlink():
            foreign.append(f"{entry.name} (a symbolic link)")
        elif entry.name not in known:
            foreign.append(entry.name)
        elif not entry.is_file(follow_symlinks=False):  # a FIFO, a socket, a device
            foreign.append(f"{entry.name} (not a regular file)")
    return sorted(foreign)


def _check_writable_beside(target: Path) -> None:
    """The staging directory goes beside `target`: refuse now, not after hours of training, a
    parent that is a file or that cannot be written (permissions, a read-only file system)."""
    folder = Path(target).parent  # as given, for the message
    while not folder.exists() and not folder.is_symlink() and folder.parent != folder:
        folder = folder.parent  # created on saving, if the nearest existing one allows
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is not a directory", advice=_ANOTHER)
    if not os.access(folder, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):
            read_only = False
        reason = "Read-only file system" if read_only else "Permission denied"
        raise OutputError(f"cannot write {target}: {folder}: {reason}", advice=_ANOTHER)


@contextmanager
def staged_directory(target: str | Path, known: Iterable[str] | None = None) -> Iterator[Path]:
    """Yield an empty directory to fill; on clean exit it replaces `target` whole.

    Errors while writing or swapping (disk full, permissions) become one OutputError naming
    `target`, never the staging directory. Other exceptions pass through unchanged. With
    `known` (the names the command writes), a `target` that holds anything else when the swap
    comes (a file the user put there while the command ran) is left as it was: OutputError.
    """
    shown = str(target)  # as the user gave it
    target = Path(os.path.abspath(target))
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.parent == target:
        raise OutputError(f"{target} cannot be replaced", advice=_ANOTHER)
    staging = None
    locks: list[int] = []  # held on staging (and on target while it is set aside) until done
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(target)
        staging = Path(tempfile.mkdtemp(prefix=_prefix(target, _STAGING), dir=target.parent))
        lock_path(staging, locks)
        os.chmod(staging, replaced_mode(target, 0o777))  # mkdtemp makes it private
        yield staging
        _sync_tree(staging)
        if known is not None:
            _check_only(target, set(known), shown)
        _swap(staging, target, locks, shown)
    except BaseException as exc:
        if staging is None:  # nothing made yet
            if isinstance(exc, OSError):
                reason = _reason(exc)
                raise OutputError(f"cannot write {shown}: {reason}", advice=_ANOTHER) from None
            raise
        _tidy(staging, target)
        if isinstance(exc, OSError):
            raise OutputError(
                f"writing {shown} failed: {_reason(exc)}", advice=f"{shown} was left as it was"
            ) from None
        if isinstance(exc, CnnfeatError) and exc.path is not None:
            inside = Path(os.path.abspath(exc.path))
            if inside == staging or staging in inside.parents:
                # A file checker's own error: the same, naming the file as the user knows it.
                part = inside.relative_to(staging)
                raise exc.replace(path=os.path.join(shown, part) if part.parts else shown) from None
        raise
    finally:
        release(locks)


def _check_only(target: Path, known: set[str], shown: str) -> None:
    """OutputError if `target` holds names outside `known`: they appeared after
    check_replaceable passed, and the swap would delete them with the old directory."""
    if not target.is_dir():
        return
    foreign = _foreign(list(os.scandir(target)), known)
    if foreign:
        names = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"{shown} now holds {names}, which cnnfeat did not write (added while it ran)",
            advice=f"{shown} was left as it was and the new one was not kept: "
            "move them and run again",
        )


def sweep_leftovers(target: Path) -> None:
    """Tidy what a killed run (SIGKILL, power loss) left beside `target`: staging directories
    are removed; an old directory whose swap was cut short is put back if `target` is missing.
    A run still going on (its PID here, or its lock held: one in another PID namespace or on
    another NFS host) keeps its directories."""
    for path in target.parent.glob(_glob(target)):
        kind, pid = _owner(path, target)
        if pid is None or pid_alive(pid):
            continue  # not ours, or a run still going on
        held = claim(path, directory=True)
        if held is None:
            continue  # not a directory, or a run elsewhere still holds it
        try:
            if kind == _OLD and not target.exists():
                os.rename(path, target)
            else:
                shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(held)


def _swap(staging: Path, target: Path, locks: list[int], shown: str) -> None:
    """Put `staging` in `target`'s place: one atomic exchange (staging then holds the old
    directory), else two renames, target -> old and staging -> target (old locked meanwhile,
    added to `locks`). Then the old one goes."""
    signals.placing(target, staging, shown)  # so that a signal after the swap cannot deny it
    if not target.exists():
        os.rename(staging, target)
    elif not _exchange(staging, target):
        lock_path(target, locks)
        os.rename(target, _old(staging, target))
        os.rename(staging, target)
    _fsync_dir(target.parent)
    _tidy(staging, target)


def _tidy(staging: Path, target: Path) -> None:
    """After a swap, or on the way out of one: `target` back if the two renames were cut short
    between them, then nothing left beside it. Harmless to repeat."""
    old = _old(staging, target)
    if not target.exists() and old.is_dir():
        os.rename(old, target)
    _remove(staging)
    _remove(old)


def _old(staging: Path, target: Path) -> Path:
    """Where the fallback swap moves `target` aside: `.NAME.old-PID-` and staging's random part."""
    return staging.with_name(_prefix(target, _OLD) + staging.name.rsplit("-", 1)[1])


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False  # glibc before 2.28, musl
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # this filesystem cannot exchange
    raise OSError(code, os.strerror(code))


def _sync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def _prefix(target: Path, kind: str) -> str:
    return f"{temporary_prefix(target)}{kind}-{os.getpid()}-"


def _glob(target: Path) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in temporary_prefix(target)) + "*-*-*"


def _owner(path: Path, target: Path) -> tuple[str | None, int | None]:
    rest = path.name[len(temporary_prefix(target)) :].split("-")
    if (
        len(rest) != 3
        or rest[0] not in (_STAGING, _OLD)
        or not rest[1].isascii()
        or not rest[1].isdigit()
    ):
        return None, None
    return rest[0], int(rest[1])
