"""A model directory: `model.onnx` + `tokenizer.json` + `cnnfeat.json` (the model card).

`cnnfeat.json` holds the spec, where the vectors and training data came from, the training
metrics and the sha256 of the other two files. `load_model` is the one place a model directory
is loaded and checked, whole, for every user (the Embedder, export's validation, conformance):
the card (`load_model_dir`), the files' sha256, the tokenizer, the ONNX graph's names and shapes,
its metadata against the card, and a 2-row test batch, so a tokenizer from another model or a
damaged .onnx is caught before it can produce wrong numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from cnnfeat.contract.batching import pad_batch
from cnnfeat.contract.describe import MISSING, first_line, json_type, not_a_file
from cnnfeat.contract.errors import Hint, ModelError
from cnnfeat.contract.layout import (
    CARD_FIELDS,
    CARD_FILE,
    CHECKPOINT_FILE,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    SCORES,
    TOKENIZER_FILE,
    check_format_version,
)
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.contract.tokenizer import PAD_TOKEN, UNK_TOKEN
from cnnfeat.runtime.session import CUDA, make_session

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


# The advice for a model directory that is not there: `embed` and `tokenize` name --model;
# `info`, `evaluate` and `conformance` take it as their MODEL_DIR argument, with no option.
_GIVE_MODEL = Hint(
    "give {option} a directory written by `cnnfeat export`",
    "model",
    "give a model directory written by `cnnfeat export`",
)


def load_model_dir(path: str | Path | None = None, verify: bool = True) -> ModelDir:
    """Read and check a model directory (None: the shipped default model).

    Every problem is a ModelError of one line that says what is wrong and what to do.
    """
    root = Path(path) if path is not None else default_model_dir()
    try:
        found = root.is_dir()
    except OSError as exc:  # a name too long, a parent that cannot be searched
        reason = exc.strerror or exc
        raise ModelError(
            f"model directory {root} cannot be opened ({reason})", advice=_GIVE_MODEL
        ) from None
    if not found:
        what = "is a file, not a directory" if root.exists() else "does not exist"
        raise ModelError(f"model directory {root} {what}", advice=_GIVE_MODEL)
    if not (root / CARD_FILE).is_file() and (root / CHECKPOINT_FILE).is_file():
        raise ModelError(
            f"{root} is a training run, not a model directory",
            advice=f"export it first: cnnfeat export {root} --out MODEL_DIR",
        )
    for name in (CARD_FILE, MODEL_FILE, TOKENIZER_FILE):
        wrong = not_a_file(root / name)
        if wrong is not None:
            again = "copy the whole model directory again or re-run `cnnfeat export` into it"
            if wrong != MISSING:  # it may be the user's: export will not delete it
                again = f"move it away, then {again}"
            raise ModelError(f"{root}: {name} {wrong}", advice=again)
    card = _read_card(root / CARD_FILE)
    try:
        spec = ModelSpec.from_dict(card["spec"])
    except (ModelError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{root / CARD_FILE}: {exc}", advice="re-export the model with this cnnfeat"
        ) from None
    model_dir = ModelDir(root, spec, card)
    if verify:
        _verify_files(model_dir)
    return model_dir


_REDO = "copy the model directory again or re-run `cnnfeat export`"  # ModelError advice


@dataclass(frozen=True)
class VerifiedModel:
    """A model directory checked whole (`load_model`) and ready to run.

    `model_dir`: the ModelDir (path, spec, card); `tokenizer`: the `tokenizers.Tokenizer` of
    tokenizer.json, truncating to max_len, without padding; `session`: the onnxruntime session of
    model.onnx; `provider`: the execution provider really running it (e.g.
    "CPUExecutionProvider").
    """

    model_dir: ModelDir
    tokenizer: Tokenizer
    session: ort.InferenceSession
    provider: str

    @property
    def spec(self) -> ModelSpec:
        return self.model_dir.spec

    def run(self, ids: np.ndarray) -> np.ndarray:
        """Features of one padded batch: int64 (batch, seq) ids in, float32 (batch,
        feature_dim) out. On CUDA through I/O binding: the ids go to the device once and the
        output is copied back once, with no intermediate host buffers."""
        if self.provider != CUDA:
            return self.session.run([OUTPUT_NAME], {INPUT_NAME: ids})[0]
        binding = self.session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, ids)
        binding.bind_output(OUTPUT_NAME, "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


def load_model(
    path: str | Path | None = None,
    device: str = "auto",
    threads: int | None = None,
    fp16: bool = False,
) -> VerifiedModel:
    """Load and check a model directory (None: the shipped default model): the one loader.

    In order: the directory and its three files, the card (`load_model_dir`: JSON, format
    version, field types, spec, sha256 of model.onnx and tokenizer.json), the tokenizer (its
    vocabulary size and [PAD]/[UNK] ids against the spec), the onnxruntime session on `device`
    ("auto", "cpu" or "cuda"; `threads` intra-op threads; `fp16` float16 tables), the graph's
    input and output names, dtypes and shapes against the spec, the spec in the ONNX metadata
    against the card, and a 2-row test batch.

    Raises: ModelError (one line: what is wrong and what to do), DeviceError (an unknown
    device; "cuda" that cannot start).
    """
    model_dir = load_model_dir(path)
    tokenizer = load_tokenizer(model_dir.tokenizer_path, model_dir.spec)
    session, provider = make_session(model_dir.model_path, device, threads, fp16=fp16)
    _check_graph(session, model_dir.spec, model_dir.model_path)
    _check_metadata(session, model_dir)
    model = VerifiedModel(model_dir, tokenizer, session, provider)
    _probe(model)
    return model


def load_tokenizer(path: Path, spec: ModelSpec) -> Tokenizer:
    """tokenizer.json as a `tokenizers.Tokenizer` that fits `spec` (its vocabulary size and
    [PAD]/[UNK] ids), truncating to max_len without padding; ModelError otherwise."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelError(
            f"{path}: not a tokenizers file ({first_line(exc)})", advice=_REDO
        ) from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != spec.vocab_size:
        raise ModelError(
            f"{path} has {size} words but the model expects {spec.vocab_size}; "
            "the tokenizer belongs to another model",
            advice=_REDO,
        )
    if (
        tokenizer.token_to_id(PAD_TOKEN) != spec.pad_id
        or tokenizer.token_to_id(UNK_TOKEN) != spec.unk_id
    ):
        raise ModelError(f"{path}: [PAD]/[UNK] ids differ from the model spec", advice=_REDO)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_len)
    return tokenizer


