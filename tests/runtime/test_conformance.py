"""The conformance file: what every host (Node, browser, C) is checked against."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel
from typer.testing import CliRunner

from cnnfeat.cli import app
from cnnfeat.contract.layout import CARD_FILE, CONFORMANCE_FILE, MODEL_FILE
from cnnfeat.runtime.conformance import (
    CASES,
    FORMAT,
    VERSION,
    build_conformance,
    cases,
    conformance_bytes,
    write_conformance,
)
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.model_dir import default_model_dir, load_model_dir


def load_conformance(path: Path) -> dict:
    """A conformance file as the hosts read it: JSON of this format and version."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    return doc


def copy_model(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def test_cases_cover_the_hard_inputs() -> None:
    names = {name for name, _ in CASES}
    assert len(names) == len(CASES), "case names must be unique"
    for must in (
        "contractions",
        "curly_quotes",
        "ellipsis",
        "meld_2018_mojibake",
        "chinese",
        "arabic",
        "hindi",
        "cyrillic",
        "emoji_zwj",
        "combining_accents",
        "empty",
        "whitespace_only",
        "shorter_than_filter",
        "controls",
        "pad_literal",
    ):
        assert must in names
    # One case per line must survive a text file, so hosts can read them line by line.
    assert not any("\n" in text or "\r" in text for _, text in CASES)


def test_long_case_is_longer_than_max_len() -> None:
    name, text = cases(50)[-1]
    assert name == "longer_than_max_len" and len(text.split()) > 50


def test_write_conformance(tiny, tmp_path: Path) -> None:
    model = copy_model(tiny.model_dir, tmp_path / "model")
    path = write_conformance(model)
    assert path == model / CONFORMANCE_FILE
    raw = path.read_bytes()
    assert raw.isascii(), "NUL, BOM and emoji travel as \\u escapes"
    doc = load_conformance(path)
    card = json.loads((model / CARD_FILE).read_text())
    assert doc["model"]["sha256"] == card["sha256"]
    assert doc["model"]["spec"] == card["spec"]

    embedder = Embedder(model, device="cpu")
    texts = [c["text"] for c in doc["cases"]]
    assert texts == [t for _, t in cases(tiny.spec.max_len)]  # control characters round-trip
    assert [c["ids"] for c in doc["cases"]] == embedder.tokenize(texts)
    # Features are written as the shortest text of each float32: they read back bit for bit.
    written = np.array([c["features"] for c in doc["cases"]], dtype=np.float32)
    assert np.array_equal(written, embedder.embed(texts))
    for c in doc["cases"]:
        assert len(c["words"]) == len(c["ids"])
    long = doc["cases"][-1]
    assert len(long["ids"]) == tiny.spec.max_len


def test_words_are_the_pre_tokenized_pieces(tiny_global) -> None:
    doc = build_conformance(tiny_global.model_dir)
    by_name = {c["name"]: c for c in doc["cases"]}
    assert by_name["contractions"]["words"][:4] == ["i", "do", "n't", "know"]
    assert by_name["bom_inside"]["words"] == ["ab"]  # a format character: deleted (issue 10)
    assert by_name["format_characters"]["words"][:4] == ["thanks", "a", "lot", ","]
    assert by_name["lookalike_apostrophes"]["words"][:3] == ["do", "n't", ","]
    assert by_name["greek_final_sigma"]["words"][0] == "οδοσ"  # per-character lowercase
    assert by_name["empty"]["words"] == [] and by_name["empty"]["ids"] == []


def test_cli_conformance(tiny_global, tmp_path: Path) -> None:
    model = copy_model(tiny_global.model_dir, tmp_path / "model")
    (model / CONFORMANCE_FILE).unlink()  # export wrote one; --output must not write it there
    out = tmp_path / "elsewhere.json"
    result = CliRunner().invoke(app, ["conformance", str(model), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert load_conformance(out)["cases"]
    assert not (model / CONFORMANCE_FILE).exists()
    result = CliRunner().invoke(app, ["conformance", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_cli_conformance_to_standard_output(tiny_global, tmp_path: Path, monkeypatch) -> None:
    """`-o -` wrote a file named "-", though the error for a device as -o advises it for
    standard output, as `embed -o -` means."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["conformance", str(tiny_global.model_dir), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == conformance_bytes(tiny_global.model_dir)
    assert list(tmp_path.iterdir()) == []


def test_shipped_conformance_matches_this_runtime() -> None:
    """The conformance file shipped with the default model agrees with Python here and now."""
    shipped = default_model_dir() / CONFORMANCE_FILE
    if not (default_model_dir() / MODEL_FILE).is_file() or not shipped.is_file():
        pytest.skip("the shipped model has no conformance.json (yet)")
    doc = load_conformance(shipped)
    assert doc["model"]["sha256"] == load_model_dir().card["sha256"]
    fresh = build_conformance(default_model_dir())
    assert [c["text"] for c in doc["cases"]] == [c["text"] for c in fresh["cases"]]
    assert [c["ids"] for c in doc["cases"]] == [c["ids"] for c in fresh["cases"]]
    diff = np.abs(
        np.array([c["features"] for c in doc["cases"]])
        - np.array([c["features"] for c in fresh["cases"]])
    ).max()
    assert diff <= doc["atol"]


# --- one line, typed errors, files kept safe --------------------------------------------------


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
def test_conformance_refuses_to_write_over_the_model_it_checks(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """Found: `cnnfeat conformance M -o M/model.onnx` replaced the model with JSON, exit 0.
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    import shutil

    from helpers import invoke, one_error_line

    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))
    before = (model / name).read_bytes()
    line = one_error_line(invoke("conformance", model, "-o", model / name))
    assert f"{model / name} is part of the model directory" in line, line
    assert (model / name).read_bytes() == before
