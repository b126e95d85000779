"""The recipe search behind `cnnfeat train`'s defaults: every variant, its dev and test figures.

    python bench/recipe_sweep.py run --data ../shared/data --dataset meld-emotion \
        --variants base,multichannel --seeds 1 --runs runs/sweep
    python bench/recipe_sweep.py table --runs runs/sweep

Each variant is a set of `cnnfeat train` flags on top of a base; each run is one `cnnfeat train`
process (its command is in its metrics.json). A run whose metrics.json exists is not redone.
Choices are made on dev weighted-F1 only; test is reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from cnnfeat.contract.layout import METRICS_FILE

# The flags every variant starts from: explicit, so the sweep means the same whatever the
# defaults of `cnnfeat train` are (the previous shipped recipe, fine-tuned GloVe 6B 50d).
BASE = [
    "--vectors",
    "glove-6b-50d",
    "--pool",
    "global",
    "--epochs",
    "60",
    "--patience",
    "10",
    "--batch-size",
    "64",
    "--lr",
    "0.001",
    "--dropout",
    "0.5",
    "--fine-tune-embeddings",
    "--vocab-top-n",
    "30000",
    "--max-norm",
    "0",
    "--weight-decay",
    "0",
    "--lr-schedule",
    "constant",
    "--word-dropout",
    "0",
    "--label-smoothing",
    "0",
    "--ema-decay",
    "0",
    "--no-multichannel",
    "--no-class-weights",
]

VARIANTS: dict[str, list[str]] = {
    "base": [],
    "frozen": ["--no-fine-tune-embeddings"],
    "multichannel": ["--multichannel", "--no-fine-tune-embeddings"],
    "max-norm-3": ["--max-norm", "3"],
    "weight-decay-1e-2": ["--weight-decay", "0.01"],
    "lr-plateau": ["--lr-schedule", "plateau"],
    "word-dropout-0.1": ["--word-dropout", "0.1"],
    "label-smoothing-0.1": ["--label-smoothing", "0.1"],
    "vocab-60k": ["--vocab-top-n", "60000"],
    "ema-0.998": ["--ema-decay", "0.998"],
    "class-weights-0.5": ["--class-weights", "--class-weight-power", "0.5"],
    # Kim 2014's other knobs, screened on top of the defaults (`--defaults`). The second screen
    # ran them on the defaults of the time, whose lr was 1e-3; lr-5e-4 won and is now the
    # default (a no-op with --defaults), and lr-1e-3 gives the old defaults back.
    "lr-2e-3": ["--lr", "0.002"],
    "lr-5e-4": ["--lr", "0.0005"],
    "lr-1e-3": ["--lr", "0.001"],
    "dropout-0.3": ["--dropout", "0.3"],
    "batch-32": ["--batch-size", "32"],
    "vocab-0": ["--vocab-top-n", "0"],
}
# With --defaults, a variant's flags go on top of `cnnfeat train`'s own defaults; "defaults"
# names the defaults themselves.
DEFAULTS_NAME = "defaults"

DATASETS = {
    "meld-emotion": (
        "meld/train_sent_emo.csv",
        "meld/dev_sent_emo.csv",
        "meld/test_sent_emo.csv",
        [],
    ),
    "meld-sentiment": (
        "meld/train_sent_emo.csv",
        "meld/dev_sent_emo.csv",
        "meld/test_sent_emo.csv",
        ["--label-column", "Sentiment"],
    ),
    "emorynlp": (
        "emorynlp/emorynlp_train_final.csv",
        "emorynlp/emorynlp_dev_final.csv",
        "emorynlp/emorynlp_test_final.csv",
        [],
    ),
}


def variant_flags(name: str) -> list[str]:
    """A variant is one name from VARIANTS or several joined by '+' (their flags combined)."""
    flags: list[str] = []
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; known: {', '.join(VARIANTS)}")
        flags += VARIANTS[part]
    return flags


def run(args: argparse.Namespace) -> None:
    train, dev, test, extra = DATASETS[args.dataset]
    for variant in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            out = args.runs / args.dataset / variant / f"seed-{seed}"
            if (out / METRICS_FILE).is_file():
                continue
            command = [
                "cnnfeat",
                "train",
                "--train",
                str(args.data / train),
                "--dev",
                str(args.data / dev),
                "--test",
                str(args.data / test),
                "--out",
                str(out),
                "--seed",
                str(seed),
                "-q",
                *extra,
            ]
            if not args.defaults:
                command += BASE + variant_flags(variant)
            elif variant != DEFAULTS_NAME:
                command += variant_flags(variant)
            print(shlex.join(command), file=sys.stderr, flush=True)
            subprocess.run(command, check=True, env=os.environ)


def table(args: argparse.Namespace) -> None:
    print("| data | variant | seeds | dev w-F1 | test w-F1 | best epoch | train s |")
    print("|---|---|---|---|---|---|---|")
    for dataset_dir in sorted(p for p in args.runs.iterdir() if p.is_dir()):
        for variant_dir in sorted(p for p in dataset_dir.iterdir() if p.is_dir()):
            runs = [json.loads(m.read_text()) for m in sorted(variant_dir.glob("*/metrics.json"))]
            if not runs:
                continue
            dev = [100 * r["dev"]["weighted_f1"] for r in runs]
            test = [100 * r["test"]["weighted_f1"] for r in runs]
            seconds = "/".join(f"{r['train_seconds']:.0f}" for r in runs)
            print(
                f"| {dataset_dir.name} | {variant_dir.name} | "
                f"{','.join(str(r['config']['seed']) for r in runs)} | {_fmt(dev)} | "
                f"{_fmt(test)} | {'/'.join(str(r['best_epoch']) for r in runs)} | "
                f"{seconds} |"
            )


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", type=Path, default=Path("../shared/data"))
    r.add_argument("--dataset", choices=DATASETS, default="meld-emotion")
    r.add_argument("--variants", default=",".join(VARIANTS))
    r.add_argument("--seeds", default="1")
    r.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    r.add_argument(
        "--defaults",
        action="store_true",
        help="variants on top of cnnfeat train's defaults, not the base",
    )
    t = sub.add_parser("table")
    t.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    args = parser.parse_args()
    (run if args.what == "run" else table)(args)


if __name__ == "__main__":
    main()
