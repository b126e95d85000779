"""Reading labelled utterance datasets (CSV, TSV, JSONL, EmoryNLP JSON) for training.

Text comes back exactly as stored: repairing MELD's 2018 cp1252 mojibake is the tokenizer
normaliser's job, so that training and inference see the same repair. Every problem a user can
fix raises `InputError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnfeat.contract.describe import json_type
from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.corpora import (
    LABEL_COLUMNS,
    default_text_column,
    read_emorynlp_json,
    read_labelled_corpus,
)
from cnnfeat.runtime.reading import TEXT_COLUMNS, Record, read_records

_Read = tuple[list[str], list[str], str]  # a reader's texts, labels and text column

# A dev or test set that shares more than this share of its (text, label) rows with the training
# file is not held out. Real splits share short stock utterances ("Okay.", "Yeah."): MELD's dev
# 10.8% and test 11.6% of their rows, EmoryNLP's (CSV) 16.2% and 12.2%; a copy or subset of the
# training file shares them all.
OVERLAP_SHARE = 0.5

# TEXT_COLUMNS and LABEL_COLUMNS (tried in order when no column is named) are the readers' of
# `cnnfeat embed`, so every command picks the same columns.


@dataclass(frozen=True)
class LabelledData:
    """Parallel lists of utterance texts and their labels, in file order; `text_column` names
    the column (or key) the texts came from (None: a corpus layout without columns)."""

    texts: list[str]
    labels: list[str]
    path: str
    text_column: str | None = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


def read_labelled(
    path: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    tsv_quoting: str = "literal",
    encoding_errors: str = "strict",
) -> LabelledData:
    """Texts and labels from a .csv, .tsv, .jsonl, EmoryNLP .json or DailyDialog file.

    Records are read by the runtime's reader (runtime/reading.py), so `cnnfeat train` sees
    exactly the utterances `cnnfeat embed` would. Columns default to the first of TEXT_COLUMNS /
    LABEL_COLUMNS present; MELD sentiment is `label_column="Sentiment"`. Labels are stripped of
    surrounding whitespace; texts are not.

    Returns: LabelledData (texts: list[str], labels: list[str], in file order; the text column).
    Raises: InputError naming the file and line (missing column, empty label, bad record).
    """
    path = Path(path)
    corpus = read_labelled_corpus(path)  # DailyDialog (runtime/corpora.py)
    if corpus is not None:
        return LabelledData(texts=corpus[0], labels=corpus[1], path=str(path))
    readers: dict[str, Callable[[Path, str | None, str | None], _Read]] = {
        ".csv": lambda p, t, lab: _read_table(p, t, lab, "literal", encoding_errors),
        ".tsv": lambda p, t, lab: _read_table(p, t, lab, tsv_quoting, encoding_errors),
        ".jsonl": lambda p, t, lab: _read_table(p, t, lab, "literal", encoding_errors),
        ".json": lambda p, t, lab: _read_emorynlp_json(p, t, lab, encoding_errors),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"unknown file type {path.suffix!r}: expected .csv, .tsv, .jsonl or .json", str(path)
        )
    try:
        texts, labels, column = reader(path, text_column, label_column)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", str(path)) from None
    if not texts:
        raise InputError("no data rows", str(path))
    return LabelledData(texts=texts, labels=labels, path=str(path), text_column=column)


def label_names(
    train_labels: Sequence[str],
    train_path: str | None = None,
    others: Iterable[tuple[Sequence[str], str | None]] = (),
) -> list[str]:
    """The classes of a labelled training set, sorted: the one check of labels that `cnnfeat
    train` and `cnnfeat evaluate` (and `linear_probe`) share.

    A class with a single example is kept. Fewer than two classes is an error (nothing to
    classify), and so is a label of another set (dev, test: `others`, as (labels, path) pairs)
    that training never saw: the classifier cannot predict it, and the scores would silently
    count those rows as misses.

    Raises: InputError naming `train_path` (too few classes) or the other set's path.
    """
    names = sorted(set(train_labels))
    if len(names) < 2:
        found = f"only one label ({names[0]!r})" if names else "no labels"
        raise InputError(
            f"{found} in the training data",
            train_path,
            advice="need two or more (is --label-column the right column?)",
        )
    for labels, path in others:
        unseen = sorted(set(labels) - set(names))
        if unseen:
            source = f" ({train_path})" if train_path is not None else ""
            raise InputError(
                f"labels {unseen} do not occur in the training data{source}",
                path,
                advice="add training examples for them or remove those rows",
            )
    return names


def overlap(
    data: LabelledData, training: Sequence[LabelledData], train_path: str
) -> dict[str, Any] | None:
    """How far `data` (a dev or test set) is not held out from `training` (the rows of the
    training file `train_path`): None when it is held out, else a dict for metrics.json:
    `share` (float in 0..1, 4 decimals: the share of its rows whose exact (text, label) pair is
    a training row), `rows` (how many), `of` (its rows), `same_file` (bool: it is the file
    `train_path`, by device and inode), `train` (`train_path`).

    It is not held out when it is the training file, or when more than OVERLAP_SHARE of its
    rows are training rows (a copy, a subset, or a file that holds the training rows)."""
    seen = {pair for part in training for pair in zip(part.texts, part.labels, strict=True)}
    shared = sum(1 for pair in zip(data.texts, data.labels, strict=True) if pair in seen)
    share = shared / len(data) if len(data) else 0.0
    try:
        same_file = os.path.samefile(data.path, train_path)
    except OSError:
        same_file = False
    if not same_file and share <= OVERLAP_SHARE:
        return None
    return {
        "share": round(share, 4),
        "rows": shared,
        "of": len(data),
        "same_file": same_file,
        "train": train_path,
    }


def stratified_split(
    data: LabelledData, dev_fraction: float, seed: int
) -> tuple[LabelledData, LabelledData]:
    """Split into (train, dev) keeping each label's share; both keep the original order.

    A class with n >= 2 examples sends round(n * dev_fraction) of them (at least 1, at most
    n - 1) to dev; a class seen once stays in train so training can still learn it.
    """
    if not 0.0 < dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be between 0 and 1, got {dev_fraction}")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    dev: set[int] = set()
    # Sorted so the random draws do not depend on which label happens to come first.
    for label in sorted(by_label):
        indices = by_label[label]
        if len(indices) < 2:
            continue
        k = min(max(1, round(len(indices) * dev_fraction)), len(indices) - 1)
        dev.update(int(i) for i in rng.choice(indices, size=k, replace=False))
    train_idx = [i for i in range(len(data)) if i not in dev]
    dev_idx = sorted(dev)
    return _subset(data, train_idx), _subset(data, dev_idx)


def _subset(data: LabelledData, indices: list[int]) -> LabelledData:
    return LabelledData(
        texts=[data.texts[i] for i in indices],
        labels=[data.labels[i] for i in indices],
        path=data.path,
        text_column=data.text_column,
    )


def _resolve_columns(
    available: list[str],
    text_column: str | None,
    label_column: str | None,
    path: Path,
    line: int | None = None,
) -> tuple[str, str]:
    listing = ", ".join(repr(c) for c in available) or "(none)"
    where = (str(path), line)

    def pick(named: str | None, defaults: tuple[str, ...], role: str) -> str:
        if named is not None:
            if named not in available:
                raise InputError(f"no column {named!r}; available columns: {listing}", *where)
            return named
        for candidate in defaults:
            if candidate in available:
                return candidate
        expected = ", ".join(repr(c) for c in defaults)
        raise InputError(
            f"no {role} column (looked for {expected}); available columns: {listing}", *where
        )

    text = pick(text_column, TEXT_COLUMNS, "text")
    label = pick(label_column, LABEL_COLUMNS, "label")
    _check_distinct(text, label, *where)
    return text, label


def _check_distinct(text: str, label: str | None, path: Path | str, line: int | None) -> None:
    """InputError when the label column is the text column (named so, or picked by default):
    the one check of it for every labelled file."""
    if label == text:
        raise InputError(
            f"column {text!r} would be both the text and the label",
            str(path),
            line,
            advice="give --text-column and --label-column different columns",
        )


def _read_table(
    path: Path,
    text_column: str | None,
    label_column: str | None,
    tsv_quoting: str = "literal",
    encoding_errors: str = "strict",
) -> tuple[list[str], list[str], str]:
    """Texts, labels and the text column of a .csv, .tsv or .jsonl file, through the reader
    `cnnfeat embed` and `cnnfeat embed-dataset` use (runtime.reading.read_records), so a file
    gives the same records to all three: same line endings, blank lines, quoting, UTF-8 checks
    and error messages."""
    texts: list[str] = []
    labels: list[str] = []
    label_col: str | None = None
    column = text_column
    records = read_records(
        str(path), text_column, encoding_errors, tsv_quoting=tsv_quoting, json_values=True
    )
    for record in records:
        if label_col is None:
            column = column or default_text_column(str(path), record)
            label_col = _label_column(record, label_column, column, path)
        if label_col not in record.fields:
            raise InputError(f"missing key {label_col!r}", str(path), record.line)
        texts.append(record.text)
        labels.append(_label(record.fields[label_col], path, record.line))
    return texts, labels, column or ""


def _label_column(record: Record, label_column: str | None, text_column: str, path: Path) -> str:
    """The label column, from the first record's other columns (or keys): not `text_column`,
    the column read_records took the text from, which is not among them."""
    others = list(record.fields)
    line = record.line if path.suffix.lower() == ".jsonl" else 1  # a table's header line
    _check_distinct(text_column, label_column, path, line)  # not "no label column 'text'"
    if label_column is not None:
        if label_column not in others:
            listing = ", ".join(repr(c) for c in others) or "(none)"
            raise InputError(
                f"no label column {label_column!r}; other columns: {listing}", str(path), line
            )
        return label_column
    for candidate in LABEL_COLUMNS:
        if candidate in others:
            return candidate
    if text_column in LABEL_COLUMNS:  # `--text-column Emotion`: the default label, taken
        _check_distinct(text_column, text_column, path, line)
    expected = ", ".join(repr(c) for c in LABEL_COLUMNS)
    listing = ", ".join(repr(c) for c in others) or "(none)"
    raise InputError(
        f"no label column (looked for {expected}); other columns: {listing}", str(path), line
    )


def _read_emorynlp_json(
    path: Path,
    text_column: str | None,
    label_column: str | None,
    encoding_errors: str = "strict",
) -> tuple[list[str], list[str], str]:
    """Texts, labels and the text column of an EmoryNLP JSON file, through the reader
    `cnnfeat embed --dialogues` uses (runtime.corpora.read_emorynlp_json). The columns are
    that reader's fields (by default `transcript` and `emotion`); errors name the utterance."""
    utterances = read_emorynlp_json(str(path), encoding_errors)
    if not utterances:
        return [], [], ""
    text_col, label_col = _resolve_columns(
        list(utterances[0].fields), text_column, label_column, path
    )
    texts: list[str] = []
    labels: list[str] = []
    for utterance in utterances:
        prefix = f"utterance {utterance.fields['utterance_id']}: "
        text = utterance.fields[text_col]
        if not isinstance(text, str):
            got = json_type(text)
            raise InputError(f"{prefix}{text_col!r} must be a string, got {got}", str(path))
        texts.append(text)
        labels.append(_label(utterance.fields[label_col], path, None, prefix))
    return texts, labels, text_col


def _label(value: Any, path: Path, line: int | None, prefix: str = "") -> str:
    # bool is an int subclass, but `true` as a class name is almost certainly a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InputError(
            f"{prefix}label must be a string or an integer, got {json_type(value)}",
            str(path),
            line,
        )
    if not value.strip():
        raise InputError(f"{prefix}missing label", str(path), line)
    return value.strip()


def _not_utf8(path: Path) -> InputError:
    # The text layer decodes in chunks, so its offsets are useless; decoding the raw bytes once
    # gives the absolute offset, and counting newlines before it gives the line.
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        return InputError(
            f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})",
            str(path),
            line,
        )
    return InputError("not valid UTF-8", str(path))
