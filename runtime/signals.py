"""The signals a running command has received, as data.

The CLI's handlers (interface/cli_errors.py) record each SIGINT / SIGTERM here before raising
KeyboardInterrupt / `Terminated`. A raised exception can be caught, wrapped or dropped by a
library on its way up (Ray catches it in its scheduling loop, turns it into its own errors, or
drops it in a C callback); the record cannot. So code that runs such a library asks
`raise_if_received()` once it has control again, and the CLI's boundary decides the exit code
from the record, never from what the exception turned into. Code that deals with an interrupt
itself, on purpose, and goes on to a complete result calls `clear()`; otherwise the command
ends as interrupted.
"""

from __future__ import annotations

import signal


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `finally` blocks clean up temporary files."""


_received: list[int] = []


def record(signum: int) -> None:
    """Note that `signum` (SIGINT or SIGTERM) arrived; called first by the CLI's handlers."""
    _received.append(signum)


def clear() -> None:
    """Forget earlier signals (a command starts; a host may run several in one process)."""
    _received.clear()


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
