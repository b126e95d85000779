"""`cnnfeat evaluate`: the linear probe through the CLI, on the model's features and on given
ones, and bad input as one line."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pickle
import random
import re
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line

import cnnfeat
from cnnfeat.training.probe import load_features

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
        assert line == (
            f"cnnfeat: error: {path}: not a .npy or .npz features file; "
            "save the features with numpy.save"
        )
    else:
        assert line == (
            f"cnnfeat: error: {path}: holds Python objects, not an (N, D) float array; "
            "save the features as float32 (numpy.save)"
        )


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)  # object arrays too: written here, never read back by cnnfeat
    return buffer.getvalue()


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored: the members' bytes as they are
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_field(data: bytes, local: int, central: int, value: int) -> bytes:
    """`data` with a 2-byte field set in the first member's local and central headers."""
    out = bytearray(data)
    for at in (local, data.index(b"PK\x01\x02") + central):
        out[at : at + 2] = value.to_bytes(2, "little")
    return bytes(out)


SIX = np.zeros((6, 3), np.float32)  # features for the `labelled` fixture's 6 rows
NPZ = _npz({"features.npy": _npy(SIX)})
OBJECTS = np.full((6, 3), 0.5, object)


def _header(shape: object, descr: object = "<f4", data: int = 64) -> bytes:
    """A .npy header of this shape and dtype (as numpy writes one, or not: numpy does not
    check what it writes), then `data` zero bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return header.getvalue() + bytes(data)


HUGE = _header((6, 10**12))  # 6 rows, as the labelled file has: the size check refuses it
DAMAGED_ZIP = "not a readable .npz (the zip is cut short, damaged, encrypted or compressed"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", "not a .npy or .npz features file", id="empty"),
        pytest.param(NPZ[: len(NPZ) // 2], DAMAGED_ZIP, id="zip-cut-short"),
        pytest.param(NPZ.replace(_npy(SIX)[-8:], bytes(7) + b"\x01"), DAMAGED_ZIP, id="zip-crc"),
        pytest.param(_zip_field(NPZ, 6, 8, 1), DAMAGED_ZIP, id="zip-encrypted"),
        pytest.param(_zip_field(NPZ, 8, 10, 99), DAMAGED_ZIP, id="zip-compression"),
        pytest.param(
            _npz({"features.npy": b"0.5 0.5\n"}),
            "'features.npy' in it is not a .npy array; save the features with numpy.save",
            id="text-member",
        ),
        pytest.param(
            _npz({"features.npy": pickle.dumps([0.5])}),  # bytes only: nothing is unpickled
            "'features.npy' in it is not a .npy array",
            id="pickle-member",
        ),
        pytest.param(
            _npz({"features": _npy(OBJECTS)}),
            "holds Python objects, not an (N, D) float array; save the features as float32",
            id="objects-member-features",
        ),
        pytest.param(
            HUGE,
            "a .npy cut short or damaged: its header says float32 (6, 1000000000000), which "
            "does not fit the 64 bytes of data that follow; save the features again (numpy.save)",
            id="huge-header",
        ),
        pytest.param(
            _npz({"features.npy": HUGE}),
            "'features.npy' in it is a .npy cut short or damaged: its header says float32 "
            "(6, 1000000000000)",
            id="huge-header-member",
        ),
        pytest.param(  # refused from the header: 40 GB were read, then "out of memory"
            _header((10**12, 100)),
            "1000000000000 rows but ",
            id="huge-rows",
        ),
        pytest.param(_header((-6, -3), data=72), "its header cannot be read", id="negative"),
        pytest.param(_header((True, 3)), "its header cannot be read", id="bool-shape"),
        pytest.param(
            _header((6, 3))[:20] + b"{'descr': '<f4', \n" + bytes(72),
            "its header cannot be read",
            id="header-unclosed",
        ),
        pytest.param(
            _header((6,), ("<f4", (3,)), data=72),
            "expected an (N, D) float array with D >= 1",
            id="subarray-dtype",
        ),
        pytest.param(
            _header((2**63 - 1, 2**63 - 1, 0), data=0),
            "expected an (N, D) float array with D >= 1",
            id="3-d-overflow",
        ),
        pytest.param(
            _npy(SIX)[:-10],
            "a .npy cut short or damaged: its header says float32 (6, 3), which does not fit "
            "the 62 bytes of data that follow",
            id="npy-cut-short",
        ),
        pytest.param(
            _npy(SIX)[:60],
            "a .npy cut short or damaged: its header cannot be read; save the features again",
            id="npy-header-cut-short",
        ),
    ],
)
def test_damaged_features_are_one_line(
    tmp_path: Path, labelled: Path, content: bytes, expected: str
) -> None:
    """Were `internal error: EOFError` (empty), `BadZipFile`, `RuntimeError` (encrypted),
    `NotImplementedError` (compression), `AttributeError: 'bytes' object has no attribute
    'ndim'` (a member that is not a .npy), numpy's allow_pickle advice (objects in member
    `features`), "out of memory; try a smaller --batch-size" (a header claiming 10**12 rows;
    evaluate has no such option), or "not a .npy or .npz features file (Failed to read all
    data ...)" for a .npy cut short. Found by breaking `cnnfeat evaluate` on purpose."""
    features = tmp_path / "train.npz"
    features.write_bytes(content)
    np.save(tmp_path / "test.npy", SIX)
    args = ["--train", labelled, "--test", labelled, "--train-features", features]
    line = one_error_line(invoke("evaluate", *args, "--test-features", tmp_path / "test.npy"))
    assert line.startswith(f"cnnfeat: error: {features}: ") and expected in line, line


