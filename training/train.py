"""`cnnfeat train`: fit the utterance CNN on labelled utterances and keep the best checkpoint.

Adam, cross-entropy, early stopping on dev weighted-F1, plus the recipe options of
training/recipe.py (the default keeps an EMA of the weights). The run
directory holds everything export needs: `checkpoint.pt` (weights + spec), `tokenizer.json`,
`metrics.json`.
"""

from __future__ import annotations

import copy
import io
import json
import math
import numbers
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cnnfeat.contract.batching import pad_batch
from cnnfeat.contract.describe import MISSING, first_line, not_a_file
from cnnfeat.contract.errors import ArgumentError, CnnfeatError, InputError, ModelError
from cnnfeat.contract.layout import CHECKPOINT_FILE, METRICS_FILE, REPORT_FILE, TOKENIZER_FILE
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.contract.tokenizer import build_tokenizer
from cnnfeat.runtime import signals
from cnnfeat.runtime.clip import fit_lines
from cnnfeat.runtime.staging import check_replaceable, staged_directory
from cnnfeat.training import recipe
from cnnfeat.training.config import TrainConfig
from cnnfeat.training.data import (
    LabelledData,
    label_names,
    overlap,
    read_labelled,
    stratified_split,
)
from cnnfeat.training.metrics import classification_report
from cnnfeat.training.model import UtteranceCNN
from cnnfeat.training.report import write_report
from cnnfeat.training.vectors import describe_notes
from cnnfeat.training.vocab import build_vocabulary, vectors_casing

# Training text where more than this share of utterances is empty or all [UNK] is refused
# (_check_known_words). Real corpora are far below it (MELD train with the default vectors:
# 3 of 9,989 utterances, 0.03%), and the wrong column far above it (an empty, id or number
# column: 100%); half leaves room both ways.
MAX_UNKNOWN_SHARE = 0.5
# The files a run directory may hold: `train --out` replaces nothing else.
RUN_FILES = (CHECKPOINT_FILE, TOKENIZER_FILE, METRICS_FILE, REPORT_FILE)
MAJORITY_SCORES = ("weighted_f1", "macro_f1", "accuracy")  # metrics.json's `majority` baseline


class TrainingError(CnnfeatError):
    """Training cannot go on (the loss is no longer a finite number)."""


# A judge scores the weights dev sees after each epoch, given a function that embeds texts
# ((N,) str -> (N, feature_dim) float32 features); higher is better.
Judge = Callable[[Callable[[Sequence[str]], np.ndarray]], float]


