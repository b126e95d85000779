"""`report.html`: a training run at a glance, written next to `metrics.json`.

One self-contained HTML file (no network, no scripts): the scores beside the majority-class
baseline (every utterance given the most frequent training label), the learning curves (training
and dev loss, dev weighted-F1 per epoch, the kept epoch and the baseline marked), row-normalised
confusion matrices on dev and test, per-class precision/recall/F1 (bars and tables), and a 2-D
PCA projection of the dev features (the 100-d layer) coloured by gold label. Figures are PNGs
drawn by matplotlib's Agg backend (no display needed) and embedded as base64 data URIs.

Every number printed in a table carries its exact value from metrics.json in `data-value` and
its path in `data-key` (e.g. `test.per_class.joy.f1`), so a test can check the report against
metrics.json.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from cnnfeat.contract.layout import REPORT_FILE
from cnnfeat.runtime.model_dir import interrupted_note, not_held_out


def write_report(
    out: Path,
    metrics: dict[str, Any],
    dev_features: np.ndarray,
    dev_labels: np.ndarray,
    name: str | None = None,
) -> Path:
    """Write `out/report.html` (via a temporary file and rename); returns its path.

    metrics: the dict written to metrics.json (`dev`, `test` as from
    `classification_report`, `history` (per epoch: loss, dev_loss, dev_weighted_f1),
    `best_epoch`, `majority` ({label, dev, test}: the majority-class baseline's scores), ...).
    dev_features: (N, feature_dim) float32, the 100-d layer on the dev set; dev_labels: (N,) int
    class indices into `metrics["dev"]["labels"]`. name: the run's name for the heading (default
    `out.name`; train writes into a staging directory, so it passes the final directory's name).
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    body = [
        f"<h1>cnnfeat training run: {_e(name or out.name)}</h1>",
        _summary(metrics),
        "<h2>Learning curves</h2>",
        _img(_curves(metrics), "loss and dev weighted-F1 per epoch"),
        "<h2>Confusion matrices (rows: true class, normalised to 1)</h2>",
        _img(_confusions(metrics), "normalised confusion matrices"),
        "<h2>Per class</h2>",
        _img(_per_class_bars(metrics), "per-class precision, recall and F1"),
        *(_per_class(metrics, split) for split in ("dev", "test") if metrics.get(split)),
        "<h2>Dev features (the 100-d layer), PCA to 2-D</h2>",
        _img(_projection(dev_features, dev_labels, metrics["dev"]["labels"]), "PCA of features"),
        f"<p>Command: <code>{_e(metrics.get('config', {}).get('command') or '')}</code></p>",
    ]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>cnnfeat report</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
    path = out / REPORT_FILE
    tmp = out / (REPORT_FILE + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


_STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:auto}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}"
    ".warning{color:#a40000;font-weight:bold}"
)


def _e(text: object) -> str:
    return html.escape(str(text))


def _cell(metrics: dict, key: str) -> str:
    value: Any = metrics
    for part in key.split("."):
        value = value[part]
    shown = f"{100 * value:.2f}" if isinstance(value, float) else str(value)
    return f"<td data-key='{_e(key)}' data-value='{_e(repr(value))}'>{shown}</td>"


def _summary(metrics: dict) -> str:
    rows = [
        "<table><tr><th></th><th>weighted-F1</th><th>macro-F1</th><th>accuracy</th>"
        "<th>examples</th></tr>"
    ]
    notes = []
    for split in ("dev", "test"):
        if metrics.get(split):
            cells = "".join(
                _cell(metrics, f"{split}.{k}")
                for k in ("weighted_f1", "macro_f1", "accuracy", "support")
            )
            note = not_held_out(split, metrics.get(f"{split}_overlaps_train"))
            name = split if note is None else f"{split} (not held out)"
            rows.append(f"<tr><th>{name}</th>{cells}</tr>")
            if note:
                notes.append(f"<p class='warning' data-key='{split}_overlaps_train'>{_e(note)}</p>")
    majority = metrics.get("majority") or {}
    for split in ("dev", "test"):
        if majority.get(split):
            cells = "".join(
                _cell(metrics, f"majority.{split}.{k}")
                for k in ("weighted_f1", "macro_f1", "accuracy")
            )
            rows.append(
                f"<tr><th>{split}, majority class ({_e(majority['label'])} for every "
                f"utterance)</th>{cells}<td></td></tr>"
            )
    rows.append("</table>")
    rows.extend(notes)
    interrupted = interrupted_note(metrics.get("interrupted_at_epoch"), metrics.get("best_epoch"))
    if interrupted:
        rows.append(
            "<p class='warning' data-key='interrupted_at_epoch' "
            f"data-value='{metrics['interrupted_at_epoch']}'>{_e(interrupted)}</p>"
        )
    oov = ", ".join(f"{k} {100 * v:.2f}%" for k, v in metrics.get("oov_rate", {}).items())
    rows.append(
        "<p>Scores in %. Kept epoch "
        f"<span data-key='best_epoch' data-value='{metrics['best_epoch']}'>"
        f"{metrics['best_epoch']}</span> of {len(metrics['history'])} run; "
        f"training took {metrics.get('train_seconds')} s; OOV rate {oov}.</p>"
    )
    return "".join(rows)


