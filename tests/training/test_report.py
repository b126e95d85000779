"""report.html next to metrics.json, the recipe options of `cnnfeat train`, and its --help."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, write_dataset, write_vectors

RECIPE_FLAGS = [
    "--multichannel",
    "--max-norm",
    "3",
    "--weight-decay",
    "0.01",
    "--lr-schedule",
    "plateau",
    "--word-dropout",
    "0.2",
    "--label-smoothing",
    "0.1",
    "--ema-decay",
    "0.9",
    "--class-weights",
    "--class-weight-power",
    "0.5",
]


def train_tiny(root: Path, name: str, *flags: str) -> Path:
    if not (root / "train.csv").exists():
        write_dataset(root / "train.csv", 80, seed=1)
        write_dataset(root / "test.csv", 30, seed=2)
        write_vectors(root / "vectors.txt")
    run = root / name
    result = invoke(
        "train",
        "--train",
        root / "train.csv",
        "--test",
        root / "test.csv",
        "--out",
        run,
        "--vectors",
        root / "vectors.txt",
        "--epochs",
        "3",
        "--patience",
        "3",
        "--batch-size",
        "16",
        "--seed",
        "3",
        "--vocab-top-n",
        "5",
        "-q",
        *flags,
    )
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    return train_tiny(tmp_path_factory.mktemp("report"), "run", *RECIPE_FLAGS)


class _Cells(HTMLParser):
    """Collects data-key/data-value pairs, img sources and any external references."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-key" in a:
            self.values[a["data-key"] or ""] = a.get("data-value") or ""
        if tag == "img":
            self.images.append(a.get("src") or "")
        for name in ("src", "href"):
            if a.get(name) and not (a[name] or "").startswith("data:"):
                self.external.append(a[name] or "")


def _lookup(metrics: dict, key: str):
    value = metrics
    for part in key.split("."):
        value = value[part]
    return value


@pytest.mark.slow
def test_report_numbers_equal_metrics_json(recipe_run: Path) -> None:
    metrics = json.loads((recipe_run / "metrics.json").read_text())
    cells = _Cells()
    cells.feed((recipe_run / "report.html").read_text(encoding="utf-8"))
    expected = {"best_epoch"} | {
        f"{split}.{k}"
        for split in ("dev", "test")
        for k in ("weighted_f1", "macro_f1", "accuracy", "support")
    }
    for split in ("dev", "test"):
        for name in metrics[split]["labels"]:
            expected |= {f"{split}.per_class.{name}.{k}" for k in ("precision", "recall", "f1")}
    assert expected <= set(cells.values)
    for key, shown in cells.values.items():
        assert float(shown) == _lookup(metrics, key), key


@pytest.mark.slow
def test_report_figures_are_embedded_pngs(recipe_run: Path) -> None:
    cells = _Cells()
    cells.feed((recipe_run / "report.html").read_text(encoding="utf-8"))
    assert cells.external == []  # self-contained: nothing fetched
    assert len(cells.images) == 4  # curves, confusion matrices, per-class bars, PCA
    for src in cells.images:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.slow
def test_report_heading_names_the_run_not_its_staging_folder(recipe_run: Path) -> None:
    page = (recipe_run / "report.html").read_text(encoding="utf-8")
    assert f"<h1>cnnfeat training run: {recipe_run.name}</h1>" in page
    assert "staging" not in page


@pytest.mark.slow
def test_recipe_options_reproduce_exactly(recipe_run: Path) -> None:
    again = train_tiny(recipe_run.parent, "again", *RECIPE_FLAGS)
    first, second = (json.loads((r / "metrics.json").read_text()) for r in (recipe_run, again))
    assert first["history"] == second["history"]
    assert first["test"] == second["test"]


