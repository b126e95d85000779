"""`Embedder`: lines of text in, (N, feature_dim) float32 features out, in input order.

One encoder for every caller (the CLI, the Python API, the Ray adapter): tokenise, sort by
length, batch by a token budget, pad per batch, run, and put rows back in input order
(sentence-transformers' lesson: sorting keeps padding, and so wasted work, small).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from cnnfeat.contract.batching import TokenRows, pad_batch, pad_rows, plan_batches
from cnnfeat.contract.errors import ArgumentError, InputError, ModelError
from cnnfeat.contract.layout import INPUT_NAME, OUTPUT_NAME
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.contract.tokenizer import PAD_TOKEN, UNK_TOKEN
from cnnfeat.runtime.model_dir import ModelDir, load_model_dir
from cnnfeat.runtime.reading import check_lines, fit_lines
from cnnfeat.runtime.session import CUDA, make_session

# Tokens (rows x padded width) per inference batch. On the CPU small batches stay in cache:
# 1-2k tokens ran fastest (bench/throughput.py); a GPU wants large ones.
CPU_MAX_TOKENS = 2048
CUDA_MAX_TOKENS = 1 << 16
_REDO = "copy the model directory again or re-run `cnnfeat export`"  # ModelError advice
# Bounds for the numeric arguments (the CLI's options share them): far above any useful value.
MAX_BATCH_SIZE = 1 << 20
MAX_TOKENS = 1 << 26
MAX_THREADS = 1024


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
        _check_count("batch_size", batch_size, MAX_BATCH_SIZE)
        if max_tokens is not None:
            _check_count("max_tokens", max_tokens, MAX_TOKENS)
        if threads is not None:
            _check_count("threads", threads, MAX_THREADS)
        if not isinstance(fp16, bool):
            raise ArgumentError(f"fp16 must be True or False, got {fp16!r}")
        if not isinstance(device, str):
            raise ArgumentError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        if model_dir is not None and not isinstance(model_dir, str | os.PathLike):
            raise ArgumentError(f"model_dir must be a path (str or pathlib.Path) or None, got "
                                f"{type(model_dir).__name__}")  # fmt: skip
        self.model_dir: ModelDir = load_model_dir(model_dir)
        # What a pickle carries (__reduce__): the directory as given (None: the shipped model,
        # wherever the other side installed it) and the options, never the session.
        self._arguments = (
            None if model_dir is None else os.path.abspath(self.model_dir.path),
            device, threads, batch_size, max_tokens, fp16,
        )  # fmt: skip
        self.spec: ModelSpec = self.model_dir.spec
        self._batch_size = batch_size
        self.tokenizer = load_tokenizer(self.model_dir.tokenizer_path, self.spec)
        self._session, self.provider = make_session(
            self.model_dir.model_path, device, threads, fp16=fp16
        )
        check_graph(self._session, self.spec, self.model_dir.model_path)
        check_metadata(self._session, self.model_dir)
        on_gpu = self.provider == CUDA
        self._max_tokens = max_tokens or (CUDA_MAX_TOKENS if on_gpu else CPU_MAX_TOKENS)
        self._run = self._run_bound if on_gpu else self._run_plain
        probe(self._run, self.spec, self.model_dir.model_path)

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
        return self._embed_tokens(self._token_rows(as_lines(lines, "embed")))

    def tokenize(self, lines: Sequence[str]) -> list[list[int]]:
        """The token ids of each line (the model's tokenizer.json, cut to max_len, no padding).

        What the Node, browser and C hosts feed their ONNX session (`cnnfeat tokenize` writes
        them to a file). Raises as `embed` does.
        """
        return [e.ids for e in self._encodings(as_lines(lines, "tokenize"))]

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
        return self._embed_tokens(as_id_rows(rows, self.spec.vocab_size))

    # --- for runtime/pipeline.py, which overlaps tokenising and inference ---------------------

    def _encodings(self, lines: list[str]) -> list:
        """The tokenizer's Encodings of a list of str (checked by the public methods; the
        pipeline's readers give lists of str). Runs in Rust without the GIL (the pipeline runs
        it in a worker thread while this one runs inference)."""
        lines = fit_lines(lines, self.tokenizer, self.spec.max_len)
        try:
            return self.tokenizer.encode_batch_fast(lines, add_special_tokens=False)
        except TypeError:
            check_lines(lines)  # says which line and why
            raise

    def _token_rows(self, lines: list[str]) -> TokenRows:
        """`_encodings` as one flat id array plus lengths (what `_embed_tokens` takes)."""
        return TokenRows.from_lists([e.ids for e in self._encodings(lines)])

    def _embed_tokens(self, tokens: TokenRows) -> np.ndarray:
        """Sort by length, batch by the token budget, pad per batch, run, restore order."""
        out = np.empty((len(tokens), self.spec.feature_dim), dtype=np.float32)
        starts = tokens.starts
        for rows in plan_batches(tokens.lengths, self.spec, self._batch_size, self._max_tokens):
            out[rows] = self._run(pad_rows(tokens, starts, rows, self.spec))
        return out

    def _run_plain(self, ids: np.ndarray) -> np.ndarray:
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: ids})[0]

    def _run_bound(self, ids: np.ndarray) -> np.ndarray:
        # I/O binding: the ids go to the device once, the output is allocated there and copied
        # back once, with no intermediate host buffers.
        binding = self._session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, ids)
        binding.bind_output(OUTPUT_NAME, "cuda")
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


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


def load_tokenizer(path: Path, spec: ModelSpec) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelError(
            f"{path}: not a tokenizers file ({str(exc).splitlines()[0]})", advice=_REDO
        ) from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != spec.vocab_size:
        raise ModelError(f"{path} has {size} words but the model expects {spec.vocab_size}; "
                         "the tokenizer belongs to another model", advice=_REDO)  # fmt: skip
    if (
        tokenizer.token_to_id(PAD_TOKEN) != spec.pad_id
        or tokenizer.token_to_id(UNK_TOKEN) != spec.unk_id
    ):
        raise ModelError(f"{path}: [PAD]/[UNK] ids differ from the model spec", advice=_REDO)
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
    elif outputs[0].type != "tensor(float)":
        problems.append(f"output should be float32, found {outputs[0].type}")
    elif len(outputs[0].shape) != 2 or outputs[0].shape[1] != spec.feature_dim:
        problems.append(f"output shape {outputs[0].shape}, spec says (batch, {spec.feature_dim})")
    if problems:
        raise ModelError(f"{path} does not match its spec: " + "; ".join(problems), advice=_REDO)


def _check_count(name: str, value: object, most: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not 1 <= value <= most:
        raise ArgumentError(f"{name} must be an integer from 1 to {most}, got {value!r}")


def as_lines(lines: object, method: str = "embed") -> list[str]:
    """`lines` as a list of str, or ArgumentError saying what was given instead.

    A sequence or any iterable of str is taken, in its order. A bare str or bytes (which would
    give a row per character), an unordered container (dict, set), a 2-D array, or items that
    are not str (None, tuples, bytes) are refused.
    """
    what = type(lines).__name__
    if isinstance(lines, str | bytes | bytearray | memoryview):
        raise ArgumentError(f"{method} takes a list of strings, got a single {what}; wrap it in a "
                            f"list: {method}([text])")  # fmt: skip
    if isinstance(lines, Mapping | AbstractSet):
        raise ArgumentError(f"{method} takes a list of strings in row order, got a {what}, which "
                            "has no row order; pass a list")  # fmt: skip
    if isinstance(lines, np.ndarray) and lines.ndim != 1:
        raise ArgumentError(f"{method} takes a 1-D sequence of strings, got an array of shape "
                            f"{lines.shape}; pick the text column")  # fmt: skip
    if getattr(lines, "ndim", 1) != 1:  # a pandas DataFrame iterates over its column names
        raise ArgumentError(f"{method} takes a 1-D sequence of strings, got a {what} of shape "
                            f"{getattr(lines, 'shape', '?')}; pick the text column")  # fmt: skip
    if isinstance(lines, list) and all(type(line) is str for line in lines):
        return lines  # the common case, without a copy
    try:
        items = list(lines)  # type: ignore[call-overload]
    except TypeError:
        raise ArgumentError(f"{method} takes a list of strings, got {what}") from None
    for i, line in enumerate(items):
        if not isinstance(line, str):
            shown = repr(line) if len(repr(line)) <= 40 else repr(line)[:37] + "..."
            raise ArgumentError(f"line {i + 1} is {type(line).__name__}, not str ({shown}); "
                                f"{method} takes one string per row")  # fmt: skip
    return items


def as_id_rows(rows: object, vocab_size: int) -> TokenRows:
    """`rows` of token ids as TokenRows, or ArgumentError / InputError saying what is wrong:
    refused as `as_lines` refuses (a bare str, a dict or set), and a row that is not a 1-D
    sequence of integers (no float, bool or None, even 2.0: an id is never computed), or an
    id outside 0..vocab_size-1 (the graph's lookup would fail, or read its sentinel row)."""
    what = type(rows).__name__
    if isinstance(rows, str | bytes | bytearray | memoryview) or rows is None:
        given = "NoneType" if rows is None else f"a single {what}"
        raise ArgumentError(f"embed_ids takes a list of rows of token ids, got {given}")
    if isinstance(rows, Mapping | AbstractSet):
        raise ArgumentError(f"embed_ids takes rows in order, got a {what}; pass a list")
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2 and not (rows.ndim == 1 and rows.dtype == object):  # ragged rows
            raise ArgumentError(f"embed_ids takes rows of ids (a 2-D array), got an array of "
                                f"shape {rows.shape}; wrap one row in a list")  # fmt: skip
        rows = list(rows)
    try:
        items = list(rows)  # type: ignore[call-overload]
    except TypeError:
        raise ArgumentError(f"embed_ids takes a list of rows of token ids, got {what}") from None
    if all(type(row) in (list, tuple) for row in items):  # the common case, checked in C
        flat = np.array(list(chain.from_iterable(items)))  # dtype inferred: floats stay floats
        if flat.size == 0 or (flat.ndim == 1 and flat.dtype.kind in "iu"):
            if not flat.size or 0 <= flat.min() <= flat.max() < vocab_size:
                lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
                return TokenRows(flat.astype(np.int64), lengths)
    arrays = []  # otherwise row by row, to name the row that is wrong
    for i, row in enumerate(items, 1):
        kind = type(row).__name__
        if isinstance(row, str | bytes | bytearray | Mapping | AbstractSet) or not (
            hasattr(row, "__len__") and hasattr(row, "__iter__")
        ):
            raise ArgumentError(f"row {i} is {kind}, not a sequence of token ids")
        if not isinstance(row, list | tuple):
            array = np.asarray(row)  # an array, a range, a torch tensor
        else:
            for value in row:
                if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
                    raise ArgumentError(f"row {i} holds {type(value).__name__} {value!r}, not an "
                                        "integer token id")  # fmt: skip
                if not 0 <= value < vocab_size:
                    raise InputError(f"row {i}: token ids must lie in 0..{vocab_size - 1}, "
                                     f"got {value}")  # fmt: skip
            array = np.asarray(row, dtype=np.int64) if len(row) else np.empty(0, np.int64)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise ArgumentError(f"row {i} is a {array.dtype} array of shape {array.shape}, "
                                "not a row of integer token ids")  # fmt: skip
        if array.size and not 0 <= array.min() <= array.max() < vocab_size:
            raise InputError(f"row {i}: token ids must lie in 0..{vocab_size - 1}")
        arrays.append(array.astype(np.int64, copy=False))
    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    ids = np.concatenate(arrays) if arrays else np.empty(0, np.int64)
    return TokenRows(ids.astype(np.int64, copy=False), lengths)


def check_metadata(session, model_dir: ModelDir) -> None:
    """The spec in the ONNX metadata must be the card's (`cnnfeat.json`): a model.onnx from
    another model, or a card edited by hand, is caught here."""
    path = model_dir.model_path
    text = session.get_modelmeta().custom_metadata_map.get("cnnfeat.spec")
    if text is None:
        raise ModelError(f"{path} has no cnnfeat.spec metadata: it was not written by "
                         "`cnnfeat export`", advice=_REDO)  # fmt: skip
    try:
        graph_spec = ModelSpec.from_json(text)
    except ModelError as exc:
        raise ModelError(
            f"{path}: its cnnfeat.spec metadata is damaged ({exc})", advice=_REDO
        ) from None
    card_spec = model_dir.spec.to_dict()
    differ = [
        f"{key} {card_spec[key]!r} in cnnfeat.json, {value!r} in model.onnx"
        for key, value in graph_spec.to_dict().items()
        if card_spec[key] != value
    ]
    if differ:
        raise ModelError(
            f"{model_dir.path}: cnnfeat.json and model.onnx disagree: {'; '.join(differ[:3])}; "
            "they come from different models",
            advice=_REDO,
        )


def probe(run, spec: ModelSpec, path: Path) -> None:
    """Run 2 rows (the last word of the vocabulary, and [UNK]) and check that 2 rows of
    feature_dim float32 come back: the graph's word table must hold every tokenizer id, and
    a graph that declares (batch, feature_dim) must really return a row per input row."""
    ids = pad_batch([[spec.vocab_size - 1] * spec.min_len, [spec.unk_id]], spec)
    try:
        out = run(ids)
    except Exception as exc:  # onnxruntime's own error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} fails on a 2-row test batch of the tokenizer's ids ({first}): the model "
            "and tokenizer.json do not fit",
            advice=_REDO,
        ) from None
    want = (2, spec.feature_dim)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != want:
        got = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        raise ModelError(f"{path} returns {got} for a 2-row batch; its spec says float32 "
                         f"{want}", advice=_REDO)  # fmt: skip