def _per_class(metrics: dict, split: str) -> str:
    rows = [
        f"<h3>{split}</h3><table><tr><th>class</th><th>precision</th><th>recall</th>"
        "<th>F1</th><th>support</th></tr>"
    ]
    for name in metrics[split]["labels"]:
        cells = "".join(
            _cell(metrics, f"{split}.per_class.{name}.{k}")
            for k in ("precision", "recall", "f1", "support")
        )
        rows.append(f"<tr><th>{_e(name)}</th>{cells}</tr>")
    return "".join(rows) + "</table>"


def _img(figure, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _curves(metrics: dict):
    import matplotlib.pyplot as plt

    history = metrics["history"]
    epochs = [h["epoch"] for h in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(epochs, [h["loss"] for h in history], marker=".", label="training")
    if all("dev_loss" in h for h in history):  # runs before it was recorded have none
        left.plot(epochs, [h["dev_loss"] for h in history], marker=".", label="dev")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    right.plot(epochs, [100 * h["dev_weighted_f1"] for h in history], marker=".")
    right.set(xlabel="epoch", ylabel="dev weighted-F1 (%)", title="dev weighted-F1")
    baseline = (metrics.get("majority") or {}).get("dev")
    if baseline:
        right.axhline(
            100 * baseline["weighted_f1"],
            color="tab:gray",
            linestyle=":",
            label=f"majority class ({metrics['majority']['label']})",
        )
    for axis in (left, right):
        axis.axvline(metrics["best_epoch"], color="tab:red", linestyle="--", label="kept epoch")
        axis.legend()
    return figure


def _confusions(metrics: dict):
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    splits = [s for s in ("dev", "test") if metrics.get(s)]
    figure, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4.8), squeeze=False)
    for axis, split in zip(axes[0], splits, strict=True):
        counts = np.asarray(metrics[split]["confusion_matrix"], dtype=np.float64)
        rows = counts.sum(axis=1, keepdims=True)
        normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        display = ConfusionMatrixDisplay(normalised, display_labels=metrics[split]["labels"])
        display.plot(ax=axis, values_format=".2f", colorbar=False, xticks_rotation=45)
        axis.set_title(f"{split} (weighted-F1 {100 * metrics[split]['weighted_f1']:.2f})")
    return figure


def _per_class_bars(metrics: dict):
    import matplotlib.pyplot as plt

    splits = [s for s in ("dev", "test") if metrics.get(s)]
    figure, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 3.5), squeeze=False)
    for axis, split in zip(axes[0], splits, strict=True):
        names = metrics[split]["labels"]
        x = np.arange(len(names))
        for offset, key in zip((-0.27, 0, 0.27), ("precision", "recall", "f1"), strict=True):
            values = [100 * metrics[split]["per_class"][n][key] for n in names]
            axis.bar(x + offset, values, width=0.27, label=key)
        axis.set_xticks(x, names, rotation=45)
        axis.set(ylim=(0, 100), ylabel="%", title=split)
        axis.legend(fontsize="small")
    return figure


def _projection(features: np.ndarray, labels: np.ndarray, names: list[str]):
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    figure, axis = plt.subplots(figsize=(7, 5.5))
    if len(features) < 2:
        axis.text(0.5, 0.5, "fewer than 2 dev utterances: nothing to project", ha="center")
        return figure
    with np.errstate(divide="ignore", invalid="ignore"):  # constant features: a point, no warning
        points = PCA(n_components=2, random_state=0).fit_transform(features)
    for index, name in enumerate(names):
        chosen = labels == index
        axis.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=name)
    axis.set(xlabel="principal component 1", ylabel="principal component 2")
    axis.legend(markerscale=3, fontsize="small")
    return figure