def _check_graph(session: ort.InferenceSession, spec: ModelSpec, path: Path) -> None:
    """The ONNX graph must take (batch, seq) int64 ids and give (batch, feature_dim) float32."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if [i.name for i in inputs] != [INPUT_NAME] or inputs[0].type != "tensor(int64)":
        found = [(i.name, i.type) for i in inputs]
        problems.append(f"input should be int64 '{INPUT_NAME}', found {found}")
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


def _check_metadata(session: ort.InferenceSession, model_dir: ModelDir) -> None:
    """The spec in the ONNX metadata must be the card's (`cnnfeat.json`): a model.onnx from
    another model, or a card edited by hand, is caught here."""
    path = model_dir.model_path
    text = session.get_modelmeta().custom_metadata_map.get("cnnfeat.spec")
    if text is None:
        raise ModelError(
            f"{path} has no cnnfeat.spec metadata: it was not written by `cnnfeat export`",
            advice=_REDO,
        )
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


def _probe(model: VerifiedModel) -> None:
    """Run 2 rows (the last word of the vocabulary, and [UNK]) and check that 2 rows of
    feature_dim float32 come back: the graph's word table must hold every tokenizer id, and
    a graph that declares (batch, feature_dim) must really return a row per input row."""
    spec, path = model.spec, model.model_dir.model_path
    ids = pad_batch([[spec.vocab_size - 1] * spec.min_len, [spec.unk_id]], spec)
    try:
        out = model.run(ids)
    except Exception as exc:  # onnxruntime's own error types
        first = first_line(exc)
        raise ModelError(
            f"{path} fails on a 2-row test batch of the tokenizer's ids ({first}): the model "
            "and tokenizer.json do not fit",
            advice=_REDO,
        ) from None
    want = (2, spec.feature_dim)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != want:
        got = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        raise ModelError(
            f"{path} returns {got} for a 2-row batch; its spec says float32 {want}", advice=_REDO
        )


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path} is not valid JSON ({exc})",
            advice="copy the model directory again or re-export it",
        ) from None
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


def _check_card_fields(card: dict[str, Any], path: Path) -> None:
    """Every field of contract/layout.py's CARD_FIELDS has the JSON type export writes, and
    the graph's input and output names are this version's (ModelError otherwise)."""

    def wrong(field: str, value: object, want: str) -> ModelError:
        return ModelError(
            f"{path}: field {field!r} is {json_type(value)}, not {want}",
            advice="the card is damaged: copy the model directory again or re-export it",
        )

    def check(field: str, value: object, kind: type | tuple[type, ...]) -> None:
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise wrong(field, value, _TYPE_NAMES.get(kind, str(kind)))
        if kind == (int, float) and value is not None and not _finite(value):
            # json.loads takes NaN, Infinity and integers past float range; info formats these
            raise ModelError(
                f"{path}: field {field!r} is not a finite number",
                advice="the card is damaged: copy the model directory again or re-export it",
            )

    for field, kind in CARD_FIELDS.items():
        parent, _, name = field.rpartition(".")
        holder = card.get(parent) if parent else card  # parents come first, checked
        check(field, holder.get(name) if isinstance(holder, dict) else None, kind)
    per_split = (
        ("metrics", card.get("metrics"), SCORES, (int, float)),
        ("training.data", (card.get("training") or {}).get("data"), ("rows",), int),
    )
    for group, holder, names, kind in per_split:  # holders were checked above
        for split, entry in (holder or {}).items():
            check(f"{group}.{split}", entry, dict)
            for name in names:
                check(f"{group}.{split}.{name}", (entry or {}).get(name), kind)
    for field, want in (("input", INPUT_NAME), ("output", OUTPUT_NAME)):
        if card.get(field) not in (None, want):
            raise ModelError(
                f"{path}: the card names the graph's {field} {card[field]!r}",
                advice=f"this cnnfeat feeds {INPUT_NAME!r} and reads {OUTPUT_NAME!r}: "
                "re-export the model with this cnnfeat",
            )


def describe(model_dir: ModelDir) -> list[str]:
    """What `cnnfeat info` shows of the card besides spec, vectors and metrics: the graph's
    interface (names, dtypes, shapes) with its export record, and the training run's."""
    card, spec = model_dir.card, model_dir.spec
    export, training = card.get("export") or {}, card.get("training") or {}
    seq = "seq" if spec.fixed_len is None else str(spec.fixed_len)
    lines = [
        f"graph: {card.get('input') or INPUT_NAME} int64 (batch, {seq}) -> "
        f"{card.get('output') or OUTPUT_NAME} float32 (batch, {spec.feature_dim}); ONNX "
        f"opset {export.get('opset', '?')}, {export.get('graph', '?')!r} graph"
    ]
    if export.get("parity_max_abs_diff") is not None:
        lines.append(
            f"export: matches PyTorch within {export['parity_max_abs_diff']:.2g} on "
            f"{export.get('parity_cases', '?')} batches (torch "
            f"{export.get('torch', '?')}, onnx {export.get('onnx', '?')})"
        )
    rows = [
        f"{split} {entry['rows']}"
        for split, entry in (training.get("data") or {}).items()
        if entry and entry.get("rows") is not None
    ]
    if rows or training.get("best_epoch") is not None:
        seconds = training.get("train_seconds")
        lines.append(
            f"training: rows {', '.join(rows) or '?'}; best epoch "
            f"{training.get('best_epoch', '?')}"
            + (f" ({seconds:g} s)" if seconds is not None else "")
        )
    interrupted = interrupted_note(training.get("interrupted_at_epoch"), training.get("best_epoch"))
    if interrupted:
        lines.append(interrupted)
    seeds = _seeds_line(card.get("seeds") or {})
    if seeds:
        lines.append(seeds)
        probe = _probe_line(card["seeds"])
        if probe:
            lines.append(probe)
    return lines


