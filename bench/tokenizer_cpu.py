"""Tokenisation alone, in CPU time on one thread: a model's tokenizer.json against a reference.

    python bench/tokenizer_cpu.py MODEL_DIR [--reference TOKENIZER_JSON] [--lines N]

CPU seconds of `encode_batch_fast` (RAYON_NUM_THREADS=1, set here before `tokenizers` loads) in
the pipeline's 8,192-line chunks, interleaved runs, median of --repeats, on the nearly-all-distinct
lines of corpus.write_distinct_corpus. CPU time, not wall time: on a machine shared with other
work the ratio still means something. The reference defaults to the tokenizer.json shipped at
commit 8e8d869 (before issue 10), read from git. Both ids are compared on every line too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["RAYON_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import tokenizer_bench_args  # noqa: E402

from cnnfeat.contract.batching import CHUNK_SIZE

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from tokenizers import Tokenizer

    args, lines = tokenizer_bench_args(__doc__, 50_000, 5, reference=True)
    if args.reference is None:
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", "8e8d869:models/meld-glove6b50d/tokenizer.json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        reference = Tokenizer.from_str(text)
    else:
        reference = Tokenizer.from_file(str(args.reference))
    ours = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    seconds: dict[str, list[float]] = {"reference": [], "ours": []}
    for _ in range(args.repeats):
        for name, tokenizer in (("reference", reference), ("ours", ours)):
            started = time.process_time()
            for start in range(0, len(lines), CHUNK_SIZE):
                tokenizer.encode_batch_fast(
                    lines[start : start + CHUNK_SIZE], add_special_tokens=False
                )
            seconds[name].append(time.process_time() - started)
    per_line = {k: statistics.median(v) / len(lines) * 1e6 for k, v in seconds.items()}
    differ = sum(
        a.ids != b.ids
        for start in range(0, len(lines), CHUNK_SIZE)
        for a, b in zip(
            reference.encode_batch_fast(
                lines[start : start + CHUNK_SIZE], add_special_tokens=False
            ),
            ours.encode_batch_fast(lines[start : start + CHUNK_SIZE], add_special_tokens=False),
            strict=True,
        )
    )
    print(
        f"{len(lines):,} lines, {len(set(lines)) / len(lines):.1%} distinct; load "
        f"{os.getloadavg()[0]:.1f}; CPU µs per line (median of {args.repeats}): reference "
        f"{per_line['reference']:.1f}, ours {per_line['ours']:.1f}; "
        f"ratio {per_line['reference'] / per_line['ours']:.2f}; "
        f"ids differ on {differ} lines"
    )


if __name__ == "__main__":
    main()
