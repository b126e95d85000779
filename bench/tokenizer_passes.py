"""Where a tokenizer.json's time goes: CPU µs per line of each normaliser pass and the rest.

    python bench/tokenizer_passes.py MODEL_DIR [--lines N] [--repeats R]

Each row is the model's tokenizer.json cut down (no pre-tokenizer = the whole line is one
token) with one part added, timed like bench/tokenizer_cpu.py (encode_batch_fast, one rayon
thread, CPU time, 8,192-line chunks, interleaved repeats, the least of them) on its nearly-all-
distinct lines; "+µs" is the cost over the row "nothing". The pre-tokenizer rows run on lines
already normalised (so the pattern sees what it sees in the full tokenizer).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ["RAYON_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import tokenizer_bench_args  # noqa: E402

from cnnfeat.contract.batching import CHUNK_SIZE


def main() -> None:
    from tokenizers import Tokenizer

    args, lines = tokenizer_bench_args(__doc__, 30_000, 7)
    full = json.loads((args.model / "tokenizer.json").read_text(encoding="utf-8"))
    steps = full["normalizer"]["normalizers"] if full["normalizer"] else []

    def cut(normalizer: list | None, pre_tokenizer: dict | None) -> Tokenizer:
        config = dict(full, pre_tokenizer=pre_tokenizer)
        config["normalizer"] = (
            None if normalizer is None else {"type": "Sequence", "normalizers": normalizer}
        )
        return Tokenizer.from_str(json.dumps(config))

    normalizer = Tokenizer.from_str(json.dumps(full)).normalizer
    normalised = [normalizer.normalize_str(t) for t in lines]
    rows: list[tuple[str, Tokenizer, list[str]]] = [("nothing", cut(None, None), lines)]
    for i, step in enumerate(steps):
        what = step["type"]
        if what == "Replace":
            pattern = step["pattern"].get("Regex") or step["pattern"].get("String")
            shown = pattern if len(pattern) < 24 else f"{pattern[:20]}... ({len(pattern)} chars)"
            what += f" {shown!a} -> {step['content']!r}"
        rows.append((f"pass {i}: {what}", cut([step], None), lines))
    rows.append(("all passes", cut(steps, None), lines))
    rows.append(("nothing (normalised lines)", cut(None, None), normalised))
    rows.append(
        ("WhitespaceSplit (normalised lines)", cut(None, {"type": "WhitespaceSplit"}), normalised)
    )
    rows.append(
        ("the pre-tokenizer (normalised lines)", cut(None, full["pre_tokenizer"]), normalised)
    )
    rows.append(("the whole tokenizer", Tokenizer.from_str(json.dumps(full)), lines))
    seconds: list[list[float]] = [[] for _ in rows]
    for _ in range(args.repeats):
        for i, (_, tokenizer, texts) in enumerate(rows):
            started = time.process_time()
            for start in range(0, len(texts), CHUNK_SIZE):
                tokenizer.encode_batch_fast(
                    texts[start : start + CHUNK_SIZE], add_special_tokens=False
                )
            seconds[i].append(time.process_time() - started)
    per_line = [min(s) / len(lines) * 1e6 for s in seconds]
    print(
        f"{len(lines):,} lines; load {os.getloadavg()[0]:.1f}; CPU µs per line "
        f"(least of {args.repeats})"
    )
    for (name, _, texts), us in zip(rows, per_line, strict=True):
        base = per_line[0] if texts is lines else per_line[len(steps) + 2]
        print(f"  {us:6.2f}  +{us - base:5.2f}  {name}")


if __name__ == "__main__":
    main()
