"""`cnnfeat evaluate`: the linear probe through the CLI, on the model's features and on given
ones, and bad input as one line."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line

import cnnfeat

pytest.importorskip("sklearn", reason="evaluate needs scikit-learn (the train extra)")

LINE = re.compile(
    r"test: weighted-F1 (\d\.\d{4})  macro-F1 (\d\.\d{4})  accuracy (\d\.\d{4})  \(linear probe "
    r"on (\d+) features; train (\d+), test (\d+) utterances, (\d+) classes\)"
)


def write_labelled(path: Path, n: int, seed: int) -> Path:
    """Class `a` lines use words w0-w49, class `b` lines w150-w199: separable by their words."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Utterance", "Emotion"])
        for _ in range(n):
            label = rng.choice("ab")
            base = 0 if label == "a" else 150
            writer.writerow([" ".join(f"w{base + rng.randrange(50)}" for _ in range(6)), label])
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write_labelled(tmp_path / "train.csv", 80, 1), write_labelled(
        tmp_path / "test.csv", 40, 2
    )


def scores(result) -> tuple[float, ...]:
    assert result.exit_code == 0, result.output
    match = LINE.fullmatch(result.stdout.strip())
    assert match, result.stdout
    return tuple(float(g) for g in match.groups())


def test_probe_on_model_features(tiny_global: TinyModel, files: tuple[Path, Path]) -> None:
    train, test = files
    result = invoke(
        "evaluate", tiny_global.model_dir, "--train", train, "--test", test, "--device", "cpu"
    )
    weighted, macro, accuracy, dim, n_train, n_test, classes = scores(result)
    assert (dim, n_train, n_test, classes) == (100, 80, 40, 2)
    # The same probe on the Embedder's features, computed here with scikit-learn directly.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.preprocessing import StandardScaler

    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    (x_train, y_train), (x_test, y_test) = [_features(embedder, p) for p in (train, test)]
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train), y_train)
    assert accuracy == round(accuracy_score(y_test, model.predict(scaler.transform(x_test))), 4)
    assert accuracy > 0.6  # random-weight features still carry the two vocabularies apart


