"""The CLI's error boundary: every failure becomes one line on stderr and an exit code.

Library code raises typed `CnnfeatError`s; only here are they turned into a message and exit
code 1 (2 is Typer's own for wrong usage, 130/143 for SIGINT/SIGTERM, 141 for a closed pipe).
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import signal
import sys
import threading

import typer

from cnnfeat.contract.errors import CnnfeatError, Hint
from cnnfeat.runtime import signals
from cnnfeat.runtime.signals import Terminated as _Terminated


def _fail(message: str, code: int = 1) -> typer.Exit:
    # One line, whatever the message holds (a path with a newline, a library's own text).
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    typer.echo(f"cnnfeat: error: {line}", err=True)
    return typer.Exit(code)


def cli_errors(command):
    """Turn every failure into one line on stderr and an exit code; never a traceback.

    Typed errors are the normal path (exit 1). SIGINT exits 130 and SIGTERM 143, after the
    `finally` blocks and the writer have removed their temporary files. Anything else is a bug:
    one line asking for a report (CNNFEAT_DEBUG=1 shows the traceback instead).
    """

    parameters = frozenset(inspect.signature(command).parameters)  # its options, by name

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        previous: list = []
        try:
            return _run(previous, *args, **kwargs)
        except KeyboardInterrupt:  # the signal landed while the handlers were put back
            _restore_signals(previous)
            raise _fail("interrupted", 130) from None
        except _Terminated:
            _restore_signals(previous)
            raise _fail("terminated", 143) from None

    def _run(previous: list, *args, **kwargs):
        try:
            signals.clear()
            _catch_signals(previous)
            return _signal_wins(command, *args, **kwargs)
        except CnnfeatError as exc:
            raise _fail(_message(exc, parameters)) from None
        except KeyboardInterrupt:
            raise _fail(_stopped("interrupted"), 130) from None
        except _Terminated:
            raise _fail(_stopped("terminated"), 143) from None
        except BrokenPipeError:
            # `cnnfeat embed x -o - | head`: the reader has gone. Stop quietly, as Unix tools
            # do, with 128 + SIGPIPE; point stdout at /dev/null so the exit flush cannot fail.
            _drop_stdout()
            raise typer.Exit(141) from None
        except MemoryError:
            raise _fail("out of memory; try a smaller --batch-size") from None
        except (typer.Exit, typer.Abort):
            raise  # Typer's own deliberate exits
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            if not where and _stdout_failed(exc):  # `cnnfeat info > /dev/full`
                where = "writing to standard output failed: "
            raise _fail(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            stopped = _signal_behind(exc)  # an import cut short by Ctrl-C: ImportError
            if stopped is not None:
                raise _fail(*stopped) from None
            if os.environ.get("CNNFEAT_DEBUG"):
                raise
            raise _fail(
                f"internal error: {type(exc).__name__}: {exc} -- this is a bug in cnnfeat; please "
                "report it with the command you ran (CNNFEAT_DEBUG=1 shows the traceback)"
            ) from None
        finally:
            _restore_signals(previous)
            signals.clear()  # the Python API, called next in this process, starts afresh

    return wrapper


# Settings (contract.errors.Hint.setting) that a command may offer under another name.
_OPTION_NAMES = {"column": ("column", "text_column")}


def _message(exc: CnnfeatError, parameters: frozenset[str]) -> str:
    """The error's line, its Hint naming the command's own option for the setting (train's
    --text-column where embed has --column), or none where the command has none. `parameters`:
    the names of the command's parameters, whose options Typer names --name-with-dashes."""
    advice = getattr(exc, "advice", None)  # Ray's wrapper of an error may lack the field
    if not isinstance(advice, Hint):
        return str(exc)
    for name in _OPTION_NAMES.get(advice.setting, (advice.setting,)):
        if name in parameters:
            return exc.text("--" + name.replace("_", "-"))
    return exc.text(None)


def _signal_wins(command, *args, **kwargs):
    """Run the command. Once a signal has been recorded, whatever ends the command ends as that
    signal's interrupt: a library can turn the interrupt its handler raised into an error of its
    own (Ray wraps it, or its handler calls sys.exit(1)), or drop it and carry on. Except a
    command that returned with its output in place before the signal came: that is success."""
    try:
        result = command(*args, **kwargs)
    except BaseException:
        signals.raise_if_received()
        raise
    # Every writer renames its output into place only at the clean end of its block, so a
    # command that returned with its output put in place before any signal came has done all
    # it was asked; a signal after that rename stopped nothing, and exit 130/143 would send the
    # user to redo, or distrust, an output that is whole. Any other command that saw a signal
    # (no output in place, standard output, or a signal a library dropped before the rename)
    # still ends as interrupted, and `_stopped` says what it left.
    if not signals.placed_before_any_signal():
        signals.raise_if_received()
    return result


def _stopped(word: str) -> str:
    """The line of a command a signal cut short ("interrupted", "terminated"): what it left.
    Asked once the command's `finally` blocks have run: the writers have removed their
    temporaries, and an output whose final rename happened (`signals.placed`) is whole."""
    written = signals.placed()
    if written is not None:
        return f"{word}; {written} was already written in full"
    if signals.streamed():
        return f"{word}; standard output may already hold part of the output"
    return f"{word}; no partial output was written"


def _catch_signals(previous: list) -> None:
    """SIGINT raises KeyboardInterrupt and SIGTERM _Terminated while the command runs, so that
    `finally` blocks clean up, each recorded first in `cnnfeat.runtime.signals`; notes in
    `previous` what to restore (the entry point's exit-at-once) before each change, so a signal
    in the middle leaves nothing unrecorded.
    Only the main thread may set handlers (a host that runs commands in a worker thread); a
    handler set outside Python (getsignal gives None) cannot be put back, so keep it."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        old = signal.getsignal(signum)
        if old not in (None, signal.SIG_IGN):  # ignored: on purpose
            previous.append((signum, old))
            signal.signal(signum, signals.handle)


def _restore_signals(previous: list) -> None:
    """Put the handlers back. A signal that lands in here escapes as KeyboardInterrupt or
    _Terminated; `cli_errors` then calls this again and exits 130 / 143."""
    for signum, handler in reversed(previous):
        signal.signal(signum, handler)


def _signal_behind(exc: BaseException | None) -> tuple[str, int] | None:
    """(message, exit code) when a signal caused `exc` (a library that turns an interrupted
    import into ImportError, say), else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return _stopped("interrupted"), 130
        if isinstance(exc, _Terminated):
            return _stopped("terminated"), 143
        exc = exc.__cause__ or exc.__context__
    return None


def _stdout_failed(exc: OSError) -> bool:
    """Whether writing stdout raised `exc`: the innermost Python frame (click's `echo`, or our
    own writer) holds sys.stdout. Then stdout goes to /dev/null, so the exit flush stays quiet."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    streams = (sys.stdout, getattr(sys.stdout, "buffer", None))
    if tb is None or not any(
        any(value is stream for stream in streams if stream is not None)
        for value in tb.tb_frame.f_locals.values()
    ):
        return False
    _drop_stdout()
    return True


def _drop_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # stdout is not a real file (tests); nothing will flush to a closed pipe
