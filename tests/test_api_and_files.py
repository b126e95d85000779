"""The Python API refuses what is not a sequence of str; output files behave like the files of
the tools users know (umask, kept mode, symlinks, long names); the `cnnfeat` program keeps its
promise from the moment it starts (Ctrl-C, closed standard streams, absurd option values)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke, read_features
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat.contract.errors import ArgumentError
from cnnfeat.runtime import writing
from cnnfeat.runtime.writing import FeatureWriter, output_for

# --- Python API --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu")


@pytest.mark.parametrize(
    ("given_", "match"),
    [
        ("hello", "got a single str; wrap it in a list"),
        (b"hello", "got a single bytes"),
        ({"a": 1}, "got a dict, which has no row order"),
        ({"a", "b"}, "got a set, which has no row order"),
        (np.array([["a", "b"], ["c", "d"]]), "got an array of shape (2, 2)"),
        ([("a", "b")], "line 1 is tuple"),
        (["ok", None], "line 2 is NoneType, not str (None)"),
        ((x for x in ["a", None]), "line 2 is NoneType"),
        ([b"bytes"], "line 1 is bytes"),
        (5, "got int"),
    ],
)
def test_embed_takes_strings_only(embedder, given_, match: str) -> None:
    with pytest.raises(cnnfeat.InputError, match=match.replace("(", r"\(").replace(")", r"\)")):
        embedder.embed(given_)


def test_embed_takes_any_ordered_iterable_of_str(embedder) -> None:
    lines = ["w1 w2", "", "w3"]
    want = embedder.embed(lines)
    for other in (tuple(lines), iter(lines), np.array(lines), (x for x in lines)):
        assert np.array_equal(embedder.embed(other), want)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 2.5}, "batch_size must be an integer from 1 to"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"max_tokens": 10**12}, "max_tokens"),
        ({"threads": 99999999999}, "threads must be an integer from 1 to 1024"),
        ({"threads": 1.0}, "threads"),
        ({"fp16": "yes"}, "fp16 must be True or False"),
    ],
)
def test_numeric_arguments_are_checked_at_construction(
    tiny_global: TinyModel, kwargs: dict, match: str
) -> None:
    with pytest.raises(ArgumentError, match=match):
        cnnfeat.Embedder(tiny_global.model_dir, **kwargs)
    assert issubclass(ArgumentError, cnnfeat.InputError) and issubclass(ArgumentError, ValueError)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.text(max_size=20), st.none(), st.integers(), st.binary(max_size=4)),
                max_size=6))  # fmt: skip
def test_any_list_gives_rows_or_an_input_error(embedder, items: list) -> None:
    if all(isinstance(item, str) for item in items):
        assert embedder.embed(items).shape == (len(items), 100)
    else:
        bad = next(i for i, item in enumerate(items) if not isinstance(item, str))
        with pytest.raises(cnnfeat.InputError, match=f"line {bad + 1} is "):
            embedder.embed(items)


# --- output files --------------------------------------------------------------------------------

ROWS = np.ones((2, 3), np.float32)


def write(path: Path) -> None:
    with FeatureWriter(output_for(str(path)), 3) as writer:
        writer.write(ROWS)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        write(tmp_path / "out.npy")
        writing.write_file(tmp_path / "c.json", b"{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.npy").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    out.chmod(0o600)
    write(out)
    assert out.stat().st_mode & 0o777 == 0o600 and read_features(out, 3).shape == (2, 3)


@pytest.mark.parametrize("dangling", [False, True])
def test_output_through_a_symlink_writes_its_target(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "real" / "features.npy"
    target.parent.mkdir()
    if not dangling:
        target.write_bytes(b"old")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    write(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert np.array_equal(np.load(target), ROWS)
    assert sorted(p.name for p in target.parent.iterdir()) == ["features.npy"]


@pytest.mark.parametrize("length", [100, 200, 250, 255])
def test_any_name_the_filesystem_accepts(tmp_path: Path, length: int) -> None:
    for suffix in (".npy", ".npz"):
        name = "é" * ((length - 4) // 2) + "x" * ((length - 4) % 2) + suffix
        assert len(name.encode()) == length
        write(tmp_path / name)
        assert np.array_equal(read_features(tmp_path / name, 3), ROWS)
    writing.write_file(tmp_path / ("c" * 250 + ".json"), b"{}")


# --- the program from its first moment -----------------------------------------------------------


def cnnfeat_program(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnnfeat", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # fmt: skip


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
    Ctrl-C is exit 130 with at most one line, whatever is being imported or run."""
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
    text = tmp_path / "in.txt"
    text.write_text("w1\n")
    args = [a.format(t=text) for a in args]
    if args[0] == "embed":
        args += ["--model", str(tiny_global.model_dir)]
    elif args[0] == "info":
        args.append(str(tiny_global.model_dir))
    fd = {"stdin": 0, "stdout": 1}[closed]
    run = subprocess.run(
        [sys.executable, "-c", f"import os, sys; os.close({fd}); os.execv(sys.executable, "
         f"[sys.executable, '-m', 'cnnfeat'] + sys.argv[1:])", *args],
        stderr=subprocess.PIPE, timeout=120, **({"stdout": subprocess.PIPE} if fd == 0 else {}),
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.decode().splitlines() == [f"cnnfeat: error: {message}"]


@pytest.mark.parametrize(
    "args",
    [
        ["embed", "x.txt", "--threads", "99999999999"],
        ["embed", "x.txt", "--batch-size", "10000000000000"],
        ["train", "--train", "x.csv", "--out", "r", "--lr", "nan"],
        ["train", "--train", "x.csv", "--out", "r", "--batch-size", "99999999999"],
        ["train", "--train", "x.csv", "--out", "r", "--max-len", "99999999999"],
        ["export", "r", "--out", "m", "--atol", "inf"],
        ["embed-dataset", "x", "-o", "y", "--workers", "99999999999"],
    ],
)
def test_absurd_option_values_are_usage_errors(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_a_command_that_used_ray_exits_with_its_code_not_an_abort_at_finalisation() -> None:
    """Ray's C++ core can abort while the interpreter finalises (seen: exit 134 instead of 143
    after SIGTERM under load); the program then leaves without finalising. Simulated here: a
    stand-in `ray` module and an exit handler that aborts, as Ray's destructors did."""
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
