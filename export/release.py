"""Build the shipped default model: train one config with several seeds, ship the median run.

    python -m cnnfeat.export.release --data ../shared/data/meld --out models/meld-glove6b50d

Each seed is trained with `cnnfeat train`'s own code path and metrics, exported, and its features
put through the context probe (`cnnfeat evaluate --context`: utterance-only and in context, MELD
test, early stopping on dev); the run whose MELD dev weighted-F1 is the median is copied to
--out, and its cnnfeat.json gains a `seeds` record (every seed's head and probe figures, their
mean ± std) and the command that rebuilds it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from cnnfeat.contract.errors import CnnfeatError
from cnnfeat.contract.layout import CARD_FILE, CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE
from cnnfeat.export.onnx_export import MODEL_FILES, check_out_dir, export_model
from cnnfeat.runtime.staging import check_replaceable, staged_directory
from cnnfeat.training.config import TrainConfig, seed_list, train_command
from cnnfeat.training.train import RUN_FILES, train

# The context probe's seeds for each released seed (training/context.py; three runs of each
# probe take about 80 s of CPU on MELD).
PROBE_SEEDS = (1, 2, 3)
MELD_FILES = ("train_sent_emo.csv", "dev_sent_emo.csv", "test_sent_emo.csv")


def release_config(data: Path, run_dir: Path, seed: int) -> TrainConfig:
    """The config of one seed: TrainConfig's defaults (the default model's recipe, chosen on dev
    of MELD emotion, MELD sentiment and EmoryNLP, by the context probe where it was screened;
    docs/training.md) on MELD's three splits."""
    train_file, dev_file, test_file = MELD_FILES
    config = TrainConfig(
        train=str(data / train_file),
        dev=str(data / dev_file),
        test=str(data / test_file),
        out=str(run_dir),
        seed=seed,
    )
    return replace(config, command=train_command(config))


