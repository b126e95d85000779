"""`Embedder`: lines of text in, (N, feature_dim) float32 features out, in input order.

One encoder for every caller (the CLI, the Python API, the Ray adapter): tokenise, sort by
length, batch, pad per batch, run, and put rows back in input order (sentence-transformers'
lesson: sorting keeps padding, and so wasted work, small).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from cnnfeat.runtime.batching import pad_batch
from cnnfeat.runtime.errors import ModelError
from cnnfeat.runtime.model_dir import ModelDir, load_model_dir
from cnnfeat.runtime.session import make_session
from cnnfeat.runtime.spec import ModelSpec
from cnnfeat.runtime.tokenizer import PAD_TOKEN, UNK_TOKEN

INPUT_NAME = "input_ids"
OUTPUT_NAME = "features"


class Embedder:
    """Load a model directory once; embed any number of lines.

    >>> Embedder().embed(["Oh my God!", ""]).shape
    (2, 100)
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 256,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_dir: ModelDir = load_model_dir(model_dir)
        self.spec: ModelSpec = self.model_dir.spec
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(self.model_dir.tokenizer_path, self.spec)
        self.session, self.provider = make_session(self.model_dir.model_path, device, threads)
        check_graph(self.session, self.spec, self.model_dir.model_path)

    @property
    def dim(self) -> int:
        return self.spec.feature_dim

    def tokenize(self, lines: Sequence[str]) -> list[list[int]]:
        """Token ids per line, truncated to the model's max_len (no padding)."""
        encodings = self.tokenizer.encode_batch_fast(list(lines), add_special_tokens=False)
        return [e.ids for e in encodings]

    def embed(self, lines: Sequence[str]) -> np.ndarray:
        """(len(lines), feature_dim) float32, row i for line i."""
        return self.embed_ids(self.tokenize(lines))

    def embed_ids(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.empty((len(rows), self.spec.feature_dim), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            ids = pad_batch([rows[i] for i in picked], self.spec)
            out[picked] = self.session.run([OUTPUT_NAME], {INPUT_NAME: ids})[0]
        return out


def load_tokenizer(path: Path, spec: ModelSpec) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelError(f"{path}: not a tokenizers file ({str(exc).splitlines()[0]})") from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != spec.vocab_size:
        raise ModelError(f"{path} has {size} words but the model expects {spec.vocab_size}; "
                         "the tokenizer belongs to another model")  # fmt: skip
    if (
        tokenizer.token_to_id(PAD_TOKEN) != spec.pad_id
        or tokenizer.token_to_id(UNK_TOKEN) != spec.unk_id
    ):
        raise ModelError(f"{path}: [PAD]/[UNK] ids differ from the model spec")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_len)
    return tokenizer


def check_graph(session, spec: ModelSpec, path: Path) -> None:
    """The ONNX graph must take (batch, seq) int64 ids and give (batch, feature_dim) float32."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if [i.name for i in inputs] != [INPUT_NAME] or inputs[0].type != "tensor(int64)":
        problems.append(f"input should be int64 '{INPUT_NAME}', found "
                        f"{[(i.name, i.type) for i in inputs]}")  # fmt: skip
    elif len(inputs[0].shape) != 2 or (spec.fixed_len and inputs[0].shape[1] != spec.fixed_len):
        problems.append(f"input shape {inputs[0].shape} does not fit the spec")
    if [o.name for o in outputs] != [OUTPUT_NAME]:
        problems.append(f"output should be '{OUTPUT_NAME}', found {[o.name for o in outputs]}")
    elif len(outputs[0].shape) != 2 or outputs[0].shape[1] != spec.feature_dim:
        problems.append(f"output shape {outputs[0].shape}, spec says (batch, {spec.feature_dim})")
    if problems:
        raise ModelError(f"{path} does not match its spec: " + "; ".join(problems))
