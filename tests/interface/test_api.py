"""The Python API's file functions (interface/api.py): `cnnfeat.embed_file` and
`cnnfeat.embed_dialogues` take the model explicitly and give what `cnnfeat embed` writes.

From a newcomer following the README: `cnnfeat.runtime.pipeline.embed_file(input, output)` took
no model, so a user who had trained their own got the shipped model's features with no warning,
and `import cnnfeat; cnnfeat.runtime.pipeline` was an AttributeError.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, tiny_line

import cnnfeat
from cnnfeat.contract.errors import ArgumentError, OutputError
from cnnfeat.runtime import pipeline
from cnnfeat.runtime.writing import output_for

ROWS = [  # Utterance, Speaker, Emotion, Dialogue_ID, Utterance_ID: dialogue 3 first, shuffled
    (tiny_line(4, 1), "Ross", "joy", "3", "10"),
    (tiny_line(6, 2), "Rachel", "neutral", "7", "2"),
    (tiny_line(2, 3), "Ross", "anger", "3", "9"),
    (tiny_line(9, 4), "Monica", "neutral", "7", "0"),
    ("", "Joey", "surprise", "3", "0"),
]


def table(tmp_path: Path) -> Path:
    path = tmp_path / "talk.csv"
    lines = ["Utterance,Speaker,Emotion,Dialogue_ID,Utterance_ID"]
    lines += [",".join(row) for row in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_file_api_is_top_level_and_lazy() -> None:
    code = (
        "import sys, cnnfeat; assert 'onnxruntime' not in sys.modules; "
        "print(cnnfeat.embed_file.__module__, cnnfeat.embed_dialogues.__module__, "
        "cnnfeat.DialogueFeatures.__name__, 'embed_file' in dir(cnnfeat))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["cnnfeat.api", "cnnfeat.api", "DialogueFeatures", "True"]


@pytest.mark.parametrize("given", ["path", "embedder"])
def test_embed_file_uses_the_model_given(tiny_global: TinyModel, tmp_path: Path, given: str):
    source = tmp_path / "lines.txt"
    lines = [tiny_line(n, n) for n in range(1, 12)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    model = tiny_global.model_dir if given == "path" else embedder
    summary = cnnfeat.embed_file(source, tmp_path / "f.npy", model=model)
    assert isinstance(summary, cnnfeat.EmbedSummary) and summary.rows == len(lines)
    got = np.load(tmp_path / "f.npy")
    assert got.dtype == np.float32 and got.shape == (len(lines), 100)
    np.testing.assert_array_equal(got, embedder.embed(lines))
    shipped = cnnfeat.Embedder(device="cpu").embed(lines)  # not what it silently gave before
    assert np.abs(got - shipped).max() > 0.1


def test_the_model_is_required(tmp_path: Path) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("hello\n", encoding="utf-8")
    with pytest.raises(TypeError, match="required keyword-only argument: 'model'"):
        cnnfeat.embed_file(source, tmp_path / "f.npy")  # type: ignore[call-arg]
    wanted = r"model must be a model directory .* got None; for the shipped model pass cnnfeat\."
    with pytest.raises(ArgumentError, match=wanted + r"Embedder\(\)"):
        cnnfeat.embed_file(source, tmp_path / "f.npy", model=None)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="got int"):
        cnnfeat.embed_dialogues(source, model=3)  # type: ignore[arg-type]
    # the engine's own function has no default model either
    with pytest.raises(TypeError, match="embedder"):
        pipeline.embed_file(str(source), output_for(str(tmp_path / "f.npy")))  # type: ignore[call-arg]
    with pytest.raises(ArgumentError, match="got None"):
        pipeline.embed_file(str(source), output_for(str(tmp_path / "f.npy")), None)  # type: ignore[arg-type]
    assert not (tmp_path / "f.npy").exists()


def test_output_is_checked_before_the_model_loads(tmp_path: Path) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("hello\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"unknown output format '\.xyz'"):
        cnnfeat.embed_file(source, tmp_path / "f.xyz", model=tmp_path / "no-model")
    table = tmp_path / "lines.csv"
    table.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(OutputError, match="is the input file; choose another output_path"):
        cnnfeat.embed_file(table, table, model=tmp_path / "no-model")
    link = tmp_path / "link.csv"  # the file itself, under another name: the one same-file check
    os.link(table, link)
    with pytest.raises(OutputError, match=f"{link} is the input file; choose another output_path"):
        cnnfeat.embed_file(table, link, model=tmp_path / "no-model")
    assert table.read_text() == "text\nhello\n"


def test_embed_dialogues_equals_the_cli(tiny_global: TinyModel, tmp_path: Path) -> None:
    source = table(tmp_path)
    out = tmp_path / "d.npz"
    result = invoke("embed", source, "--dialogues", "-o", out, "--model", tiny_global.model_dir)
    assert result.exit_code == 0, result.output
    dialogues = cnnfeat.embed_dialogues(source, model=tiny_global.model_dir)
    assert [d.id for d in dialogues] == ["3", "7"]
    first, second = dialogues
    assert first.speakers == ["Joey", "Ross", "Ross"]  # Utterance_ID 0, 9, 10
    assert first.labels == ["surprise", "anger", "joy"]
    assert first.texts == [ROWS[4][0], ROWS[2][0], ROWS[0][0]]
    assert second.speakers == ["Monica", "Rachel"]
    with np.load(tmp_path / "d.npz") as npz:
        for dialogue in dialogues:
            assert dialogue.features.dtype == np.float32
            assert dialogue.features.shape == (len(dialogue.texts), 100)
            np.testing.assert_array_equal(dialogue.features, npz[dialogue.id])


def test_embed_dialogues_reads_as_the_cli(tiny_global: TinyModel, tmp_path: Path) -> None:
    """Column options and errors are the CLI's readers' (runtime/corpora.py)."""
    source = tmp_path / "talk.csv"
    source.write_text("text,conv,turn,who\nw1 w2,a,2,x\nw3,a,1,y\nw4,b,1,z\n", encoding="utf-8")
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    columns = {"dialogue_column": "conv", "order_column": "turn", "speaker_column": "who"}
    dialogues = cnnfeat.embed_dialogues(source, model=embedder, **columns)
    assert [(d.id, d.texts, d.speakers, d.labels) for d in dialogues] == [
        ("a", ["w3", "w1 w2"], ["y", "x"], [None, None]),
        ("b", ["w4"], ["z"], [None]),
    ]
    with pytest.raises(cnnfeat.InputError, match="talk.csv"):
        cnnfeat.embed_dialogues(source, model=tiny_global.model_dir, dialogue_column="nope")


# --- found by trying to break the API surface, tokenize and writing ---------------------------


def test_version_and_dir() -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    import cnnfeat

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"cnnfeat {cnnfeat.__version__}\n"
    assert {"Embedder", "ModelSpec", "ArgumentError"} <= set(dir(cnnfeat))


@pytest.mark.parametrize(
    ("columns", "said"),
    [
        ({"dialogue_column": 5}, "dialogue_column must be a column name (a str) or a list"),
        ({"dialogue_column": b"Dialogue_ID"}, "dialogue_column must be a column name"),
        ({"speaker_column": 3}, "speaker_column must be a column name (a str), got 3"),
    ],
)
def test_embed_dialogues_column_names_of_the_wrong_type(
    tiny_global: TinyModel, tmp_path: Path, columns, said
) -> None:
    """dialogue_column=5 was Python's "'int' object is not iterable"; b"Dialogue_ID" was read
    byte by byte ("no column 68")."""
    source = tmp_path / "in.csv"
    source.write_text("Dialogue_ID,Utterance_ID,Speaker,Utterance\n0,0,A,w1\n")
    with pytest.raises(cnnfeat.ArgumentError, match=re.escape(said)):
        cnnfeat.embed_dialogues(source, model=tiny_global.model_dir, **columns)
