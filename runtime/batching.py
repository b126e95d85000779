"""Padding rules shared by training, export validation and every runtime.

Right-padding with [PAD]; a batch is as wide as its longest row but never narrower than the
widest filter (onnxruntime's Conv rejects shorter input); window pooling always uses exactly
`max_len`. Rows longer than `max_len` are cut (the tokenizer already truncates).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnfeat.runtime.spec import ModelSpec


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
