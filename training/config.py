"""`TrainConfig`: every training option, declared once: name, type, default, bounds and help.

`cnnfeat train`'s options are generated from these fields (interface/options.py), release.py
builds its configs from them, and train.py reads them. Imports no torch, so the CLI can show
`cnnfeat train --help` without the [train] extra.
"""

from __future__ import annotations

import math
import numbers
import os
import shlex
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, get_args, get_type_hints

import numpy as np

from cnnfeat.contract.bounds import MAX_BATCH_SIZE, MAX_COUNT, MAX_SEED, MAX_THREADS
from cnnfeat.contract.errors import ArgumentError
from cnnfeat.contract.spec import DEFAULT_MAX_LEN, MAX_LEN, POOL_MODES, default_max_len
from cnnfeat.runtime.reading import ENCODING_ERRORS, TSV_QUOTING

LR_SCHEDULES = ("constant", "plateau", "cosine")
FLOAT32_MAX = 3.4028234663852886e38  # training runs in float32: a larger value overflows


def option(
    default: Any = None,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] = (),
    path: bool = False,
    recipe: bool = False,
    cli: bool = True,
    required: bool = False,
) -> Any:
    """A TrainConfig field and what `cnnfeat train` needs to offer it as an option.

    min/max: inclusive bounds (floats are also checked finite and within float32); choices:
    the accepted strings; path: a file or directory name; recipe: part of the training recipe
    (release.py writes it out in full in the shipped model's command); cli: offered as an
    option of `cnnfeat train`; required: no default, the option must be given.
    """
    metadata = {
        "help": help,
        "min": min,
        "max": max,
        "choices": choices,
        "path": path,
        "recipe": recipe,
        "cli": cli,
    }
    if required:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the shipped model's recipe, chosen on dev weighted-F1
    (MELD emotion, checked on MELD sentiment and EmoryNLP; docs/training.md and docs/results.md)."""

    train: str = option(
        required=True,
        path=True,
        help="Training file (.csv, .tsv, .jsonl, EmoryNLP .json, DailyDialog, IEMOCAP).",
    )
    out: str = option(
        required=True,
        path=True,
        help="Run directory to write (checkpoint, tokenizer, metrics.json).",
    )
    dev: str | None = option(
        None, "Dev file; without it a stratified dev split is taken from --train.", path=True
    )
    test: str | None = option(None, "Test file (optional).", path=True)
    text_column: str | None = option(None, "Text column (default: Utterance/text/transcript).")
    label_column: str | None = option(
        None, "Label column (default: Emotion/label); e.g. Sentiment for MELD."
    )
    vectors: str = option(
        "glove-6b-50d",
        "'glove-6b-50d' (bundled package) or a GloVe/word2vec text file, e.g. glove.840B.300d.txt.",
        recipe=True,
    )
    vocab_top_n: int = option(
        30000, "Also keep the vectors' N most frequent words.", min=0, max=MAX_COUNT, recipe=True
    )
    min_count: int = option(2, "Keep training words seen this often.", cli=False)
    pool: str = option(
        "global",
        "global: max over time (authors' code); window: max-pool width 2 (paper text).",
        choices=POOL_MODES,
        recipe=True,
    )
    max_len: int | None = option(
        None,
        f"Tokens kept per utterance (default {DEFAULT_MAX_LEN['global']} global, "
        f"{DEFAULT_MAX_LEN['window']} window).",
        min=5,  # the widest filter
        max=MAX_LEN,
        recipe=True,
    )
    epochs: int = option(
        60,
        "Most passes over --train (early stopping ends most runs sooner).",
        min=1,
        max=MAX_COUNT,
        recipe=True,
    )
    patience: int = option(
        10,
        "Stop after this many epochs without a better dev weighted-F1.",
        min=1,
        max=MAX_COUNT,
        recipe=True,
    )
    batch_size: int = option(
        64, "Utterances per optimiser step.", min=1, max=MAX_BATCH_SIZE, recipe=True
    )
    lr: float = option(
        5e-4, "Adam's learning rate (5e-4 led 1e-3 on the three dev sets).", min=0.0, recipe=True
    )
    dropout: float = option(
        0.5,
        "Dropout on the pooled maps and the 100-d layer (Kim 2014).",
        min=0.0,
        max=0.99,
        recipe=True,
    )
    seed: int = option(
        1,
        "Random seed: the same seed and --threads give the same run on the same CPU type "
        "and torch build (metrics.json's `environment`).",
        min=0,
        max=MAX_SEED,
    )
    class_weights: bool = option(
        True,
        "Weight the loss by inverse class frequency ** --class-weight-power (the default: "
        "square root; best on dev in context, and every MELD emotion predicted).",
        recipe=True,
    )
    class_weight_power: float = option(
        0.5,
        "With --class-weights: (inverse frequency) ** P (1: full inverse frequency).",
        min=0.0,
        max=4.0,  # beyond, a rare class's weight overflows float32 on real imbalances
        recipe=True,
    )
    fine_tune_embeddings: bool = option(
        True, "Train the word vectors too (--no-... keeps them frozen).", recipe=True
    )
    multichannel: bool = option(
        False, "Two copies of the vectors, one frozen, one fine-tuned (Kim 2014).", recipe=True
    )
    max_norm: float = option(
        0.0, "Max L2 norm of each classifier weight row; 0 = off.", min=0.0, recipe=True
    )
    weight_decay: float = option(
        0.0, "AdamW weight decay (not on the vectors); 0 = Adam.", min=0.0, recipe=True
    )
    lr_schedule: str = option(
        "constant",
        "plateau: halve the LR after 3 epochs without a better dev F1.",
        choices=LR_SCHEDULES,
        recipe=True,
    )
    word_dropout: float = option(
        0.0, "Share of tokens turned [UNK] in training.", min=0.0, max=0.99, recipe=True
    )
    feature_noise: float = option(
        0.0,
        "Std of Gaussian noise added to the 100-d features in training; 0 = off.",
        min=0.0,
        max=10.0,
        recipe=True,
    )
    label_smoothing: float = option(
        0.0, "Label smoothing of the cross-entropy.", min=0.0, max=0.99, recipe=True
    )
    ema_decay: float = option(
        0.998,
        "Evaluate and keep an EMA of the weights (per step); 0 = off.",
        min=0.0,
        max=0.9999,
        recipe=True,
    )
    dev_fraction: float = option(
        0.1, "Share of --train held out as dev when no --dev is given.", cli=False
    )
    encoding_errors: str = option(
        "strict",
        "strict: stop at bytes that are not UTF-8; replace: use U+FFFD and go on.",
        choices=ENCODING_ERRORS,
    )
    tsv_quoting: str = option(
        "literal",
        "A .tsv file's quotes: literal (a \" is text, every "
        "line one record) or csv (quoted fields may hold tabs and line "
        "breaks).",
        choices=TSV_QUOTING,
    )
    threads: int = option(
        1,
        "CPU threads; a seed reproduces exactly for a given count (on the same CPU type).",
        min=1,
        max=MAX_THREADS,
        recipe=True,
    )
    command: str = option("", "The command line that made the run (for the model card).", cli=False)

    def __post_init__(self) -> None:
        # The Python API's edge: the CLI's options check the same bounds (interface/options.py)
        for f in fields(self):
            value = _checked(f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)  # numpy scalars and paths made plain
        # No max_len: the spec's default for the pool (contract/spec.py), resolved here so that
        # metrics.json, the card and the recorded command give the value the run used.
        if self.max_len is None:
            object.__setattr__(self, "max_len", default_max_len(self.pool))

    @property
    def resolved_max_len(self) -> int:
        """max_len as an int (__post_init__ has resolved it)."""
        return default_max_len(self.pool) if self.max_len is None else self.max_len


def _checked(f: Any, value: Any) -> Any:
    """`value` for the TrainConfig field `f` as a plain bool, int, float or str (a path may be
    any os.PathLike), or ArgumentError naming the field: the wrong type, a float that is not
    finite, outside the field's min/max, or not one of its choices."""
    kind, optional = _KINDS[f.name]
    if value is None:
        if not optional:
            raise ArgumentError(f"{f.name} is required, got None")
        return None
    if kind is str and f.metadata.get("path") and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if kind is bool and isinstance(value, bool | np.bool_):
        return bool(value)
    if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    elif kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        if not math.isfinite(value):
            raise ArgumentError(f"{f.name} must be a finite number, got {value!r}")
    elif not (kind is str and isinstance(value, str)):
        raise ArgumentError(f"{f.name} must be {_NAMES[kind]}, got {value!r}")
    low, high, choices = f.metadata["min"], f.metadata["max"], f.metadata["choices"]
    if (low is not None and value < low) or (high is not None and value > high):
        raise ArgumentError(f"{f.name} must be from {low} to {high}, got {value!r}")
    if choices and value not in choices:
        raise ArgumentError(f"{f.name} must be one of {', '.join(choices)}, got {value!r}")
    return value