@pytest.mark.slow
def test_multichannel_keeps_the_static_copy(recipe_run: Path) -> None:
    import torch

    saved = torch.load(recipe_run / "checkpoint.pt", weights_only=True)
    table = saved["state_dict"]["embedding.weight"].numpy()
    dim = table.shape[1] // 2
    assert dim == 8  # the test vectors are 8-d; the model reads 2 x 8
    words = json.loads((recipe_run / "tokenizer.json").read_text())["model"]["vocab"]
    vectors = {
        line.split()[0]: np.array(line.split()[1:], np.float32)
        for line in (recipe_run.parent / "vectors.txt").read_text().splitlines()
    }
    for word in ("good", "the"):
        static, tuned = table[words[word], :dim], table[words[word], dim:]
        assert np.allclose(static, vectors[word], atol=1e-5)  # frozen copy untouched
        assert not np.allclose(tuned, vectors[word], atol=1e-5)  # the other one trained


@pytest.mark.slow
def test_export_ships_the_report_and_info_points_to_it(recipe_run: Path) -> None:
    pytest.importorskip("onnx", reason="exporting needs the [train] extra (onnx)")
    model = recipe_run.parent / "model"
    result = invoke("export", recipe_run, "--out", model)  # a multichannel model exports as is
    assert result.exit_code == 0, result.output
    report = model / "report.html"
    assert report.read_bytes() == (recipe_run / "report.html").read_bytes()
    info = invoke("info", model)
    assert info.exit_code == 0, info.output
    assert f"report: {report}" in info.stdout.splitlines()


def test_info_on_the_shipped_model_names_its_report() -> None:
    from cnnfeat.runtime.model_dir import default_model_dir

    shipped = default_model_dir()
    assert (shipped / "report.html").is_file()  # docs/model-card.md points to it
    result = invoke("info", shipped)
    assert result.exit_code == 0, result.output
    assert f"report: {shipped / 'report.html'}" in result.stdout.splitlines()


