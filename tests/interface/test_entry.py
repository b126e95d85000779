"""The program's first lines (interface/entry.py): a signal ignored on purpose stays ignored.

`nohup cnnfeat ...` and a shell's background jobs (`cnnfeat embed ... &`) start with SIGINT
(and, for nohup, SIGHUP) ignored; installing the exit-at-once handler over that would let a
Ctrl-C typed in the terminal kill the background job. Found by breaking the check on purpose
(issue 13, hollow tests): no other test covered it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import TinyModel

import cnnfeat
import cnnfeat.cli
from cnnfeat import entry

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def handlers_during_app(monkeypatch: pytest.MonkeyPatch):
    """Run entry.main with a stand-in app that records the SIGINT/SIGTERM handlers it sees;
    every handler is put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen: dict[int, object] = {}
    monkeypatch.setattr(
        cnnfeat.cli, "app", lambda: seen.update({s: signal.getsignal(s) for s in saved})
    )
    yield seen
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_ignored_signals_stay_ignored(handlers_during_app: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    entry.main()
    assert handlers_during_app == {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}


def test_default_signals_exit_at_once(handlers_during_app: dict) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    entry.main()
    assert handlers_during_app == {
        signal.SIGINT: entry.exit_at_once,
        signal.SIGTERM: entry.exit_at_once,
    }


# --- the program from its first moment -----------------------------------------------------------


def cnnfeat_program(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnfeat", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def before_cnnfeat(returncode: int, err: str) -> bool:
    """Python's own KeyboardInterrupt, raised before cnnfeat's entry point ran (interpreter
    start-up, or runpy importing the package): its traceback never passes through entry.py."""
    if returncode == -signal.SIGINT:  # before Python's own handler: killed by the signal
        return True
    return returncode != 130 and "KeyboardInterrupt" in err and "entry.py" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6, 1.0])
def test_ctrl_c_during_start_up(tiny_global: TinyModel, tmp_path: Path, delay: float) -> None:
    """Interpreter start-up itself (~0.1 s) is Python's; from the first line of cnnfeat on,
    Ctrl-C is exit 130 with at most one line, whatever is being imported or run.
    From the round on the API's input and the program's files and first moment."""
    text = tmp_path / "in.txt"
    text.write_text("w1 w2\n" * 10)
    for _ in range(4):
        child = cnnfeat_program("embed", str(text), "--model", str(tiny_global.model_dir), "-q")
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        if not before_cnnfeat(child.returncode, err.decode()):
            break
        delay *= 2  # a loaded machine: Python had not reached cnnfeat yet; a little later
    else:
        pytest.fail(f"the interpreter took longer than {delay / 2:.2f} s to start, 4 times")
    lines = err.decode().splitlines()
    if child.returncode == 0:  # it had finished already
        assert lines == []
        return
    assert child.returncode == 130, err.decode()
    assert len(lines) == 1 and lines[0].startswith("cnnfeat: error: interrupted"), lines
    assert not (tmp_path / "in.npy").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file descriptors")
@pytest.mark.parametrize(
    ("args", "closed", "message"),
    [
        (["embed", "-"], "stdin", "standard input is closed"),
        (["embed", "{t}", "-o", "-"], "stdout", "standard output is closed"),
        (["info"], "stdout", "standard output is closed"),
        (["--help"], "stdout", "standard output is closed"),
    ],
)
def test_closed_standard_streams(
    tiny_global: TinyModel, tmp_path: Path, args: list[str], closed: str, message: str
) -> None:
    """From the round on the API's input and the program's files and first moment."""
    text = tmp_path / "in.txt"
    text.write_text("w1\n")
    args = [a.format(t=text) for a in args]
    if args[0] == "embed":
        args += ["--model", str(tiny_global.model_dir)]
    elif args[0] == "info":
        args.append(str(tiny_global.model_dir))
    fd = {"stdin": 0, "stdout": 1}[closed]
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os, sys; os.close({fd}); os.execv(sys.executable, "
            f"[sys.executable, '-m', 'cnnfeat'] + sys.argv[1:])",
            *args,
        ],
        stderr=subprocess.PIPE,
        timeout=120,
        **({"stdout": subprocess.PIPE} if fd == 0 else {}),
    )
    assert run.returncode == 1
    assert run.stderr.decode().splitlines() == [f"cnnfeat: error: {message}"]


def test_a_command_that_used_ray_exits_with_its_code_not_an_abort_at_finalisation() -> None:
    """Ray's C++ core can abort while the interpreter finalises (seen: exit 134 instead of 143
    after SIGTERM under load); the program then leaves without finalising. Simulated here: a
    stand-in `ray` module and an exit handler that aborts, as Ray's destructors did.
    From the round on the API's input and the program's files and first moment."""
    script = (
        "import atexit, os, sys, types\n"
        "ray = types.ModuleType('ray'); ray.is_initialized = lambda: False\n"
        "sys.modules['ray'] = ray\n"
        "atexit.register(os.abort)\n"
        "import cnnfeat.cli, cnnfeat.entry\n"
        "def app():\n"
        "    print('summary line')\n"
        "    raise SystemExit(143)\n"
        "cnnfeat.cli.app = app\n"
        "cnnfeat.entry.main()\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert run.returncode == 143, run.stderr.decode()
    assert run.stdout.decode() == "summary line\n"