def release(
    data: Path,
    out: Path,
    runs: Path,
    seeds: list[int],
    reuse: bool = False,
    probe_seeds: tuple[int, ...] = PROBE_SEEDS,
) -> dict:
    """Train every seed (or, with reuse, read runs already trained), run the context probe on
    each seed's features (RUNS/seed-N-model), and export the run with the median dev
    weighted-F1 to `out`. Every seed's head and probe figures (fractions) go to the card's
    `seeds` record."""
    from cnnfeat.training.context import evaluate_dialogue_files

    results = []
    for seed in seeds:
        run_dir = runs / f"seed-{seed}"
        config = release_config(data, run_dir, seed)
        metrics_path = run_dir / METRICS_FILE
        reused = reuse and metrics_path.is_file()
        if reused:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        else:
            metrics = train(config, progress=False)
        model_dir = runs / f"seed-{seed}-model"
        if not (reused and (model_dir / MODEL_FILE).is_file()):  # a fresh run, a fresh export
            export_model(run_dir, model_dir)
        probe = evaluate_dialogue_files(
            config.train, str(config.test), model_dir, str(config.dev), probe_seeds, device="cpu"
        )
        results.append(
            {
                "seed": seed,
                "run_dir": str(run_dir),
                "dev_weighted_f1": metrics["dev"]["weighted_f1"],
                "test_weighted_f1": metrics["test"]["weighted_f1"],
                "test_macro_f1": metrics["test"]["macro_f1"],
                "best_epoch": metrics["best_epoch"],
                "train_seconds": metrics["train_seconds"],
                "utterance_probe_test_weighted_f1": probe.mean("utterance"),
                "context_probe_test_weighted_f1": probe.mean("context"),
            }
        )
        print(json.dumps(results[-1]), file=sys.stderr)
    # The shipped seed is chosen on dev, like everything else; test is only reported.
    ranked = sorted(results, key=lambda r: r["dev_weighted_f1"])
    median = ranked[(len(ranked) - 1) // 2]
    summary: dict = {"runs": results, "shipped_seed": median["seed"], "probe_seeds": probe_seeds}
    for name in (
        "test_weighted_f1",
        "test_macro_f1",
        "utterance_probe_test_weighted_f1",
        "context_probe_test_weighted_f1",
    ):
        values = [r[name] for r in results]
        summary[f"{name}_mean"] = statistics.mean(values)
        summary[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    gains = [
        r["context_probe_test_weighted_f1"] - r["utterance_probe_test_weighted_f1"] for r in results
    ]
    summary["context_gain_mean"] = statistics.mean(gains)
    summary["context_gain_std"] = statistics.stdev(gains) if len(gains) > 1 else 0.0
    summary["reproduce"] = "python -m cnnfeat.export.release " + shlex.join(
        ["--data", str(data), "--out", str(out), "--seeds", ",".join(map(str, seeds))]
    )
    exported = runs / f"seed-{median['seed']}-model"
    card = json.loads((exported / CARD_FILE).read_text(encoding="utf-8"))
    card["seeds"] = summary
    # Every recipe flag written out: `cnnfeat train` records only the flags that differ from its
    # defaults, and those may change; this command rebuilds the shipped run whatever they are.
    card["training"]["command"] = release_config(
        data, Path(median["run_dir"]), median["seed"]
    ).command
    # The median seed's export, copied with its new card into --out in one swap: the model
    # and its card together or the old directory as it was (no second export, about 30 s).
    check_out_dir(Path(median["run_dir"]), out)
    with staged_directory(out, known=MODEL_FILES) as staging:
        for item in exported.iterdir():
            shutil.copy2(item, staging / item.name)
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/meld"),
        help="folder holding MELD's {train,dev,test}_sent_emo.csv (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("models/meld-glove6b50d"),
        help="model directory to write: the median seed's export (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("runs/release"),
        help="where each seed's training run goes, RUNS/seed-N (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        default="1,2,3,4,5",
        help="comma-separated seeds to train; the median dev weighted-F1 ships "
        "(default: %(default)s)",
    )
    parser.add_argument("--reuse", action="store_true", help="re-export from existing runs")
    args = parser.parse_args(argv)
    # Every mistake that would otherwise surface after minutes of training, checked first.
    try:
        seeds = seed_list(args.seeds)
        check_out_dir(args.runs / f"seed-{seeds[0]}", args.out)
    except CnnfeatError as exc:
        parser.error(str(exc))
    missing = [n for n in MELD_FILES if not (args.data / n).is_file()]
    if missing:
        parser.error(f"--data {args.data}: no {', '.join(missing)} (MELD's CSVs)")
    if args.runs.exists() and not args.runs.is_dir():
        parser.error(f"--runs {args.runs} is a file, not a folder")
    try:  # each seed's run and export, found now, not after the seeds before it have trained
        for seed in seeds:
            run_dir = args.runs / f"seed-{seed}"
            if not args.reuse:
                check_replaceable(run_dir, "cnnfeat run", CHECKPOINT_FILE, RUN_FILES)
            check_out_dir(run_dir, args.runs / f"seed-{seed}-model")
    except CnnfeatError as exc:
        parser.error(str(exc))
    try:
        summary = release(args.data, args.out, args.runs, seeds, reuse=args.reuse)
    except CnnfeatError as exc:
        sys.exit(f"release: error: {exc}")

    def figure(name: str) -> str:
        return f"{100 * summary[name + '_mean']:.2f} ± {100 * summary[name + '_std']:.2f}"

    print(
        f"MELD test over seeds {seeds}: head weighted-F1 {figure('test_weighted_f1')}, "
        f"macro-F1 {figure('test_macro_f1')}; context probe "
        f"{figure('context_probe_test_weighted_f1')}, utterance-only probe "
        f"{figure('utterance_probe_test_weighted_f1')}, gain {figure('context_gain')}; "
        f"shipped seed {summary['shipped_seed']} -> {args.out}"
    )


if __name__ == "__main__":
    main()
