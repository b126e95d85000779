"""The signals a running command has received, and the output it put in place, as data.

The CLI's handlers (interface/cli_errors.py) record each SIGINT / SIGTERM here before raising
KeyboardInterrupt / `Terminated`. A raised exception can be caught, wrapped or dropped by a
library on its way up (Ray catches it in its scheduling loop, turns it into its own errors, or
drops it in a C callback); the record cannot. So code that runs such a library asks
`raise_if_received()` once it has control again, and the CLI's boundary decides the exit code
from the record, never from what the exception turned into. Code that deals with an interrupt
itself, on purpose, and goes on to a complete result calls `clear()`; otherwise the command
ends as interrupted.

The writers note each output just before the rename that puts it in place (`placing`), and the
CLI's boundary asks, once the command has ended and cleaned up, whether that rename happened
(`placed`): by looking at the file system, not at a flag set after the rename, which a signal
landing as the rename returns would skip. A signal after the final rename then cannot claim
that nothing was written, and a command that returned with its output in place succeeds
(interface/cli_errors.py).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `finally` blocks clean up temporary files."""


_received: list[int] = []


class _Notes(threading.local):
    """What this thread's command wrote, per thread: a host may run the Python API in one
    thread while a command runs in another, and neither's notes are the other's."""

    # The output last being put in place: (its path, st_dev and st_ino of what replaces it,
    # the signals recorded by then, its name as the user gave it). One at most, so that the
    # Python API, which never calls clear(), keeps nothing growing.
    placing: tuple[str, int, int, int, str] | None = None
    streaming = False  # True once output goes to standard output


_notes = _Notes()


def record(signum: int) -> None:
    """Note that `signum` (SIGINT or SIGTERM) arrived; called first by the CLI's handlers."""
    _received.append(signum)


def clear() -> None:
    """Forget earlier signals and outputs (a command starts; a host may run several in one
    process)."""
    _received.clear()
    _notes.placing, _notes.streaming = None, False


def streaming() -> None:
    """Note that the command writes its output to standard output, which cannot be taken back
    (`-o -`): a command cut short then does not claim that nothing was written."""
    _notes.streaming = True


def streamed() -> bool:
    """Whether `streaming` was noted since the last `clear`."""
    return _notes.streaming


def placing(target: str | Path, staged: str | Path, shown: str | None = None) -> None:
    """Note, just before the rename that commits it, that `staged` (a complete file or
    directory) is about to take `target`'s place; `shown` names it as the user did (default:
    `target`). Called by runtime/writing.py and runtime/staging.py. Raises OSError when
    `staged` cannot be looked up."""
    made = os.stat(staged)
    name = os.fspath(target) if shown is None else shown
    _notes.placing = (os.fspath(target), made.st_dev, made.st_ino, len(_received), name)


def placed() -> str | None:
    """The name (as the user gave it) of the output last noted by `placing` if the rename has
    happened (the path now is the staged file or directory, by device and inode), else None:
    no rename yet, or one undone (the old directory put back) or failed."""
    if _notes.placing is None:
        return None
    path, device, inode, _, shown = _notes.placing
    try:
        now = os.stat(path)
    except OSError:
        return None
    return shown if (now.st_dev, now.st_ino) == (device, inode) else None


def placed_before_any_signal() -> bool:
    """True when the output last noted by `placing` is in place (`placed`) and no signal had
    been recorded when it was noted: the command finished its work before it was asked to stop.
    A signal before that (which a library may have dropped) still ends the command as
    interrupted, even though it went on to write a whole output."""
    noted = _notes.placing
    return noted is not None and noted[3] == 0 and placed() is not None


def received() -> int | None:
    """The first signal recorded since `clear()`, or None."""
    return _received[0] if _received else None


def raise_if_received() -> None:
    """Raise the interrupt of the first recorded signal (KeyboardInterrupt for SIGINT,
    `Terminated` for SIGTERM), whatever became of the exception its handler raised."""
    signum = received()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if signum is not None:
        raise Terminated


def handle(signum: int, frame: object) -> None:
    """The CLI's handler for SIGINT and SIGTERM: record the signal, then raise its interrupt."""
    record(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated
