"""Ctrl-C and SIGTERM in the middle of `cnnfeat embed`: exit 130 / 143, and no partial output.

The command runs as a real child process on a 2-million-line transcript; the signal is sent once
the temporary file has rows in it, so the interruption lands while features are being written.
(test_writing.py sends a signal at every single line of the writer, in-process.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TinyModel

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
        [sys.executable, "-m", "cnnfeat", "embed", str(transcript), "-o", str(out),
         "--model", str(model), "--device", "cpu", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
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