_NAMES = {bool: "True or False", int: "a whole number", float: "a number", str: "a string"}
# field name -> (bool, int, float or str; whether None is allowed), from the annotations
_KINDS = {
    name: (
        next(k for k in (bool, int, float, str) if k in get_args(hint) or k is hint),
        type(None) in get_args(hint),
    )
    for name, hint in get_type_hints(TrainConfig).items()
}


# The options that make up the training recipe (marked `recipe`): a run's recorded command
# writes every one of them out, so it rebuilds the same run even after the defaults change.
RECIPE_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.metadata.get("recipe"))


def train_command(config: TrainConfig) -> str:
    """The `cnnfeat train` command line that rebuilds `config`, for the model card's reproduce
    line (`cnnfeat train` and export/release.py both record it).

    The data (--train, --dev, --test), --out, --seed and every recipe option are written out,
    so the command rebuilds the same run even after a default changes; any other option only
    where it differs from its default. Booleans as --flag / --no-flag; quoted by shlex.
    """
    always = ("train", "dev", "test", "out", "seed", *RECIPE_FIELDS)
    offered = [f for f in fields(TrainConfig) if f.metadata.get("cli")]
    order = {name: i for i, name in enumerate(always)}
    args = ["cnnfeat", "train"]
    for f in sorted(offered, key=lambda f: order.get(f.name, len(order))):
        value = getattr(config, f.name)
        at_default = f.default is not MISSING and value == f.default
        if value is None or (at_default and f.name not in order):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return shlex.join(args)


