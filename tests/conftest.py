"""Fixtures: tiny random models, trained nowhere but built and exported once per session.

Exporting costs seconds, so each pooling mode is exported once and every test that needs an
ONNX model directory shares it. Tests must treat these directories as read-only (copy first).
Helpers (functions, constants, the TinyModel record) live in helpers.py, not here.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
from helpers import SHARED, TINY_WORDS, TinyModel

from cnnfeat.contract.spec import ModelSpec
from cnnfeat.runtime import staging, writing


def pytest_configure(config: pytest.Config) -> None:
    # torch's ONNX exporter trips over its own deprecations; they say nothing about cnnfeat.
    config.addinivalue_line("filterwarnings", "ignore:.*LeafSpec:FutureWarning")
    # A shell starts background jobs (`pytest ... &`) with SIGINT ignored, which Python and
    # cnnfeat respect; the Ctrl-C tests need it delivered, here and in their child processes.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


# --- durability: every fsync and rename, in order (test_writing, test_staging) ------------


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