def test_features_are_read_however_numpy_wrote_them(tmp_path: Path) -> None:
    """The header checks above pass what numpy writes: .npz stored or compressed, member
    `features`, Fortran order, format 2.0, float16."""
    x = np.arange(18, dtype=np.float32).reshape(6, 3) / 7
    np.savez_compressed(tmp_path / "c.npz", features=x)
    (tmp_path / "s.npz").write_bytes(NPZ)
    (tmp_path / "n.npz").write_bytes(_npz({"features": _npy(x)}))
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    np.save(tmp_path / "h.npy", x.astype(np.float16))
    with open(tmp_path / "two.npy", "wb") as file:  # numpy's own pattern: np.load reads the first
        np.save(file, x)
        np.save(file, x)
    with open(tmp_path / "v2.npy", "wb") as file:
        np.lib.format.write_array(file, x, version=(2, 0))
    for name, want in [
        ("c.npz", x),
        ("s.npz", SIX),
        ("n.npz", x),
        ("f.npy", x),
        ("h.npy", x.astype(np.float16)),
        ("v2.npy", x),
        ("two.npy", x),
    ]:
        got = load_features(str(tmp_path / name), 6, "l.csv")
        assert got.dtype == want.dtype and np.array_equal(got, want), name


def test_features_that_are_a_fifo_are_refused_before_reading(
    tmp_path: Path, labelled: Path
) -> None:
    """A FIFO as --train-features hung for ever in open(). If the refusal is lost, a writer
    that opens and closes the FIFO lets the read end (so this test fails, not hangs).
    Found by breaking `cnnfeat evaluate` on purpose."""
    fifo = tmp_path / "train.npy"
    os.mkfifo(fifo)
    np.save(tmp_path / "test.npy", SIX)
    stop = threading.Event()

    def release_a_blocked_reader() -> None:
        while not stop.wait(0.1):
            with contextlib.suppress(OSError):  # ENXIO: nobody has it open for reading
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    watchdog = threading.Thread(target=release_a_blocked_reader, daemon=True)
    watchdog.start()
    try:
        args = ["--train", labelled, "--test", labelled, "--train-features", fifo]
        result = invoke("evaluate", *args, "--test-features", tmp_path / "test.npy")
    finally:
        stop.set()
        watchdog.join()
    assert one_error_line(result) == (
        f"cnnfeat: error: {fifo}: not a regular file; give a .npy or .npz file"
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


def test_features_of_two_widths_name_both_files(tmp_path: Path, labelled: Path) -> None:
    """Said "train features have 3 columns but test features have 4", naming no file."""
    np.save(tmp_path / "train.npy", SIX)
    np.save(tmp_path / "test.npy", np.zeros((6, 4), np.float32))
    args = ["--train", labelled, "--test", labelled, "--train-features", tmp_path / "train.npy"]
    line = one_error_line(invoke("evaluate", *args, "--test-features", tmp_path / "test.npy"))
    assert line == (
        f"cnnfeat: error: {tmp_path / 'train.npy'} has 3 columns but {tmp_path / 'test.npy'} "
        "has 4; give features of one model for both"
    )
