"""User input as the engine takes it: lines of text (`as_lines`) and rows of token ids
(`as_id_rows`), from lists, tuples, iterables and numpy arrays, and counts (`check_count`), or an
ArgumentError / InputError that says what was given instead and which row is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from itertools import chain

import numpy as np

from cnnfeat.contract.batching import TokenRows
from cnnfeat.contract.errors import ArgumentError, InputError


def as_lines(lines: object, method: str = "embed") -> list[str]:
    """`lines` as a list of str, or ArgumentError saying what was given instead.

    A sequence or any iterable of str is taken, in its order. A bare str or bytes (which would
    give a row per character), an unordered container (dict, set), a 2-D array, or items that
    are not str (None, tuples, bytes) are refused.
    """
    what = type(lines).__name__
    if isinstance(lines, str | bytes | bytearray | memoryview):
        raise ArgumentError(
            f"{method} takes a list of strings, got a single {what}",
            advice=f"wrap it in a list: {method}([text])",
        )
    if isinstance(lines, Mapping | AbstractSet):
        raise ArgumentError(
            f"{method} takes a list of strings in row order, got a {what}, which has no row order",
            advice="pass a list",
        )
    if isinstance(lines, np.ndarray) and lines.ndim != 1:
        raise ArgumentError(
            f"{method} takes a 1-D sequence of strings, got an array of shape {lines.shape}",
            advice="pick the text column",
        )
    if getattr(lines, "ndim", 1) != 1:  # a pandas DataFrame iterates over its column names
        raise ArgumentError(
            f"{method} takes a 1-D sequence of strings, got a {what} of shape "
            f"{getattr(lines, 'shape', '?')}",
            advice="pick the text column",
        )
    if isinstance(lines, list) and all(type(line) is str for line in lines):
        return lines  # the common case, without a copy
    try:
        items = list(lines)  # type: ignore[call-overload]
    except TypeError:
        raise ArgumentError(f"{method} takes a list of strings, got {what}") from None
    for i, line in enumerate(items):
        if not isinstance(line, str):
            shown = repr(line) if len(repr(line)) <= 40 else repr(line)[:37] + "..."
            raise ArgumentError(
                f"line {i + 1} is {type(line).__name__}, not str ({shown}); "
                f"{method} takes one string per row"
            )
    return items


def as_id_rows(rows: object, vocab_size: int) -> TokenRows:
    """`rows` of token ids as TokenRows, or ArgumentError / InputError saying what is wrong:
    refused as `as_lines` refuses (a bare str, a dict or set), and a row that is not a 1-D
    sequence of integers (no float, bool or None, even 2.0: an id is never computed), or an
    id outside 0..vocab_size-1 (the graph's lookup would fail, or read its sentinel row)."""
    what = type(rows).__name__
    if isinstance(rows, str | bytes | bytearray | memoryview) or rows is None:
        given = "NoneType" if rows is None else f"a single {what}"
        raise ArgumentError(f"embed_ids takes a list of rows of token ids, got {given}")
    if isinstance(rows, Mapping | AbstractSet):
        raise ArgumentError(f"embed_ids takes rows in order, got a {what}", advice="pass a list")
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2 and not (rows.ndim == 1 and rows.dtype == object):  # ragged rows
            raise ArgumentError(
                f"embed_ids takes rows of ids (a 2-D array), got an array of shape {rows.shape}",
                advice="wrap one row in a list",
            )
        rows = list(rows)
    try:
        items = list(rows)  # type: ignore[call-overload]
    except TypeError:
        raise ArgumentError(f"embed_ids takes a list of rows of token ids, got {what}") from None
    if all(type(row) in (list, tuple) for row in items):  # the common case, checked in C
        flat = np.array(list(chain.from_iterable(items)))  # dtype inferred: floats stay floats
        if flat.size == 0 or (flat.ndim == 1 and flat.dtype.kind in "iu"):
            if not flat.size or 0 <= flat.min() <= flat.max() < vocab_size:
                lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
                return TokenRows(flat.astype(np.int64), lengths)
    arrays = []  # otherwise row by row, to name the row that is wrong
    for i, row in enumerate(items, 1):
        kind = type(row).__name__
        if isinstance(row, str | bytes | bytearray | Mapping | AbstractSet) or not (
            hasattr(row, "__len__") and hasattr(row, "__iter__")
        ):
            raise ArgumentError(f"row {i} is {kind}, not a sequence of token ids")
        if not isinstance(row, list | tuple):
            array = np.asarray(row)  # an array, a range, a torch tensor
        else:
            for value in row:
                if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
                    raise ArgumentError(
                        f"row {i} holds {type(value).__name__} {value!r}, not an integer token id"
                    )
                if not 0 <= value < vocab_size:
                    raise InputError(
                        f"row {i}: token ids must lie in 0..{vocab_size - 1}, got {value}"
                    )
            array = np.asarray(row, dtype=np.int64) if len(row) else np.empty(0, np.int64)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise ArgumentError(
                f"row {i} is a {array.dtype} array of shape {array.shape}, "
                "not a row of integer token ids"
            )
        if array.size and not 0 <= array.min() <= array.max() < vocab_size:
            raise InputError(f"row {i}: token ids must lie in 0..{vocab_size - 1}")
        arrays.append(array.astype(np.int64, copy=False))
    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    ids = np.concatenate(arrays) if arrays else np.empty(0, np.int64)
    return TokenRows(ids.astype(np.int64, copy=False), lengths)


def check_count(name: str, value: object, most: int) -> None:
    """ArgumentError unless `value` is an int (or numpy integer, not a bool) in 1..most."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not 1 <= value <= most:
        raise ArgumentError(f"{name} must be an integer from 1 to {most}, got {value!r}")
