"""`cnnfeat tokenize` as a plain function: the token ids a model sees, one utterance per line.

For hosts that run only the network (hosts/c/embed_ids.c): each line holds one utterance's ids
as decimal integers separated by single spaces, an empty line for an empty utterance, line i for
row i of `cnnfeat embed` on the same input. The lines are read by the rules of `cnnfeat embed`
(runtime/reading.py) and tokenised by the same `Embedder.tokenize` (cut to the model's max_len),
so the features a host computes from these ids are those `cnnfeat embed` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from cnnfeat.contract.batching import CHUNK_SIZE
from cnnfeat.contract.errors import OutputError
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.reading import read_chunks
from cnnfeat.runtime.writing import (
    FORMATS,
    check_not_input,
    check_not_model,
    check_output_file,
    staged_file,
    standard_output,
)


def write_token_ids(
    input_path: str,
    output_path: str,
    embedder: Embedder,
    column: str | None = None,
    encoding_errors: str = "strict",
    tsv_quoting: str = "literal",
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Write the token ids of every line (or `column` value) of `input_path` to `output_path`
    (`-`: stdout); returns the number of rows.

    The file appears whole or not at all (runtime/writing.py `staged_file`). Raises InputError
    for the input (naming file and line), OutputError when the output cannot be written.
    """
    if output_path != "-":
        if Path(output_path).suffix.lower() in FORMATS + (".parquet",):
            raise OutputError(
                "token ids are text, one utterance per line",
                output_path,
                advice="name the file .txt (features are `cnnfeat embed`'s)",
            )
        check_output_file(output_path)  # before any work: a directory, a device, a FIFO
    check_not_input(input_path, output_path)
    check_not_model(embedder.model_dir.path, output_path)
    chunks = read_chunks(input_path, column, chunk_size, encoding_errors, tsv_quoting)
    if output_path == "-":
        stdout = standard_output()
        rows = _write(chunks, embedder, stdout)
        stdout.flush()
        return rows
    with staged_file(output_path) as temp, open(temp, "wb") as handle:
        return _write(chunks, embedder, handle)


def _write(chunks, embedder: Embedder, handle: BinaryIO) -> int:
    rows = 0
    for chunk in chunks:
        ids = embedder.tokenize(chunk)
        handle.write("".join(" ".join(map(str, row)) + "\n" for row in ids).encode("ascii"))
        rows += len(ids)
    return rows
