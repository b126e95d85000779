"""The README's DialogueRNN-layout snippet ("Into a DialogueRNN-style loader") runs as printed,
on Parquet files written by `cnnfeat embed`, and gives the dictionaries it promises."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke
from test_dialogues import ROWS, write_table

pytest.importorskip("pyarrow.parquet", reason="the snippet reads Parquet")

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- tests/test_readme_snippet.py runs the next code block -->"


def snippet() -> str:
    text = README.read_text(encoding="utf-8")
    assert text.count(MARKER) == 1
    match = re.match(r"\s*```python\n(.*?)\n```", text.split(MARKER, 1)[1], re.DOTALL)
    assert match, "no python code block after the marker"
    return match.group(1)


def test_snippet_builds_the_dialoguernn_dictionaries(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = write_table(tmp_path / "train.csv")
    test = write_table(tmp_path / "test.csv", ROWS[:2])
    for split, table in (("train", train), ("test", test)):
        for out in (f"{split}.parquet", f"{split}.npz"):
            result = invoke("embed", table, "--dialogues", "-o", tmp_path / out, "--model",
                            tiny_global.model_dir, "--device", "cpu", "-q")  # fmt: skip
            assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(snippet(), "README.md", "exec"), names)  # noqa: S102 - the README's own code
    with open("cnnfeat_features.pkl", "rb") as f:
        ids, speakers, labels, text, sentences, train_ids, test_ids, label_names = pickle.load(f)
    assert train_ids == ["train/3", "train/7"] and test_ids == ["test/3", "test/7"]
    assert ids["train/3"] == ["0", "9", "10"] and ids["test/7"] == ["2"]
    assert speakers["train/3"] == ["Joey", "Ross", "Ross"]
    assert label_names == ["anger", "joy", "neutral", "surprise"]
    assert [label_names[i] for i in labels["train/3"]] == ["surprise", "anger", "joy"]
    assert sentences["train/3"][2] == ROWS[0][1]
    with np.load(tmp_path / "train.npz") as npz:
        for key in ("3", "7"):
            assert np.array_equal(np.stack(text[f"train/{key}"]), npz[key])
    assert names["videoText"]["test/3"][0].shape == (100,)