def seed_list(text: str, option: str = "--seeds") -> list[int]:
    """A comma-separated list of seeds ("1,2,3") as distinct ints in 0..MAX_SEED; ArgumentError
    naming `option` otherwise (an empty text included)."""
    parts = [part.strip() for part in text.split(",")]
    # ASCII digits only (a "-" reaches the range check): int() would also take "+3", "1_000"
    # and other scripts' digits.
    if not all(part.isascii() and part.removeprefix("-").isdigit() for part in parts):
        raise ArgumentError(f"{option}: expected whole numbers separated by commas, got {text!r}")
    # int() refuses over 4300 digits; any seed of over 20 is out of range anyway
    return check_seeds([int(part) if len(part) <= 20 else MAX_SEED + 1 for part in parts], option)


def check_seeds(seeds: Iterable[int], what: str = "seeds") -> list[int]:
    """`seeds` (any iterable) as a list of ints if they are distinct whole numbers (Python or
    numpy ints, not bools) in 0..MAX_SEED, at least one; ArgumentError naming `what` (an
    option, or "seeds" in the Python API) otherwise."""
    try:
        given = list(seeds)
    except TypeError:
        raise ArgumentError(f"{what}: expected a list of whole numbers, got {seeds!r}") from None
    if not given:
        raise ArgumentError(f"{what}: no seeds given")
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in given) or any(
        not 0 <= s <= MAX_SEED for s in given
    ):
        raise ArgumentError(f"{what}: whole numbers from 0 to {MAX_SEED}, got {given}")
    if len(set(given)) != len(given):
        raise ArgumentError(f"{what}: a seed is repeated in {given}")
    return [int(s) for s in given]
