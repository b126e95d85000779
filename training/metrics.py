"""Classification metrics, computed by scikit-learn as the papers' evaluation scripts do.

Zero divisions give 0.0 (`zero_division=0`), and macro averages run over every given label,
including ones with no true examples (`labels=` every class), so reported numbers are
comparable with the papers' sklearn-based evaluation scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_report(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    label_names: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, weighted/macro F1, per-class scores and the confusion matrix.

    Labels are indices into `label_names`. Confusion matrix rows are true classes and columns
    predicted ones. Every number is a plain Python int or float, so the result is JSON-ready.
    """
    names = list(label_names)
    if not names:
        raise ValueError("label_names is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"label_names has duplicates: {names}")
    true, pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if true.size == 0:
        raise ValueError("no examples: y_true is empty")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} items but y_pred has {pred.size}")
    # Refuse floats rather than truncate them: 1.7 is a bug upstream, not class 1.
    if true.dtype.kind not in "iu" or pred.dtype.kind not in "iu":
        raise ValueError("y_true and y_pred must hold integer class indices")
    true, pred = true.astype(np.int64), pred.astype(np.int64)
    k = len(names)
    for name, values in (("y_true", true), ("y_pred", pred)):
        if values.min() < 0 or values.max() >= k:
            raise ValueError(f"{name} holds a label outside 0..{k - 1}")

    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(k))
    confusion = confusion_matrix(true, pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=labels, average=None, zero_division=0
    )
    tp = np.diag(confusion).astype(np.float64)
    n = int(true.size)

    def weighted(values: np.ndarray) -> float:
        return float(np.dot(values, support) / n)

    return {
        "accuracy": float(tp.sum() / n),
        "weighted_f1": weighted(f1),
        "macro_f1": float(f1.mean()),
        "weighted_precision": weighted(precision),
        "weighted_recall": weighted(recall),
        "support": n,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": confusion.tolist(),
        "labels": names,
    }
