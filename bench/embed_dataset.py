"""Rows per second of `cnnfeat embed-dataset` (a local Ray instance) against `cnnfeat embed`
of the same files in one process, in the same run (not part of the test suite).

    python bench/embed_dataset.py                         # 40,000 lines in 4 files
    python bench/embed_dataset.py --lines 200000 --load 4 # on a machine kept busy

Input: --lines lines sampled (seed 0) from the shared MELD/EmoryNLP utterances, written as
--files text files under --workdir. Each command runs as a subprocess of the installed
`cnnfeat` script, in turn, --repeats times; rows/s is rows / wall-clock seconds of the whole
command (for embed-dataset that includes starting Ray and its workers, which its own summary
line leaves out; that line is printed too). `--load N` runs N busy loops (`while True: pass`)
throughout, as other people's work on a shared machine; they are killed at the end. The load
average and the core count are printed: numbers taken on different machines or loads are not
comparable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import write_corpus  # noqa: E402

CNNFEAT = Path(sys.executable).with_name("cnnfeat")


def run(args: list[str]) -> tuple[float, str]:
    """(wall seconds, stderr) of one command; a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return seconds, done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--load", type=int, default=0, help="busy loops to run meanwhile")
    parser.add_argument("--workers", type=int, help="embed-dataset --workers (default: its own)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cnnfeat-bench-ed"
    )
    args = parser.parse_args()

    corpus = write_corpus(args.workdir / f"all-{args.lines}.txt", args.lines)
    folder = args.workdir / f"files-{args.lines}-{args.files}"
    if not folder.is_dir():
        lines = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
        part = -(-len(lines) // args.files)
        folder.mkdir(parents=True)
        for i in range(args.files):
            (folder / f"part-{i}.txt").write_text(
                "".join(lines[i * part : (i + 1) * part]), encoding="utf-8", newline=""
            )
    files = sorted(folder.glob("*.txt"))
    workers = ["--workers", str(args.workers)] if args.workers else []

    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    times: dict[str, list[float]] = {"embed": [], "embed-dataset": []}
    try:
        time.sleep(2 if loops else 0)
        for _ in range(args.repeats):
            out = args.workdir / "out"
            shutil.rmtree(out, ignore_errors=True)
            seconds, summary = run(
                [str(CNNFEAT), "embed-dataset", str(folder), "-o", str(out), *workers]
            )
            times["embed-dataset"].append(seconds)
            print(f"embed-dataset: {seconds:.1f} s; its summary: {summary.splitlines()[-1]}")
            shutil.rmtree(out, ignore_errors=True)
            seconds = 0.0
            for path in files:
                took, _ = run([str(CNNFEAT), "embed", str(path), "-o", str(out) + ".npy", "-q"])
                seconds += took
            times["embed"].append(seconds)
            print(f"embed, one file after another: {seconds:.1f} s")
            Path(str(out) + ".npy").unlink(missing_ok=True)
        load = os.getloadavg()[0]
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    print(
        f"\n{args.lines} lines in {len(files)} files; {os.cpu_count()} cores; {args.load} busy "
        f"loops; load average (1 min) at the end {load:.1f}"
    )
    for name, seconds in times.items():
        best = statistics.median(seconds)
        print(
            f"{name:>14}: {args.lines / best:8,.0f} rows/s  ({best:.1f} s, median of "
            f"{len(seconds)})"
        )


if __name__ == "__main__":
    main()
