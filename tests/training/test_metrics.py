"""classification_report against hand-computed numbers and sklearn's zero-division rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnfeat.training.metrics import classification_report

# y_true = a a a b b c, y_pred = a a b b c c. Confusion (rows true, cols predicted):
#   a: [2, 1, 0]   b: [0, 1, 1]   c: [0, 0, 1]
# a: tp 2, predicted 2, support 3 -> P 1,   R 2/3, F1 2*(2/3)/(5/3) = 4/5
# b: tp 1, predicted 2, support 2 -> P 1/2, R 1/2, F1 1/2
# c: tp 1, predicted 2, support 1 -> P 1/2, R 1,   F1 2*(1/2)/(3/2) = 2/3
# accuracy 4/6; macro F1 (4/5 + 1/2 + 2/3) / 3 = 59/90
# weighted F1 (3*4/5 + 2*1/2 + 1*2/3) / 6 = 61/90
# weighted P (3*1 + 2*1/2 + 1*1/2) / 6 = 3/4; weighted R (3*2/3 + 2*1/2 + 1*1) / 6 = 2/3
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]
NAMES = ["a", "b", "c"]


def test_hand_computed_example() -> None:
    report = classification_report(Y_TRUE, Y_PRED, NAMES)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["macro_f1"] == pytest.approx(59 / 90)
    assert report["weighted_f1"] == pytest.approx(61 / 90)
    assert report["weighted_precision"] == pytest.approx(3 / 4)
    assert report["weighted_recall"] == pytest.approx(2 / 3)
    assert report["support"] == 6
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["labels"] == NAMES
    expected = {
        "a": (1.0, 2 / 3, 4 / 5, 3),
        "b": (1 / 2, 1 / 2, 1 / 2, 2),
        "c": (1 / 2, 1.0, 2 / 3, 1),
    }
    for name, (p, r, f, s) in expected.items():
        got = report["per_class"][name]
        assert got["precision"] == pytest.approx(p)
        assert got["recall"] == pytest.approx(r)
        assert got["f1"] == pytest.approx(f)
        assert got["support"] == s


def test_plain_python_types_and_json_ready() -> None:
    report = classification_report(np.array(Y_TRUE), np.array(Y_PRED), tuple(NAMES))
    for key in ("accuracy", "weighted_f1", "macro_f1", "weighted_precision", "weighted_recall"):
        assert type(report[key]) is float
        assert 0.0 <= report[key] <= 1.0
    assert type(report["support"]) is int
    assert all(type(v) is int for row in report["confusion_matrix"] for v in row)
    assert type(report["per_class"]["a"]["support"]) is int
    assert type(report["labels"]) is list
    json.dumps(report)


def test_class_never_predicted_and_class_never_seen() -> None:
    # x: tp 2, predicted 4, support 2 -> P 1/2, R 1, F1 2/3.
    # y: never predicted -> P 0/0 = 0, R 0, F1 0. z: no support, never predicted -> all 0.
    # macro over all three labels (sklearn with labels=[0, 1, 2]): (2/3 + 0 + 0) / 3 = 2/9.
    # weighted F1: (2 * 2/3 + 2 * 0 + 0 * 0) / 4 = 1/3.
    report = classification_report([0, 0, 1, 1], [0, 0, 0, 0], ["x", "y", "z"])
    assert report["accuracy"] == pytest.approx(0.5)
    assert report["macro_f1"] == pytest.approx(2 / 9)
    assert report["weighted_f1"] == pytest.approx(1 / 3)
    assert report["weighted_precision"] == pytest.approx(1 / 4)
    assert report["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["per_class"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["confusion_matrix"] == [[2, 0, 0], [2, 0, 0], [0, 0, 0]]


def test_perfect_prediction() -> None:
    y = [2, 0, 1, 1, 0, 2, 2]
    report = classification_report(y, y, NAMES)
    for key in ("accuracy", "weighted_f1", "macro_f1", "weighted_precision", "weighted_recall"):
        assert report[key] == 1.0
    assert report["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 3]]


def test_all_wrong() -> None:
    report = classification_report([0, 1], [1, 0], ["a", "b"])
    assert report["accuracy"] == 0.0
    assert report["macro_f1"] == 0.0
    assert report["weighted_f1"] == 0.0


def test_empty_input_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        classification_report([], [], NAMES)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "names", "match"),
    [
        ([0, 1], [0], NAMES, "items"),
        ([0, 3], [0, 1], NAMES, "outside"),
        ([0, 1], [0, -1], NAMES, "outside"),
        ([0.0, 1.0], [0, 1], NAMES, "integer"),
        ([0], [0], [], "empty"),
        ([0], [0], ["a", "a"], "duplicates"),
    ],
)
def test_bad_arguments_raise(y_true: list, y_pred: list, names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classification_report(y_true, y_pred, names)
