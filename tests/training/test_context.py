"""The context probe (`cnnfeat evaluate --context`, training/context.py): context must help where
labels follow the previous utterance and must not where they are the utterance's own; the same
seed gives the same numbers; the CLI prints what the API computes; bad input is one line."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line

from cnnfeat.contract.errors import ArgumentError, InputError

pytest.importorskip("torch", reason="the context probe needs torch (the train extra)")
pytest.importorskip("sklearn", reason="the context probe needs scikit-learn (the train extra)")

from cnnfeat.training.context import (  # noqa: E402
    LabelledDialogue,
    _speaker_one_hot,
    context_probe,
    evaluate_dialogue_files,
)

SMALL = {"hidden": 16, "epochs": 30, "patience": 6, "batch_size": 16, "lr": 1e-2}


def synthetic(n: int, seed: int, previous: bool, length: int = 8) -> list[LabelledDialogue]:
    """Dialogues of random 6-d features. Each utterance carries a cue: column 0 is +-1.5 plus
    noise. previous=True: an utterance's label is the previous utterance's cue (the first one's
    is a coin toss), so nothing in its own features tells it; previous=False: its own cue."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.normal(size=(length, 6)).astype(np.float32)
        sign = rng.choice([-1.0, 1.0], size=length)
        x[:, 0] = 1.5 * sign + 0.5 * x[:, 0]
        cue = ["a" if v > 0 else "b" for v in sign]
        labels = [str(rng.choice(["a", "b"]))] + cue[:-1] if previous else cue
        out.append(LabelledDialogue(x, labels, ["Ann", "Bob"] * (length // 2)))
    return out


def test_context_helps_when_labels_follow_the_previous_utterance() -> None:
    report = context_probe(synthetic(100, 1, True), synthetic(40, 2, True), seeds=[1], **SMALL)
    utterance, context = report.mean("utterance"), report.mean("context")
    assert utterance < 0.65  # its own features say nothing: about a coin toss
    assert context > 0.85  # the previous utterance's cue, read through the LSTM
    assert report.gains()[0] > 0.3


def test_context_gains_nothing_when_labels_are_the_utterances_own() -> None:
    report = context_probe(synthetic(100, 1, False), synthetic(40, 2, False), seeds=[1], **SMALL)
    assert report.mean("utterance") > 0.9
    assert abs(report.gains()[0]) < 0.05


def test_same_seed_same_numbers_and_another_seed_others() -> None:
    train, test = synthetic(30, 3, True), synthetic(15, 4, True)
    first = context_probe(train, test, seeds=[5, 6], **SMALL)
    again = context_probe(train, test, seeds=[5, 6], **SMALL)
    assert first == again
    assert first.context[0] != first.context[1]  # the seed does reach the weights
    alone = context_probe(train, test, seeds=[6], **SMALL)
    assert alone.context[0] == first.context[1]  # a seed's run does not depend on the others


def test_dev_is_whole_training_dialogues_or_the_dev_set() -> None:
    train, test = synthetic(30, 3, False), synthetic(10, 4, False)
    held = context_probe(train, test, seeds=[1], **SMALL)
    assert held.counts["dev"] == (3, 24) and held.counts["train"] == (27, 216)
    assert held.counts["test"] == (10, 80)
    given = context_probe(train, test, synthetic(5, 5, False), seeds=[1], **SMALL)
    assert given.counts["dev"] == (5, 40) and given.counts["train"] == (30, 240)
    assert given.dev_source == "from dev" and held.dev_source == "held out from train"


def test_speakers_are_numbered_by_first_appearance_in_the_dialogue() -> None:
    one_hot = _speaker_one_hot(["Bob", "Ann", "Bob", None, "Cy"], 5, 2)
    assert one_hot.tolist() == [[1, 0], [0, 1], [1, 0], [0, 0], [0, 1]]  # Cy shares the last
    assert _speaker_one_hot(None, 2, 3).tolist() == [[0, 0, 0], [0, 0, 0]]
    with_speakers = context_probe(
        synthetic(10, 1, False), synthetic(4, 2, False), seeds=[1], **SMALL
    )
    assert with_speakers.speaker_slots == 8
    nameless = [LabelledDialogue(d.features, d.labels) for d in synthetic(10, 1, False)]
    assert context_probe(nameless, synthetic(4, 2, False), seeds=[1], **SMALL).speaker_slots == 0


def test_bad_sets_and_settings_are_typed_errors() -> None:
    train, test = synthetic(10, 1, False), synthetic(4, 2, False)
    wide = [LabelledDialogue(np.zeros((3, 7), np.float32), ["a", "b", "a"])]
    nan = [LabelledDialogue(np.full((2, 6), np.nan, np.float32), ["a", "b"])]
    cases = [
        ((train, []), {}, InputError, "test: no dialogues"),
        ((train, wide), {}, InputError, "test: 7 features per utterance, but train has 6"),
        ((train, nan), {}, InputError, "test: dialogue 0: features hold NaN"),
        (
            (train, [LabelledDialogue(test[0].features, ["z"] * 8)]),
            {},
            InputError,
            r"test: labels \['z'\] do not occur",
        ),
        (
            ([LabelledDialogue(test[0].features, ["a"] * 8)] * 3, test),
            {},
            InputError,
            "only one label",
        ),
        ((train[:1], test), {}, InputError, "give a dev file"),
        ((train, test), {"seeds": []}, ArgumentError, "no seeds"),
        ((train, test), {"seeds": [1, 1]}, ArgumentError, "repeated"),
        ((train, test), {"dropout": 1.0}, ArgumentError, "dropout"),
    ]
    for args, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            context_probe(*args, **kwargs)


# --- the command line ---------------------------------------------------------------------

NUMBER = r"[+-]?\d\.\d{4}(?: ± \d\.\d{4})?"  # the std only with two seeds or more
LINE = rf"weighted-F1 ({NUMBER})  macro-F1 {NUMBER}  accuracy {NUMBER}"


def write_dialogues(path: Path, n: int, seed: int) -> Path:
    """MELD's columns; class `a` lines use words w0-w49, `b` lines w150-w199."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Dialogue_ID", "Utterance_ID", "Speaker", "Utterance", "Emotion"])
        for dialogue in range(n):
            for turn in range(5):
                label = rng.choice("ab")
                base = 0 if label == "a" else 150
                text = " ".join(f"w{base + rng.randrange(50)}" for _ in range(6))
                writer.writerow([dialogue, turn, "AB"[turn % 2], text, label])
    return path


def figures(result) -> dict[str, tuple[float, ...]]:
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.startswith("context probe (bidirectional LSTM over each dialogue)")
    out = {}
    for row, name in zip(rows, ("utterance only", "context", "gain"), strict=True):
        match = re.fullmatch(f"{name} +{LINE}", row)
        assert match, row
        out[name] = tuple(float(v) for v in match[1].split(" ± "))
    return out


def test_cli_prints_what_the_api_computes(tiny_global: TinyModel, tmp_path: Path) -> None:
    train = write_dialogues(tmp_path / "train.csv", 24, 1)
    dev = write_dialogues(tmp_path / "dev.csv", 6, 3)
    test = write_dialogues(tmp_path / "test.csv", 10, 2)
    result = invoke(
        "evaluate",
        tiny_global.model_dir,
        "--train",
        train,
        "--test",
        test,
        "--dev",
        dev,
        "--context",
        "--seeds",
        "2,3",
        "--device",
        "cpu",
    )
    shown = figures(result)
    assert f"dev 6 dialogues (30 utterances) from {dev}, test 10 dialogues" in result.stdout
    report = evaluate_dialogue_files(
        str(train), str(test), tiny_global.model_dir, str(dev), seeds=(2, 3), device="cpu"
    )
    assert shown["context"][0] == round(report.mean("context"), 4)
    assert shown["utterance only"][0] == round(report.mean("utterance"), 4)
    assert shown["gain"][0] == round(float(np.mean(report.gains())), 4)
    assert report.speaker_slots == 8 and report.counts["train"] == (24, 120)


def test_cli_on_given_features_finds_the_context(tmp_path: Path) -> None:
    """Your own features through the CLI: the previous-utterance data, written as MELD files
    and (N, 6) .npy files row for row (train, dev, test); the gain shows."""
    flags: list[object] = []
    for split, n, seed in (("train", 300, 1), ("dev", 60, 3), ("test", 100, 2)):
        dialogues = synthetic(n, seed, True)
        with (tmp_path / f"{split}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["Dialogue_ID", "Utterance_ID", "Utterance", "Emotion"])
            for i, d in enumerate(dialogues):
                rows = ([i, t, f"{split} line {t}", label] for t, label in enumerate(d.labels))
                writer.writerows(rows)  # texts of their own: the test file is held out
        np.save(tmp_path / f"{split}.npy", np.concatenate([d.features for d in dialogues]))
        flags += [f"--{split}", tmp_path / f"{split}.csv", f"--{split}-features"]
        flags.append(tmp_path / f"{split}.npy")
    result = invoke("evaluate", "--context", "--seeds", "1", *flags)
    shown = figures(result)
    assert "speaker slots" not in result.stdout  # the file names no speakers
    assert shown["gain"][0] > 0.2, result.stdout


def test_cli_says_when_the_test_file_is_not_held_out(tmp_path: Path) -> None:
    """`evaluate --context --train X --test X` printed the probes' scores as test scores with no
    word that the test dialogues were training dialogues (a tester's find; `cnnfeat train`
    says so). Given features, as above; a held-out test file gets no note (figures())."""
    dialogues = synthetic(40, 1, True)
    train = tmp_path / "train.csv"
    with train.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Dialogue_ID", "Utterance_ID", "Utterance", "Emotion"])
        for i, d in enumerate(dialogues):
            writer.writerows([i, t, f"d{i} line {t}", label] for t, label in enumerate(d.labels))
    np.save(tmp_path / "f.npy", np.concatenate([d.features for d in dialogues]))
    args = ["--train", train, "--test", train, "--train-features", tmp_path / "f.npy"]
    result = invoke(
        "evaluate", "--context", "--seeds", "1", *args, "--test-features", tmp_path / "f.npy"
    )
    assert result.exit_code == 0, result.output
    n = sum(len(d.labels) for d in dialogues)
    assert result.stdout.strip().splitlines()[-1] == (
        f"test is not held out: it is the training file; 100% of its rows ({n} of {n}) are also "
        "training rows (same text and label), so its scores do not measure the model on unseen "
        "data"
    )


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    train = write_dialogues(tmp_path / "train.csv", 4, 1)
    test = write_dialogues(tmp_path / "test.csv", 2, 2)
    flat = tmp_path / "flat.csv"
    flat.write_text("Utterance,Emotion\nw1,a\nw2,b\n")
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("Dialogue_ID,Utterance,Emotion\n0,w1,a\n0,w2,\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("Dialogue_ID,Utterance,Emotion\n")
    cases = [
        (["--train", flat, "--test", test, "--context"], "flat.csv:1: no dialogue column"),
        (["--train", train, "--test", empty, "--context"], "empty.csv: no utterances"),
        (
            ["--train", train, "--test", unlabelled, "--context"],
            "unlabelled.csv:3: no label: the context probe needs every utterance labelled",
        ),
        (["--train", train, "--test", test, "--context", "--seeds", "1,x"], "--seeds: expected"),
        (["--train", train, "--test", test, "--context", "--seeds", "1,1"], "a seed is repeated"),
        (["--train", train, "--test", test, "--seeds", "1"], "--seeds is for the context probe"),
        (["--train", train, "--test", test, "--dev", test], "--dev is for the context probe"),
        (
            ["--train", train, "--test", test, "--context", "--dev-features", tmp_path / "x.npy"],
            "--dev-features needs --dev",
        ),
        (
            ["--train", train, "--test", test, "--context", "--speaker-column", "Who"],
            "train.csv:1: no column 'Who'",
        ),
        (
            ["--train", train, "--test", test, "--context", "--train-features", train],
            "train.csv: not a .npy or .npz features file",
        ),
    ]
    for args, expected in cases:
        line = one_error_line(invoke("evaluate", *args))
        assert expected in line, (expected, line)
