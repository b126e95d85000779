"""The `cnnfeat` program's first lines, before anything heavy is imported.

- Ctrl-C (SIGINT) or SIGTERM while the program starts up (importing Typer, onnxruntime, torch)
  or after a command has finished ends it at once with one line and exit 130 / 143: no files
  are open for writing then. While a command runs, `cli_errors` takes the signals over so
  that temporary files are removed first.
- A standard stream closed by the caller (`cnnfeat ... >&-`) becomes an object whose use
  raises OSError (one line through `cli_errors`); a closed stderr becomes /dev/null.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from typing import NoReturn

_WORDS: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "terminated"),
}


def main() -> None:
    """Run the `cnnfeat` command line (the console script and `python -m cnnfeat`)."""
    for signum in _WORDS:
        # None: set outside Python; SIG_IGN: ignored on purpose (a background job, nohup).
        if signal.getsignal(signum) not in (None, signal.SIG_IGN):
            signal.signal(signum, exit_at_once)
    _standard_streams()
    from cnnfeat.cli import app

    try:
        app()
    except SystemExit as stop:
        _leave_ray_behind(stop)
        raise
    except OSError as exc:  # outside a command (help text to a closed stdout, say)
        if isinstance(exc, BrokenPipeError):
            os._exit(141)  # the reader went away (`cnnfeat --help | head -1`): stop quietly
        sys.stderr.write(f"cnnfeat: error: {exc.strerror or exc}\n")
        sys.exit(1)


def _leave_ray_behind(stop: SystemExit) -> None:
    """After a command that used Ray (`embed-dataset`), exit with its code without finalising
    the interpreter: Ray's C++ core can abort (SIGABRT, exit 134) in its destructors at
    interpreter exit even after `ray.shutdown()` completed (seen after SIGTERM under load; cf.
    ray-project/ray#37288), which would replace the exit code the command chose."""
    ray = sys.modules.get("ray")
    if ray is None:
        return
    code = stop.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    try:
        if ray.is_initialized():
            ray.shutdown()
    except Exception:
        pass  # exiting anyway; the cluster is local to this process group
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or gone: nothing more can be said there
    os._exit(code)


def exit_at_once(signum: int, frame: object) -> None:
    """Signal handler outside commands: one line, then exit 128 + signal number."""
    code, word = _WORDS.get(signum, (128 + signum, "stopped"))
    try:
        os.write(2, f"cnnfeat: error: {word}\n".encode())
    except OSError:
        pass  # stderr is closed; the exit code still says it
    os._exit(code)


class _Closed(io.TextIOBase):
    """Stands in for a standard stream that was closed before cnnfeat started."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    def _fail(self) -> NoReturn:
        raise OSError(errno.EBADF, f"standard {self._name} is closed")

    def write(self, text: str) -> int:
        self._fail()

    def read(self, size: int | None = -1) -> str:
        self._fail()

    # typeshed gives io.TextIOBase two readline types (str, and _IOBase's bytes): one must lose
    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        self._fail()

    def fileno(self) -> int:
        self._fail()

    @property
    def buffer(self) -> None:
        self._fail()

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        pass  # the interpreter flushes stdout at exit; there is nothing to flush


def _standard_streams() -> None:
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stdout is None:
        sys.stdout = _Closed("output")
    if sys.stdin is None:
        sys.stdin = _Closed("input")
