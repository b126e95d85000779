"""Reading utterances to embed: plain text (one per line), CSV/TSV or JSONL with a column.

Rules (README, "What cnnfeat does with odd input"): UTF-8, a BOM is dropped; `\\n`, `\\r\\n` and a
lone `\\r` end a line; a missing final newline changes nothing; every line, empty or not, gives a
row, so row i is always line i. Bytes that are not UTF-8 are an error naming line and byte
offset unless `encoding_errors="replace"`. Input is read in chunks, never whole.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cnnfeat.runtime.errors import InputError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
ENCODING_ERRORS = ("strict", "replace")


def input_format(path: str, column: str | None) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return suffix[1:]
    if suffix == ".jsonl":
        return "jsonl"
    if column is not None:
        raise InputError("--column needs a .csv, .tsv or .jsonl file", path)
    return "text"


def read_chunks(
    path: str, column: str | None = None, chunk_size: int = 8192, encoding_errors: str = "strict"
) -> Iterator[list[str]]:
    """Lists of up to chunk_size utterances, in file order. `-` reads stdin.

    The file is opened here, before the first chunk is asked for, so a missing input is
    reported before any output is created.
    """
    if encoding_errors not in ENCODING_ERRORS:
        raise InputError(f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}")
    fmt = input_format(path, column)
    return _chunks(_open(path), path, fmt, column, chunk_size, encoding_errors)


def _chunks(
    handle: BinaryIO, path: str, fmt: str, column: str | None, chunk_size: int, errors: str
) -> Iterator[list[str]]:
    try:
        lines = _text_lines(handle, path, errors)
        if fmt == "text":
            records = (text for _, text in lines)
        elif fmt == "jsonl":
            records = _jsonl_column(lines, path, column or "text")
        else:
            records = _table_column(lines, path, column, TABLE_SUFFIXES["." + fmt])
        chunk: list[str] = []
        for text in records:
            chunk.append(text)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path) from None
    except PermissionError:
        raise InputError("permission denied", path) from None


def _text_lines(handle: BinaryIO, path: str, errors: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line; CR, LF and CRLF all end a line."""
    number, offset = 0, 0  # offset: byte position of `raw` in the file
    for raw in handle:  # binary iteration splits on b"\n" only
        start = 3 if number == 0 and raw.startswith(b"\xef\xbb\xbf") else 0
        body = raw[start:-1] if raw.endswith(b"\n") else raw[start:]
        pieces = body.split(b"\r")
        if len(pieces) > 1 and pieces[-1] == b"":
            pieces.pop()  # "\r\n" or a final lone "\r": the CR only ends the line
        piece_offset = offset + start
        for piece in pieces:
            number += 1
            try:
                text = piece.decode("utf-8", errors)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"not valid UTF-8 at byte offset {piece_offset + exc.start} (byte "
                    f"0x{piece[exc.start]:02x}); fix the file or pass --encoding-errors replace",
                    path,
                    number,
                ) from None
            yield number, text
            piece_offset += len(piece) + 1
        offset += len(raw)


def _jsonl_column(lines: Iterator[tuple[int, str]], path: str, column: str) -> Iterator[str]:
    for number, line in lines:
        if not line.strip():
            raise InputError(
                "empty line in a JSONL file (every line must be an object)", path, number
            )
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", path, number) from None
        if not isinstance(record, dict):
            raise InputError("expected a JSON object", path, number)
        if column not in record:
            raise InputError(f"no field {column!r} (fields: {', '.join(record)})", path, number)
        value = record[column]
        if not isinstance(value, str):
            raise InputError(f"field {column!r} is {type(value).__name__}, not text", path, number)
        yield value


def _table_column(
    lines: Iterator[tuple[int, str]], path: str, column: str | None, delimiter: str
) -> Iterator[str]:
    # csv wants the newlines back to see quoted fields that span lines.
    numbers: list[int] = []

    def feed() -> Iterator[str]:
        for number, line in lines:
            numbers.append(number)
            yield line + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    if column is None:
        raise InputError("a table needs --column to say which column holds the text", path)
    if column not in header:
        raise InputError(f"no column {column!r} (columns: {', '.join(header)})", path, 1)
    index, width = header.index(column), len(header)
    first_line = numbers[-1] + 1
    for row in reader:
        if len(row) != width:
            raise InputError(f"{len(row)} fields, the header has {width}", path, first_line)
        yield row[index]
        first_line = numbers[-1] + 1


def iter_lines(text: str) -> list[str]:
    """Split a string the way files are read (for tests and the Python API)."""
    return [t for _, t in _text_lines(io.BytesIO(text.encode("utf-8")), "<string>", "strict")]