def not_held_out(split: str, overlap: object) -> str | None:
    """The note that a run's dev or test scores are not held out, from its
    `<split>_overlaps_train` record (training/data.py's `overlap`: in metrics.json and in the
    card's `training`), or None when there is none. What `cnnfeat train`, `cnnfeat info` and
    report.html say. A record out of shape (a damaged card) still gives the note, without the
    numbers it lacks."""
    if not isinstance(overlap, dict):
        return None
    share, rows, of = overlap.get("share"), overlap.get("rows"), overlap.get("of")
    same = "it is the training file; " if overlap.get("same_file") is True else ""
    amount = "its rows"
    if (
        isinstance(share, int | float)
        and not isinstance(share, bool)
        and 0 <= share <= 1  # NaN fails too
        and type(rows) is int
        and type(of) is int
    ):
        amount = f"{share:.0%} of its rows ({rows} of {of})"
    return (
        f"{split} is not held out: {same}{amount} are also training rows (same text and "
        "label), so its scores do not measure the model on unseen data"
    )


def interrupted_note(epoch: object, best: object) -> str | None:
    """The note that training was stopped by Ctrl-C, from the run's `interrupted_at_epoch` and
    `best_epoch` (metrics.json, the card's `training`); None when it ran to its end."""
    if type(epoch) is not int:
        return None
    kept = f" (epoch {best})" if type(best) is int else ""
    return (
        f"training was interrupted (Ctrl-C) after epoch {epoch}; the best epoch so far{kept} "
        "was kept"
    )


