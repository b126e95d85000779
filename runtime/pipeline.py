"""`cnnfeat embed` as a plain function: file in, features file out, in bounded memory.

Read -> tokenise -> run -> write, one chunk of lines at a time. The tokenizer's Rust core
releases the GIL, and so does onnxruntime, so a single worker thread tokenises the next chunks
and turns their Encodings into id arrays while this thread runs inference on the current one.
Reading stays on this thread, so that Ctrl-C stops a read that never ends (`/dev/zero`) at
once; padding and writing stay here too. At most `depth` chunks are tokenised ahead: memory is
a few chunks, whatever the number of lines.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cnnfeat.contract.batching import CHUNK_SIZE
from cnnfeat.contract.describe import count
from cnnfeat.runtime.embedder import Embedder, as_embedder
from cnnfeat.runtime.reading import read_chunks
from cnnfeat.runtime.writing import FeatureWriter, Output, check_not_input, check_not_model

# Lines per chunk and chunks tokenised ahead. The tokenizer's Encodings take ~2 KB a line
# until they are turned into arrays, so memory is about (DEPTH + 1) x CHUNK_SIZE x 2 KB
# (~50 MB) beside the model; smaller chunks made no measurable difference to speed.
DEPTH = 2


@dataclass(frozen=True)
class EmbedSummary:
    rows: int
    seconds: float
    provider: str
    output: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        return (
            f"embedded {count(self.rows, 'row')} in {self.seconds:.2f} s ({self.rate:,.0f} utt/s) "
            f"on {self.provider} -> {self.output}"
        )


def default_output(input_path: str) -> str:
    if input_path == "-":
        return "-"
    return str(Path(input_path).with_suffix(".npy"))


def embed_chunks(
    embedder: Embedder, chunks: Iterable[list[str]], depth: int = DEPTH
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(chunk, its features) for every chunk, in order; up to `depth` chunks are tokenised
    ahead in a worker thread while the current one runs."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    pending: deque[tuple[list[str], Future]] = deque()
    source, failure = iter(chunks), None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnfeat-tokenize") as worker:
        try:
            while True:
                try:
                    chunk = next(source)
                except StopIteration:
                    break
                except Exception as exc:  # a bad line: first finish what was read before it
                    failure = exc
                    break
                # The worker also turns the Encodings into TokenRows (and frees them): that
                # took ~3 µs a line off this thread, the serial part.
                pending.append((chunk, worker.submit(embedder.token_rows, chunk)))
                if len(pending) > depth:
                    yield _finish(embedder, *pending.popleft())
            while pending:
                yield _finish(embedder, *pending.popleft())
        finally:
            for _, future in pending:  # stopped early (error, interrupt): drop the rest
                future.cancel()
    if failure is not None:
        raise failure


def _finish(embedder: Embedder, chunk: list[str], future: Future) -> tuple[list[str], np.ndarray]:
    return chunk, embedder.embed_tokens(future.result())


def embed_file(
    input_path: str,
    output: Output,
    embedder: Embedder,
    column: str | None = None,
    encoding_errors: str = "strict",
    tsv_quoting: str = "literal",
    chunk_size: int = CHUNK_SIZE,
    progress: bool | None = None,
    depth: int = DEPTH,
) -> EmbedSummary:
    """Embed every utterance of `input_path` (lines, or `column` of a table) into `output` (its
    path and format, decided where the call starts: runtime/writing.py's `output_for`;
    `default_output` names the input's `.npy`) with `embedder`'s model (required: there is no
    default model, so features never silently come from another model than the one meant). The
    public form is `cnnfeat.embed_file`, which also takes a model directory.

    Reads by runtime/reading.py's rules (read_chunks) in chunks of `chunk_size` lines, tokenises
    up to `depth` chunks ahead in a worker thread, and writes float32 rows of `embedder.dim`, row
    i for utterance i: `.npy` (N, dim), `.npz`, `.jsonl` or `.csv` (runtime/writing.py), staged
    and renamed when complete; "-" writes JSON lines to stdout. Memory is bounded by a few
    chunks, whatever N is.

    Returns: EmbedSummary (rows, seconds of wall time, execution provider, output path).
    Raises: InputError (names file and line), OutputError (unwritable, the input file
        itself, a file of the model directory), ArgumentError (`embedder` is not an Embedder),
        and the Embedder's errors; on any error or interrupt the output path is left as it was.
    """
    started = time.perf_counter()
    check_not_input(input_path, output.path)
    embedder = as_embedder(embedder)
    check_not_model(embedder.model_dir.path, output.path)  # never write over what is run
    chunks = read_chunks(input_path, column, chunk_size, encoding_errors, tsv_quoting)
    # Utterances written so far, as the summary counts them; no total: counting the rows first
    # would mean reading the input twice (a .csv row may span lines).
    bar = tqdm(
        unit="utt",
        desc="embed",
        file=sys.stderr,
        disable=(not progress) if progress is not None else None,
    )
    with bar, FeatureWriter(output, embedder.dim) as writer:
        for _, features in embed_chunks(embedder, chunks, depth):
            writer.write(features)
            bar.update(len(features))
    seconds = time.perf_counter() - started
    return EmbedSummary(writer.rows, seconds, embedder.provider, output.path)
