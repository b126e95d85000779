"""Padding rules shared by training, export validation and every runtime, and batch planning.

Right-padding with [PAD]; a batch is as wide as its longest row but never narrower than the
widest filter (the plain Conv export rejects shorter input; the graphs cnnfeat exports now pad
short input themselves, but hosts keep this one rule so any cnnfeat graph works); window pooling
always uses exactly `max_len`. Rows longer than `max_len` are cut (the tokenizer already
truncates).

The runtime keeps a chunk's token ids as one flat array plus lengths (`TokenRows`) and plans
batches over it: rows sorted by length, so each batch is padded only to its own longest row,
and as many rows per batch as fit a token budget (rows × width), so a batch of long lines
takes no more memory than a batch of short ones and the allocator sees a bounded peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from cnnfeat.contract.spec import ModelSpec

# Lines read and tokenised at a time (`cnnfeat embed`, `cnnfeat tokenize`, per-dialogue output).
# The tokenizer's Encodings take ~2 KB a line until they are turned into arrays, so a chunk
# holds ~16 MB; smaller chunks made no measurable difference to speed.
CHUNK_SIZE = 8192


def batch_width(longest: int, spec: ModelSpec) -> int:
    if spec.fixed_len is not None:
        return spec.fixed_len
    return max(spec.min_len, min(longest, spec.max_len))


def pad_batch(rows: Sequence[Sequence[int]], spec: ModelSpec) -> np.ndarray:
    """(len(rows), width) int64 ids, right-padded with spec.pad_id."""
    longest = max((len(r) for r in rows), default=0)
    width = batch_width(longest, spec)
    batch = np.full((len(rows), width), spec.pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        n = min(len(row), width)
        batch[i, :n] = row[:n]
    return batch


@dataclass(frozen=True)
class TokenRows:
    """Token ids of many rows: `ids` is every row's ids back to back, `lengths` their counts."""

    ids: np.ndarray  # (sum(lengths),) int64
    lengths: np.ndarray  # (rows,) int64

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> TokenRows:
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        total = int(lengths.sum())
        ids = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)
        return cls(ids, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def starts(self) -> np.ndarray:
        starts = np.zeros(len(self.lengths), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=starts[1:])
        return starts


def plan_batches(
    lengths: np.ndarray, spec: ModelSpec, max_rows: int, max_tokens: int
) -> list[np.ndarray]:
    """Row indices per batch: shortest rows first, each batch ≤ max_rows and ≤ max_tokens
    (rows × padded width; a single row wider than the budget still gets a batch of its own)."""
    order = np.argsort(lengths, kind="stable")
    if spec.fixed_len is not None:
        widths = np.full(len(order), spec.fixed_len, dtype=np.int64)
    else:
        widths = np.clip(lengths[order], spec.min_len, spec.max_len)
    batches, start, total = [], 0, len(order)
    while start < total:
        # Widths only grow, so the last row decides; shrink the guess until it fits.
        n = min(max_rows, total - start, max(1, max_tokens // int(widths[start])))
        while n > 1 and n * int(widths[start + n - 1]) > max_tokens:
            n = max(1, min(n - 1, max_tokens // int(widths[start + n - 1])))
        batches.append(order[start : start + n])
        start += n
    return batches


def pad_rows(
    tokens: TokenRows, starts: np.ndarray, rows: np.ndarray, spec: ModelSpec
) -> np.ndarray:
    """The `rows` of `tokens` as a padded (len(rows), width) int64 batch, as `pad_batch` pads."""
    lengths = tokens.lengths[rows]
    width = batch_width(int(lengths.max(initial=0)), spec)
    columns = np.arange(width, dtype=np.int64)
    if not len(tokens.ids):
        return np.full((len(rows), width), spec.pad_id, dtype=np.int64)
    outside = columns[None, :] >= lengths[:, None]
    index = np.minimum(starts[rows][:, None] + columns[None, :], len(tokens.ids) - 1)
    batch = tokens.ids[index]
    batch[outside] = spec.pad_id
    return batch
