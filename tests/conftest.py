"""Shared fixtures: tiny random models, trained nowhere but built and exported once per session.

Exporting costs seconds, so each pooling mode is exported once and every test that needs an
ONNX model directory shares it. Tests must treat these directories as read-only (copy first).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import signal
import stat
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cnnfeat.contract.errors import InputError
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.runtime import staging, writing

# The real data sits beside the repository and is never copied into it.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_WORDS = [f"w{i}" for i in range(200)]  # ids 2..201; [PAD]=0, [UNK]=1


def split_words(text: str, lowercase: bool, kept_forms: Collection[str] = ()) -> list[str]:
    """The tokens `text` becomes before vocabulary lookup (WordSplitter, built per call)."""
    from cnnfeat.contract.tokenizer import WordSplitter

    return WordSplitter(lowercase, list(kept_forms))(text)


def pytest_configure(config: pytest.Config) -> None:
    # torch's ONNX exporter trips over its own deprecations; they say nothing about cnnfeat.
    config.addinivalue_line("filterwarnings", "ignore:.*LeafSpec:FutureWarning")
    # A shell starts background jobs (`pytest ... &`) with SIGINT ignored, which Python and
    # cnnfeat respect; the Ctrl-C tests need it delivered, here and in their child processes.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class TinyModel:
    """A random-weight utterance CNN: its run directory and its exported model directory."""

    pool: str
    spec: ModelSpec
    run_dir: Path
    model_dir: Path

    def torch_model(self):
        """The checkpoint rebuilt in PyTorch, in eval mode (dropout off)."""
        from cnnfeat.training.train import load_checkpoint

        model, _ = load_checkpoint(self.run_dir)
        return model


def tiny_line(n: int, start: int = 0) -> str:
    """A line of n in-vocabulary words (every word known to the tiny tokenizer)."""
    return " ".join(TINY_WORDS[(start + 7 * i) % len(TINY_WORDS)] for i in range(n))


def _build_tiny(pool: str, root: Path) -> TinyModel:
    pytest.importorskip("torch", reason="building a model needs the [train] extra (torch)")
    pytest.importorskip("onnx", reason="exporting needs the [train] extra (onnx)")
    import torch

    from cnnfeat.contract.tokenizer import build_tokenizer
    from cnnfeat.export.onnx_export import export_model
    from cnnfeat.training.model import UtteranceCNN

    spec = ModelSpec(
        vocab_size=len(TINY_WORDS) + 2,
        embedding_dim=16,
        pool=pool,
        max_len=50 if pool == "window" else 512,
        label_names=("a", "b"),
    )
    run_dir, model_dir = root / "run", root / "model"
    run_dir.mkdir(parents=True)
    torch.manual_seed(0)
    model = UtteranceCNN(spec)
    torch.save(
        {"spec": spec.to_dict(), "state_dict": model.state_dict(), "vectors": {"source": "test"}},
        run_dir / "checkpoint.pt",
    )
    build_tokenizer(TINY_WORDS, True, spec.max_len).save(str(run_dir / "tokenizer.json"))
    export_model(run_dir, model_dir)
    return TinyModel(pool, spec, run_dir, model_dir)


@pytest.fixture(scope="session")
def tiny_global(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return _build_tiny("global", tmp_path_factory.mktemp("tiny_global"))


@pytest.fixture(scope="session")
def tiny_window(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return _build_tiny("window", tmp_path_factory.mktemp("tiny_window"))


@pytest.fixture(scope="session", params=["global", "window"])
def tiny(request: pytest.FixtureRequest) -> TinyModel:
    """Both pooling modes, one after the other."""
    return request.getfixturevalue(f"tiny_{request.param}")


@pytest.fixture(scope="session")
def meld() -> Path:
    """The MELD CSVs (current release; `original_2018/` holds the mojibake release)."""
    folder = SHARED / "meld"
    if not (folder / "train_sent_emo.csv").is_file():
        pytest.skip(f"MELD not found at {folder} (the shared data sits beside the repository)")
    return folder


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# --- helpers the test files share (`from conftest import ...`) --------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """Write bytes exactly as given (str is UTF-8 encoded, newlines untranslated)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def raises_at(path: Path | str, line: int | None, match: str):
    """pytest.raises for an InputError formatted "path:line: message" ("path: message")."""
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    return pytest.raises(InputError, match="^" + re.escape(where) + ".*" + match)


def invoke(*args: object, input: bytes | str | None = None):
    """`cnnfeat ARGS` through Typer's CliRunner; arguments may be paths or numbers."""
    from typer.testing import CliRunner

    from cnnfeat.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def one_error_line(result) -> str:
    """The single `cnnfeat: error: ...` line a failed command must print, and nothing else."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnnfeat: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def read_features(path: Path, dim: int = 100) -> np.ndarray:
    """A features file in any output format (by its suffix) as an (N, dim) array, checking
    the .npz key and the CSV header on the way."""
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            assert list(archive.keys()) == ["features"]
            return archive["features"]
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        with path.open(newline="") as f:
            header, *rows = csv.reader(f)
        assert header == [f"f{i}" for i in range(dim)]
    return np.array(rows, np.float32).reshape(-1, dim)


@contextmanager
def sigint_at_line(k: int, sources: Collection[str]) -> Iterator[None]:
    """Deliver a real SIGINT at the k-th line executed in the files `sources` (for every-step
    interrupt tests: loop k = 1, 2, ... until a run gets through)."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count == k:
                os.kill(os.getpid(), signal.SIGINT)
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename in sources else None)
    try:
        yield
    finally:
        sys.settrace(None)


# --- durability steps that no crash test can see ----------------------------------------


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (of a file or a directory, by path) and rename, in order."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        kind = "fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file"
        seen.append((kind, os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        seen.append(("rename", os.fspath(dst)))
        real_replace(src, dst)

    def rename(src, dst) -> None:
        seen.append(("rename", os.fspath(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(writing.os, "fsync", fsync)
    monkeypatch.setattr(writing.os, "replace", replace)
    monkeypatch.setattr(staging.os, "rename", rename)
    return seen
