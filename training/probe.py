"""`cnnfeat evaluate`: a linear probe on utterance features, to compare feature sets.

A logistic regression (scikit-learn, lbfgs, features standardised on the training set) is fitted
on the features of a labelled training file and scored on a labelled test file: weighted-F1,
macro-F1 and accuracy, the metrics of the MELD and EmoryNLP papers. The features are the model's
(`cnnfeat embed`), or any (N, D) array you give, row i for the file's utterance i, so your own
features can be scored the same way. Needs scikit-learn (the `train` extra); never torch.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from cnnfeat.contract.describe import count
from cnnfeat.contract.errors import CnnfeatError, InputError

if TYPE_CHECKING:
    from cnnfeat.runtime.embedder import Embedder


@dataclass(frozen=True)
class ProbeReport:
    """Test-set scores of the probe (fractions in 0..1) and what it was fitted on."""

    weighted_f1: float
    macro_f1: float
    accuracy: float
    n_train: int
    n_test: int
    labels: tuple[str, ...]
    dim: int
    # training/data.py's `overlap` of the test file with the training file: None when held out.
    test_overlaps_train: dict | None = None

    def line(self) -> str:
        return (
            f"test: weighted-F1 {self.weighted_f1:.4f}  macro-F1 {self.macro_f1:.4f}  "
            f"accuracy {self.accuracy:.4f}  (linear probe on {self.dim} features; "
            f"train {self.n_train}, test {self.n_test} utterances, {len(self.labels)} "
            "classes)"
        )


def linear_probe(
    train_x: np.ndarray,
    train_y: list[str],
    test_x: np.ndarray,
    test_y: list[str],
    seed: int = 0,
    sources: tuple[str, str] = ("train features", "test features"),
) -> ProbeReport:
    """Fit StandardScaler + LogisticRegression(max_iter=2000) on (train_x, train_y) and score it
    on (test_x, test_y). x: (N, D) float; y: N label strings (checked by
    training.data.label_names: InputError for fewer than two classes, or test labels that
    training lacks). Weighted and macro F1 average over
    the training labels (scikit-learn's f1_score with labels=..., zero_division=0). Features
    too large to standardise in float64 (|x| near 1e308) are an InputError naming `sources`."""
    from cnnfeat.training.data import label_names  # numpy only, never torch

    sklearn = _sklearn()
    labels = tuple(label_names(train_y, None, [(test_y, None)]))
    scaler = sklearn.preprocessing.StandardScaler()
    probe = sklearn.linear_model.LogisticRegression(max_iter=2000, random_state=seed)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # One BLAS thread: on a shared machine more threads made the fit 30x slower (1.2 s vs
    # 37 s for MELD's 9,989 x 100 on 2 busy cores); the problem is far too small to split.
    with threadpool_limits(1):
        with np.errstate(all="ignore"):  # overflow is reported below, not as warnings
            train_z = scaler.fit_transform(np.asarray(train_x, np.float64))
            test_z = scaler.transform(np.asarray(test_x, np.float64))
        # scikit-learn leaves a column whose variance overflows unscaled (scale 1): refused too
        train_ok = np.isfinite(train_z).all() and np.isfinite(scaler.var_).all()
        for ok, x, source in (
            (train_ok, train_x, sources[0]),
            (np.isfinite(test_z).all(), test_x, sources[1]),
        ):
            if not ok:
                raise InputError(
                    f"features too large to standardise (largest magnitude {np.abs(x).max():.3g})",
                    source,
                    advice="scale them down first",
                )
        probe.fit(train_z, list(train_y))
        predicted = probe.predict(test_z)
    metrics = sklearn.metrics

    def f1(average: str) -> float:
        return float(
            metrics.f1_score(
                test_y, predicted, labels=list(labels), average=average, zero_division=0
            )
        )

    return ProbeReport(
        f1("weighted"),
        f1("macro"),
        float(metrics.accuracy_score(test_y, predicted)),
        len(train_y),
        len(test_y),
        labels,
        int(np.shape(train_x)[1]),
    )


def evaluate_files(
    train_path: str,
    test_path: str,
    model_dir: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    train_features: str | None = None,
    test_features: str | None = None,
    device: str = "auto",
) -> ProbeReport:
    """Probe the features of two labelled files (any format `cnnfeat train` reads). Features
    come from `train_features`/`test_features` (.npy, or .npz with key `features`) where given,
    else from the model. A test file that is the training file or holds its rows is recorded
    in `test_overlaps_train`. Raises InputError, ModelError, CnnfeatError (no scikit-learn)."""
    _sklearn()  # before any work
    from cnnfeat.training.data import label_names, overlap, read_labelled  # never torch

    train = read_labelled(train_path, text_column, label_column)
    test = read_labelled(test_path, text_column, label_column)
    label_names(train.labels, train.path, [(test.labels, test.path)])  # before any model
    embedder: Embedder | None = None  # loaded once, when a split has no features given
    arrays = []
    for data, given in ((train, train_features), (test, test_features)):
        if given is not None:
            arrays.append(load_features(given, len(data.texts), data.path))
        else:
            from cnnfeat.runtime.dialogues import embed_texts
            from cnnfeat.runtime.embedder import Embedder

            embedder = embedder or Embedder(model_dir, device=device)
            arrays.append(embed_texts(embedder, data.texts))
    sources = (
        train_features or f"features of {train_path}",
        test_features or f"features of {test_path}",
    )
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise InputError(
            f"{sources[0]} has {arrays[0].shape[1]} columns but {sources[1]} has "
            f"{arrays[1].shape[1]}",
            advice="give features of one model for both",
        )
    report = linear_probe(arrays[0], train.labels, arrays[1], test.labels, sources=sources)
    return replace(report, test_overlaps_train=overlap(test, [train], train_path))


def load_features(path: str, rows: int, labelled: str) -> np.ndarray:
    """Given features: a .npy, or a .npz with key `features`, holding an (rows, D) finite float
    array (returned as stored). `labelled` names the file the rows belong to, for the error.
    Raises InputError naming `path`, also for anything but a regular file (a FIFO would block
    the read for ever), a damaged zip, or a .npy header that does not fit (`_read_npy`)."""
    layout = Layout(rows, labelled, path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError("not a regular file", path, advice="give a .npy or .npz file")
        with open(path, "rb") as file:
            if file.read(4) in (b"PK\x03\x04", b"PK\x05\x06"):  # numpy's test for a .npz
                loaded = _read_npz(file, layout)
            else:
                file.seek(0)
                loaded = _read_npy(file, os.fstat(file.fileno()).st_size, layout)
    except OSError as exc:
        raise InputError(f"cannot read features: {exc.strerror or exc}", path) from None
    if not np.isfinite(loaded).all():
        raise InputError("features hold NaN or infinity", path)
    return loaded


@dataclass(frozen=True)
class Layout:
    """What a features file must hold: (rows, D >= 1) floats, for the file `labelled`."""

    rows: int
    labelled: str
    path: str

    def check(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """InputError naming `path` unless `shape` and `dtype` (a .npy header's) are such."""
        if dtype.hasobject:
            raise InputError(
                "holds Python objects, not an (N, D) float array",
                self.path,
                advice="save the features as float32 (numpy.save)",
            )
        if len(shape) != 2 or dtype.kind != "f" or dtype.subdtype is not None or shape[1] == 0:
            raise InputError(
                f"expected an (N, D) float array with D >= 1, found {dtype} {shape}", self.path
            )
        if shape[0] != self.rows:
            found, wanted = count(shape[0], "row"), count(self.rows, "utterance")
            raise InputError(f"{found} but {self.labelled} has {wanted}", self.path)


def _read_npz(file: IO[bytes], layout: Layout) -> np.ndarray:
    """The `features` array (member features.npy, or features, as numpy.load names them) of
    the zip `file`, by `_read_npy`. Raises InputError naming the file."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            name = next((n for n in ("features.npy", "features") if n in names), None)
            if name is None:
                found = ", ".join(names) or "nothing"
                raise InputError(f"no 'features' array (found {found})", layout.path)
            with archive.open(name) as member:
                return _read_npy(member, archive.getinfo(name).file_size, layout, name)
    # zipfile's errors for a zip cut short or corrupt, encrypted, or of an unknown compression
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError):
        raise InputError(
            "not a readable .npz (the zip is cut short, damaged, encrypted or compressed in a "
            "way numpy cannot read)",
            layout.path,
            advice="save the features again (numpy.savez)",
        ) from None


def _read_npy(file: IO[bytes], size: int, layout: Layout, member: str = "") -> np.ndarray:
    """The array in `file`, a seekable .npy stream of `size` bytes (a .npz's `member`), read
    with numpy.lib.format only after its header passed `layout.check` (so an object array is
    never unpickled, and 10**12 rows are refused before any memory is taken) and the data it
    needs is there (more is ignored, as numpy.load does). Raises InputError naming the file."""
    fmt, path = np.lib.format, layout.path
    inside = f"{member!r} in it is " if member else ""
    if file.read(len(fmt.MAGIC_PREFIX)) != fmt.MAGIC_PREFIX:
        what = f"{inside}not a .npy array" if member else "not a .npy or .npz features file"
        raise InputError(what, path, advice="save the features with numpy.save")
    damaged = f"{inside}a .npy cut short or damaged"
    advice = "save the features again (numpy.save)"
    file.seek(0)
    try:  # numpy's header parser raises ValueError, TypeError, tokenize's errors...
        version = fmt.read_magic(file)
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = header(file)  # 2.0 reads 3.0 too: they differ only in text encoding
        if not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(shape)
    except Exception:
        raise InputError(f"{damaged}: its header cannot be read", path, advice=advice) from None
    layout.check(shape, dtype)
    held = size - file.tell()
    if math.prod(shape) * dtype.itemsize > held:
        raise InputError(
            f"{damaged}: its header says {dtype} {shape}, which does not fit the "
            f"{count(held, 'byte')} of data that follow",
            path,
            advice=advice,
        )
    file.seek(0)
    try:
        return fmt.read_array(file, allow_pickle=False)
    except ValueError:
        raise InputError(f"{damaged}: its data cannot be read", path, advice=advice) from None


def _sklearn():
    try:
        import sklearn.linear_model
        import sklearn.metrics
        import sklearn.preprocessing
    except ImportError:
        raise CnnfeatError(
            "evaluate needs scikit-learn, which is not installed: pip install 'cnnfeat[train]' "
            "(from a clone: pip install -e '.[train]'), or pip install scikit-learn"
        ) from None
    return sklearn
