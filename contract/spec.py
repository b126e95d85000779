"""The model spec: the one contract between training, export and runtime.

A frozen dataclass serialised to JSON (like nanoGPT's GPTConfig in every checkpoint). Training
saves it next to the weights, export writes it into `cnnfeat.json` and the ONNX metadata, and the
runtime rebuilds its padding and truncation rules from it alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Final

from cnnfeat.contract.errors import ModelError
from cnnfeat.contract.layout import FORMAT_VERSION, check_format_version

POOL_MODES = ("global", "window")
# Tokens kept per utterance when no max_len is given: any length up to it for global pooling;
# window pooling pads or cuts every utterance to exactly max_len, so it gets a short one.
DEFAULT_MAX_LEN = {"global": 512, "window": 50}
MAX_LEN = 1_000_000  # the largest max_len a spec accepts
# Far above any real model, and low enough that sizes computed from them stay sane.
_LIMITS = {
    "vocab_size": 2**31 - 1,
    "embedding_dim": 100_000,
    "feature_maps": 100_000,
    "max_len": MAX_LEN,
    "feature_dim": 100_000,
    "pool_window": 1_000_000,
}
_INTS = (
    "vocab_size",
    "embedding_dim",
    "feature_maps",
    "pool_window",
    "max_len",
    "feature_dim",
    "pad_id",
    "unk_id",
    "format_version",
)


class _PoolDefault:
    """ModelSpec's max_len when none is given: DEFAULT_MAX_LEN of the spec's pool."""

    def __repr__(self) -> str:
        return "DEFAULT_MAX_LEN[pool]"


# Typed Any so that `max_len: int` may default to it; __post_init__ replaces it with an int.
POOL_DEFAULT: Final[Any] = _PoolDefault()


@dataclass(frozen=True)
class ModelSpec:
    """Shape and behaviour of one utterance CNN.

    pool="global": max over all valid time steps (the authors' released code, Kim 2014);
    any length up to `max_len`. pool="window": max-pool with window 2 (the paper's text),
    inputs padded or truncated to exactly `max_len`. Without a max_len the pool's own default
    is used (DEFAULT_MAX_LEN: 512 global, 50 window).
    """

    vocab_size: int
    embedding_dim: int
    filter_sizes: tuple[int, ...] = (3, 4, 5)
    feature_maps: int = 50
    pool: str = "global"
    pool_window: int = 2
    max_len: int = POOL_DEFAULT
    feature_dim: int = 100
    pad_id: int = 0
    unk_id: int = 1
    lowercase: bool = True
    label_names: tuple[str, ...] = ()
    dropout: float = 0.5
    format_version: int = field(default=FORMAT_VERSION)

    def __post_init__(self) -> None:
        if self.max_len is POOL_DEFAULT:  # an unknown pool is reported below
            object.__setattr__(self, "max_len", default_max_len(self.pool))
        _check_types(self)
        # JSON gives lists; the dataclass is frozen, so normalise through object.__setattr__.
        object.__setattr__(self, "filter_sizes", tuple(self.filter_sizes))
        object.__setattr__(self, "label_names", tuple(self.label_names))
        problems = []
        if self.pool not in POOL_MODES:
            problems.append(f"pool must be one of {POOL_MODES}, got {self.pool!r}")
        if not self.filter_sizes or min(self.filter_sizes) < 1:
            problems.append("filter_sizes must be positive")
        if self.vocab_size < 2 or self.embedding_dim < 1 or self.feature_maps < 1:
            problems.append("vocab_size, embedding_dim and feature_maps must be positive")
        if self.feature_dim < 1 or self.pool_window < 1:
            problems.append("feature_dim and pool_window must be positive")
        if self.max_len < self.min_len:
            problems.append(f"max_len {self.max_len} is shorter than the widest filter")
        too_big = [
            f"{name} {getattr(self, name)}"
            for name, most in _LIMITS.items()
            if getattr(self, name) > most
        ]
        if too_big or max(self.filter_sizes, default=0) > _LIMITS["max_len"]:
            problems.append(f"values out of range ({', '.join(too_big) or 'filter_sizes'})")
        if not (0 <= self.pad_id < self.vocab_size and 0 <= self.unk_id < self.vocab_size):
            problems.append("pad_id and unk_id must be ids of the vocabulary")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pool == "window" and self.max_len - self.min_len + 1 < self.pool_window:
            problems.append("max_len too short for window pooling")
        if problems:
            raise ModelError("invalid model spec: " + "; ".join(problems))

    @property
    def min_len(self) -> int:
        """Sequences are padded to at least the widest filter (ONNX Conv rejects shorter input)."""
        return max(self.filter_sizes, default=0)

    @property
    def fixed_len(self) -> int | None:
        """The one sequence length the graph accepts, or None when any length works."""
        return self.max_len if self.pool == "window" else None

    @property
    def pooled_dim(self) -> int:
        """Width of the concatenated pooled maps, the input of the 100-d layer."""
        if self.pool == "global":
            return self.feature_maps * len(self.filter_sizes)
        steps = [(self.max_len - k + 1) // self.pool_window for k in self.filter_sizes]
        return self.feature_maps * sum(steps)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["filter_sizes"] = list(self.filter_sizes)
        d["label_names"] = list(self.label_names)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: object) -> ModelSpec:
        if not isinstance(d, dict):
            raise ModelError("model spec is not a JSON object")
        if "format_version" in d:
            check_format_version(d["format_version"], "model spec")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelError(f"model spec has unknown fields {unknown}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ModelError(f"model spec is incomplete: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"model spec is not valid JSON: {exc}") from None
        return cls.from_dict(d)


def default_max_len(pool: object) -> int:
    """Tokens kept per utterance when no max_len is given, for `pool` (DEFAULT_MAX_LEN; the
    global one for a pool that is not one of POOL_MODES, which ModelSpec refuses anyway)."""
    return DEFAULT_MAX_LEN.get(str(pool), DEFAULT_MAX_LEN["global"])


def _check_types(spec: ModelSpec) -> None:
    """JSON types, exactly: 512.0 is not a length and "1" is not a version (ModelError)."""

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    wrong = [
        f"{name} must be an integer, got {getattr(spec, name)!r}"
        for name in _INTS
        if not is_int(getattr(spec, name))
    ]
    if not isinstance(spec.filter_sizes, list | tuple) or not all(
        is_int(k) for k in spec.filter_sizes
    ):
        wrong.append(f"filter_sizes must be a list of integers, got {spec.filter_sizes!r}")
    if not isinstance(spec.label_names, list | tuple) or not all(
        isinstance(n, str) for n in spec.label_names
    ):
        wrong.append(f"label_names must be a list of strings, got {spec.label_names!r}")
    if not isinstance(spec.pool, str):
        wrong.append(f"pool must be a string, got {spec.pool!r}")
    if not isinstance(spec.lowercase, bool):
        wrong.append(f"lowercase must be true or false, got {spec.lowercase!r}")
    if not isinstance(spec.dropout, int | float) or isinstance(spec.dropout, bool):
        wrong.append(f"dropout must be a number, got {spec.dropout!r}")
    if wrong:
        raise ModelError("invalid model spec: " + "; ".join(wrong))
