"""The model directory's layout and the ONNX graph's interface: the names every writer (export)
and every reader (runtime, the Node/browser/C hosts) must agree on, declared once.

A model directory holds MODEL_FILE (the ONNX graph: int64 INPUT_NAME of shape (batch, seq) in,
float32 OUTPUT_NAME of shape (batch, feature_dim) out, ONNX opset OPSET), TOKENIZER_FILE
(HuggingFace tokenizers JSON), CARD_FILE (the model card: spec, provenance, metrics, sha256 of
the other two) and optionally REPORT_FILE (the training report). FORMAT_VERSION is the layout's
version, recorded in the card, in its spec and in the ONNX metadata.
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

INPUT_NAME = "input_ids"  # int64 (batch, seq) token ids, padded with the spec's pad_id
OUTPUT_NAME = "features"  # float32 (batch, feature_dim)
OPSET = 18  # the ONNX default-domain opset the exported graphs use


def check_format_version(found: object, what: str) -> None:
    """Refuse a `format_version` this cnnfeat cannot read: not an integer (a damaged file), or
    newer than FORMAT_VERSION (written by a newer cnnfeat). `what` names the file or object in
    the one-line ModelError. An absent version is the caller's to default."""
    if not isinstance(found, int) or isinstance(found, bool):
        raise ModelError(f"{what}: format_version must be an integer, got {found!r}; the file "
                         "is damaged: copy the model directory again or re-export it")  # fmt: skip
    if found > FORMAT_VERSION:
        raise ModelError(f"{what} was written by a newer cnnfeat (model format {found}; "
                         f"cnnfeat {__version__} reads format {FORMAT_VERSION}); upgrade: "
                         "pip install -U cnnfeat")  # fmt: skip
