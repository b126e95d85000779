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

from cnnfeat.runtime.errors import ModelError
from cnnfeat.runtime.spec import ModelSpec

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "cnnfeat.json"
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
    """Read and check a model directory (None: the shipped default model)."""
    root = Path(path) if path is not None else default_model_dir()
    if not root.is_dir():
        raise ModelError(f"model directory {root} does not exist (give --model a directory "
                         "written by `cnnfeat export`)")  # fmt: skip
    for name in (CARD_FILE, MODEL_FILE, TOKENIZER_FILE):
        if not (root / name).is_file():
            raise ModelError(f"{root}: {name} is missing; re-run `cnnfeat export` into it")
    try:
        card = json.loads((root / CARD_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{root / CARD_FILE} is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or "spec" not in card:
        raise ModelError(f"{root / CARD_FILE} has no 'spec'; is this a cnnfeat model directory?")
    try:
        spec = ModelSpec.from_dict(card["spec"])
    except ModelError as exc:
        raise ModelError(f"{root / CARD_FILE}: {exc}") from None
    model_dir = ModelDir(root, spec, card)
    if verify:
        _verify_files(model_dir)
    return model_dir


def _verify_files(model_dir: ModelDir) -> None:
    expected = model_dir.card.get("sha256", {})
    for name in (MODEL_FILE, TOKENIZER_FILE):
        want = expected.get(name)
        if want is None:
            raise ModelError(f"{model_dir.path / CARD_FILE} records no sha256 for {name}")
        got = sha256_file(model_dir.path / name)
        if got != want:
            raise ModelError(
                f"{model_dir.path / name} does not belong to this model (sha256 {got[:12]}… but "
                f"{CARD_FILE} says {want[:12]}…); copy the model directory again or re-export"
            )
