"""The model card (cnnfeat.json): every field export writes is declared in contract/layout.py's
CARD_FIELDS, checked when the model is loaded, and shown by `cnnfeat info`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import TinyModel, invoke, one_error_line

pytest.importorskip("torch", reason="train and export need the [train] extra (torch)")

from cnnfeat.contract.layout import CARD_FIELDS, CARD_FILE, OPSET  # noqa: E402
from cnnfeat.runtime.model_dir import default_model_dir  # noqa: E402

# Fields with their own checks (spec, sha256, format_version) or free-form records.
OWN = {"format_version", "spec", "sha256"}
FREE = {
    "seeds",
    "training.config",
    "training.oov_rate",
    "training.data",
    "metrics",
    "vectors.casing",
    "vectors.file_notes",
}


def _with_training_data(card: dict) -> dict:
    """The tiny model was exported without a metrics.json: give its card a training record."""
    card["training"]["data"] = {"train": {"path": "t.csv", "rows": 12}, "dev": None}
    return card


@pytest.fixture
def model(tiny_global: TinyModel, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))


def _card(model: Path) -> dict:
    return json.loads((model / CARD_FILE).read_text(encoding="utf-8"))


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_every_field_export_writes_is_declared(tiny_global: TinyModel, which: str) -> None:
    """The tiny model's card (no metrics.json) and the shipped one (trained, released)."""
    card = _card(tiny_global.model_dir if which == "tiny" else default_model_dir())

    def walk(value: object, prefix: str) -> None:
        if prefix in OWN or prefix in FREE or not isinstance(value, dict):
            return
        for key, child in value.items():
            field = f"{prefix}.{key}" if prefix else key
            assert field in OWN or field in CARD_FIELDS, f"{field} is written, never checked"
            walk(child, field)

    walk(card, "")
    assert {"input", "output", "vectors", "export", "training"} <= set(card)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda c: c["export"].update(parity_cases="15"),
            "field 'export.parity_cases' is a string, not an integer",
        ),
        (lambda c: c["export"].update(graph=1), "field 'export.graph' is a number, not a string"),
        (lambda c: c["training"].update(best_epoch=2.5), "'training.best_epoch' is a number, not"),
        (
            lambda c: c["training"]["data"]["train"].update(rows="ten"),
            "field 'training.data.train.rows' is a string, not an integer",
        ),
        (
            lambda c: c["vectors"].update(notes="x"),
            "field 'vectors.notes' is a string, not an array",
        ),
        (lambda c: c.update(input="ids"), "the card names the graph's input 'ids'"),
        (lambda c: c.update(output=["features"]), "field 'output' is an array, not a string"),
    ],
)
def test_a_damaged_card_field_is_one_line(model: Path, edit, match: str) -> None:
    card = _with_training_data(_card(model))
    edit(card)
    (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    line = one_error_line(invoke("info", model))
    assert match in line and "internal error" not in line, line


def test_info_shows_the_graph_export_and_training_records(model: Path) -> None:
    card = _with_training_data(_card(model))
    card["training"]["best_epoch"] = 7
    card["export"]["parity_max_abs_diff"] = 4.5e-7
    (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    result = invoke("info", model)
    assert result.exit_code == 0, result.output
    dim = card["spec"]["feature_dim"]
    graph = card["export"]["graph"]
    assert (
        f"graph: input_ids int64 (batch, seq) -> features float32 (batch, {dim}); "
        f"ONNX opset {OPSET}, {graph!r} graph"
    ) in result.stdout
    assert "export: matches PyTorch within 4.5e-07 on " in result.stdout
    rows = card["training"]["data"]["train"]["rows"]
    assert f"training: rows train {rows}" in result.stdout and "best epoch 7" in result.stdout


def _seeds_lines(*args: object) -> list[str]:
    result = invoke("info", *args)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line.startswith("seeds: ")]


def test_info_gives_every_seed_of_the_release(model: Path) -> None:
    """The shipped card's release record (5 seeds, mean ± std, the shipped seed) is printed;
    a model trained once has none, and a record without scores is left out, not half shown."""
    seeds = _card(default_model_dir())["seeds"]
    (line,) = _seeds_lines()
    for run in seeds["runs"]:
        assert f"{run['test_weighted_f1']:.4f}" in line
    assert f"{seeds['test_weighted_f1_mean']:.4f} ± {seeds['test_weighted_f1_std']:.4f}" in line
    assert f"(seeds {', '.join(str(r['seed']) for r in seeds['runs'])})" in line
    assert line.endswith(f"this model is seed {seeds['shipped_seed']}'s run")
    assert _seeds_lines(model) == []
    card = _card(model)
    for damaged in ({"runs": [{"seed": 1}], "shipped_seed": 1}, {"runs": 5}, {"runs": "abc"}):
        card["seeds"] = damaged
        (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
        assert _seeds_lines(model) == []


def test_info_gives_the_releases_context_probe(model: Path) -> None:
    """Each seed's context-probe figures (export/release.py) become one line of means ± std and
    the gain; a run without them, or with one out of range, leaves the line out."""
    card = _card(model)
    runs = [
        {
            "seed": 1,
            "test_weighted_f1": 0.56,
            "context_probe_test_weighted_f1": 0.585,
            "utterance_probe_test_weighted_f1": 0.57,
        },
        {
            "seed": 2,
            "test_weighted_f1": 0.57,
            "context_probe_test_weighted_f1": 0.595,
            "utterance_probe_test_weighted_f1": 0.575,
        },
    ]
    card["seeds"] = {"runs": runs, "shipped_seed": 2}
    (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    result = invoke("info", str(model))
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("context probe: ")]
    assert (
        "0.5900 ± 0.0071 in context, 0.5725 ± 0.0035 utterance only, gain 0.0175 ± 0.0035" in line
    )
    for damaged in (None, 1.5, True):
        runs[1]["context_probe_test_weighted_f1"] = damaged
        (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
        result = invoke("info", str(model))
        assert result.exit_code == 0 and "context probe" not in result.stdout
