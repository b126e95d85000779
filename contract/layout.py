"""The model directory's layout and the ONNX graph's interface: the names every writer (export)
and every reader (runtime, the Node/browser/C hosts) must agree on, declared once.

A model directory holds MODEL_FILE (the ONNX graph: int64 INPUT_NAME of shape (batch, seq) in,
float32 OUTPUT_NAME of shape (batch, feature_dim) out, ONNX opset OPSET), TOKENIZER_FILE
(HuggingFace tokenizers JSON), CARD_FILE (the model card: spec, provenance, metrics, sha256 of
the other two), CONFORMANCE_FILE (the hosts' test cases) and optionally REPORT_FILE (the
training report). A training run directory holds CHECKPOINT_FILE, TOKENIZER_FILE, METRICS_FILE
and REPORT_FILE. FORMAT_VERSION is the layout's version, recorded in the card, in its spec
and in the ONNX metadata.
"""

from __future__ import annotations

from cnnfeat.contract import __version__
from cnnfeat.contract.errors import ModelError

# Bumped when a model directory written by this version can no longer be read by an older one.
FORMAT_VERSION = 1

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "cnnfeat.json"
REPORT_FILE = "report.html"  # the training report, written by train and copied by export
CONFORMANCE_FILE = "conformance.json"  # ids and features every host must reproduce (export)

# A training run directory (`cnnfeat train --out`), which `cnnfeat export` reads: the weights
# and spec (a PyTorch checkpoint), TOKENIZER_FILE, the scores and config (JSON), REPORT_FILE.
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"

INPUT_NAME = "input_ids"  # int64 (batch, seq) token ids, padded with the spec's pad_id
OUTPUT_NAME = "features"  # float32 (batch, feature_dim)
OPSET = 18  # the ONNX default-domain opset the exported graphs use


def check_format_version(found: object, what: str) -> None:
    """Refuse a `format_version` this cnnfeat cannot read: not an integer (a damaged file), or
    newer than FORMAT_VERSION (written by a newer cnnfeat). `what` names the file or object in
    the one-line ModelError. An absent version is the caller's to default."""
    if not isinstance(found, int) or isinstance(found, bool):
        raise ModelError(
            f"{what}: format_version must be an integer, got {found!r}",
            advice="the file is damaged: copy the model directory again or re-export it",
        )
    if found > FORMAT_VERSION:
        raise ModelError(
            f"{what} was written by a newer cnnfeat (model format {found}; "
            f"cnnfeat {__version__} reads format {FORMAT_VERSION})",
            advice="upgrade: pip install -U cnnfeat",
        )


# The model card's fields besides "format_version", "spec" (contract/spec.py) and "sha256"
# (checked against the files), with the JSON type `cnnfeat export` writes: field -> type.
# All optional (a card from an older export may lack some); a card that has one must give it
# this type, so every field `cnnfeat info` shows is checked when the model is loaded.
# "metrics.<split>.<score>" and "training.data.<split>.rows" are checked per split.
CARD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "input": str,
    "output": str,  # must be INPUT_NAME and OUTPUT_NAME
    "vectors": dict,
    "vectors.source": str,
    "vectors.pretrained_rows": int,
    "vectors.random_rows": int,
    "vectors.kept_forms": int,
    "vectors.casing": dict,
    "vectors.file_notes": dict,
    "vectors.notes": list,
    "training": dict,
    "training.command": str,
    "training.config": dict,
    "training.data": dict,
    "training.best_epoch": int,
    "training.train_seconds": (int, float),
    "training.environment": dict,  # the training machine: a seed reproduces only on its kind
    "training.environment.torch": str,
    "training.environment.cpu_capability": str,
    "training.oov_rate": dict,
    "training.interrupted_at_epoch": int,
    "training.dev_overlaps_train": dict,
    "training.test_overlaps_train": dict,
    "metrics": dict,
    "export": dict,
    "export.opset": int,
    "export.graph": str,
    "export.torch": str,
    "export.onnx": str,
    "export.parity_max_abs_diff": (int, float),
    "export.parity_cases": int,
    "seeds": dict,  # the shipped model's per-seed record (export/release.py)
}
SCORES = ("weighted_f1", "macro_f1", "accuracy")