def test_a_test_file_that_is_not_held_out_is_said(
    tiny_global: TinyModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    """`cnnfeat evaluate --train X --test X` (or a subset of X) printed its probe score as a
    test score with no word that the test rows were training rows (a tester's find; `cnnfeat
    train` says so since the same round). A held-out test file gets no note (scores above)."""
    train, _ = files
    link = tmp_path / "link.csv"
    link.symlink_to(train)
    subset = tmp_path / "subset.csv"
    subset.write_text("".join(train.read_text().splitlines(keepends=True)[:21]))
    for test, same, amount in (
        (link, "it is the training file; ", "80 of 80"),
        (subset, "", "20 of 20"),
    ):
        result = invoke("evaluate", tiny_global.model_dir, "--train", train, "--test", test)
        assert result.exit_code == 0, result.output
        line, note = result.stdout.strip().split("\n")
        assert LINE.fullmatch(line), line
        assert note == (
            f"test is not held out: {same}100% of its rows ({amount}) are also training rows "
            "(same text and label), so its scores do not measure the model on unseen data"
        )


def _features(embedder, path: Path) -> tuple[np.ndarray, list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return embedder.embed([r["Utterance"] for r in rows]), [r["Emotion"] for r in rows]


def test_probe_on_given_features_matches_sklearn(
    tiny_global: TinyModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Your own features: noise for `a`, noise + 1 in column 0 for `b` (a known answer)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import StandardScaler

    train, test = files
    rng = np.random.default_rng(0)
    arrays, labels = [], []
    for path in (train, test):
        with path.open(newline="") as f:
            y = [r["Emotion"] for r in csv.DictReader(f)]
        x = rng.normal(size=(len(y), 3)).astype(np.float32)
        x[:, 0] += 0.8 * np.array([c == "b" for c in y])
        arrays.append(x)
        labels.append(y)
    np.save(tmp_path / "tr.npy", arrays[0])
    np.savez(tmp_path / "te.npz", features=arrays[1])
    result = invoke(
        "evaluate",
        "--train",
        train,
        "--test",
        test,
        "--train-features",
        tmp_path / "tr.npy",
        "--test-features",
        tmp_path / "te.npz",
    )
    weighted, macro, accuracy, dim, *_ = scores(result)
    scaler = StandardScaler().fit(arrays[0])
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(arrays[0]), labels[0])
    predicted = model.predict(scaler.transform(arrays[1]))
    assert dim == 3
    assert accuracy == round(accuracy_score(labels[1], predicted), 4)
    assert weighted == round(f1_score(labels[1], predicted, average="weighted"), 4)
    assert macro == round(f1_score(labels[1], predicted, average="macro"), 4)
    assert 0.5 < accuracy < 1.0  # neither chance nor a perfect split: the numbers mean something


def test_bad_input_is_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = files
    np.save(tmp_path / "short.npy", np.zeros((3, 100), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((80, 100), np.int64))
    one = tmp_path / "one.csv"
    one.write_text("Utterance,Emotion\nw1,a\nw2,a\n")
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("Utterance,Emotion\nw1,a\nw2,zzz\n")
    cases = [
        (["--train", tmp_path / "nope.csv", "--test", test], "nope.csv: no such file"),
        (
            [
                "--train",
                train,
                "--test",
                test,
                "--train-features",
                tmp_path / "short.npy",
                "--test-features",
                tmp_path / "short.npy",
            ],
            "short.npy: 3 rows but ",
        ),
        (
            [
                "--train",
                train,
                "--test",
                test,
                "--train-features",
                tmp_path / "ints.npy",
                "--test-features",
                tmp_path / "short.npy",
            ],
            "ints.npy: expected an (N, D) float array",
        ),
        (
            ["--train", train, "--test", test, "--train-features", train, "--test-features", test],
            "train.csv: not a .npy or .npz features file",
        ),
        (["--train", one, "--test", test], "only one label ('a')"),
        (["--train", train, "--test", unseen], "unseen.csv: labels ['zzz'] do not occur"),
        ([tmp_path / "nomodel", "--train", train, "--test", test], "does not exist"),
    ]
    for args, expected in cases:
        line = one_error_line(invoke("evaluate", *args))
        assert expected in line, (expected, line)


@pytest.mark.parametrize("name", ["objects.npy", "objects.npz", "text.npy"])
def test_features_numpy_would_unpickle_are_said_in_our_words(
    files: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    """Features stored as Python objects said "not a .npy or .npz features file (Object arrays
    cannot be loaded when allow_pickle=False)", and a text file numpy's "This file contains
    pickled (object) data. If you trust the file you can load it unsafely using the
    `allow_pickle=` keyword argument": advice to run a file's code. Neither is followed."""
    train, test = files
    path = tmp_path / name
    rows = np.empty((80, 100), object)
    rows[:] = 0.5
    if name == "objects.npy":
        np.save(path, rows, allow_pickle=True)
    elif name == "objects.npz":
        np.savez(path, features=rows)
    else:
        path.write_text("0.5 0.5\n")
    args = ["--train", train, "--test", test, "--train-features", path]
    line = one_error_line(invoke("evaluate", *args, "--test-features", path))
    if name == "text.npy":
        assert line == f"cnnfeat: error: {path}: not a .npy or .npz features file"
    else:
        assert line == (
            f"cnnfeat: error: {path}: holds Python objects, not an (N, D) float array; "
            "save the features as float32 (numpy.save)"
        )


def test_without_sklearn_says_how_to_install(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)  # import fails
    train, test = files
    line = one_error_line(invoke("evaluate", "--train", train, "--test", test))
    assert "evaluate needs scikit-learn" in line and "pip install scikit-learn" in line


def test_shipped_model_default(files: tuple[Path, Path]) -> None:
    """No MODEL_DIR: the shipped model's features (the same as cnnfeat.Embedder())."""
    train, test = files
    assert (
        cnnfeat.Embedder(device="cpu").dim
        == scores(invoke("evaluate", "--train", train, "--test", test))[3]
    )


# --- given features a linear probe cannot standardise -------------------------------------


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "l.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(
            [("Utterance", "Emotion"), *[(f"w{i}", "ab"[i % 2]) for i in range(6)]]
        )
    return path


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.full((6, 3), 1e308), "train.npy: features too large to standardise"),
        # variance overflows: scikit-learn left the column unscaled and lbfgs gave up silently
        (np.array([[1e308], [-1e308], [0], [1], [2], [3]]), "train.npy: features too large"),
        (np.zeros((6, 0), np.float32), "train.npy: expected an (N, D) float array with D >= 1"),
    ],
)
def test_evaluate_features_it_cannot_fit(
    tmp_path: Path, labelled: Path, values: np.ndarray, expected: str
) -> None:
    """Were `internal error: ValueError` from scikit-learn after a screen of RuntimeWarnings, or
    (variance overflow) a probe lbfgs had given up on, reported as a score.
    Found by breaking `cnnfeat evaluate` on purpose (the odd-input round)."""
    np.save(tmp_path / "train.npy", values)
    np.save(tmp_path / "test.npy", np.zeros((6, values.shape[1]), np.float32))
    result = invoke(
        "evaluate",
        "--train",
        labelled,
        "--test",
        labelled,
        "--train-features",
        tmp_path / "train.npy",
        "--test-features",
        tmp_path / "test.npy",
    )
    assert expected in one_error_line(result)
