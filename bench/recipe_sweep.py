"""The recipe search behind `cnnfeat train`'s defaults: every variant, its dev and test figures.

    python bench/recipe_sweep.py run --data ../shared/data --dataset meld-emotion \
        --variants base,multichannel --seeds 1 --runs runs/sweep
    python bench/recipe_sweep.py context --dataset meld-emotion --runs runs/sweep
    python bench/recipe_sweep.py table --runs runs/sweep

Each variant is a set of `cnnfeat train` flags on top of a base; each run is one `cnnfeat train`
process (its command is in its metrics.json). A run whose metrics.json exists is not redone.
Choices are made on dev weighted-F1 only; test is reported, never used to choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from cnnfeat.contract.layout import METRICS_FILE
from cnnfeat.runtime.writing import write_file

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
    "--feature-noise",
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
    # default (a no-op with --defaults); lr-1e-3+no-class-weights gives those defaults back.
    "lr-2e-3": ["--lr", "0.002"],
    "lr-5e-4": ["--lr", "0.0005"],
    "lr-2.5e-4": ["--lr", "0.00025"],
    "lr-1e-3": ["--lr", "0.001"],
    "dropout-0.3": ["--dropout", "0.3"],
    "batch-32": ["--batch-size", "32"],
    "vocab-0": ["--vocab-top-n", "0"],
    # The context screen: options that may trade head accuracy for features a context model
    # reads better (docs/results.md, "Judged in context").
    "no-class-weights": ["--no-class-weights"],
    "class-weights-1": ["--class-weights", "--class-weight-power", "1.0"],
    "class-weight-power-0.75": ["--class-weight-power", "0.75"],
    "dropout-0.7": ["--dropout", "0.7"],
    "no-ema": ["--ema-decay", "0"],
    "feature-noise-0.1": ["--feature-noise", "0.1"],
    "feature-noise-0.3": ["--feature-noise", "0.3"],
    "feature-noise-1": ["--feature-noise", "1.0"],
}
# With --defaults, a variant's flags go on top of `cnnfeat train`'s own defaults; "defaults"
# names the defaults themselves.
DEFAULTS_NAME = "defaults"

# name -> (train, dev, test under --data, label column or None for the corpus' default)
DATASETS: dict[str, tuple[str, str, str, str | None]] = {
    "meld-emotion": (
        "meld/train_sent_emo.csv",
        "meld/dev_sent_emo.csv",
        "meld/test_sent_emo.csv",
        None,
    ),
    "meld-sentiment": (
        "meld/train_sent_emo.csv",
        "meld/dev_sent_emo.csv",
        "meld/test_sent_emo.csv",
        "Sentiment",
    ),
    "emorynlp": (
        "emorynlp/emorynlp_train_final.csv",
        "emorynlp/emorynlp_dev_final.csv",
        "emorynlp/emorynlp_test_final.csv",
        None,
    ),
}
CONTEXT_FILE = "context.json"  # a run's context-probe figures, beside its metrics.json


def variant_flags(name: str) -> list[str]:
    """A variant is one name from VARIANTS or several joined by '+' (their flags combined)."""
    flags: list[str] = []
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; known: {', '.join(VARIANTS)}")
        flags += VARIANTS[part]
    return flags


def run(args: argparse.Namespace) -> None:
    train, dev, test, label = DATASETS[args.dataset]
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
                *(["--label-column", label] if label else []),
            ]
            if not args.defaults:
                command += BASE + variant_flags(variant)
            elif variant != DEFAULTS_NAME:
                command += variant_flags(variant)
            print(shlex.join(command), file=sys.stderr, flush=True)
            subprocess.run(command, check=True, env=os.environ)


def context(args: argparse.Namespace) -> None:
    """Export every run of --dataset that has no context.json yet and run the context probe on
    it twice, trained on train (a tenth of its dialogues held out for early stopping) and scored
    on dev (to choose) and on test (to report); the same probe seeds, so the same probe runs."""
    train, dev, test, label = DATASETS[args.dataset]
    seeds = [int(s) for s in args.probe_seeds.split(",")]
    wanted = set(args.variants.split(",")) if args.variants else None
    for metrics_path in sorted((args.runs / args.dataset).glob(f"*/seed-*/{METRICS_FILE}")):
        run_dir = metrics_path.parent
        if (run_dir / CONTEXT_FILE).is_file() or (wanted and run_dir.parent.name not in wanted):
            continue
        if not _claim(run_dir / f"{CONTEXT_FILE}.lock"):
            continue
        try:
            _probe_run(args, run_dir, train, dev, test, label, seeds)
        finally:
            (run_dir / f"{CONTEXT_FILE}.lock").unlink()


def _claim(lock: Path) -> bool:
    """Several `context` processes may share the runs, one run each: a run is theirs when they
    create its lock file, or when the process named in it is gone (killed before its cleanup)."""
    try:
        with lock.open("x") as handle:
            handle.write(str(os.getpid()))
        return True
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False  # its process is still probing it
        except (ProcessLookupError, ValueError, FileNotFoundError):
            lock.unlink(missing_ok=True)
            return _claim(lock)


def _probe_run(
    args: argparse.Namespace,
    run_dir: Path,
    train: str,
    dev: str,
    test: str,
    label: str | None,
    seeds: list[int],
) -> None:
    from cnnfeat.export.onnx_export import export_model
    from cnnfeat.runtime.corpora import Columns
    from cnnfeat.training.context import evaluate_dialogue_files

    model_dir = run_dir.with_name(f"{run_dir.name}-model")
    # Always exported again (seconds, against minutes of probing): an export left beside a run
    # that was later trained again would be probed in its place.
    export_model(run_dir, model_dir)
    result: dict = {"probe_seeds": seeds, "model": str(model_dir)}
    for split, path in (("dev", dev), ("test", test)):
        report = evaluate_dialogue_files(
            str(args.data / train),
            str(args.data / path),
            model_dir,
            seeds=seeds,
            columns=Columns.named(label=label),
            device="cpu",
        )
        result[split] = {
            name: [dataclasses.asdict(r) for r in getattr(report, name)]
            for name in ("utterance", "context")
        }
    write_file(run_dir / CONTEXT_FILE, (json.dumps(result, indent=2) + "\n").encode())  # whole
    print(f"{run_dir}: context dev {_mean_f1(result['dev']['context']):.2f}", flush=True)


def table(args: argparse.Namespace) -> None:
    """Head (the CNN's own classifier) and, where the run has a context.json, the context
    probe: weighted-F1 in %, mean ± std over training seeds (each seed's probe figure is its
    mean over the probe seeds); "gain" is context minus utterance-only probe."""
    print(
        "| data | variant | seeds | head dev | head test | head test macro-F1 | "
        "test F1 = 0 (any seed) | context dev | gain dev | context test | gain test |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset_dir in sorted(p for p in args.runs.iterdir() if p.is_dir()):
        for variant_dir in sorted(p for p in dataset_dir.iterdir() if p.is_dir()):
            dirs = sorted(m.parent for m in variant_dir.glob(f"*/{METRICS_FILE}"))
            if not dirs:
                continue
            try:
                row = _row(dirs)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{variant_dir}: a run's files are damaged ({type(exc).__name__}: {exc}); "
                    "remove that run or run it again"
                ) from None
            print(f"| {dataset_dir.name} | {variant_dir.name} | {row} |")


def _row(dirs: list[Path]) -> str:
    """One variant's cells from its runs' metrics.json and context.json."""
    runs = [json.loads((d / METRICS_FILE).read_text()) for d in dirs]
    probes = [
        json.loads((d / CONTEXT_FILE).read_text()) for d in dirs if (d / CONTEXT_FILE).is_file()
    ]
    cells = [
        _fmt([100 * r["dev"]["weighted_f1"] for r in runs]),
        _fmt([100 * r["test"]["weighted_f1"] for r in runs]),
        _fmt([100 * r["test"]["macro_f1"] for r in runs]),
        ", ".join(
            sorted({c for r in runs for c, v in r["test"]["per_class"].items() if v["f1"] == 0})
        )
        or "none",
    ]
    for split in ("dev", "test"):
        if len(probes) == len(runs):
            ctx = [_mean_f1(p[split]["context"]) for p in probes]
            alone = [_mean_f1(p[split]["utterance"]) for p in probes]
            cells += [_fmt(ctx), _fmt([c - u for c, u in zip(ctx, alone, strict=True)])]
        else:
            cells += ["", ""]
    seeds = ",".join(str(r["config"]["seed"]) for r in runs)
    return f"{seeds} | {' | '.join(cells)}"


def _mean_f1(scores: list[dict]) -> float:
    return 100 * statistics.fmean(s["weighted_f1"] for s in scores)


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="train each variant and seed (one `cnnfeat train` each)")
    r.add_argument("--data", type=Path, default=Path("../shared/data"), help="corpora folder")
    r.add_argument("--dataset", choices=DATASETS, default="meld-emotion")
    r.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated; '+' combines two (frozen+dropout-0.3); known: "
        + ", ".join(VARIANTS)
        + f"; with --defaults also {DEFAULTS_NAME!r}",
    )
    r.add_argument("--seeds", default="1", help="comma-separated training seeds")
    r.add_argument("--runs", type=Path, default=Path("runs/sweep"), help="where runs go")
    r.add_argument(
        "--defaults",
        action="store_true",
        help="variants on top of cnnfeat train's defaults, not the base",
    )
    c = sub.add_parser("context", help="the context probe on each trained run (dev and test)")
    c.add_argument("--data", type=Path, default=Path("../shared/data"))
    c.add_argument("--dataset", choices=DATASETS, default="meld-emotion")
    c.add_argument("--variants", default="", help="comma-separated (default: every one run)")
    c.add_argument("--probe-seeds", default="1,2,3")
    c.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    t = sub.add_parser("table", help="the Markdown table of every run under --runs")
    t.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    args = parser.parse_args()
    {"run": run, "context": context, "table": table}[args.what](args)


if __name__ == "__main__":
    main()
