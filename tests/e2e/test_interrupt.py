"""Ctrl-C and SIGTERM in the middle of `cnnfeat embed`: exit 130 / 143, and no partial output.

The command runs as a real child process on a 2-million-line transcript; the signal is sent once
the temporary file has rows in it, so the interruption lands while features are being written.
(tests/runtime/test_writing.py sends a signal at every single line of the writer, in-process.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import TinyModel

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LINES = 2_000_000
HEADER_BYTES = {".npy": 128, ".npz": 128, ".csv": 400, ".jsonl": 0}


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "big.txt"
    block = "".join(f"w{i % 200} w{(i * 7) % 200} w{(i * 13) % 200}\n" for i in range(1000))
    path.write_text(block * (LINES // 1000), encoding="utf-8")
    return path


def interrupt(transcript: Path, out: Path, model: Path, signum: int) -> tuple[int, str, float]:
    """Start embed, wait until its temporary file holds rows, send `signum`; (rc, stderr, s)."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnfeat",
            "embed",
            str(transcript),
            "-o",
            str(out),
            "--model",
            str(model),
            "--device",
            "cpu",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            parts = list(out.parent.glob(f".{out.name}.*.part"))
            if parts and _size(parts[0]) > HEADER_BYTES[out.suffix] + 4096:
                break
            assert child.poll() is None, f"embed ended before it was interrupted: {child.stderr}"
            assert time.monotonic() < deadline, "embed never started writing"
            time.sleep(0.005)
        sent = time.monotonic()
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
        return child.returncode, stderr.decode(), time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed or removed between glob and stat
        return 0


@pytest.mark.parametrize(
    ("signum", "code", "word", "suffix"),
    [
        (signal.SIGINT, 130, "interrupted", ".npy"),
        (signal.SIGTERM, 143, "terminated", ".jsonl"),
    ],
)
def test_no_partial_output(
    transcript: Path, tiny_global: TinyModel, tmp_path: Path, signum, code, word, suffix
) -> None:
    out = tmp_path / f"features{suffix}"
    rc, stderr, seconds = interrupt(transcript, out, tiny_global.model_dir, signum)
    assert rc == code, stderr
    assert stderr.splitlines() == [f"cnnfeat: error: {word}; no partial output was written"]
    assert list(tmp_path.iterdir()) == []  # no output, no temporary
    assert seconds < 10  # it stops promptly, not after the whole file


@pytest.mark.parametrize(
    ("signum", "code", "suffix"), [(signal.SIGINT, 130, ".npz"), (signal.SIGTERM, 143, ".csv")]
)
def test_previous_output_is_left_untouched(
    transcript: Path, tiny_global: TinyModel, tmp_path: Path, signum, code, suffix
) -> None:
    out = tmp_path / f"features{suffix}"
    previous = b"yesterday's features\n" * 1000
    out.write_bytes(previous)
    rc, stderr, _ = interrupt(transcript, out, tiny_global.model_dir, signum)
    assert rc == code, stderr
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert out.read_bytes() == previous


# --- `cnnfeat train`: the first Ctrl-C saves the best epoch so far ---------------------------


def _training_files(folder: Path) -> tuple[Path, Path]:
    """A synthetic labelled table (2,000 rows, two classes told apart by their words) and a
    vectors file for its words: an epoch takes a fraction of a second."""
    words = [f"w{i}" for i in range(40)]
    rows = [
        f"{words[i % 20]} {words[(i * 3) % 20]},neg"
        if i % 2
        else f"{words[20 + i % 20]} {words[20 + (i * 7) % 20]},pos"
        for i in range(2000)
    ]
    data = folder / "train.csv"
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    vectors = folder / "vectors.txt"
    lines = [
        f"{w} {' '.join(str((i * 7 + d) % 11 / 10) for d in range(8))}\n"
        for i, w in enumerate(words)
    ]
    vectors.write_text("".join(lines), encoding="utf-8")
    return data, vectors


