"""`Embedder`: lines of text in, (N, feature_dim) float32 features out, in input order.

One encoder for every caller (the CLI, the Python API, the Ray adapter). The model directory is
loaded and checked whole by runtime/model_dir.py's `load_model`, user input is coerced by
runtime/inputs.py, and what is left here is the engine, in two steps that the file pipeline
(runtime/pipeline.py) runs on two threads: `token_rows` (clip long lines, tokenise) and
`embed_tokens` (sort by length, batch by a token budget, pad per batch, run, put rows back in
input order; sentence-transformers' lesson: sorting keeps padding, and so wasted work, small).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnfeat.contract.batching import TokenRows, pad_rows, plan_batches
from cnnfeat.contract.bounds import MAX_BATCH_SIZE, MAX_THREADS, MAX_TOKENS
from cnnfeat.contract.errors import ArgumentError
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.runtime.clip import check_lines, fit_lines
from cnnfeat.runtime.inputs import as_id_rows, as_lines, check_count
from cnnfeat.runtime.model_dir import ModelDir, load_model
from cnnfeat.runtime.session import CUDA

# Tokens (rows x padded width) per inference batch. On the CPU small batches stay in cache:
# 1-2k tokens ran fastest (bench/throughput.py); a GPU wants large ones.
CPU_MAX_TOKENS = 2048
CUDA_MAX_TOKENS = 1 << 16


class Embedder:
    """Load a model directory once; embed any number of utterances.

    Args:
        model_dir: a directory written by `cnnfeat export` (str or Path), or None for the
            shipped default model (models/meld-glove6b50d).
        device: "auto" (CUDA when its execution provider starts, else CPU), "cpu" or "cuda".
        threads: onnxruntime intra-op threads on the CPU (1..1024; None: onnxruntime's default).
        batch_size: the most rows in one inference batch (1..2**20).
        max_tokens: the most rows x padded width in one batch (None: 2,048 on the CPU, 65,536
            on CUDA), so long utterances make smaller batches.
        fp16: run the lookup tables in float16 (CUDA only; features within ~1e-3 of float32).

    Raises:
        ArgumentError: an argument of the wrong type or out of range.
        ModelError: the directory is missing, damaged, or its files disagree (checked whole
            at load: card, tokenizer, graph names and shapes, and a 2-row test batch).
        DeviceError: device="cuda" and the CUDA execution provider cannot start.

    Attributes: `model_dir` (the loaded ModelDir), `spec` (its ModelSpec), `tokenizer` (the
    `tokenizers.Tokenizer` of tokenizer.json, truncating to max_len), `provider` (the execution
    provider actually running, e.g. "CPUExecutionProvider"), `dim` (the feature size).

    An Embedder pickles as its model directory (made absolute) and these arguments, and loads
    the model again when unpickled, so it can be sent to a spawn pool, joblib or a Ray task.

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
        check_count("batch_size", batch_size, MAX_BATCH_SIZE)
        if max_tokens is not None:
            check_count("max_tokens", max_tokens, MAX_TOKENS)
        if threads is not None:
            check_count("threads", threads, MAX_THREADS)
        if not isinstance(fp16, bool):
            raise ArgumentError(f"fp16 must be True or False, got {fp16!r}")
        if not isinstance(device, str):
            raise ArgumentError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        if model_dir is not None and not isinstance(model_dir, str | os.PathLike):
            given = type(model_dir).__name__
            raise ArgumentError(
                f"model_dir must be a path (str or pathlib.Path) or None, got {given}"
            )
        self._model = load_model(model_dir, device, threads, fp16)
        self.model_dir: ModelDir = self._model.model_dir
        self.spec: ModelSpec = self._model.spec
        self.tokenizer = self._model.tokenizer
        self.provider: str = self._model.provider
        self._batch_size = batch_size
        on_gpu = self.provider == CUDA
        self._max_tokens = max_tokens or (CUDA_MAX_TOKENS if on_gpu else CPU_MAX_TOKENS)
        # What a pickle carries (__reduce__): the directory as given (None: the shipped model,
        # wherever the other side installed it) and the options, never the session.
        path = None if model_dir is None else os.path.abspath(self.model_dir.path)
        self._arguments = (path, device, threads, batch_size, max_tokens, fp16)

    def __reduce__(self) -> tuple[type[Embedder], tuple]:
        """Pickle as the model directory and the options, and load again on unpickling (the
        onnxruntime session cannot be pickled): an Embedder can go to a `multiprocessing`
        spawn pool, joblib or a Ray task. The other side must see the same directory path (the
        shipped model: its own copy) and loads it whole, checks included (ModelError there if
        it cannot)."""
        return (Embedder, self._arguments)

    @property
    def dim(self) -> int:
        """The feature size (the spec's feature_dim: 100 for the papers' network)."""
        return self.spec.feature_dim

    def embed(self, lines: Sequence[str]) -> np.ndarray:
        """The features of `lines`: float32 array of shape (len(lines), dim), row i for line i.

        Each line is one utterance; an empty line gives the features of an utterance of
        padding only. Lines longer than the spec's max_len tokens are cut to max_len.

        Raises:
            ArgumentError: `lines` is a single str, an unordered container, a 2-D array, or
                holds something that is not a str (the message names the item).
            InputError: a line holds a lone surrogate or cannot be tokenised (names the line).
        """
        return self.embed_tokens(self.token_rows(as_lines(lines, "embed")))

    def tokenize(self, lines: Sequence[str]) -> list[list[int]]:
        """The token ids of each line (the model's tokenizer.json, cut to max_len, no padding).

        What the Node, browser and C hosts feed their ONNX session (`cnnfeat tokenize` writes
        them to a file). Raises as `embed` does.
        """
        return [e.ids for e in self._encode(as_lines(lines, "tokenize"))]

    def embed_ids(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """The features of already tokenised rows: float32 (len(rows), dim).

        Rows longer than max_len are cut to max_len; an empty row is all padding.

        `rows` is any iterable of rows (lists, tuples or 1-D integer arrays) or a 2-D integer
        array; the ids are Python or numpy integers.

        Raises:
            ArgumentError: `rows` is a single str, an unordered container, or a row is not a
                sequence of integers (floats, bools, None, a str: the message names the row).
            InputError: an id outside 0..vocab_size-1.
        """
        return self.embed_tokens(as_id_rows(rows, self.spec.vocab_size))

    # --- the engine: two steps, which runtime/pipeline.py overlaps on two threads -------------

    def token_rows(self, lines: list[str]) -> TokenRows:
        """Step 1: the token ids of `lines` (a list of str, taken as it is: `embed` checks
        what users give) as one flat int64 array plus row lengths, each row cut to max_len.
        Long lines are clipped first (runtime/clip.py). Runs in Rust without the GIL, so the
        pipeline runs it in a worker thread beside inference. Raises InputError naming a line
        the tokenizer refuses (a lone surrogate)."""
        return TokenRows.from_lists([e.ids for e in self._encode(lines)])

    def embed_tokens(self, tokens: TokenRows) -> np.ndarray:
        """Step 2: float32 (len(tokens), dim), row i for token row i: sort by length, batch by
        the token budget, pad per batch, run, restore order."""
        out = np.empty((len(tokens), self.spec.feature_dim), dtype=np.float32)
        starts = tokens.starts
        for rows in plan_batches(tokens.lengths, self.spec, self._batch_size, self._max_tokens):
            out[rows] = self._model.run(pad_rows(tokens, starts, rows, self.spec))
        return out

    def _encode(self, lines: list[str]) -> list:
        lines = fit_lines(lines, self.tokenizer, self.spec.max_len)
        try:
            return self.tokenizer.encode_batch_fast(lines, add_special_tokens=False)
        except TypeError:
            check_lines(lines)  # says which line and why
            raise


def as_embedder(model: object) -> Embedder:
    """`model` as an Embedder: an Embedder as it is, a model directory (str or os.PathLike)
    loaded with the default options (`Embedder(model)`).

    Raises: ArgumentError for anything else, None included: the model is never implied (pass
    `Embedder()` for the shipped model); and Embedder's errors for the directory.
    """
    if isinstance(model, Embedder):
        return model
    if isinstance(model, str | os.PathLike):
        return Embedder(Path(model))
    given = "None" if model is None else type(model).__name__
    raise ArgumentError(
        f"model must be a model directory (str or pathlib.Path) or an Embedder, got {given}; "
        "for the shipped model pass cnnfeat.Embedder()"
    )
