"""`cnnfeat evaluate` on given features a linear probe cannot standardise (issue 12, broken on
purpose): one `cnnfeat: error:` line naming the features file, never scikit-learn's error."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, one_error_line

pytest.importorskip("sklearn", reason="evaluate needs scikit-learn (the train extra)")


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
    (variance overflow) a probe lbfgs had given up on, reported as a score."""
    np.save(tmp_path / "train.npy", values)
    np.save(tmp_path / "test.npy", np.zeros((6, values.shape[1]), np.float32))
    result = invoke("evaluate", "--train", labelled, "--test", labelled,
                    "--train-features", tmp_path / "train.npy",
                    "--test-features", tmp_path / "test.npy")  # fmt: skip
    assert expected in one_error_line(result)