def _old_run(out: Path) -> dict[str, bytes]:
    """A previous run directory (only what check_replaceable needs to accept it)."""
    out.mkdir()
    files = {"checkpoint.pt": b"yesterday's weights", "metrics.json": b"{}"}
    for name, content in files.items():
        (out / name).write_bytes(content)
    return files


def _train_until(folder: Path, epochs_done: int) -> tuple[subprocess.Popen, list[str]]:
    """Start `cnnfeat train` (progress bar on) and return once its bar shows `epochs_done`
    epochs finished; the second item collects stderr as it arrives."""
    import re
    import threading

    data, vectors = _training_files(folder)
    command = [sys.executable, "-m", "cnnfeat", "train", "--train", str(data)]
    command += ["--out", str(folder / "run"), "--vectors", str(vectors), "--max-len", "10"]
    command += ["--epochs", "100000", "--patience", "100000", "--vocab-top-n", "0"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[str] = []

    def collect() -> None:
        assert child.stderr is not None
        for chunk in iter(lambda: child.stderr.read1(4096), b""):  # type: ignore[union-attr]
            seen.append(chunk.decode("utf-8", "replace"))

    threading.Thread(target=collect, daemon=True).start()
    deadline = time.monotonic() + 120
    while True:
        done = [int(n) for n in re.findall(r"\| *(\d+)/100000", "".join(seen))]
        if done and max(done) >= epochs_done:
            return child, seen
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"training never got to epoch {epochs_done}: {''.join(seen)}")
        time.sleep(0.01)


def _finish(child: subprocess.Popen, seen: list[str]) -> tuple[int, str]:
    try:
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    time.sleep(0.1)  # the reader thread has the last bytes
    return code, "".join(seen)


def test_train_first_ctrl_c_saves_the_best_epoch_so_far(tmp_path: Path) -> None:
    import json

    _old_run(tmp_path / "run")
    child, seen = _train_until(tmp_path, epochs_done=2)
    child.send_signal(signal.SIGINT)
    code, stderr = _finish(child, seen)
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    n = metrics["interrupted_at_epoch"]
    assert n >= 2 and [h["epoch"] for h in metrics["history"]] == list(range(1, n + 1))
    assert 1 <= metrics["best_epoch"] <= n
    assert f"cnnfeat: interrupted: stopping after epoch {n} and saving" in stderr
    kept = f"the best epoch so far (epoch {metrics['best_epoch']}) was kept"
    assert f"training was interrupted (Ctrl-C) after epoch {n}; {kept}" in stderr
    # a complete run: the old one replaced whole, nothing left beside it
    run = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert run == ["checkpoint.pt", "metrics.json", "report.html", "tokenizer.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "train.csv", "vectors.txt"]
    from cnnfeat.training.train import load_checkpoint

    _, saved = load_checkpoint(tmp_path / "run")
    assert saved["interrupted_at_epoch"] == n
    report = (tmp_path / "run" / "report.html").read_text()
    assert f"data-key='interrupted_at_epoch' data-value='{n}'" in report


@pytest.mark.parametrize(
    ("second", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (None, 143, "terminated")],
)
def test_train_second_ctrl_c_or_sigterm_writes_nothing(
    tmp_path: Path, second: int | None, code: int, word: str
) -> None:
    """A second Ctrl-C (sent as soon as the first is acknowledged), or SIGTERM alone, aborts
    as before: exit 130 / 143, one line, the old run byte for byte, nothing beside it."""
    old = _old_run(tmp_path / "run")
    child, seen = _train_until(tmp_path, epochs_done=1)
    if second is None:
        child.send_signal(signal.SIGTERM)
    else:
        child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60
        while "stopping after epoch" not in "".join(seen):
            assert time.monotonic() < deadline and child.poll() is None, "".join(seen)
            time.sleep(0.001)
        child.send_signal(second)
    rc, stderr = _finish(child, seen)
    assert rc == code, stderr
    last = stderr.rstrip().splitlines()[-1]
    assert last == f"cnnfeat: error: {word}; no partial output was written"
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "train.csv", "vectors.txt"]