def _seeds_line(seeds: dict) -> str | None:
    """The release record (export/release.py): the test weighted-F1 of every seed trained, their
    mean ± sample std (computed here from those scores), and which seed's run this model is.

    None when there is no record or any part of it is out of shape (a run not an object, a seed
    not a distinct integer, a score not a finite number in [0, 1], a shipped seed not among the
    runs): a damaged record is left out rather than shown half or wrong. Over SEEDS_SHOWN runs,
    only the first SEEDS_SHOWN are listed, so the line stays one readable line."""
    runs = seeds.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        return None
    names = [r.get("seed") for r in runs]
    scores = [r.get("test_weighted_f1") for r in runs]
    if not all(type(s) is int for s in names) or len(set(names)) < len(names):
        return None
    if not all(type(f) in (int, float) and 0 <= f <= 1 for f in scores):  # NaN fails 0 <= f
        return None
    shipped = seeds.get("shipped_seed")
    if type(shipped) is not int or shipped not in names:
        return None
    summary = ""
    if len(scores) > 1:
        summary = f"{statistics.mean(scores):.4f} ± {statistics.stdev(scores):.4f}, "
    shown = min(len(runs), SEEDS_SHOWN)
    more = f" and {len(runs) - shown} more" if shown < len(runs) else ""
    each = " / ".join(f"{f:.4f}" for f in scores[:shown])
    listed = ", ".join(str(s) for s in names[:shown])
    return (
        f"seeds: test weighted-F1 {summary}per seed {each}{more} (seeds {listed}{more}); "
        f"this model is seed {shipped}'s run"
    )


def _probe_line(seeds: dict) -> str | None:
    """The release's context-probe figures (`cnnfeat evaluate --context` on each seed's
    features): in context, utterance only and the gain, mean ± sample std over the seeds, in
    fractions like the `seeds:` line; None unless every run has both figures in [0, 1]."""
    runs = seeds["runs"]  # checked by _seeds_line
    pairs = [
        (r.get("context_probe_test_weighted_f1"), r.get("utterance_probe_test_weighted_f1"))
        for r in runs
    ]
    if not all(type(f) in (int, float) and 0 <= f <= 1 for pair in pairs for f in pair):
        return None

    def figure(values: list[float]) -> str:
        spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
        return f"{statistics.mean(values):.4f}{spread}"

    context, alone = [c for c, _ in pairs], [u for _, u in pairs]
    gains = [c - u for c, u in pairs]
    over = "the seed's features" if len(runs) == 1 else f"the {len(runs)} seeds' features"
    return (
        f"context probe: test weighted-F1 {figure(context)} in context, {figure(alone)} "
        f"utterance only, gain {figure(gains)} (over {over}; cnnfeat evaluate --context)"
    )


SEEDS_SHOWN = 10
_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    (int, float): "a number",
}


def _finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]  # checked to be a number first
    except OverflowError:  # an int past float range
        return False


def _verify_files(model_dir: ModelDir) -> None:
    expected = model_dir.card.get("sha256")
    if not isinstance(expected, dict):
        expected = {}
    for name in (MODEL_FILE, TOKENIZER_FILE):
        want = expected.get(name)
        if not isinstance(want, str):
            raise ModelError(
                f"{model_dir.path / CARD_FILE} records no sha256 for {name}",
                advice="re-export the model",
            )
        try:
            got = sha256_file(model_dir.path / name)
        except OSError as exc:
            raise ModelError(
                f"{model_dir.path / name}: cannot read ({exc.strerror or exc})"
            ) from None
        if got != want:
            raise ModelError(
                f"{model_dir.path / name} does not match {CARD_FILE} (sha256 {got[:12]}…, "
                f"expected {want[:12]}…): it is damaged or comes from another model",
                advice=_REDO,
            )
