"""Do the features help in context? bc-LSTM on MELD's per-dialogue sequences (not a product
command, not part of the test suite).

    python bench/bc_lstm.py [--model DIR] [--data ../shared/data/meld] [--seeds 1,2,3,4,5]

The features of a model (default: the shipped one) for MELD train/dev/test, one ordered
sequence per dialogue (`runtime/dialogues.py`, as `cnnfeat embed --dialogues` writes them), then
test weighted-F1 (7 emotions) of:
- the CNN's own classification head: `metrics.test` of the model card (cnnfeat.json), measured
  by `cnnfeat train` (the head is not in model.onnx);
- a linear probe: `cnnfeat evaluate`'s logistic regression, fitted on train;
- utterance MLP: the bc-LSTM recipe below with the LSTM replaced by a per-utterance layer
  (same width, dropout, optimiser, epochs, selection): the no-context control;
- bc-LSTM (Poria et al., ACL 2017, "Context-dependent sentiment analysis in user-generated
  videos"): a bidirectional LSTM over each dialogue's utterance features, a dense softmax layer
  per utterance; masked cross-entropy, Adam, the epoch with the best dev weighted-F1 is kept
  (patience --patience), its test weighted-F1 is reported; --seeds runs, mean and sample std.
Runs on the CPU in a minute or two; torch and scikit-learn needed (the `train` extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn

from cnnfeat.runtime.corpora import read_utterances
from cnnfeat.runtime.dialogues import embed_texts, group_dialogues
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.training.probe import linear_probe

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def load_split(embedder: Embedder, path: Path, labels: list[str]):
    """[(features (n, D) float32, label ids (n,) int64)] per dialogue, dialogues in file order."""
    utterances = read_utterances(str(path))
    features = embed_texts(embedder, [u.text for u in utterances])
    out = []
    for dialogue in group_dialogues(utterances, str(path)):
        y = np.array([labels.index(u.label) for u in dialogue.utterances], np.int64)
        out.append((features[dialogue.rows], y))
    return out


class ContextModel(nn.Module):
    """bc-LSTM (context=True) or its per-utterance control (context=False)."""

    def __init__(self, dim: int, hidden: int, classes: int, dropout: float, context: bool):
        super().__init__()
        self.context = context
        self.drop = nn.Dropout(dropout)
        if context:
            self.encoder = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        else:
            self.encoder = nn.Sequential(nn.Linear(dim, 2 * hidden), nn.Tanh())
        self.dense = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
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


def batch(dialogues, indices):
    longest = max(len(dialogues[i][1]) for i in indices)
    dim = dialogues[indices[0]][0].shape[1]
    x = np.zeros((len(indices), longest, dim), np.float32)
    y = np.full((len(indices), longest), -100, np.int64)  # ignored by cross_entropy
    for row, i in enumerate(indices):
        n = len(dialogues[i][1])
        x[row, :n], y[row, :n] = dialogues[i]
    lengths = torch.tensor([len(dialogues[i][1]) for i in indices])
    return torch.from_numpy(x), torch.from_numpy(y), lengths


def predict(model: ContextModel, dialogues) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    with torch.no_grad():
        x, y, lengths = batch(dialogues, list(range(len(dialogues))))
        predicted = model(x, lengths).argmax(-1)
    mask = y != -100
    return y[mask].numpy(), predicted[mask].numpy()


def weighted_f1(model: ContextModel, dialogues) -> float:
    true, predicted = predict(model, dialogues)
    return float(f1_score(true, predicted, average="weighted", zero_division=0))


def train_context(data, classes: int, seed: int, context: bool, args) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dim = data["train"][0][0].shape[1]
    model = ContextModel(dim, args.hidden, classes, args.dropout, context)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    best = {"dev": -1.0, "test": 0.0, "epoch": 0}
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(data["train"]))
        for start in range(0, len(order), args.batch_size):
            x, y, lengths = batch(data["train"], order[start : start + args.batch_size].tolist())
            loss = nn.functional.cross_entropy(model(x, lengths).flatten(0, 1), y.flatten())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        dev = weighted_f1(model, data["dev"])
        if dev > best["dev"]:
            best = {"dev": dev, "test": weighted_f1(model, data["test"]), "epoch": epoch}
        elif epoch - best["epoch"] >= args.patience:
            break
    return best


def summary(values: list[float]) -> str:
    mean = 100 * statistics.mean(values)
    std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "meld-glove6b50d")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "meld")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-5)
    parser.add_argument("--batch-size", type=int, default=32, help="dialogues per batch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    embedder = Embedder(args.model, device="cpu", threads=1)
    card = embedder.model_dir.card
    labels = list(embedder.spec.label_names)
    data = {split: load_split(embedder, args.data / name, labels) for split, name in SPLITS.items()}

    def flat(split: str):
        return (np.concatenate([x for x, _ in data[split]]),
                [labels[i] for _, y in data[split] for i in y])  # fmt: skip

    probe = linear_probe(*flat("train"), *flat("test"))
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {name: [train_context(data, len(labels), s, context, args) for s in seeds]
            for name, context in (("utterance MLP", False), ("bc-LSTM", True))}  # fmt: skip
    head = (card.get("metrics") or {}).get("test") or {}
    result = {
        "model": str(args.model),
        "dialogues": {split: len(d) for split, d in data.items()},
        "cnn_head_test_weighted_f1": head.get("weighted_f1"),
        "linear_probe_test_weighted_f1": probe.weighted_f1,
        "runs": {
            name: [{"seed": s, **r} for s, r in zip(seeds, rs, strict=True)]
            for name, rs in runs.items()
        },  # fmt: skip
        "seconds": round(time.perf_counter() - started, 1),
        "command": " ".join(["python", "bench/bc_lstm.py", *sys.argv[1:]]),
    }
    print(f"model {args.model}; MELD dialogues {result['dialogues']}; {result['seconds']} s")
    print("| MELD test, 7 emotions | weighted-F1 |\n|---|---|")
    if head:
        print(f"| CNN's own head (model card, utterance only) | {100 * head['weighted_f1']:.2f} |")
    print(f"| linear probe (utterance only) | {100 * probe.weighted_f1:.2f} |")
    for name, rs in runs.items():
        tests = [r["test"] for r in rs]
        each = " / ".join(f"{100 * t:.2f}" for t in tests)
        print(f"| {name}, {len(seeds)} seeds (mean ± std) | {summary(tests)} ({each}) |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
