"""Benchmark input: utterances sampled (with replacement, seeded) from MELD and EmoryNLP.

The shared data never enters the repository; the sampled file is written wherever the caller
says (a temporary directory by default in throughput.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CSV_FILES = (
    "meld/train_sent_emo.csv",
    "meld/dev_sent_emo.csv",
    "meld/test_sent_emo.csv",
    "emorynlp/emorynlp_train_final.csv",
    "emorynlp/emorynlp_dev_final.csv",
    "emorynlp/emorynlp_test_final.csv",
)
JSON_FILES = ("emorynlp/emotion-detection-dev.json", "emorynlp/emotion-detection-tst.json")


def utterances(data: Path = DATA) -> list[str]:
    """Every utterance of the shared MELD/EmoryNLP files, one line each (inner whitespace
    runs, newlines included, become one space)."""
    if not data.is_dir():
        raise SystemExit(f"shared data not found at {data}")
    texts: list[str] = []
    for name in CSV_FILES:
        with open(data / name, encoding="utf-8", newline="") as handle:
            texts += [row["Utterance"] for row in csv.DictReader(handle)]
    for name in JSON_FILES:
        season = json.loads((data / name).read_text(encoding="utf-8"))
        for episode in season["episodes"]:
            for scene in episode["scenes"]:
                texts += [u["transcript"] for u in scene["utterances"]]
    return [" ".join(t.split()) for t in texts]


def write_corpus(path: Path, lines: int, seed: int = 0) -> Path:
    """A `lines`-line text file sampled from `utterances()`; reused when already there."""
    if path.is_file() and sum(1 for _ in open(path, "rb")) == lines:
        return path
    pool = utterances()
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for start in range(0, lines, 100_000):
            count = min(100_000, lines - start)
            handle.write("".join(t + "\n" for t in rng.choices(pool, k=count)))
    tmp.replace(path)
    return path


def write_distinct_corpus(path: Path, lines: int, seed: int = 0, pair_share: float = 0.5) -> Path:
    """A `lines`-line file of nearly all distinct lines: every distinct utterance once, in a
    seeded order, then random pairs of utterances joined by a space (a `pair_share` of the
    lines at least), so no cache of repeated lines can stand in for speed. Reused when there."""
    if path.is_file() and sum(1 for _ in open(path, "rb")) == lines:
        return path
    pool = sorted(set(utterances()))
    rng = random.Random(seed)
    rng.shuffle(pool)
    singles = pool[: max(0, min(len(pool), int(lines * (1 - pair_share))))]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(t + "\n" for t in singles))
        left = lines - len(singles)
        while left > 0:
            count = min(100_000, left)
            pairs = (f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(count))
            handle.write("".join(t + "\n" for t in pairs))
            left -= count
    tmp.replace(path)
    return path


def distinct_share(path: Path) -> float:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")[:-1]
    return len(set(lines)) / max(1, len(lines))


def tokenizer_bench_args(doc: str, lines: int, repeats: int, reference: bool = False):
    """The command line both tokenizer benchmarks take (MODEL_DIR, --lines, --repeats,
    --workdir; --reference with `reference`), parsed, and the distinct corpus's lines."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("model", type=Path)
    if reference:
        parser.add_argument("--reference", type=Path)
    parser.add_argument("--lines", type=int, default=lines)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cnnfeat-bench"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = write_distinct_corpus(args.workdir / f"distinct-{args.lines}.txt", args.lines)
    return args, path.read_text(encoding="utf-8").split("\n")[:-1]
