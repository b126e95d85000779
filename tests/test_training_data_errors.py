"""Odd training data: unknown or missing labels, labels only in dev/test, a class seen once, a
file with a single class. Each is a clear one-line error or a documented behaviour.

Rules (docs/input-rules.md, "Training data"):
- an empty, null, boolean or fractional label is an error naming the file and line; integer
  labels are class names ("0", "1"); labels are stripped, and compared exactly otherwise;
- a label that occurs in --dev/--test but not in --train is an error naming both files;
- a class with a single example is kept: the dev split taken from --train leaves it in train;
- a training file with one class is an error; so is a file where no class has two examples
  and no --dev is given (no dev split can be taken).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnfeat.cli import app
from cnnfeat.contract.errors import InputError
from cnnfeat.training.data import label_names, read_labelled, stratified_split

pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from cnnfeat.training.train import TrainConfig, _load_splits  # noqa: E402


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def csv_file(tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    body = "".join(f'"{text}",{label}\n' for text, label in rows)
    return write(tmp_path, name, "text,label\n" + body)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnnfeat: error: ") and "Traceback" not in result.output
    return lines[0]


def train_cli(tmp_path: Path, *args) -> object:
    vectors = write(tmp_path, "vectors.txt", "".join(
        f"{w} {' '.join(str((i * 7 + d) % 11 / 10) for d in range(4))}\n"
        for i, w in enumerate(["good", "bad", "fine", "awful", "ok", "meh", "w1", "w2"])
    ))  # fmt: skip
    options = ["--out", tmp_path / "run", "--vectors", vectors, "--epochs", "1",
               "--max-len", "10", "--vocab-top-n", "0", "-q"]  # fmt: skip
    return CliRunner().invoke(app, ["train", *map(str, args), *map(str, options)])


# --- missing or unusable labels --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "line", "match"),
    [
        ("t.csv", "text,label\nhi,pos\nho,\n", 3, "missing label"),
        ("t.csv", "text,label\nhi,pos\nho,   \n", 3, "missing label"),
        ("t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', 2, "missing key 'label'"),
        ("t.jsonl", '{"text": "a", "label": null}\n', 1,
         "label must be a string or an integer, got null"),
        ("t.jsonl", '{"text": "a", "label": true}\n', 1, "got a boolean"),
        ("t.jsonl", '{"text": "a", "label": 1.5}\n', 1, "got a number"),
        ("t.jsonl", '{"text": "a", "label": ["x"]}\n', 1, "got an array"),
        ("t.jsonl", '{"text": 5, "label": "x"}\n', 1, "field 'text' is a number, not a string"),
        ("t.jsonl", '{"text": "a \\ud800", "label": "x"}\n', 1, "lone surrogate"),
    ],
)  # fmt: skip
def test_unusable_labels_and_texts_name_the_line(
    tmp_path: Path, name: str, content: str, line: int, match: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(InputError, match=f"^{path}:{line}: .*{match}"):
        read_labelled(path)


def test_integer_labels_are_class_names_and_labels_are_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "t.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": " 1 "}\n')
    assert read_labelled(path).labels == ["0", "1"]


def test_case_matters_in_labels(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "t.csv", [("a", "Joy"), ("b", "joy")])
    assert label_names(read_labelled(path).labels) == ["Joy", "joy"]


def test_a_long_csv_cell_is_read(tmp_path: Path) -> None:
    long = "word " * 60_000  # 300 KB, over the csv module's default field limit
    path = csv_file(tmp_path, "t.csv", [(long, "a"), ("b", "c")])
    assert read_labelled(path).texts[0] == long


# --- labels only in dev or test --------------------------------------------------------------


@pytest.mark.parametrize("split", ["dev", "test"])
def test_label_only_in_dev_or_test(tmp_path: Path, split: str) -> None:
    train = csv_file(tmp_path, "train.csv", [("good", "pos"), ("bad", "neg")] * 3)
    other = csv_file(tmp_path, f"{split}.csv", [("good", "pos"), ("meh", "neutral")])
    dev = other if split == "dev" else train
    data = _load_splits(TrainConfig(train=str(train), out="x", dev=str(dev),
                                    test=str(other) if split == "test" else None))  # fmt: skip
    expected = (f"^{other}: labels \\['neutral'\\] do not occur in the training data "
                f"\\({train}\\); add training examples")  # fmt: skip
    with pytest.raises(InputError, match=expected):
        label_names(data[0].labels, data[0].path, [(d.labels, d.path) for d in data[1:] if d])
    line = one_error_line(train_cli(tmp_path, "--train", train, f"--{split}", other))
    assert "labels ['neutral'] do not occur in the training data" in line


# --- a class seen once; a single class -------------------------------------------------------


def test_a_class_with_one_example_stays_in_training(tmp_path: Path) -> None:
    rows = [("good", "pos")] * 10 + [("bad", "neg")] * 10 + [("meh", "rare")]
    data = read_labelled(csv_file(tmp_path, "t.csv", rows))
    train, dev = stratified_split(data, 0.2, seed=1)
    assert train.labels.count("rare") == 1 and "rare" not in dev.labels
    assert label_names(train.labels, train.path, [(dev.labels, dev.path)]) == ["neg", "pos", "rare"]


def test_training_with_a_class_seen_once_works(tmp_path: Path) -> None:
    rows = [("good w1", "pos"), ("bad w2", "neg")] * 6 + [("meh", "rare")]
    train = csv_file(tmp_path, "train.csv", rows)
    result = train_cli(tmp_path, "--train", train)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["spec"]["label_names"] == ["neg", "pos", "rare"]
    assert metrics["data"]["dev"]["rows"] > 0


@pytest.mark.parametrize("with_dev", [False, True])
def test_a_single_class(tmp_path: Path, with_dev: bool) -> None:
    train = csv_file(tmp_path, "train.csv", [("good", "pos"), ("fine", "pos"), ("ok", "pos")])
    extra = ["--dev", train] if with_dev else []
    line = one_error_line(train_cli(tmp_path, "--train", train, *extra))
    assert f"{train}: only one label ('pos') in the training data; need two or more" in line
    assert not (tmp_path / "run").exists()


def test_no_class_with_two_examples_and_no_dev(tmp_path: Path) -> None:
    train = csv_file(tmp_path, "train.csv", [("good", "pos"), ("bad", "neg")])
    line = one_error_line(train_cli(tmp_path, "--train", train))
    assert "no dev split can be taken from this file; give a dev file with --dev" in line
    assert not (tmp_path / "run").exists()


def test_training_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "t.csv", "text,label\nhi,pos\nho,\n")
    assert f"{bad}:3: missing label" in one_error_line(train_cli(tmp_path, "--train", bad))
    missing = one_error_line(train_cli(tmp_path, "--train", tmp_path / "nope.csv"))
    assert "nope.csv: no such file" in missing


# --- text that gives the network nothing: the wrong column, an empty column ------------------


def table(tmp_path: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    body = "".join(f'"{text}",{label},"{note}"\n' for text, label, note in rows)
    return write(tmp_path, name, "text,label,note\n" + body)


@pytest.mark.parametrize(
    ("notes", "share"),
    [
        (["" for _ in range(10)], "100% (10 of 10)"),  # an empty column
        ([f"id{i}" for i in range(10)], "100% (10 of 10)"),  # ids: each seen once, no vector
        ([f"id{i}" for i in range(6)] + ["good bad"] * 4, "60% (6 of 10)"),  # over half
    ],
)
def test_training_text_empty_or_unknown_is_refused(
    tmp_path: Path, notes: list[str], share: str
) -> None:
    """`train` on the wrong text column used to exit 0 with dev weighted-F1 0.01 (an empty
    column, or one of ids): now one line naming the file, the column and the share."""
    rows = [("good w1", "pos" if i % 2 else "neg", note) for i, note in enumerate(notes)]
    train = table(tmp_path, "train.csv", rows)
    dev = table(tmp_path, "dev.csv", [("good", "pos", "good"), ("bad", "neg", "bad")])
    result = train_cli(tmp_path, "--train", train, "--dev", dev, "--text-column", "note")
    percent, counts = share.split(" ", 1)
    assert one_error_line(result) == (
        f"cnnfeat: error: {train}: {percent} of the training utterances of column 'note' "
        f"{counts} are empty or have no word the model knows; is --text-column the right "
        "column?"
    )
    assert not (tmp_path / "run").exists()


def test_half_the_training_text_unknown_still_trains(tmp_path: Path) -> None:
    """The limit is more than half: exactly half unknown trains (and the right column too)."""
    notes = [f"id{i}" for i in range(5)] + ["good bad"] * 5
    rows = [("good w1", "pos" if i % 2 else "neg", note) for i, note in enumerate(notes)]
    train = table(tmp_path, "train.csv", rows)
    dev = table(tmp_path, "dev.csv", [("good", "pos", "good"), ("bad", "neg", "bad")])
    result = train_cli(tmp_path, "--train", train, "--dev", dev, "--text-column", "note")
    assert result.exit_code == 0, result.output
    assert train_cli(tmp_path, "--train", train, "--dev", dev).exit_code == 0


def test_the_default_column_is_named_too(tmp_path: Path) -> None:
    """Without --text-column, the message names the column the reader picked."""
    rows = [(f"x{i}", "pos" if i % 2 else "neg") for i in range(8)]
    train = csv_file(tmp_path, "train.csv", rows)
    dev = csv_file(tmp_path, "dev.csv", [("good", "pos"), ("bad", "neg")])
    line = one_error_line(train_cli(tmp_path, "--train", train, "--dev", dev))
    assert f"{train}: 100% of the training utterances of column 'text' (8 of 8)" in line
