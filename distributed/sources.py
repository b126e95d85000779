"""The files of `cnnfeat embed-dataset`: finding the inputs, reading them into blocks for Ray
Data (text, CSV, TSV and JSONL through `cnnfeat.runtime.reading.read_records`, so every rule of
`cnnfeat embed` holds; Parquet natively), and checking, cleaning and counting the output.

Ray and pyarrow are imported inside functions only: the single-machine path never needs them.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import os
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np

from cnnfeat.contract.describe import first_line
from cnnfeat.contract.errors import CnnfeatError, InputError, OutputError
from cnnfeat.runtime.reading import default_column, open_error, read_records

FEATURES = "features"
SOURCE_FILE, SOURCE_ROW, SOURCE_LINE = "source_file", "source_row", "source_line"
TEXT = "__cnnfeat_text__"  # the text column between reading and embedding, never written
_OURS = (SOURCE_FILE, SOURCE_ROW, SOURCE_LINE, FEATURES, TEXT)
# Rows per EmbedBatch call (and per block a file is read in): the Embedder's memory stays a
# few MB; Ray itself sizes the blocks that actors share (up to its target block size).
ROWS_PER_BATCH = 16384
SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".parquet")
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}  # any other suffix: plain text
# pyarrow decompresses these by suffix (`utterances.txt.gz`); Parquet compresses internally.
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4", ".br")
_WILDCARDS = "*?["


class CarriedError(Exception):
    """A cnnfeat error raised on a Ray worker, on its way to the driver as data: `error` is the
    error itself, pickled with its fields (path, line). Ray appends retry advice to the message
    of the exception a read or a batch raises (its args); this one carries no message of its
    own to append to, and the driver raises `error` untouched (embed_dataset._run)."""

    def __init__(self, error: CnnfeatError, *appended: object):
        super().__init__(error, *appended)
        self.error = error


# --- inputs and outputs ---------------------------------------------------------------------


def list_inputs(input: str) -> tuple[list[str], Any]:
    """The files to read and their pyarrow filesystem. A directory gives the files under it
    with a known suffix (names starting with '.' or '_' skipped, as Ray does); a glob its
    matches (remote globs: `*` may cross '/'); a file itself, whatever its suffix (unknown
    suffixes are read as plain text)."""
    import pyarrow.fs as pafs

    wild = [input.index(c) for c in _WILDCARDS if c in input]
    if wild:
        if "://" not in input:
            found = glob.glob(os.path.abspath(input), recursive=True)
            fs = pafs.LocalFileSystem()
        else:
            base = input[: input.rindex("/", 0, min(wild)) + 1]
            fs, root = _filesystem(base, InputError)
            pattern = root.rstrip("/") + "/" + input[len(base) :]
            listing = fs.get_file_info(pafs.FileSelector(root, recursive=True))
            found = [i.path for i in listing if fnmatch.fnmatchcase(i.path, pattern)]
        found = [p for p in found if fs.get_file_info(p).type == pafs.FileType.File]
        if not found:
            raise InputError("no file matches this pattern", input)
        return _once_each(sorted(found), fs), fs
    fs, root = _filesystem(input, InputError)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise InputError("no such file or directory", input)
    if info.type != pafs.FileType.Directory:
        return [root], fs
    found = []
    for item in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        parts = item.path[len(root.rstrip("/")) + 1 :].split("/")
        hidden = any(part.startswith((".", "_")) for part in parts)
        if item.type == pafs.FileType.File and not hidden and _suffix(item.path) in SUFFIXES:
            found.append(item.path)
    if not found:
        raise InputError(f"no {', '.join(SUFFIXES)} files in this directory", input)
    return _once_each(sorted(found), fs), fs


def _once_each(paths: list[str], fs: Any) -> list[str]:
    """Local paths that reach the same file (a symlink loop gives the same files again at
    every depth) are read once, under the first name."""
    import pyarrow.fs as pafs

    if not isinstance(fs, pafs.LocalFileSystem):
        return paths
    seen: set[str] = set()
    kept = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            kept.append(path)
    return kept


def _filesystem(location: str, error: type[Exception] = OutputError) -> tuple[Any, str]:
    """The pyarrow filesystem of a local path or a URI (s3://...), and the path in it; a URI
    pyarrow cannot open is `error` (InputError for inputs) in one line."""
    import pyarrow.fs as pafs

    if "://" in location:
        try:
            return pafs.FileSystem.from_uri(location)
        except (ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
            raise error(f"{location}: cannot open this location ({first_line(exc)})") from None
    return pafs.LocalFileSystem(), os.path.abspath(location)


def _suffix(path: str) -> str:
    name = path.lower()
    for compression in COMPRESSIONS:
        if name.endswith(compression):
            name = name[: -len(compression)]
            break
    return os.path.splitext(name)[1]


def check_output(output: str) -> tuple[Any, str, bool]:
    """Refuse an output that already holds files: shards of two runs must never mix.
    Returns the filesystem, the path in it and whether the directory exists already."""
    import pyarrow.fs as pafs

    fs, root = _filesystem(output)
    try:
        info = fs.get_file_info(root)
        listing = (
            fs.get_file_info(pafs.FileSelector(root))
            if info.type == pafs.FileType.Directory
            else []
        )
    except OSError as exc:  # no network, no credentials, no such bucket
        raise OutputError(f"cannot reach this location ({first_line(exc)})", output) from None
    if info.type == pafs.FileType.File:
        raise OutputError(f"{output} is a file; --output names a directory for Parquet shards")
    if listing:
        raise OutputError(f"{output} is not empty", advice="choose a new --output directory")
    return fs, root, info.type == pafs.FileType.Directory


def remove_output(fs, root: str, existed: bool) -> None:
    try:
        if existed:
            fs.delete_dir_contents(root, missing_dir_ok=True)
        else:
            fs.delete_dir(root)
    except OSError:
        pass  # nothing was written, or it cannot be removed; the job's own error matters


def count_rows(fs, root: str) -> int:
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    rows = 0
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)  # no rows at all
    for item in fs.get_file_info(selector):
        if item.type == pafs.FileType.File and item.path.endswith(".parquet"):
            with fs.open_input_file(item.path) as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
    return rows


# --- reading: the rules of cnnfeat.runtime.reading, keeping every column ----------------------


def make_datasource(
    paths: list[str],
    filesystem: Any,
    column: str | None = None,
    encoding_errors: str = "strict",
    rows_per_batch: int = ROWS_PER_BATCH,
):
    """A Ray `FileBasedDatasource` over `paths`: blocks of (source columns, identifying
    columns, text). Built here so that importing this module never imports Ray."""
    from ray.data.datasource import FileBasedDatasource

    class CnnfeatFiles(FileBasedDatasource):
        def _open_input_source(self, filesystem, path, **open_args):
            try:
                if _suffix(path) == ".parquet":
                    return filesystem.open_input_file(path)  # Parquet needs random access
                return super()._open_input_source(filesystem, path, **open_args)
            except OSError as exc:
                raise CarriedError(open_error(exc, path)) from None

        def _read_stream(self, f, path: str) -> Iterator[Any]:
            try:
                yield from read_blocks(f, path, column, encoding_errors, rows_per_batch)
            except CnnfeatError as exc:
                raise CarriedError(exc) from None

    return CnnfeatFiles(paths, filesystem=filesystem)


def read_blocks(
    handle: Any, path: str, column: str | None, errors: str, rows_per_batch: int
) -> Iterator[Any]:
    """pyarrow tables of up to rows_per_batch rows from one open file."""
    import pyarrow as pa

    suffix = _suffix(path)
    if suffix == ".parquet":
        yield from _parquet_blocks(handle, path, column, rows_per_batch)
        return
    fmt = _FORMATS.get(suffix, "text")
    if fmt == "text":
        column = None  # --column names the text of tables; a plain text file is all text
    records = read_records(path, column, errors, handle=_lines(handle), fmt=fmt)
    first_row = 0
    while True:
        # Records are taken apart as they come rather than kept in a list: a tuple subclass is
        # never untracked by the garbage collector, and 16384 live ones cost ~10% more time.
        lines, texts, fields = [], [], []
        for record in islice(records, rows_per_batch):
            lines.append(record.line)
            texts.append(record.text)
            fields.append(record.fields)
        if not lines:
            return
        yield _block(path, first_row, lines, texts, fields, pa)
        first_row += len(lines)


def _block(
    path: str, first_row: int, lines: list[int], texts: list[str], fields: list[dict], pa
) -> Any:
    n = len(lines)
    columns: dict[str, Any] = {
        SOURCE_FILE: pa.array([path] * n, pa.string()),
        SOURCE_ROW: pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
        SOURCE_LINE: pa.array(lines, pa.int64()),
    }
    names: dict[str, None] = {}  # the union of the records' fields, in order of appearance
    for row_fields in fields:
        if row_fields:
            names.update(dict.fromkeys(row_fields))
    _check_names(names, path)
    for name in names:
        columns[name] = pa.array([f.get(name) for f in fields], pa.string())
    columns[TEXT] = pa.array(texts, pa.string())
    return pa.table(columns)


def _check_names(names: Any, path: str) -> None:
    for name in names:
        if name in _OURS:
            raise InputError(
                f"has a column named {name!r}, which cnnfeat writes itself",
                path,
                advice="rename it",
            )


def _parquet_blocks(handle: Any, path: str, column: str | None, rows_per_batch: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a Parquet file ({first_line(exc)})", path) from None
    names = parquet.schema_arrow.names
    if column is None:
        column = default_column(names, path)
    elif column not in names:
        raise InputError(f"no column {column!r} (columns: {', '.join(names)})", path)
    _check_names(names, path)
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise InputError(
            f"column names {repeated} occur more than once", path, advice="rename them"
        )
    text_type = parquet.schema_arrow.field(column).type
    if not pa.types.is_string(text_type) and not pa.types.is_large_string(text_type):
        raise InputError(f"column {column!r} is {text_type}, not strings", path)
    row = 0
    for batch in parquet.iter_batches(batch_size=rows_per_batch):
        table = pa.Table.from_batches([batch])
        text = table.column(column)
        if text.null_count:
            first = row + int(np.flatnonzero(text.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"row {first}: column {column!r} is null", path)
        n = table.num_rows
        table = table.drop_columns([column])
        table = table.add_column(0, SOURCE_LINE, pa.nulls(n, pa.int64()))
        table = table.add_column(0, SOURCE_ROW, pa.array(np.arange(row, row + n, dtype=np.int64)))
        table = table.add_column(0, SOURCE_FILE, pa.array([path] * n, pa.string()))
        yield table.append_column(TEXT, text.cast(pa.string()))
        row += n


def _lines(stream: Any) -> io.BufferedReader:
    """A pyarrow input stream as a binary file that iterates over b"\\n"-terminated lines (what
    read_records reads), through io.BufferedReader so splitting lines happens in C."""
    return io.BufferedReader(_RawStream(stream), buffer_size=1 << 20)


class _RawStream(io.RawIOBase):
    def __init__(self, stream: Any):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
