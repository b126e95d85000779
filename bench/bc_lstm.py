"""Do the features help in context? The context probe on MELD (not a product command, not part
of the test suite).

    python bench/bc_lstm.py [--model DIR] [--data ../shared/data/meld] [--seeds 1,2,3,4,5]

A thin wrapper around `cnnfeat evaluate --context` (training/context.py: a bc-LSTM over each
dialogue's features and the same network without context, trained on MELD train, the best epoch
on dev kept, scored on test; 7 emotions). Beside its figures it prints the CNN's own
classification head, `metrics.test` of the model card (cnnfeat.json, measured by `cnnfeat train`;
the head is not in model.onnx), and each seed's runs; --out writes them as JSON. The probe's
settings can be changed here (--hidden, --dropout, ...) to see how much the figures depend on
them. Needs torch and scikit-learn (the `train` extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from cnnfeat.runtime.model_dir import load_model_dir
from cnnfeat.training.context import evaluate_dialogue_files

REPO = Path(__file__).resolve().parents[1]


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
    started = time.perf_counter()
    settings = {
        name: getattr(args, name)
        for name in (
            "epochs",
            "patience",
            "hidden",
            "dropout",
            "lr",
            "weight_decay",
            "batch_size",
            "threads",
        )
    }
    report = evaluate_dialogue_files(
        str(args.data / "train_sent_emo.csv"),
        str(args.data / "test_sent_emo.csv"),
        args.model,
        str(args.data / "dev_sent_emo.csv"),
        seeds=[int(s) for s in args.seeds.split(",")],
        device="cpu",
        progress=None,
        **settings,
    )
    head = (load_model_dir(args.model).card.get("metrics") or {}).get("test") or {}
    seconds = round(time.perf_counter() - started, 1)
    print(f"model {args.model}; {seconds} s")
    if head:
        print(f"CNN's own head (model card, utterance only): weighted-F1 {head['weighted_f1']:.4f}")
    print("\n".join(report.lines()))
    for name in ("utterance", "context"):
        each = " / ".join(f"{r.weighted_f1:.4f}" for r in getattr(report, name))
        print(f"{name}, weighted-F1 per seed: {each}")
    if args.out:
        result = {
            "model": str(args.model),
            "cnn_head_test_weighted_f1": head.get("weighted_f1"),
            **dataclasses.asdict(report),
            "seconds": seconds,
            "command": " ".join(["python", "bench/bc_lstm.py", *sys.argv[1:]]),
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