def test_train_help_fits_80_columns() -> None:
    from typer.main import get_command

    from cnnfeat.cli import app

    env = dict(os.environ, COLUMNS="80")
    text = subprocess.run(
        [sys.executable, "-m", "cnnfeat", "train", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert not [line for line in lines if re.search(r"\w-$", line)]  # no word cut at a hyphen
    train_cmd = get_command(app).commands["train"]  # type: ignore[attr-defined]
    for param in train_cmd.params:
        for option in param.opts + param.secondary_opts:
            assert re.search(rf"(^|[\s/]){re.escape(option)}([\s,]|$)", text), option
    assert "[default: 60;" in text  # --epochs, with its default whole


@pytest.mark.parametrize(
    "command",
    ["embed", "tokenize", "info", "evaluate", "export", "conformance", "embed-dataset"],
)
def test_every_command_help_fits_80_columns(command: str) -> None:
    """Rich's two-column layout cut help texts at 80 columns (`Season,Episode,Scene_ID…`)."""
    env = dict(os.environ, COLUMNS="80")
    text = subprocess.run(
        [sys.executable, "-m", "cnnfeat", command, "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert not [line for line in lines if re.search(r"\w-$", line)]  # no word cut at a hyphen


def test_the_program_help_is_plain_and_gives_each_command_whole() -> None:
    """`cnnfeat --help` was Rich's boxes (`--help <bool>`); Click's layout cut each command's
    first sentence with `...`. Each is now whole, wrapped, in the commands' own layout."""
    from typer.main import get_command

    from cnnfeat.cli import app

    env = dict(os.environ, COLUMNS="80")
    text = subprocess.run(
        [sys.executable, "-m", "cnnfeat", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not re.search(r"…|<bool>|\\\[|[╭│]", text), text
    assert "..." not in text.split("Commands:")[1]
    flat = " ".join(text.split())
    group = get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        first = " ".join(command.get_short_help_str(limit=1000).split())
        assert f"{name} {first}" in flat


@pytest.mark.slow
def test_training_stops_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    """With lr 0 the dev score never improves after epoch 1, so --patience 2 ends the run at
    epoch 3 of 8 and the checkpoint is epoch 1's."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    run = train_tiny(tmp_path, "still", "--lr", "0", "--epochs", "8", "--patience", "2")
    metrics = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert metrics["best_epoch"] == 1


@pytest.mark.slow
def test_the_saved_model_is_the_best_epochs(tmp_path: Path) -> None:
    """The run keeps the weights of its best dev epoch, not its last: the final dev score is
    that epoch's score in the history. The dev labels are noise, so the dev score moves from
    epoch to epoch (here it peaks at epoch 2 of 6; EMA off so each epoch's weights count)."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    import csv
    import random

    write_dataset(tmp_path / "dev.csv", 60, seed=5)
    with (tmp_path / "dev.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    rng = random.Random(0)
    for row in rows[1:]:
        row[2] = rng.choice(["pos", "neg"])
    with (tmp_path / "dev.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    run = train_tiny(
        tmp_path,
        "best",
        "--dev",
        str(tmp_path / "dev.csv"),
        "--lr",
        "0.01",
        "--epochs",
        "6",
        "--patience",
        "6",
        "--ema-decay",
        "0",
    )
    metrics = json.loads((run / "metrics.json").read_text())
    history = metrics["history"]
    best = history[metrics["best_epoch"] - 1]["dev_weighted_f1"]
    assert len(history) == 6 and best == max(h["dev_weighted_f1"] for h in history)
    assert best > history[-1]["dev_weighted_f1"], history  # else the test would prove nothing
    assert metrics["dev"]["weighted_f1"] == pytest.approx(best, abs=1e-12)


@pytest.mark.slow
def test_no_fine_tune_keeps_the_word_vectors_as_read(tmp_path: Path) -> None:
    """--no-fine-tune-embeddings: every pretrained row of the checkpoint is the vector file's
    row, bit for bit ([PAD] stays zero); the default run does change them."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    from cnnfeat.training.train import load_checkpoint

    frozen = train_tiny(tmp_path, "frozen", "--no-fine-tune-embeddings", "--lr", "0.01")
    tuned = train_tiny(tmp_path, "tuned", "--lr", "0.01")
    vectors = {}
    for line in (tmp_path / "vectors.txt").read_text(encoding="utf-8").splitlines():
        word, *values = line.split()
        vectors[word] = np.array(values, dtype=np.float32)
    for run, same in ((frozen, True), (tuned, False)):
        model, _ = load_checkpoint(run)
        table = model.embedding.weight.detach().numpy()
        words = json.loads((run / "tokenizer.json").read_text())["model"]["vocab"]
        rows = {w: i for w, i in words.items() if w in vectors}
        assert rows and not table[0].any()
        unchanged = all(np.array_equal(table[i], vectors[w]) for w, i in rows.items())
        assert unchanged == same, run.name


def test_a_runs_command_writes_out_every_recipe_option(tmp_path: Path) -> None:
    """The card's reproduce line named only the options given, so a run trained before a
    default changed (lr 1e-3 -> 5e-4) was rebuilt with the new value. Now every recipe option
    is written out, and the command parses back to the run's config."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    import shlex

    from typer.main import get_command

    from cnnfeat.cli import app
    from cnnfeat.options import config_values
    from cnnfeat.training.config import RECIPE_FIELDS, TrainConfig

    run = train_tiny(tmp_path, "run", "--label-smoothing", "0.1")
    config = json.loads((run / "metrics.json").read_text())["config"]
    args = shlex.split(config["command"])
    for name in RECIPE_FIELDS:
        flag = name.replace("_", "-")
        assert f"--{flag}" in args or f"--no-{flag}" in args, name
    assert args[args.index("--lr") + 1] == str(TrainConfig(train="t", out="o").lr)
    assert "--encoding-errors" not in args  # not part of the recipe, left at its default
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    parsed = config_values(
        {k: v for k, v in train.make_context("train", args[2:]).params.items() if k != "quiet"}
    )
    assert TrainConfig(**parsed, command=config["command"]) == TrainConfig(**config)


def _hand_made_metrics() -> dict:
    """A run's metrics.json as `cnnfeat train` writes it, numbers made up (3 epochs)."""
    from cnnfeat.training.metrics import classification_report

    names = ["neg", "pos"]
    dev = classification_report([0, 1, 1, 1], [0, 1, 0, 1], names)
    test = classification_report([0, 0, 1], [0, 1, 1], names)
    history = [
        {"epoch": 1, "loss": 0.9, "dev_loss": 0.8, "dev_weighted_f1": 0.5},
        {"epoch": 2, "loss": 0.6, "dev_loss": 0.7, "dev_weighted_f1": 0.75},
        {"epoch": 3, "loss": 0.4, "dev_loss": 0.75, "dev_weighted_f1": 0.7},
    ]
    majority = {
        "label": "pos",
        "dev": {"weighted_f1": 0.6, "macro_f1": 0.4286, "accuracy": 0.75},
        "test": {"weighted_f1": 0.2667, "macro_f1": 0.25, "accuracy": 0.3333},
    }
    return {"dev": dev, "test": test, "history": history, "best_epoch": 2, "majority": majority}


def test_report_draws_the_dev_loss_and_the_majority_baseline(tmp_path: Path) -> None:
    """A newcomer asked for both: the dev loss beside the training loss, and the score of
    always answering the most frequent training label, as a line and as table rows."""
    pytest.importorskip("matplotlib", reason="the report needs matplotlib (the train extra)")
    from cnnfeat.training.report import _curves, write_report

    metrics = _hand_made_metrics()
    figure = _curves(metrics)
    loss_axis, f1_axis = figure.axes
    lines = {line.get_label(): list(line.get_ydata()) for line in loss_axis.get_lines()}
    assert lines["training"] == [0.9, 0.6, 0.4]
    assert lines["dev"] == [0.8, 0.7, 0.75]
    baseline = {line.get_label(): line for line in f1_axis.get_lines()}["majority class (pos)"]
    assert list(baseline.get_ydata()) == [60.0, 60.0]  # a horizontal line at 100 * 0.6
    write_report(tmp_path, metrics, np.zeros((4, 3), np.float32), np.array([0, 1, 1, 1]))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    cells = _Cells()
    cells.feed(page)
    for split in ("dev", "test"):
        for key in ("weighted_f1", "macro_f1", "accuracy"):
            shown = cells.values[f"majority.{split}.{key}"]
            assert float(shown) == metrics["majority"][split][key]
        assert f"<th>{split}, majority class (pos for every utterance)</th>" in page


@pytest.mark.slow
def test_train_records_the_dev_loss_and_the_majority_baseline(tmp_path: Path) -> None:
    """metrics.json: the dev loss of each epoch is the training criterion on the weights dev
    sees (with no EMA, label smoothing or class weights: the kept checkpoint's cross-entropy
    on dev), and the majority baseline is the most frequent training label's share."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    import collections
    import csv

    import torch
    from tokenizers import Tokenizer

    from cnnfeat.runtime.clip import fit_lines
    from cnnfeat.training.train import load_checkpoint, logits

    write_dataset(tmp_path / "dev.csv", 40, seed=5)
    flags = ["--dev", str(tmp_path / "dev.csv"), "--lr", "0.01", "--ema-decay", "0"]
    flags.append("--no-class-weights")
    run = train_tiny(tmp_path, "run", *flags)
    metrics = json.loads((run / "metrics.json").read_text())

    def rows(name: str) -> tuple[list[str], list[str]]:
        with (tmp_path / name).open(newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
        return [r["Utterance"] for r in records], [r["Emotion"] for r in records]

    model, _ = load_checkpoint(run)
    tokenizer = Tokenizer.from_file(str(run / "tokenizer.json"))
    texts, labels = rows("dev.csv")
    ids = [e.ids for e in tokenizer.encode_batch(fit_lines(texts, tokenizer, model.spec.max_len))]
    names = list(model.spec.label_names)
    target = torch.tensor([names.index(label) for label in labels])
    loss = torch.nn.functional.cross_entropy(logits(model, ids, model.spec), target).item()
    kept = metrics["history"][metrics["best_epoch"] - 1]
    assert kept["dev_loss"] == pytest.approx(loss, rel=1e-5)
    assert len({h["dev_loss"] for h in metrics["history"]}) > 1  # it is measured each epoch

    most = collections.Counter(rows("train.csv")[1]).most_common()
    assert most[0][1] > most[1][1]  # else the majority label would be a tie
    majority = metrics["majority"]
    assert majority["label"] == most[0][0]
    for split, name in (("dev", "dev.csv"), ("test", "test.csv")):
        gold = rows(name)[1]
        assert majority[split]["accuracy"] == gold.count(most[0][0]) / len(gold)
