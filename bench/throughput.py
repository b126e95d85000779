"""Throughput benchmark for `cnnfeat embed` (not part of the test suite).

    python bench/throughput.py                  # shipped D=50 model and a D=300 model
    python bench/throughput.py --lines 200000 --repeats 1 --no-d300   # a quick look

For each model, on the same input file (sampled from MELD/EmoryNLP, written to --workdir):
  (a) `cnnfeat embed FILE -o OUT.npy` end to end, as a subprocess (its own peak RSS), for the
      full file and for its first --small-lines lines;
  (b) a PyTorch eager baseline: read the file, then per 256 lines in file order tokenise (same
      tokenizer), pad to the batch's longest line, `UtteranceCNN.features`, save .npy; the time
      inside `features` alone is reported too;
  (c) tokenisation alone: `Tokenizer.encode_batch` (and `encode_batch_fast`) over the same
      lines, held in memory, in the pipeline's chunks;
  (d) the compute bound: a measured float32 matmul rate / the network's FLOPs per utterance;
and a check that the output equals embedding the same lines one at a time (a sample).
`--graphs` adds the graph trade-off table (conv / matmul / table: FLOPs, table memory, session
start, RSS, inference-only utt/s). Medians of --repeats runs. The load average is printed:
numbers taken while other work runs on the machine are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import distinct_share, write_corpus, write_distinct_corpus  # noqa: E402

from cnnfeat.contract.batching import CHUNK_SIZE
from cnnfeat.contract.layout import CHECKPOINT_FILE

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "meld-glove6b50d"
MELD = REPO.parent / "shared" / "data" / "meld"
CHUNK = CHUNK_SIZE  # the pipeline's chunk
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None


# --- running things -------------------------------------------------------------------------


def run_measured(args: list[str]) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MiB, stdout, stderr) of a subprocess.

    The peak comes from GNU time when it is installed: a child forked from this (large)
    process would otherwise report this process's resident size in its own ru_maxrss, which
    Linux carries across fork and exec.
    """
    with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        with tempfile.NamedTemporaryFile("r") as peak:
            timed = [GNU_TIME, "-f", "%M", "-o", peak.name, *args] if GNU_TIME else args
            started = time.perf_counter()
            child = subprocess.Popen(timed, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            code = os.waitstatus_to_exitcode(status)
            kib = int(peak.read().split()[-1]) if GNU_TIME and code == 0 else usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{stderr[-2000:]}")
    return wall, kib / 1024, stdout, stderr


def worker(*args: str) -> dict:
    """A measurement in a fresh interpreter: its JSON result, with the peak RSS of its process."""
    wall, rss, out, _ = run_measured([sys.executable, __file__, "worker", *args])
    result = json.loads(out.strip().splitlines()[-1])
    result.update(process_seconds=wall, peak_rss_mib=rss)
    return result


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def cnnfeat(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnnfeat", *args]


# --- workers (run in their own process) -----------------------------------------------------


def read_lines(path: str, limit: int | None) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[:limit] if limit else lines


def worker_torch(run_dir: str, path: str, limit: int, out: str) -> dict:
    """The researchers' loop: file order, batch 256, padded to each batch's longest line."""
    import torch
    from tokenizers import Tokenizer

    from cnnfeat.contract.batching import pad_batch
    from cnnfeat.training.train import load_checkpoint

    model, _ = load_checkpoint(run_dir)
    spec = model.spec
    tokenizer = Tokenizer.from_file(str(Path(run_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_len)
    started = time.perf_counter()
    lines = read_lines(path, limit)
    features, in_model, tokens = [], 0.0, 0
    with torch.no_grad():
        for start in range(0, len(lines), 256):
            ids = [e.ids for e in tokenizer.encode_batch(lines[start : start + 256])]
            batch = torch.from_numpy(pad_batch(ids, spec))
            tokens += batch.numel()
            t = time.perf_counter()
            features.append(model.features(batch).numpy())
            in_model += time.perf_counter() - t
    np.save(out, np.concatenate(features))
    seconds = time.perf_counter() - started
    return {
        "rows": len(lines),
        "seconds": seconds,
        "model_seconds": in_model,
        "padded_tokens": tokens,
        "threads": torch.get_num_threads(),
        "peak_rss_mib": peak_rss_mib(),
    }


def worker_tokenize(model_dir: str, path: str, limit: int, tokenizer_file: str = "") -> dict:
    """Tokenisation alone; `tokenizer_file` (e.g. the reference tokenizer.json) instead of the
    model directory's own, with the model's truncation."""
    from tokenizers import Tokenizer

    from cnnfeat.runtime.model_dir import load_model_dir

    spec = load_model_dir(model_dir).spec
    tokenizer = Tokenizer.from_file(tokenizer_file or str(Path(model_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_len)
    lines = read_lines(path, limit)
    result = {"rows": len(lines)}
    for name in ("encode_batch", "encode_batch_fast"):
        encode = getattr(tokenizer, name)
        started, cpu = time.perf_counter(), time.process_time()
        count = 0
        for start in range(0, len(lines), CHUNK):
            count += len(encode(lines[start : start + CHUNK], add_special_tokens=False))
        result[name] = time.perf_counter() - started
        # CPU seconds of all the process's threads: less sensitive to other load than wall time
        result[f"cpu_{name}"] = time.process_time() - cpu
    lengths = [len(e.ids) for e in tokenizer.encode_batch_fast(lines[:100_000], False)]
    result["mean_tokens"] = float(np.mean(lengths))
    result["mean_padded_steps"] = float(np.mean(np.maximum(lengths, spec.min_len)))
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def worker_matmul() -> dict:
    """Best float32 GEMM rate (GFLOP/s) over a square and a conv-as-matmul shape."""
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in ((2048, 2048, 2048), (16384, 1500, 150), (16384, 250, 150)):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        started = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - started) / 1e9)
    return {"gflops": best, "peak_rss_mib": peak_rss_mib()}


def worker_infer(model_dir: str, path: str, limit: int, threads: int) -> dict:
    """Inference alone (already tokenised, the runtime's batching) and session memory."""
    from cnnfeat.contract.batching import TokenRows
    from cnnfeat.runtime.embedder import Embedder

    before = _rss_now()
    started = time.perf_counter()
    embedder = Embedder(model_dir, device="cpu", threads=threads or None)
    start_seconds = time.perf_counter() - started
    session_mib = _rss_now() - before
    tokens = TokenRows.from_lists(embedder.tokenize(read_lines(path, limit)))
    embedder.embed_tokens(tokens)  # warm-up: arena, prepacking
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed_tokens(tokens)
        best = min(best, time.perf_counter() - started)
    return {
        "rows": len(tokens),
        "seconds": best,
        "session_start": start_seconds,
        "session_mib": session_mib,
        "peak_rss_mib": peak_rss_mib(),
    }


def _rss_now() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


WORKERS = {
    "torch": worker_torch,
    "tokenize": worker_tokenize,
    "matmul": worker_matmul,
    "infer": worker_infer,
}


# --- models ---------------------------------------------------------------------------------


def d50_model(args, work: Path) -> tuple[Path, Path]:
    """(model dir, run dir): the shipped model and its run, else a 2-epoch MELD model."""
    model, run = args.d50_model, args.d50_run
    if model is None and (SHIPPED / "model.onnx").is_file():
        model = SHIPPED
    if model is not None and run is None:
        card = json.loads((Path(model) / "cnnfeat.json").read_text())
        out = ((card.get("training") or {}).get("config") or {}).get("out")
        for candidate in (Path(out) if out else None, REPO / out if out else None):
            if candidate is not None and (candidate / CHECKPOINT_FILE).is_file():
                run = candidate
                break
    if model is not None and run is not None:
        return Path(model), Path(run)
    print("no shipped model with its run directory: training a 2-epoch MELD model", flush=True)
    return train_and_export(work / "d50-run", work / "d50-model", ["--epochs", "2"])


def d300_model(work: Path, d50: Path) -> tuple[Path, Path]:
    """A D=300 model on random 300-d vectors for the D=50 model's words (the paper's width)."""
    vectors = work / "random-300d.txt"
    if not vectors.is_file():
        vocab = json.loads((d50 / "tokenizer.json").read_text())["model"]["vocab"]
        words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if w[0] != "["]
        rng = np.random.default_rng(0)
        with open(vectors, "w", encoding="utf-8") as handle:
            for word in words:
                row = rng.uniform(-0.5, 0.5, 300).astype(np.float32)
                handle.write(word + " " + " ".join(f"{x:.5f}" for x in row) + "\n")
    extra = ["--epochs", "1", "--vectors", str(vectors)]
    return train_and_export(work / "d300-run", work / "d300-model", extra)


def train_and_export(run: Path, model: Path, extra: list[str]) -> tuple[Path, Path]:
    if not (model / "model.onnx").is_file():
        if not (run / CHECKPOINT_FILE).is_file():
            subprocess.run(
                cnnfeat(
                    "train",
                    "--train",
                    str(MELD / "train_sent_emo.csv"),
                    "--dev",
                    str(MELD / "dev_sent_emo.csv"),
                    "--out",
                    str(run),
                    "-q",
                    *extra,
                ),
                check=True,
            )
        subprocess.run(cnnfeat("export", str(run), "--out", str(model)), check=True)
    return model, run


# --- the benchmark --------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_model(name: str, model: Path, run: Path, big: Path, small: Path, args, work: Path):
    from cnnfeat.runtime.model_dir import load_model_dir

    spec = load_model_dir(model).spec
    card = json.loads((model / "cnnfeat.json").read_text())
    graph = (card.get("export") or {}).get("graph", "conv")
    print(
        f"\n== {name}: {model} (D={spec.embedding_dim}, V={spec.vocab_size}, graph {graph}); "
        f"load {load()}",
        flush=True,
    )
    out = work / f"{name}.npy"
    e2e, e2e_rss, small_rss, small_rate, inner = [], [], [], [], []
    for _ in range(args.repeats):
        embed = cnnfeat(
            "embed",
            str(big),
            "-o",
            str(out),
            "--model",
            str(model),
            "--device",
            "cpu",
            *args.embed_args,
        )
        wall, rss, _, err = run_measured(embed)
        e2e.append(args.lines / wall)
        e2e_rss.append(rss)
        inner.append(_summary_rate(err))
        small_out = str(work / f"{name}-small.npy")
        embed_small = cnnfeat(
            "embed",
            str(small),
            "-o",
            small_out,
            "--model",
            str(model),
            "--device",
            "cpu",
            *args.embed_args,
        )
        wall, rss, _, _ = run_measured(embed_small)
        small_rss.append(rss)
        small_rate.append(args.small_lines / wall)
    print(
        f"  (a) cnnfeat embed: {median(e2e):,.0f} utt/s process wall "
        f"(runs: {', '.join(f'{r:,.0f}' for r in e2e)}); peak RSS {median(e2e_rss):.0f} MiB; "
        f"{args.small_lines:,} lines: {median(small_rss):.0f} MiB",
        flush=True,
    )

    base = [
        worker(
            "torch", str(run), str(big), str(args.baseline_lines), str(work / f"{name}-torch.npy")
        )
        for _ in range(args.repeats)
    ]
    base_rate = median([b["rows"] / b["seconds"] for b in base])
    base_model = median([b["rows"] / b["model_seconds"] for b in base])
    base_rss = median([b["peak_rss_mib"] for b in base])
    pad_waste = base[0]["padded_tokens"] / base[0]["rows"]
    print(
        f"  (b) PyTorch eager: {base_rate:,.0f} utt/s end to end, {base_model:,.0f} utt/s "
        f"inside features() ({base[0]['threads']} threads, {pad_waste:.1f} padded steps/utt, "
        f"first {base[0]['rows']:,} lines); peak RSS {base_rss:.0f} MiB",
        flush=True,
    )

    tok, ref = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same load
        tok.append(worker("tokenize", str(model), str(big), "0"))
        if args.reference_tokenizer:
            ref.append(worker("tokenize", str(model), str(big), "0", str(args.reference_tokenizer)))
    tok_rate = median([t["rows"] / t["encode_batch"] for t in tok])
    tok_fast = median([t["rows"] / t["encode_batch_fast"] for t in tok])
    print(
        f"  (c) tokenisation alone: encode_batch {tok_rate:,.0f} utt/s, encode_batch_fast "
        f"{tok_fast:,.0f} utt/s; peak RSS {median([t['peak_rss_mib'] for t in tok]):.0f} MiB "
        f"(lines in memory)",
        flush=True,
    )
    ref_ratio = {}
    if ref:
        for method in ("encode_batch", "encode_batch_fast"):
            rate = median([t["rows"] / t[method] for t in ref])
            ref_ratio[f"tokenize/reference({method})"] = (
                tok_rate if method == "encode_batch" else tok_fast
            ) / rate
            cpu = median([t[f"cpu_{method}"] for t in ref]) / median(
                [t[f"cpu_{method}"] for t in tok]
            )
            ref_ratio[f"tokenize/reference(cpu {method})"] = cpu
            print(
                f"      reference {args.reference_tokenizer}: {method} {rate:,.0f} utt/s; "
                f"CPU seconds reference / ours {cpu:.2f}",
                flush=True,
            )

    gflops = median([worker("matmul")["gflops"] for _ in range(args.repeats)])
    steps = tok[0]["mean_padded_steps"]
    maps = spec.feature_maps
    flops = steps * 2 * sum(spec.filter_sizes) * spec.embedding_dim * maps + 2 * (
        spec.pooled_dim * spec.feature_dim
    )
    print(
        f"  (d) compute bound: {gflops:.0f} GFLOP/s matmul / {flops / 1e6:.2f} MFLOP per "
        f"utterance ({tok[0]['mean_tokens']:.1f} tokens, {steps:.1f} steps) = "
        f"{gflops * 1e9 / flops:,.0f} utt/s",
        flush=True,
    )

    diff = check_one_at_a_time(model, big, out, args.check_rows)
    ratios = {
        "e2e/pytorch": median(e2e) / base_rate,
        "e2e/tokenize(encode_batch)": median(e2e) / tok_rate,
        "e2e/tokenize(encode_batch_fast)": median(e2e) / tok_fast,
        "rss(1M)/rss(10k)": median(e2e_rss) / median(small_rss),
        **ref_ratio,
    }
    print(f"  in-process rate (the summary line, model loaded): {median(inner):,.0f} utt/s")
    print(f"  output vs one line at a time ({args.check_rows} rows): max |diff| = {diff:.2g}")
    print("  ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"  load after: {load()}", flush=True)
    return {
        "name": name,
        "spec": spec,
        "graph": graph,
        "e2e": median(e2e),
        "e2e_runs": e2e,
        "e2e_rss": median(e2e_rss),
        "small_rss": median(small_rss),
        "small_rate": median(small_rate),
        "inner": median(inner),
        "torch": base_rate,
        "torch_model": base_model,
        "torch_rss": base_rss,
        "tok": tok_rate,
        "tok_fast": tok_fast,
        "tok_rss": median([t["peak_rss_mib"] for t in tok]),
        "gflops": gflops,
        "flops": flops,
        "diff": diff,
        "ratios": ratios,
    }


def e2e_only(model: Path, big: Path, args, work: Path) -> None:
    """(a) alone for another model directory, e.g. one exported with the plain "conv" graph."""
    card = json.loads((model / "cnnfeat.json").read_text())
    graph = (card.get("export") or {}).get("graph", "conv")
    rates, rss = [], []
    for _ in range(args.repeats):
        wall, peak, _, _ = run_measured(
            cnnfeat(
                "embed",
                str(big),
                "-o",
                str(work / "cmp.npy"),
                "--model",
                str(model),
                "--device",
                "cpu",
                *args.embed_args,
            )
        )
        rates.append(args.lines / wall)
        rss.append(peak)
    print(
        f"\n== {model} (graph {graph}): cnnfeat embed {median(rates):,.0f} utt/s process wall "
        f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); peak RSS {median(rss):.0f} MiB; "
        f"load {load()}",
        flush=True,
    )


def _summary_rate(stderr: str) -> float:
    """utt/s from the embed command's summary line (time inside embed_file, model loaded)."""
    match = re.search(r"embedded (\d+) rows in ([0-9.]+) s", stderr)
    return int(match.group(1)) / float(match.group(2)) if match else float("nan")


def check_one_at_a_time(model: Path, big: Path, out: Path, rows: int) -> float:
    from cnnfeat.runtime.embedder import Embedder

    features = np.load(out, mmap_mode="r")
    lines = read_lines(str(big), None)
    assert len(lines) == len(features), (len(lines), len(features))
    embedder = Embedder(model, device="cpu")
    picks = np.random.default_rng(1).choice(len(lines), size=rows, replace=False)
    alone = np.stack([embedder.embed([lines[i]])[0] for i in picks])
    return float(np.abs(alone - features[np.sort(picks)][np.argsort(np.argsort(picks))]).max())


def graph_table(name: str, run: Path, big: Path, work: Path, lines: int) -> list[dict]:
    """conv / matmul / table exported from the same run: costs and inference-only speed."""
    from cnnfeat.export.fast_graph import flops_per_token, table_bytes
    from cnnfeat.runtime.model_dir import load_model_dir

    rows = []
    for graph in ("conv", "matmul", "table"):
        model = work / f"{name}-{graph}"
        if not (model / "model.onnx").is_file():
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from cnnfeat.export.onnx_export "
                    "import export_model; export_model(sys.argv[1], sys.argv[2], "
                    "graph=sys.argv[3])",
                    str(run),
                    str(model),
                    graph,
                ],
                check=True,
            )
        spec = load_model_dir(model).spec
        for threads in (1, 2):
            r = worker("infer", str(model), str(big), str(lines), str(threads))
            rows.append(
                {
                    "graph": graph,
                    "threads": threads,
                    "rate": r["rows"] / r["seconds"],
                    "start": r["session_start"],
                    "session_mib": r["session_mib"],
                    "flops": flops_per_token(spec, graph),
                    "table_mib": table_bytes(spec) / 2**20 if graph == "table" else 0.0,
                    "file_mib": (model / "model.onnx").stat().st_size / 2**20,
                }
            )
            print(
                f"  {name} {graph:6s} threads {threads}: {rows[-1]['rate']:>9,.0f} utt/s, "
                f"start {r['session_start']:.2f} s, session {r['session_mib']:.0f} MiB, "
                f"{rows[-1]['flops']:,} FLOP/step",
                flush=True,
            )
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "torch":
            rest[2] = int(rest[2])
        elif kind == "tokenize":
            rest[2] = int(rest[2]) or None  # rest[3], if given: another tokenizer.json
        elif kind == "infer":
            rest[2], rest[3] = int(rest[2]), int(rest[3])
        print(json.dumps(WORKERS[kind](*rest)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small-lines", type=int, default=10_000)
    parser.add_argument(
        "--baseline-lines",
        type=int,
        default=100_000,
        help="PyTorch baseline on the first N lines of the same file",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check-rows", type=int, default=1000)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cnnfeat-bench"
    )
    parser.add_argument("--d50-model", type=Path)
    parser.add_argument("--d50-run", type=Path)
    parser.add_argument("--no-d300", action="store_true")
    parser.add_argument("--skip-d50", action="store_true", help="time only the D=300 model")
    parser.add_argument(
        "--compare-model",
        type=Path,
        action="append",
        default=[],
        help="also time `cnnfeat embed` alone with this model dir",
    )
    parser.add_argument("--graphs", action="store_true", help="also the graph trade-off table")
    parser.add_argument("--graph-lines", type=int, default=50_000)
    parser.add_argument("--embed-args", default="", help="extra `cnnfeat embed` arguments")
    parser.add_argument(
        "--corpus",
        choices=("distinct", "sampled"),
        default="distinct",
        help="distinct: every utterance once, then random pairs joined "
        "(nearly all lines distinct); sampled: drawn with replacement",
    )
    parser.add_argument(
        "--reference-tokenizer",
        type=Path,
        default=None,
        help="a tokenizer.json to time against (default: the one shipped at "
        f"commit {REFERENCE_COMMIT}, from git)",
    )
    args = parser.parse_args()
    args.embed_args = args.embed_args.split()  # not -q: the summary line is read
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    write = write_distinct_corpus if args.corpus == "distinct" else write_corpus
    big = write(work / f"{args.corpus}-{args.lines}.txt", args.lines)
    small = write(work / f"{args.corpus}-{args.small_lines}.txt", args.small_lines)
    if args.reference_tokenizer is None:
        args.reference_tokenizer = reference_tokenizer(work)
    share = distinct_share(big)
    print(
        f"input: {big} ({args.lines:,} lines, {big.stat().st_size / 2**20:.0f} MiB, "
        f"{share:.1%} distinct); cpu: {_cpu()}; load {load()}",
        flush=True,
    )
    d50, d50_run = d50_model(args, work)
    models = [("d50", d50, d50_run)]
    if not args.no_d300:
        models.append(("d300", *d300_model(work, d50)))
    timed = models[1:] if args.skip_d50 and len(models) > 1 else models
    results = [bench_model(name, model, run, big, small, args, work) for name, model, run in timed]
    for other in args.compare_model:
        e2e_only(other, big, args, work)
    if args.graphs:
        print(
            f"\n== graph trade-off (inference only, {args.graph_lines:,} lines, the runtime's "
            f"batching); load {load()}",
            flush=True,
        )
        for name, _, run in models:
            graph_table(name, run, big, work, args.graph_lines)
    print(
        "\n| model | e2e utt/s | PyTorch utt/s | tokenise utt/s (_fast) | compute bound "
        "| e2e/PyTorch | e2e/tokenise (_fast) | tokenise/reference (_fast) | RSS 1M / 10k |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratios = r["ratios"]
        reference = (
            ""
            if "tokenize/reference(encode_batch)" not in ratios
            else (
                f"{ratios['tokenize/reference(encode_batch)']:.2f} "
                f"({ratios['tokenize/reference(encode_batch_fast)']:.2f})"
            )
        )
        print(
            f"| {r['name']} ({r['graph']}) | {r['e2e']:,.0f} | {r['torch']:,.0f} "
            f"| {r['tok']:,.0f} ({r['tok_fast']:,.0f}) | {r['gflops'] * 1e9 / r['flops']:,.0f} "
            f"| {ratios['e2e/pytorch']:.2f} | {ratios['e2e/tokenize(encode_batch)']:.2f} "
            f"({ratios['e2e/tokenize(encode_batch_fast)']:.2f}) | {reference} "
            f"| {r['e2e_rss']:.0f} / {r['small_rss']:.0f} MiB |"
        )


REFERENCE_COMMIT = "8e8d869"  # the shipped model before issue 10's tokenizer


def reference_tokenizer(work: Path) -> Path | None:
    """The tokenizer.json shipped at REFERENCE_COMMIT, written to `work` (None without git)."""
    path = work / f"tokenizer-{REFERENCE_COMMIT}.json"
    if not path.is_file():
        spec = f"{REFERENCE_COMMIT}:models/meld-glove6b50d/tokenizer.json"
        try:
            text = subprocess.run(
                ["git", "-C", str(REPO), "show", spec], check=True, capture_output=True, text=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            print(f"no reference tokenizer: git show {spec} failed", file=sys.stderr)
            return None
        path.write_text(text, encoding="utf-8")
    return path


def _cpu() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "unknown"
    return f"{model}, {os.cpu_count()} logical CPUs"


if __name__ == "__main__":
    main()
