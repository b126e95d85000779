"""`cnnfeat embed` as a plain function: file in, features file out, in bounded memory."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.reading import read_chunks
from cnnfeat.runtime.writing import FeatureWriter, output_format


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
        return (f"embedded {self.rows} rows in {self.seconds:.2f} s ({self.rate:,.0f} utt/s) "
                f"on {self.provider} -> {self.output}")  # fmt: skip


def default_output(input_path: str) -> str:
    if input_path == "-":
        return "-"
    return str(Path(input_path).with_suffix(".npy"))


def embed_file(
    input_path: str,
    output_path: str | None = None,
    embedder: Embedder | None = None,
    column: str | None = None,
    encoding_errors: str = "strict",
    chunk_size: int = 16384,
    progress: bool | None = None,
) -> EmbedSummary:
    """Embed every line (or `column` value) of `input_path` into `output_path`."""
    started = time.perf_counter()
    output_path = output_path or default_output(input_path)
    output_format(output_path)  # reject an unknown format before any work
    embedder = embedder or Embedder()
    chunks = read_chunks(input_path, column, chunk_size, encoding_errors)
    total = Path(input_path).stat().st_size if input_path != "-" else None  # for the bar only
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="embed", file=sys.stderr,
               disable=(not progress) if progress is not None else None)  # fmt: skip
    with bar, FeatureWriter(output_path, embedder.dim) as writer:
        for chunk in chunks:
            writer.write(embedder.embed(chunk))
            bar.update(sum(len(t.encode("utf-8", "surrogatepass")) + 1 for t in chunk))
    return EmbedSummary(writer.rows, time.perf_counter() - started, embedder.provider, output_path)
