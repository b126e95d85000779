"""Early stopping on the context probe: keep the epoch whose features a context model reads best.

    python bench/context_stopping.py --data ../shared/data --dataset meld-emotion --seeds 1 \
        --runs runs/sweep
    python bench/recipe_sweep.py context --dataset meld-emotion --runs runs/sweep

Trains `cnnfeat train`'s defaults, but after each epoch runs the context probe (one probe seed)
on the features of that epoch's weights: trained on the training dialogues, scored on the dev
file; that score, not the head's dev weighted-F1, keeps the best epoch and stops the run. The
runs land beside recipe_sweep.py's as the variant "keep-by-context", so its `context` and
`table` subcommands judge them like any other. The dev file both chooses the epoch and scores
the variant in the table, as the head's own dev weighted-F1 does for every other run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from recipe_sweep import DATASETS

from cnnfeat.contract.layout import METRICS_FILE
from cnnfeat.runtime.corpora import Columns, corpus_format, read_utterances
from cnnfeat.runtime.dialogues import group_dialogues
from cnnfeat.training.config import TrainConfig
from cnnfeat.training.context import LabelledDialogue, context_probe
from cnnfeat.training.train import train

VARIANT = "keep-by-context"


def context_judge(
    train_path: Path, dev_path: Path, label: str | None, probe_seed: int
) -> Callable[[Callable[[Sequence[str]], np.ndarray]], float]:
    """A `train(judge=...)` judge: the context probe's dev weighted-F1 (a fraction) on the
    features the epoch's weights give, as `cnnfeat evaluate --context` reads the files."""
    columns = Columns.named(label=label)
    read = {}
    for split, path in (("train", train_path), ("dev", dev_path)):
        utterances = read_utterances(str(path), corpus_format(str(path), None), None, columns)
        read[split] = (utterances, group_dialogues(utterances, str(path)))

    def judge(embed: Callable[[Sequence[str]], np.ndarray]) -> float:
        sets = {}
        for split, (utterances, dialogues) in read.items():
            x = embed([u.text for u in utterances])
            sets[split] = [
                LabelledDialogue(
                    x[d.rows],
                    [u.label or "" for u in d.utterances],
                    [u.speaker for u in d.utterances],
                )
                for d in dialogues
            ]
        report = context_probe(sets["train"], sets["dev"], None, (probe_seed,))
        return report.context[0].weighted_f1

    return judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dataset", choices=DATASETS, default="meld-emotion")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--probe-seed", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    args = parser.parse_args()
    train_file, dev_file, test_file, label = DATASETS[args.dataset]
    judge = context_judge(args.data / train_file, args.data / dev_file, label, args.probe_seed)
    for seed in (int(s) for s in args.seeds.split(",")):
        out = args.runs / args.dataset / VARIANT / f"seed-{seed}"
        if (out / METRICS_FILE).is_file():
            continue
        command = shlex.join(["python", *sys.argv])
        print(command, f"# seed {seed}", file=sys.stderr, flush=True)
        config = TrainConfig(
            train=str(args.data / train_file),
            dev=str(args.data / dev_file),
            test=str(args.data / test_file),
            out=str(out),
            seed=seed,
            label_column=label,
            command=command,
        )
        metrics = train(config, progress=False, judge=judge)
        kept = metrics["history"][metrics["best_epoch"] - 1]
        print(f"{out}: epoch {metrics['best_epoch']}, judge {kept['judge']:.4f}", flush=True)


if __name__ == "__main__":
    main()
