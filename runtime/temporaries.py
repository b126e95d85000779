"""Temporaries' names, their locks, and sweeping what killed runs left behind.

Every file or directory cnnfeat writes is first a hidden temporary beside its destination,
named `.NAME.PID-XXXXXXXX.SUFFIX` (runtime/writing.py) or `.NAME.staging-PID-XXXXXXXX`
(runtime/staging.py), and locked (flock) by its writer until it is renamed into place. A
SIGKILL or power loss leaves it behind; the next write of the same destination removes it once
its PID is gone here *and* its lock can be taken: the PID alone says nothing of a writer in
another PID namespace (a container sharing the directory) or on another NFS client.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl

_NAME_KEPT = 190  # bytes of the destination's name kept in a temporary's name


def lock_fd(fd: int, locks: list[int]) -> None:
    """Lock the file open as `fd` for as long as a duplicate, added to `locks`, is open (the
    lock belongs to the open file, so closing `fd` keeps it). A PID says whether a writer lives
    only in the writer's PID namespace on the writer's host; the lock says so to a sweep in a
    container sharing the directory, or on another NFS client, too. Best effort: on a
    filesystem without locks a sweep removes nothing (`claim`)."""
    if sys.platform == "win32":
        return  # nothing is swept there (pid_alive)
    try:
        held = os.dup(fd)
    except OSError:
        return
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(held)
        return
    locks.append(held)


def release(locks: list[int]) -> None:
    """Close every fd in `locks` (`lock_fd`), which frees their locks; `locks` ends empty."""
    while locks:
        os.close(locks.pop())


def claim(path: str | Path, directory: bool = False) -> int | None:
    """An fd holding the lock of `path`, a regular file (or with `directory`, a directory);
    never a link, a device or a FIFO, which cnnfeat does not make. None when it is not one,
    cannot be opened, or a writer holds its lock (`lock_fd`)."""
    if sys.platform == "win32":
        return None  # nothing is swept there (pid_alive)
    kind = stat.S_ISDIR if directory else stat.S_ISREG
    try:
        if not kind(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if kind(os.fstat(fd).st_mode):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
    except OSError:
        pass  # locked: a writer is at work (in another PID namespace, on another host)
    os.close(fd)
    return None


def lock_path(path: Path, locks: list[int]) -> None:
    """`lock_fd` the file or directory at `path` (best effort)."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        lock_fd(fd, locks)
    finally:
        os.close(fd)


def temporary_prefix(target: Path) -> str:
    """`.NAME.`, with NAME cut so a temporary's name (prefix + a PID and a kind of up to 20
    characters + 8 random ones + a suffix of up to 30) stays within NAME_MAX (255 bytes) for
    any name the filesystem accepts."""
    return "." + os.fsdecode(os.fsencode(target.name)[:_NAME_KEPT]) + "."


def sweep_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries of `target` (`.NAME.PID-XXXXXXXX.SUFFIX`, as runtime/writing.py
    names them) whose process is gone: what a SIGKILL, a power loss or a signal at the wrong
    instant left. A live process's temporary (its PID here, or its lock held: `lock_fd`), a link, a
    directory, or any other name, is never touched. Returns what was removed; errors are
    ignored (a sweep must never fail a write)."""
    prefix = temporary_prefix(target)
    pattern = re.compile(r"(\d+)-[a-z0-9_]{8}\.[a-z]{1,10}", re.ASCII)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        owner = pattern.fullmatch(entry.name[len(prefix) :])
        if owner is None or pid_alive(int(owner[1])):
            continue  # not a temporary, or one whose run is still going on
        held = claim(entry.path)
        if held is None:
            continue  # not a regular file, or a writer still holds it
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        finally:
            os.close(held)
        removed.append(Path(entry.path))
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (this one, or another user's, counts).
    On Windows always True: there os.kill(pid, 0) is TerminateProcess, which would end whatever
    process has the PID now, so nothing is swept."""
    if pid == os.getpid() or sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process, or a number no process has: leave it
    return True