def train(config: TrainConfig, progress: bool = True, judge: Judge | None = None) -> dict:
    """Train, evaluate on dev (and test), write the run directory; returns metrics.json's dict.

    judge: for recipe experiments (bench/context_stopping.py): its score after each epoch, not
    dev weighted-F1, keeps the best epoch and stops the run (recorded per epoch in the history
    as `judge`). Torch's random state is put back after each call, so the judge does not
    change the training run itself. A score that is not a finite number is an
    ArgumentError; nothing is written.
    """
    started = time.perf_counter()
    # before any work
    check_replaceable(Path(config.out), "cnnfeat run", CHECKPOINT_FILE, RUN_FILES)
    torch.set_num_threads(config.threads)
    _seed_everything(config.seed)
    train_data, dev_data, test_data = _load_splits(config)
    training_file = [train_data] if config.dev else [train_data, dev_data]  # --train, whole
    others = [(d.labels, d.path) for d in (dev_data, test_data) if d is not None]
    classes = label_names(train_data.labels, train_data.path, others)

    casing = vectors_casing(config.vectors)
    lowercase = casing["lowercase"]
    vocab = build_vocabulary(
        train_data.texts,
        lowercase,
        config.vectors,
        config.vocab_top_n,
        config.min_count,
        config.seed,
    )
    vectors = vocab.embeddings
    if config.multichannel:
        vectors = recipe.multichannel_vectors(vectors)
    spec = ModelSpec(
        vocab_size=vocab.size,
        embedding_dim=vectors.shape[1],
        pool=config.pool,
        max_len=config.resolved_max_len,
        lowercase=lowercase,
        label_names=tuple(classes),
        dropout=config.dropout,
    )
    tokenizer = build_tokenizer(vocab.words, lowercase, spec.max_len, vocab.kept_forms)

    model = UtteranceCNN(spec)
    model.embedding.weight.data.copy_(torch.from_numpy(vectors))
    model.embedding.weight.requires_grad_(config.fine_tune_embeddings or config.multichannel)
    if config.multichannel:
        recipe.freeze_first_columns(model.embedding, vocab.embeddings.shape[1])

    def ids_of(texts: Sequence[str]) -> list[list[int]]:
        # Clip megabyte-long cells first, as the runtime does (same ids, bounded memory).
        return [
            e.ids for e in tokenizer.encode_batch(fit_lines(list(texts), tokenizer, spec.max_len))
        ]

    def encode(data: LabelledData) -> tuple[list[list[int]], np.ndarray]:
        index = {name: i for i, name in enumerate(classes)}
        return ids_of(data.texts), np.array([index[label] for label in data.labels], np.int64)

    train_ids, train_y = encode(train_data)
    _check_known_words(train_data, train_ids, spec.unk_id)
    dev_ids, dev_y = encode(dev_data)
    weights = (
        recipe.class_weights(train_y, len(classes), config.class_weight_power)
        if config.class_weights
        else None
    )
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    optimizer = recipe.make_optimizer(model, config.lr, config.weight_decay)
    scheduler = recipe.make_scheduler(optimizer, config.lr_schedule, config.epochs)
    ema = recipe.make_ema(model, config.ema_decay)
    # the weights dev sees and we keep (AveragedModel.module is the averaged UtteranceCNN)
    evaluated = cast(UtteranceCNN, ema.module) if ema is not None else model
    word_rng = torch.Generator().manual_seed(config.seed)

    best: dict[str, Any] = {"score": -np.inf, "epoch": 0, "state": None}
    history = []
    rng = np.random.default_rng(config.seed)
    bar = tqdm(range(1, config.epochs + 1), desc="train", unit="epoch", disable=not progress)
    with _first_interrupt_stops() as stop:
        for epoch in bar:
            stop.epoch = epoch
            model.train()
            order = rng.permutation(len(train_ids))
            total, seen = 0.0, 0
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                batch = _pad([train_ids[i] for i in rows], spec)
                batch = recipe.drop_words(
                    batch, config.word_dropout, spec.unk_id, spec.pad_id, word_rng
                )
                loss = loss_fn(model(batch, config.feature_noise), torch.from_numpy(train_y[rows]))
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"epoch {epoch}: the training loss became {loss.item()}; nothing was "
                        f"written; try a smaller --lr (it was {config.lr:g}), or a smaller "
                        "--weight-decay or --class-weight-power if you raised them"
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                recipe.apply_max_norm(model.classifier, config.max_norm)
                if ema is not None:
                    ema.update_parameters(model)
                total += loss.item() * len(rows)
                seen += len(rows)
            dev_logits = logits(evaluated, dev_ids, spec)
            with torch.no_grad():  # the training loss's criterion, on the weights dev sees
                dev_loss = loss_fn(dev_logits, torch.from_numpy(dev_y)).item()
            dev_f1 = classification_report(dev_y, dev_logits.argmax(dim=1).numpy(), classes)[
                "weighted_f1"
            ]
            history.append(
                {
                    "epoch": epoch,
                    "loss": total / seen,
                    "dev_loss": dev_loss,
                    "dev_weighted_f1": dev_f1,
                }
            )
            bar.set_postfix(loss=f"{total / seen:.3f}", dev_f1=f"{dev_f1:.4f}")
            recipe.step_scheduler(scheduler, dev_f1)
            score = dev_f1
            if judge is not None:
                random_state = torch.get_rng_state()
                score = judge(lambda texts: features(evaluated, ids_of(texts), spec))
                torch.set_rng_state(random_state)
                if (
                    isinstance(score, bool)
                    or not isinstance(score, numbers.Real)
                    or not math.isfinite(score)
                ):
                    # NaN or -inf is never better than the start, so no epoch would be kept
                    raise ArgumentError(
                        f"the judge scored epoch {epoch} {score!r}, not a finite number"
                    )
                score = float(score)  # a numpy scalar too, for metrics.json
                history[-1]["judge"] = score
            if score > best["score"]:
                state = copy.deepcopy(evaluated.state_dict())
                best = {"score": score, "epoch": epoch, "state": state}
            stop.finished = epoch  # from here a first Ctrl-C saves the best epoch so far
            if stop.requested or epoch - best["epoch"] >= config.patience:
                break
    bar.close()

    model.load_state_dict(best["state"])
    interrupted = stop.finished if stop.requested else None
    metrics: dict[str, Any] = {
        "dev": classification_report(dev_y, predict(model, dev_ids, spec), classes),
        "test": None,
    }
    if test_data is not None:
        test_ids, test_y = encode(test_data)
        metrics["test"] = classification_report(test_y, predict(model, test_ids, spec), classes)
    # The floor a model must clear: every utterance given the most frequent training label.
    majority = int(np.bincount(train_y, minlength=len(classes)).argmax())
    metrics["majority"] = {"label": classes[majority], "dev": None, "test": None}
    for split, y in (("dev", dev_y), ("test", test_y if test_data is not None else None)):
        if y is not None:
            scores = classification_report(y, np.full_like(y, majority), classes)
            metrics["majority"][split] = {k: scores[k] for k in MAJORITY_SCORES}
    unk = spec.unk_id
    metrics.update(
        {
            "spec": spec.to_dict(),
            "vectors": {
                "source": vocab.vectors_source,
                "pretrained_rows": vocab.pretrained_rows,
                "random_rows": len(vocab.words) - vocab.pretrained_rows,
                "kept_forms": len(vocab.kept_forms),
                "casing": casing,
                "file_notes": vocab.vector_notes,
                "notes": describe_notes(vocab.vector_notes, vocab.embeddings.shape[1]),
            },
            "oov_rate": {
                name: _oov_rate(ids, unk)
                for name, ids in (("dev", dev_ids),)
                + ((("test", test_ids),) if test_data is not None else ())
            },
            "data": {
                "train": {"path": train_data.path, "rows": len(train_data)},
                "dev": {"path": dev_data.path, "rows": len(dev_data)},
                "test": {"path": test_data.path, "rows": len(test_data)} if test_data else None,
            },
            "best_epoch": best["epoch"],
            "interrupted_at_epoch": interrupted,
            # Whether dev (when given) and test share rows with --train: then not held out.
            "dev_overlaps_train": overlap(dev_data, [train_data], config.train)
            if config.dev
            else None,
            "test_overlaps_train": overlap(test_data, training_file, config.train)
            if test_data is not None
            else None,
            "history": history,
            "train_seconds": round(time.perf_counter() - started, 1),
            # A seed gives the same run only on the same CPU instruction set and torch build:
            # AVX-512 against AVX2 moved MELD dev weighted-F1 by 0.005 (seed 1, 30 epochs).
            "environment": {
                "torch": torch.__version__,
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
            "config": asdict(config),
        }
    )
    dev_features = features(model, dev_ids, spec)
    _write_run(Path(config.out), model, spec, tokenizer, metrics, (dev_features, dev_y))
    return metrics


@torch.no_grad()
def logits(model: nn.Module, ids: list[list[int]], spec: ModelSpec, batch: int = 512):
    """(N, classes) float32 tensor: the class scores for each id list (eval mode)."""
    model.eval()
    out = [model(_pad(ids[start : start + batch], spec)) for start in range(0, len(ids), batch)]
    return torch.cat(out) if out else torch.zeros((0, len(spec.label_names)))


def predict(model: nn.Module, ids: list[list[int]], spec: ModelSpec, batch: int = 512):
    return logits(model, ids, spec, batch).argmax(dim=1).numpy()


@torch.no_grad()
def features(model: UtteranceCNN, ids: list[list[int]], spec: ModelSpec, batch: int = 512):
    """(N, feature_dim) float32: the 100-d layer for each id list (eval mode)."""
    model.eval()
    out = [
        model.features(_pad(ids[i : i + batch], spec)).numpy() for i in range(0, len(ids), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, spec.feature_dim), np.float32)


def load_checkpoint(run_dir: str | Path) -> tuple[UtteranceCNN, dict]:
    """Rebuild the trained model from a run directory (the spec inside is the contract).

    Raises InputError naming `checkpoint.pt` when it is missing or unreadable (a read error:
    permission, I/O), damaged (truncated, not a PyTorch file), or holds weights that do not fit
    its spec (the first few missing, unexpected or misshapen weights named).
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    wrong = not_a_file(path)
    if wrong == MISSING:
        raise InputError(
            f"no {CHECKPOINT_FILE} here: is this a `cnnfeat train` run directory?", str(run_dir)
        )
    if wrong is not None:
        raise InputError(f"{CHECKPOINT_FILE} {wrong}", str(run_dir), advice="move it away")

    def damaged(why: str) -> InputError:
        advice = "the run directory is damaged: train again or copy it again"
        return InputError(why, str(path), advice=advice)

    try:  # opened here, so that a permission or disk error is told from damage below
        file = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    try:
        with file:  # streamed, not read whole: a checkpoint can be large
            saved = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a truncated or foreign file (OSError
        # "Invalid argument" for a zip cut short), and their text is torch's internals
        raise damaged(
            "not a readable PyTorch checkpoint (truncated, or not a PyTorch file)"
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise damaged("not a cnnfeat checkpoint (no spec and weights inside)")
    try:
        spec = ModelSpec.from_dict(saved.get("spec"))
    except ModelError as exc:
        raise damaged(str(exc)) from None
    model = UtteranceCNN(spec)
    state, own = saved["state_dict"], model.state_dict()
    misfits = [f"unexpected weight {name!r}" for name in state if name not in own]
    for name, weight in own.items():
        found = state.get(name)
        if found is None:
            misfits.append(f"{name} missing")
        elif not isinstance(found, torch.Tensor):
            misfits.append(f"{name} holds a {type(found).__name__} instead of a tensor")
        elif found.shape != weight.shape:
            misfits.append(
                f"{name} has shape {tuple(found.shape)} where the spec needs {tuple(weight.shape)}"
            )
        elif not found.is_floating_point():  # int or bool would be cast without a word
            misfits.append(f"{name} holds {found.dtype} values, not floats")
        elif not torch.isfinite(found).all():  # export's parity check would say only "nan"
            misfits.append(f"{name} holds NaN or infinity")
    if misfits:  # the first few: enough to see what is wrong
        more = f" and {len(misfits) - 3} more" if len(misfits) > 3 else ""
        raise damaged(f"its weights do not fit its spec: {', '.join(misfits[:3])}{more}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as exc:  # not seen: the names and shapes fit
        raise damaged(f"its weights do not fit its spec ({first_line(exc)})") from None
    return model.eval(), saved


def _pad(rows: list[list[int]], spec: ModelSpec) -> torch.Tensor:
    return torch.from_numpy(pad_batch(rows, spec))


def _load_splits(config: TrainConfig):
    def read(path: str) -> LabelledData:
        return read_labelled(
            path,
            config.text_column,
            config.label_column,
            config.tsv_quoting,
            config.encoding_errors,
        )

    train_data = read(config.train)
    if config.dev:
        dev_data = read(config.dev)
    else:
        label_names(train_data.labels, train_data.path)  # a single label: the clearer error
        train_data, dev_data = stratified_split(train_data, config.dev_fraction, config.seed)
        if not len(dev_data):
            raise InputError(
                "no label has two or more examples, so no dev split can be taken from this "
                "file; give a dev file with --dev",
                train_data.path,
            )
    test_data = read(config.test) if config.test else None
    return train_data, dev_data, test_data


class _Stop:
    """What `_first_interrupt_stops` shares with the epoch loop."""

    epoch = 0  # the epoch running
    finished = 0  # the last epoch whose dev score and best weights are recorded
    requested = False  # a first Ctrl-C came: stop after this epoch


@contextmanager
def _first_interrupt_stops() -> Iterator[_Stop]:
    """During the epochs, the first Ctrl-C (SIGINT) asks to stop at the end of the current
    epoch (the best epoch so far is then saved as a complete run); a second one aborts as
    before (KeyboardInterrupt: nothing written). Before any epoch has finished there is
    nothing to save, so the first one aborts. SIGTERM is left alone (it always aborts). Only
    where Python's own Ctrl-C handling is in place, in the main thread: a host that handles
    SIGINT itself keeps its handler."""
    stop = _Stop()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if previous not in (signal.default_int_handler, signals.handle):  # a host's own handler
        yield stop
        return

    def first(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, previous)  # the next one aborts, as before
        if not stop.finished:
            if callable(previous):
                previous(signum, frame)  # raises KeyboardInterrupt (the CLI's records it first)
            raise KeyboardInterrupt
        stop.requested = True
        try:
            sys.stderr.write(
                f"\ncnnfeat: interrupted: stopping after epoch {stop.epoch} and saving the best "
                "epoch so far (Ctrl-C again to abort without saving)\n"
            )
            sys.stderr.flush()
        except (OSError, RuntimeError, ValueError):  # closed, or caught mid-write: say it later
            pass

    signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_known_words(data: LabelledData, ids: list[list[int]], unk: int) -> None:
    """Refuse training text that gives the network nothing to learn from: more than
    MAX_UNKNOWN_SHARE of the utterances empty or made only of [UNK] (words neither in the
    vectors' top list nor seen twice in training). That is the wrong text column (ids, names,
    an empty column), not a corpus: training on it "works" and scores at chance."""
    unknown = sum(1 for row in ids if all(i == unk for i in row))  # an empty row counts too
    share = unknown / len(ids) if ids else 1.0
    if share > MAX_UNKNOWN_SHARE:
        column = f" of column {data.text_column!r}" if data.text_column else ""
        raise InputError(
            f"{share:.0%} of the training utterances{column} ({unknown} of {len(ids)}) are "
            "empty or have no word the model knows; is --text-column the right column?",
            data.path,
        )


def _oov_rate(ids: list[list[int]], unk: int) -> float:
    tokens = sum(len(r) for r in ids)
    return sum(r.count(unk) for r in ids) / tokens if tokens else 0.0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _write_run(
    out: Path, model, spec: ModelSpec, tokenizer, metrics: dict, dev: tuple[np.ndarray, np.ndarray]
) -> None:
    """Every file of the run goes into a staging directory, which then replaces `out` whole
    (runtime/staging.py): `out` is the old run or the new one, never a mix."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # Serialised in memory first: torch and tokenizers report a failed write (a full disk)
    # in their own words; Python's own writes say "No space left on device".
    checkpoint = io.BytesIO()
    saved = {
        "spec": spec.to_dict(),
        "state_dict": state,
        "vectors": metrics["vectors"],
        "interrupted_at_epoch": metrics.get("interrupted_at_epoch"),
    }
    torch.save(saved, checkpoint)
    with staged_directory(out, known=RUN_FILES) as staging:
        (staging / CHECKPOINT_FILE).write_bytes(checkpoint.getbuffer())
        (staging / TOKENIZER_FILE).write_text(tokenizer.to_str(pretty=True), encoding="utf-8")
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        write_report(staging, metrics, *dev, name=out.name)  # from the same numbers
