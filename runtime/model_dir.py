"""A model directory: `model.onnx` + `tokenizer.json` + `cnnfeat.json` (the model card).

`cnnfeat.json` holds the spec, where the vectors and training data came from, the training
metrics and the sha256 of the other two files. Loading checks all of it, so a tokenizer from
another model or a damaged .onnx is caught before it can produce wrong numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cnnfeat.contract.errors import ModelError
from cnnfeat.contract.layout import (
    CARD_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    check_format_version,
)
from cnnfeat.contract.spec import ModelSpec

DEFAULT_MODEL_NAME = "meld-glove6b50d"


def default_model_dir() -> Path:
    """The model shipped inside the package (models/meld-glove6b50d)."""
    return Path(str(resources.files("cnnfeat.models") / DEFAULT_MODEL_NAME))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelDir:
    path: Path
    spec: ModelSpec
    card: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def tokenizer_path(self) -> Path:
        return self.path / TOKENIZER_FILE


def load_model_dir(path: str | Path | None = None, verify: bool = True) -> ModelDir:
    """Read and check a model directory (None: the shipped default model).

    Every problem is a ModelError of one line that says what is wrong and what to do.
    """
    root = Path(path) if path is not None else default_model_dir()
    if not root.is_dir():
        what = "is a file, not a directory" if root.exists() else "does not exist"
        raise ModelError(f"model directory {root} {what} (give --model a directory "
                         "written by `cnnfeat export`)")  # fmt: skip
    if not (root / CARD_FILE).is_file() and (root / "checkpoint.pt").is_file():
        raise ModelError(f"{root} is a training run, not a model directory; export it first: "
                         f"cnnfeat export {root} --out MODEL_DIR")  # fmt: skip
    for name in (CARD_FILE, MODEL_FILE, TOKENIZER_FILE):
        if not (root / name).is_file():
            raise ModelError(f"{root}: {name} is missing; copy the whole model directory again "
                             "or re-run `cnnfeat export` into it")  # fmt: skip
    card = _read_card(root / CARD_FILE)
    try:
        spec = ModelSpec.from_dict(card["spec"])
    except (ModelError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{root / CARD_FILE}: {exc}; re-export the model with this cnnfeat"
        ) from None
    model_dir = ModelDir(root, spec, card)
    if verify:
        _verify_files(model_dir)
    return model_dir


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); copy the model directory again "
                         "or re-export it") from None  # fmt: skip
    if not isinstance(card, dict):
        raise ModelError(f"{path} is not a cnnfeat model card (a JSON object with a 'spec')")
    # Before the spec is read: a newer format may well have fields this version refuses.
    spec = card.get("spec")
    for versioned, what in ((card, path), (spec, path.parent)):
        if isinstance(versioned, dict) and "format_version" in versioned:
            check_format_version(versioned["format_version"], str(what))
    if "spec" not in card:
        raise ModelError(f"{path} has no 'spec'; is this a cnnfeat model directory?")
    _check_card_fields(card, path)
    return card


# Card fields that readers use (`cnnfeat info`, conformance): field -> JSON type; all optional.
_CARD_OBJECTS = ("vectors", "training", "metrics", "export")  # sha256: _verify_files
_SCORES = ("weighted_f1", "macro_f1", "accuracy")


def _check_card_fields(card: dict[str, Any], path: Path) -> None:
    """Every field a reader uses has the JSON type export writes (ModelError otherwise)."""

    def wrong(field: str, value: object, want: str) -> ModelError:
        return ModelError(f"{path}: field {field!r} is {_json_type(value)}, not {want}; the "
                          "card is damaged: copy the model directory again or re-export "
                          "it")  # fmt: skip

    for name in _CARD_OBJECTS:
        if card.get(name) is not None and not isinstance(card[name], dict):
            raise wrong(name, card[name], "an object")
    for split, scores in (card.get("metrics") or {}).items():
        if scores is None:
            continue
        if not isinstance(scores, dict):
            raise wrong(f"metrics.{split}", scores, "an object")
        for score in _SCORES:
            value = scores.get(score)
            if value is not None and (not isinstance(value, int | float) or
                                      isinstance(value, bool)):  # fmt: skip
                raise wrong(f"metrics.{split}.{score}", value, "a number")
    for field, value in (
        ("vectors.source", (card.get("vectors") or {}).get("source")),
        ("training.command", (card.get("training") or {}).get("command")),
    ):
        if value is not None and not isinstance(value, str):
            raise wrong(field, value, "a string")


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _verify_files(model_dir: ModelDir) -> None:
    expected = model_dir.card.get("sha256")
    if not isinstance(expected, dict):
        expected = {}
    for name in (MODEL_FILE, TOKENIZER_FILE):
        want = expected.get(name)
        if not isinstance(want, str):
            raise ModelError(f"{model_dir.path / CARD_FILE} records no sha256 for {name}; "
                             "re-export the model")  # fmt: skip
        try:
            got = sha256_file(model_dir.path / name)
        except OSError as exc:
            raise ModelError(
                f"{model_dir.path / name}: cannot read ({exc.strerror or exc})"
            ) from None
        if got != want:
            raise ModelError(
                f"{model_dir.path / name} does not match {CARD_FILE} (sha256 {got[:12]}…, "
                f"expected {want[:12]}…): it is damaged or comes from another model; copy "
                "the model directory again or re-run `cnnfeat export`"
            )
