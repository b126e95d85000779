"""`cnnfeat evaluate --context`: do the features help a context model?

The context probe is a bc-LSTM (Poria et al., ACL 2017, "Context-dependent sentiment analysis in
user-generated videos"): a bidirectional LSTM over each dialogue's sequence of utterance
features, a dense layer and a softmax per utterance. Beside it runs its utterance-only control:
the same network with the LSTM replaced by a per-utterance layer of the same width, trained by
the same loop (inputs, dropout, optimiser, batches, epochs, early stopping, seeds). The two
differ only in whether an utterance sees its neighbours, so the gain (context minus
utterance-only, seed by seed) measures what the features give a context model, not what a
different classifier or a different training loop gives.

Inputs, both models alike: the features standardised on the training utterances and, where the
data names speakers, a one-hot of the speaker's index in its dialogue (0 for the dialogue's first
speaker, 1 for the next new one, ...; the last of SPEAKER_SLOTS slots holds every speaker past
it). Training: masked cross-entropy, Adam, dialogues shuffled into batches; after each epoch the
dev weighted-F1 is measured and the epoch with the best one is kept (ties: the earliest); the run
stops `patience` epochs after its best. The dev dialogues come from a dev file, else a fixed tenth
of the training dialogues (whole dialogues, the same for every seed and both models). Test
scores: weighted-F1, macro-F1 and accuracy over the training labels, as `cnnfeat evaluate`'s
linear probe and `cnnfeat train` report them (training/metrics.py).

Dialogues are read and embedded exactly as `cnnfeat embed --dialogues` reads and embeds them
(runtime/corpora.py, runtime/dialogues.py). A seed fixes everything random (weights, dropout,
batch order): the same seed on the same inputs gives the same numbers. Needs torch and
scikit-learn (the `train` extra).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cnnfeat.contract.describe import count
from cnnfeat.contract.errors import ArgumentError, InputError
from cnnfeat.runtime.corpora import Columns
from cnnfeat.training.config import check_seeds
from cnnfeat.training.metrics import classification_report

SPEAKER_SLOTS = 8  # speakers 1..7 of a dialogue get their own slot, the rest share the 8th
DEV_FRACTION = 0.1  # of the training dialogues, when no dev file is given
_DEV_SPLIT_SEED = 0  # the held-out dialogues do not change with the seed
_IGNORE = -100  # padding in the label tensor (cross_entropy's ignore_index)
METRICS = ("weighted_f1", "macro_f1", "accuracy")


@dataclass(frozen=True)
class LabelledDialogue:
    """One dialogue, its utterances in order: features (n, D) float (any float dtype; row t is
    utterance t), n label strings, and n speaker names or None (None: the data names none)."""

    features: np.ndarray
    labels: Sequence[str]
    speakers: Sequence[str | None] | None = None


@dataclass(frozen=True)
class RunScores:
    """One seed's run of one model: the kept epoch, its dev weighted-F1, its test scores
    (fractions in 0..1)."""

    seed: int
    epoch: int
    dev_weighted_f1: float
    weighted_f1: float
    macro_f1: float
    accuracy: float


@dataclass(frozen=True)
class ContextReport:
    """Both probes' runs, seed by seed, and what they were trained and scored on.

    utterance / context: one RunScores per seed, in the order of `seeds`. counts: dialogues and
    utterances per split ("train" is what was trained on, after any dev dialogues were taken
    out). dev_source: "from " the dev set's name, or "held out from train".
    speaker_slots: width of the speaker one-hot (0: the training data names no speakers).
    """

    seeds: tuple[int, ...]
    utterance: tuple[RunScores, ...]
    context: tuple[RunScores, ...]
    labels: tuple[str, ...]
    dim: int
    speaker_slots: int
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    dev_source: str = ""
    # training/data.py's `overlap` of the test file with the training file: None when held out.
    test_overlaps_train: dict | None = None

    def mean(self, model: str, metric: str = "weighted_f1") -> float:
        """Mean over seeds of a test metric; model "utterance" or "context"."""
        return statistics.fmean(getattr(r, metric) for r in getattr(self, model))

    def gains(self, metric: str = "weighted_f1") -> list[float]:
        """Context minus utterance-only, seed by seed."""
        return [
            getattr(c, metric) - getattr(u, metric)
            for u, c in zip(self.utterance, self.context, strict=True)
        ]

    def lines(self) -> list[str]:
        """What `cnnfeat evaluate --context` prints: a header, then the utterance-only probe,
        the context probe and the gain, each as mean ± sample std over the seeds."""

        def spread(values: list[float], sign: str = "") -> str:
            text = f"{statistics.fmean(values):{sign}.4f}"
            return text + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else "")

        def row(name: str, values: Callable[[str], list[float]], sign: str = "") -> str:
            cells = "  ".join(
                f"{label} {spread(values(m), sign)}"
                for label, m in zip(("weighted-F1", "macro-F1", "accuracy"), METRICS, strict=True)
            )
            return f"{name:<16}{cells}"

        def size(split: str) -> str:
            dialogues, utterances = self.counts[split]
            return f"{count(dialogues, 'dialogue')} ({count(utterances, 'utterance')})"

        speakers = f" + {self.speaker_slots} speaker slots" if self.speaker_slots else ""
        seeds = ("seeds " if len(self.seeds) > 1 else "seed ") + ", ".join(map(str, self.seeds))
        return [
            f"context probe (bidirectional LSTM over each dialogue) against the same network "
            f"without context; test scores, mean ± std over {seeds}; train {size('train')}, "
            f"dev {size('dev')} {self.dev_source}, test {size('test')}; {self.dim} features"
            f"{speakers}; {len(self.labels)} classes",
            row("utterance only", lambda m: [getattr(r, m) for r in self.utterance]),
            row("context", lambda m: [getattr(r, m) for r in self.context]),
            row("gain", self.gains, "+"),
        ]


def context_probe(
    train: Sequence[LabelledDialogue],
    test: Sequence[LabelledDialogue],
    dev: Sequence[LabelledDialogue] | None = None,
    seeds: Sequence[int] = (1, 2, 3),
    *,
    hidden: int = 100,
    dropout: float = 0.5,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    batch_size: int = 32,
    epochs: int = 60,
    patience: int = 8,
    threads: int = 1,
    sources: tuple[str, str, str] = ("train", "test", "dev"),
    progress: bool | None = False,
) -> ContextReport:
    """Train the context probe and its utterance-only control once per seed (module docstring)
    on `train`, keep each run's best epoch on `dev` (None: a fixed tenth of the training
    dialogues, whole dialogues), and score both on `test`.

    Dialogues: LabelledDialogue, features (n, D) float, the same D everywhere, n >= 1. Labels
    are any strings; the classes are those of `train`. Speakers are used when any training
    dialogue names one. seeds: distinct ints >= 0. threads: torch CPU threads while it runs
    (put back afterwards); the numbers are reproducible for a given seed and thread count on
    the same CPU instruction set and torch build.
    sources: how errors name the three sets.

    Returns a ContextReport (scores are fractions in 0..1).
    Raises InputError (an empty set, fewer than two training labels, a test or dev label not in
    train, features of another width, NaN or infinite features, a dialogue whose labels or
    speakers do not match its features) and ArgumentError (no seeds, repeated or negative seeds,
    a bad hyper-parameter).
    """
    seeds = check_seeds(seeds)
    _check_settings(hidden, dropout, lr, weight_decay, batch_size, epochs, patience, threads)
    _check_dialogues(train, sources[0])
    _check_dialogues(test, sources[1])
    dim = int(np.shape(train[0].features)[1])
    labels = tuple(sorted({label for d in train for label in d.labels}))
    if len(labels) < 2:
        raise InputError(
            f"only one label ({labels[0]!r}) in the training data; need two or more", sources[0]
        )
    if dev is None:
        if len(train) < 2:
            raise InputError(
                "one dialogue cannot be split into train and dev; give a dev file", sources[0]
            )
        order = np.random.default_rng(_DEV_SPLIT_SEED).permutation(len(train))
        held = max(1, round(DEV_FRACTION * len(train)))
        dev = [train[i] for i in sorted(order[:held])]
        train = [train[i] for i in sorted(order[held:])]
        dev_source = "held out from train"
    else:
        _check_dialogues(dev, sources[2])
        dev_source = f"from {sources[2]}"
    for name, dialogues in ((sources[1], test), (sources[2], dev)):
        width = int(np.shape(dialogues[0].features)[1])
        if width != dim:
            raise InputError(f"{width} features per utterance, but train has {dim}", name)
        unseen = sorted({label for d in dialogues for label in d.labels} - set(labels))
        if unseen:
            raise InputError(f"labels {unseen} do not occur in the training data", name)

    slots = SPEAKER_SLOTS if any(s is not None for d in train for s in d.speakers or ()) else 0
    all_rows = np.concatenate([np.asarray(d.features, np.float64) for d in train])
    mean, std = all_rows.mean(axis=0), all_rows.std(axis=0)
    std[std == 0] = 1.0  # a constant column stays constant (zero)
    index = {label: i for i, label in enumerate(labels)}

    def encode(dialogues: Sequence[LabelledDialogue]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for d in dialogues:
            x = ((np.asarray(d.features, np.float64) - mean) / std).astype(np.float32)
            if slots:
                x = np.concatenate([x, _speaker_one_hot(d.speakers, len(d.labels), slots)], 1)
            out.append((x, np.array([index[label] for label in d.labels], np.int64)))
        return out

    data = {"train": encode(train), "dev": encode(dev), "test": encode(test)}
    runs: dict[str, list[RunScores]] = {"utterance": [], "context": []}
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        disable = None if progress is None else not progress  # None: on a terminal only
        bar = tqdm(total=2 * len(seeds), desc="context probe", unit="run", disable=disable)
        for seed in seeds:
            for name in runs:
                torch.manual_seed(seed)  # the weights, dropout masks and batches are the seed's
                net = _Probe(dim + slots, hidden, len(labels), dropout, context=name == "context")
                runs[name].append(
                    _fit(net, data, labels, seed, lr, weight_decay, batch_size, epochs, patience)
                )
                bar.update()
        bar.close()
    finally:
        torch.set_num_threads(previous_threads)
    counts = {split: (len(d), sum(len(y) for _, y in d)) for split, d in data.items()}
    return ContextReport(
        tuple(seeds),
        tuple(runs["utterance"]),
        tuple(runs["context"]),
        labels,
        dim,
        slots,
        counts,
        dev_source,
    )


def evaluate_dialogue_files(
    train_path: str,
    test_path: str,
    model_dir: str | Path | None = None,
    dev_path: str | None = None,
    seeds: Sequence[int] = (1, 2, 3),
    corpus: str | None = None,
    text_column: str | None = None,
    columns: Columns | None = None,
    features: dict[str, str] | None = None,
    device: str = "auto",
    progress: bool | None = False,
    **settings: Any,
) -> ContextReport:
    """The context probe on labelled dialogue files (any layout `cnnfeat embed --dialogues`
    reads: MELD/EmoryNLP tables, EmoryNLP JSON, DailyDialog, IEMOCAP; `corpus` as its
    --corpus, None: by the file names), read by the same readers and embedded by the model in
    `model_dir` (default: the shipped one) exactly as `embed --dialogues` embeds them. dev_path:
    the file early stopping reads (None: a tenth of the training dialogues). columns: the
    dialogue, order, speaker and label columns of a table (defaults as `embed --dialogues`).
    features: your own per-utterance features instead of the model's, by split ("train",
    "test", "dev") -> .npy/.npz path of an (N, D) float array, row i for the file's utterance i
    in file order (as `cnnfeat embed` writes them). The model is loaded only after every file
    has been read. settings: context_probe's keyword settings (hidden, dropout, lr,
    weight_decay, batch_size, epochs, patience, threads).

    Returns a ContextReport (`test_overlaps_train`: a test file that is the training file or
    holds its rows, as training/data.py's `overlap`). Raises InputError (a file, a column, a
    missing label, the features; file and line named), ModelError, ArgumentError (as
    context_probe).
    """
    from cnnfeat.runtime.corpora import corpus_format, read_utterances
    from cnnfeat.runtime.dialogues import embed_texts, group_dialogues
    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.training.probe import _sklearn, load_features

    _sklearn()  # says how to install it, before any work
    features = features or {}
    paths = {"train": train_path, "test": test_path}
    if dev_path is not None:
        paths["dev"] = dev_path
    elif "dev" in features:
        raise ArgumentError("dev features were given without a dev file")
    read = {}
    for split, path in paths.items():
        utterances = read_utterances(path, corpus_format(path, corpus), text_column, columns)
        for u in utterances:
            if u.label is None:
                raise InputError(
                    "no label: the context probe needs every utterance labelled "
                    "(name the column with --label-column)",
                    path,
                    u.line or None,
                )
        if not utterances:  # before a model is loaded
            raise InputError("no utterances", path)
        read[split] = (utterances, group_dialogues(utterances, path))
    embedder: Embedder | None = None
    sets: dict[str, list[LabelledDialogue]] = {}
    for split, (utterances, dialogues) in read.items():
        if split in features:
            x = load_features(features[split], len(utterances), paths[split])
        else:
            embedder = embedder or Embedder(model_dir, device=device)
            x = embed_texts(embedder, [u.text for u in utterances])
        sets[split] = [
            LabelledDialogue(
                x[d.rows], [u.label or "" for u in d.utterances], [u.speaker for u in d.utterances]
            )
            for d in dialogues
        ]
    sources = (
        features.get("train", train_path),
        features.get("test", test_path),
        features.get("dev", str(dev_path)),
    )
    report = context_probe(
        sets["train"],
        sets["test"],
        sets.get("dev"),
        seeds,
        sources=sources,
        progress=progress,
        **settings,
    )
    from cnnfeat.training.data import LabelledData, overlap

    rows = {
        split: LabelledData([u.text for u in us], [u.label or "" for u in us], paths[split])
        for split, (us, _) in read.items()
    }
    return replace(report, test_overlaps_train=overlap(rows["test"], [rows["train"]], train_path))


class _Probe(nn.Module):
    """bc-LSTM (context=True) or its per-utterance control (context=False): dropout, the
    encoder (a BiLSTM of `hidden` per direction, or a tanh layer of 2 * hidden), dropout, a ReLU
    layer of `hidden`, dropout, the class scores."""

    def __init__(self, dim: int, hidden: int, classes: int, dropout: float, context: bool):
        super().__init__()
        self.context = context
        self.drop = nn.Dropout(dropout)
        self.encoder: nn.Module
        if context:
            self.encoder = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        else:
            self.encoder = nn.Sequential(nn.Linear(dim, 2 * hidden), nn.Tanh())
        self.dense = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (dialogues, longest, dim) float32, zero-padded; lengths: (dialogues,) int64.
        Returns (dialogues, longest, classes) scores (padding rows are meaningless)."""
        x = self.drop(x)
        if self.context:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            h, _ = self.encoder(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        else:
            h = self.encoder(x)
        return self.out(self.dense(self.drop(h)))


def _batch(dialogues: list[tuple[np.ndarray, np.ndarray]], rows: Sequence[int]):
    longest = max(len(dialogues[i][1]) for i in rows)
    x = np.zeros((len(rows), longest, dialogues[rows[0]][0].shape[1]), np.float32)
    y = np.full((len(rows), longest), _IGNORE, np.int64)
    for row, i in enumerate(rows):
        n = len(dialogues[i][1])
        x[row, :n], y[row, :n] = dialogues[i]
    lengths = torch.tensor([len(dialogues[i][1]) for i in rows], dtype=torch.int64)
    return torch.from_numpy(x), torch.from_numpy(y), lengths


@torch.no_grad()
def _scores(net: _Probe, dialogues: list[tuple[np.ndarray, np.ndarray]], labels: tuple[str, ...]):
    net.eval()
    x, y, lengths = _batch(dialogues, range(len(dialogues)))
    predicted = net(x, lengths).argmax(-1)
    mask = y != _IGNORE
    return classification_report(y[mask].numpy(), predicted[mask].numpy(), labels)


def _fit(
    net: _Probe,
    data: dict,
    labels: tuple[str, ...],
    seed: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    epochs: int,
    patience: int,
) -> RunScores:
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best_f1, best_epoch, best_state = -1.0, 0, copy.deepcopy(net.state_dict())
    train = data["train"]
    for epoch in range(1, epochs + 1):
        net.train()
        order = rng.permutation(len(train))
        for start in range(0, len(order), batch_size):
            x, y, lengths = _batch(train, order[start : start + batch_size].tolist())
            loss = nn.functional.cross_entropy(
                net(x, lengths).flatten(0, 1), y.flatten(), ignore_index=_IGNORE
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        dev_f1 = _scores(net, data["dev"], labels)["weighted_f1"]
        if dev_f1 > best_f1:
            best_f1, best_epoch, best_state = dev_f1, epoch, copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= patience:
            break
    net.load_state_dict(best_state)
    test = _scores(net, data["test"], labels)
    return RunScores(seed, best_epoch, best_f1, *(float(test[m]) for m in METRICS))


def _speaker_one_hot(speakers: Sequence[str | None] | None, n: int, slots: int) -> np.ndarray:
    """(n, slots) float32: each utterance's speaker by order of first appearance in its
    dialogue, speakers past the last slot sharing it; all zero where the dialogue names none."""
    out = np.zeros((n, slots), np.float32)
    if speakers is None:
        return out
    seen: dict[str | None, int] = {}
    for t, speaker in enumerate(speakers):
        if speaker is not None:
            out[t, min(seen.setdefault(speaker, len(seen)), slots - 1)] = 1.0
    return out


def _check_dialogues(dialogues: Sequence[LabelledDialogue], source: str) -> None:
    if not dialogues:
        raise InputError("no dialogues", source)
    dim = None
    for i, d in enumerate(dialogues):
        x = np.asarray(d.features)
        where = f"dialogue {i}"
        if x.ndim != 2 or x.dtype.kind != "f" or x.shape[0] == 0 or x.shape[1] == 0:
            raise InputError(
                f"{where}: expected (n, D) float features with n, D >= 1, found "
                f"{x.dtype} {x.shape}",
                source,
            )
        if dim is not None and x.shape[1] != dim:
            raise InputError(
                f"{where}: {x.shape[1]} features per utterance, the first dialogue {dim}", source
            )
        dim = x.shape[1]
        if len(d.labels) != x.shape[0]:
            raise InputError(f"{where}: {len(d.labels)} labels for {x.shape[0]} utterances", source)
        if d.speakers is not None and len(d.speakers) != x.shape[0]:
            raise InputError(
                f"{where}: {len(d.speakers)} speakers for {x.shape[0]} utterances", source
            )
        if not np.isfinite(x).all():
            raise InputError(f"{where}: features hold NaN or infinity", source)


def _check_settings(
    hidden: int,
    dropout: float,
    lr: float,
    weight_decay: float,
    batch_size: int,
    epochs: int,
    patience: int,
    threads: int,
) -> None:
    for name, value in (
        ("hidden", hidden),
        ("batch_size", batch_size),
        ("epochs", epochs),
        ("patience", patience),
        ("threads", threads),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ArgumentError(f"{name} must be a whole number >= 1, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ArgumentError(f"dropout must be in [0, 1), got {dropout!r}")
    if not (lr > 0 and np.isfinite(lr)) or not (weight_decay >= 0 and np.isfinite(weight_decay)):
        raise ArgumentError(f"lr must be > 0 and weight_decay >= 0, got {lr!r}, {weight_decay!r}")
