"""`Embedder`: lines of text in, (N, feature_dim) float32 features out, in input order.

One encoder for every caller (the CLI, the Python API, the Ray adapter): tokenise, sort by
length, batch by a token budget, pad per batch, run, and put rows back in input order
(sentence-transformers' lesson: sorting keeps padding, and so wasted work, small).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from cnnfeat.runtime.batching import TokenRows, pad_rows, plan_batches
from cnnfeat.runtime.errors import InputError, ModelError
from cnnfeat.runtime.model_dir import ModelDir, load_model_dir
from cnnfeat.runtime.reading import check_lines, fit_lines
from cnnfeat.runtime.session import CUDA, make_session
from cnnfeat.runtime.spec import ModelSpec
from cnnfeat.runtime.tokenizer import PAD_TOKEN, UNK_TOKEN

INPUT_NAME = "input_ids"
OUTPUT_NAME = "features"
# Tokens (rows x padded width) per inference batch. On the CPU small batches stay in cache:
# 1-2k tokens ran fastest (bench/throughput.py); a GPU wants large ones.
CPU_MAX_TOKENS = 2048
CUDA_MAX_TOKENS = 1 << 16
_REDO = "; copy the model directory again or re-run `cnnfeat export`"


class Embedder:
    """Load a model directory once; embed any number of lines.

    batch_size caps the rows of one inference batch and max_tokens its rows x width, so long
    lines make smaller batches. fp16 runs the lookup tables in float16 (CUDA; ~1e-3 off fp32).

    >>> Embedder().embed(["Oh my God!", ""]).shape
    (2, 100)
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 256,
        max_tokens: int | None = None,
        fp16: bool = False,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.model_dir: ModelDir = load_model_dir(model_dir)
        self.spec: ModelSpec = self.model_dir.spec
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(self.model_dir.tokenizer_path, self.spec)
        self.session, self.provider = make_session(
            self.model_dir.model_path, device, threads, fp16=fp16
        )
        check_graph(self.session, self.spec, self.model_dir.model_path)
        on_gpu = self.provider == CUDA
        self.max_tokens = max_tokens or (CUDA_MAX_TOKENS if on_gpu else CPU_MAX_TOKENS)
        self._run = self._run_bound if on_gpu else self._run_plain

    @property
    def dim(self) -> int:
        return self.spec.feature_dim

    def tokenize(self, lines: Sequence[str]) -> list[list[int]]:
        """Token ids per line, truncated to the model's max_len (no padding)."""
        return [e.ids for e in self.encodings(lines)]

    def encodings(self, lines: Sequence[str]) -> list:
        """The tokenizer's Encodings. Runs in Rust without the GIL (the pipeline overlaps it
        with inference in another thread)."""
        lines = fit_lines(lines, self.tokenizer, self.spec.max_len)
        try:
            return self.tokenizer.encode_batch_fast(lines, add_special_tokens=False)
        except TypeError:
            check_lines(lines)  # says which line and why
            raise

    def encode(self, lines: Sequence[str]) -> TokenRows:
        """`tokenize` as one flat id array plus lengths, what `embed_tokens` takes."""
        return TokenRows.from_lists(self.tokenize(lines))

    def embed(self, lines: Sequence[str]) -> np.ndarray:
        """(len(lines), feature_dim) float32, row i for line i."""
        return self.embed_tokens(self.encode(lines))

    def embed_ids(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Features of already tokenised rows (longer rows are cut to max_len)."""
        tokens = TokenRows.from_lists(rows)
        if tokens.ids.size and not 0 <= tokens.ids.min() <= tokens.ids.max() < self.spec.vocab_size:
            # Checked here: the graph's lookup would fail, or read its internal sentinel row.
            raise InputError(f"token ids must lie in 0..{self.spec.vocab_size - 1}")
        return self.embed_tokens(tokens)

    def embed_tokens(self, tokens: TokenRows) -> np.ndarray:
        out = np.empty((len(tokens), self.spec.feature_dim), dtype=np.float32)
        starts = tokens.starts
        for rows in plan_batches(tokens.lengths, self.spec, self.batch_size, self.max_tokens):
            out[rows] = self._run(pad_rows(tokens, starts, rows, self.spec))
        return out

    def _run_plain(self, ids: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: ids})[0]

    def _run_bound(self, ids: np.ndarray) -> np.ndarray:
        # I/O binding: the ids go to the device once, the output is allocated there and copied
        # back once, with no intermediate host buffers.
        binding = self.session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, ids)
        binding.bind_output(OUTPUT_NAME, "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


def load_tokenizer(path: Path, spec: ModelSpec) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelError(
            f"{path}: not a tokenizers file ({str(exc).splitlines()[0]}){_REDO}"
        ) from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != spec.vocab_size:
        raise ModelError(f"{path} has {size} words but the model expects {spec.vocab_size}; "
                         f"the tokenizer belongs to another model{_REDO}")  # fmt: skip
    if (
        tokenizer.token_to_id(PAD_TOKEN) != spec.pad_id
        or tokenizer.token_to_id(UNK_TOKEN) != spec.unk_id
    ):
        raise ModelError(f"{path}: [PAD]/[UNK] ids differ from the model spec{_REDO}")
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
        raise ModelError(f"{path} does not match its spec: " + "; ".join(problems) + _REDO)
