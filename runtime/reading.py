"""Reading utterances to embed: plain text (one per line), CSV/TSV or JSONL with a column.

Rules (README, "What cnnfeat does with odd input"): UTF-8, a BOM at the start of the file is
dropped; `\\n`, `\\r\\n` and a lone `\\r` end a line, nothing else does (U+2028, U+0085, form
feed stay inside the line); a missing final newline changes nothing; every line, empty or not,
gives a row, so row i is always line i. Bytes that are not UTF-8 are an error naming the line and
the byte offset unless `encoding_errors="replace"`. Input is read a line at a time, never whole.

read_chunks gives the utterances alone, in chunks (`cnnfeat embed`); read_records gives each with
its line, row and other columns (`cnnfeat embed-dataset`). Both read through the same code.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from cnnfeat.runtime.errors import InputError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
FORMATS = ("text", "csv", "tsv", "jsonl")
ENCODING_ERRORS = ("strict", "replace")
# Tried in order when no --column is given (MELD/EmoryNLP CSVs, generic files); `cnnfeat train`
# uses the same list, so a training file can be embedded as it is.
TEXT_COLUMNS = ("Utterance", "text", "utterance", "transcript")

_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")  # only JSON "\\ud800" escapes can produce these
# The csv module refuses fields over 128 KiB by default; a transcript cell may be longer. Only
# ever raised, never lowered, so other csv users in the process are not restricted.
_CSV_FIELD_LIMIT = 2**31 - 1


def input_format(path: str, column: str | None) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return suffix[1:]
    if suffix == ".jsonl":
        return "jsonl"
    if column is not None:
        where = "stdin is read as plain text; " if path == "-" else ""
        raise InputError(f"{where}--column needs a .csv, .tsv or .jsonl file", path)
    return "text"


class Record(NamedTuple):
    """One utterance of a file, where it stands, and the rest of its record."""

    line: int  # 1-based line the record starts on (a quoted CSV field may span lines)
    row: int  # 0-based: its row in what `cnnfeat embed` writes
    text: str
    # The other columns, as strings: CSV/TSV cells as they are, JSON strings as they are, null
    # as None, other JSON values as their JSON text. {} for plain text.
    fields: dict[str, str | None]


def read_chunks(
    path: str, column: str | None = None, chunk_size: int = 8192, encoding_errors: str = "strict"
) -> Iterator[list[str]]:
    """Lists of up to chunk_size utterances, in file order. `-` reads stdin.

    The file is opened here, before the first chunk is asked for, so a missing input is
    reported before any output is created.
    """
    fmt = _check_format(path, column, encoding_errors, None)
    return _chunks(_open(path), path, fmt, column, chunk_size, encoding_errors)


def read_records(
    path: str,
    column: str | None = None,
    encoding_errors: str = "strict",
    *,
    handle: BinaryIO | None = None,
    fmt: str | None = None,
) -> Iterator[Record]:
    """Every record of `path` with its position and other fields, by the same rules as
    read_chunks (one Record per utterance read_chunks gives, in the same order).

    handle: an open binary stream to read instead of opening `path` (it is left open; `path`
    then only names it in errors). fmt: one of FORMATS (default: from the suffix of `path`).
    """
    fmt = _check_format(path, column, encoding_errors, fmt)
    opened = _open(path) if handle is None else handle
    records = _records(opened, path, fmt, column, encoding_errors, keep=True)
    return _closing(records, opened) if handle is None else records


def _check_format(path: str, column: str | None, errors: str, fmt: str | None) -> str:
    if errors not in ENCODING_ERRORS:
        raise InputError(f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}")
    if fmt is None:
        return input_format(path, column)
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def _chunks(
    handle: BinaryIO, path: str, fmt: str, column: str | None, chunk_size: int, errors: str
) -> Iterator[list[str]]:
    try:
        chunk: list[str] = []
        for text in _records(handle, path, fmt, column, errors, keep=False):
            chunk.append(text)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        _close(handle)


def _closing(records: Iterator[Record], handle: BinaryIO) -> Iterator[Record]:
    try:
        yield from records
    finally:
        _close(handle)


def _records(
    handle: BinaryIO, path: str, fmt: str, column: str | None, errors: str, keep: bool
) -> Iterator[Any]:
    """A Record per utterance if `keep` (read_records), else its text alone (read_chunks:
    `cnnfeat embed` reads millions of lines, and a Record per line would cost plain text ~30%
    more time). Records are built with Record._make, a third cheaper than Record(...)."""
    lines = _text_lines(handle, path, errors)
    if fmt == "jsonl":
        return _jsonl_records(lines, path, column, errors, keep)
    if fmt != "text":
        return _table_records(lines, path, column, TABLE_SUFFIXES["." + fmt], keep)
    if keep:
        return (Record._make((number, number - 1, text, {})) for number, text in lines)
    return (text for _, text in lines)


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise open_error(exc, path) from None


def open_error(exc: OSError, path: str) -> InputError:
    """What to say when an input cannot be opened (here and by `embed-dataset`'s readers)."""
    if isinstance(exc, FileNotFoundError):
        return InputError("no such file", path)
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, expected a file", path)
    if isinstance(exc, PermissionError):
        return InputError("permission denied", path)
    # pyarrow's messages (remote filesystems) run on for lines; the first says what failed.
    detail = exc.strerror or str(exc).strip().partition("\n")[0] or type(exc).__name__
    return InputError(f"cannot open: {detail}", path)


def _close(handle: BinaryIO) -> None:
    if handle is not sys.stdin.buffer:
        handle.close()


def _text_lines(handle: BinaryIO, path: str, errors: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line; CR, LF and CRLF all end a line.

    A line is decoded straight from the bytes read (through a memoryview, without slicing
    copies), so a several-megabyte line is held once as bytes and once as text.
    """
    number, offset = 0, 0  # offset: byte position of `raw` in the file
    reading = iter(handle)  # binary iteration splits on b"\n" only
    while True:
        try:
            raw = next(reading, None)
        except OSError as exc:
            raise InputError(f"read failed: {exc.strerror or exc}", path, number + 1) from None
        if raw is None:
            return
        start = len(_BOM) if offset == 0 and raw.startswith(_BOM) else 0
        end = len(raw) - 1 if raw.endswith(b"\n") else len(raw)
        if start == len(raw):  # the file is nothing but a BOM: no lines at all
            return
        view = memoryview(raw)
        for first, last in _line_spans(raw, start, end):
            number += 1
            try:
                text = str(view[first:last], "utf-8", errors)
            except UnicodeDecodeError as exc:
                bad = first + exc.start
                raise InputError(
                    f"not valid UTF-8 at byte offset {offset + bad} (byte 0x{raw[bad]:02x}); "
                    "fix the file or pass --encoding-errors replace",
                    path,
                    number,
                ) from None
            yield number, text
        view.release()
        offset += len(raw)


def _line_spans(raw: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """Split raw[start:end] at each lone CR; a CR right before the LF (CRLF) only ends the line."""
    spans = []
    first = start
    while (cr := raw.find(b"\r", first, end)) >= 0:
        spans.append((first, cr))
        first = cr + 1
    if first < end or not spans:
        spans.append((first, end))
    return spans


def _jsonl_records(
    lines: Iterator[tuple[int, str]], path: str, column: str | None, errors: str, keep: bool
) -> Iterator[Any]:
    for number, line in lines:
        if not line.strip():
            raise InputError(
                "empty line in a JSONL file (every line must be an object)", path, number
            )
        try:
            record = json.loads(line)
        except RecursionError:
            raise InputError("invalid JSON (nested too deeply)", path, number) from None
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise InputError(f"invalid JSON ({reason})", path, number) from None
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {_json_type(record)}", path, number)
        if column is None:
            column = default_column(list(record), path, number)
        if column not in record:
            fields = ", ".join(map(repr, record)) or "none"
            raise InputError(f"no field {column!r} (fields: {fields})", path, number)
        value = record.pop(column)
        if not isinstance(value, str):
            raise InputError(f"field {column!r} is {_json_type(value)}, not a string", path, number)
        if _SURROGATE.search(value):
            if errors != "replace":
                raise InputError(
                    f"field {column!r} holds a lone surrogate escape (\\ud800-\\udfff), which "
                    "is not a character; fix the file or pass --encoding-errors replace",
                    path,
                    number,
                )
            value = _SURROGATE.sub("\ufffd", value)
        if not keep:
            yield value
            continue
        fields = {k: v if isinstance(v, str) or v is None else json.dumps(v, ensure_ascii=False)
                  for k, v in record.items()}  # fmt: skip
        yield Record._make((number, number - 1, value, fields))


def _table_records(
    lines: Iterator[tuple[int, str]], path: str, column: str | None, delimiter: str, keep: bool
) -> Iterator[Any]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    numbers: list[int] = [0]

    def feed() -> Iterator[str]:
        # csv wants the newlines back to see quoted fields that span lines. NUL becomes a space
        # (what the tokenizer makes of it anyway): Python 3.10's csv refuses NUL outright.
        for number, line in lines:
            numbers.append(number)
            yield (line.replace("\x00", " ") if "\x00" in line else line) + "\n"

    # strict: a stray quote is an error, not a field silently swallowing the rest of the file.
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            first_line = numbers[-1] + 1
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise InputError(f"malformed CSV record ({exc})", path, first_line) from None
            if row is None:
                return
            yield first_line, row

    records = rows()
    _, header = next(records, (0, None))
    if header is None:
        return  # an empty file: no rows
    if not header:
        raise InputError("the first line should be the header row, but it is empty", path, 1)
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:  # one of them would be lost when the other columns are kept (embed-dataset)
        raise InputError(f"column names {repeated} occur more than once; rename them", path, 1)
    if column is None:
        column = default_column(header, path, 1)
    elif column not in header:
        raise InputError(f"no column {column!r} (columns: {', '.join(header)})", path, 1)
    index, width = header.index(column), len(header)
    names = header[:index] + header[index + 1 :]
    for row_index, (number, row) in enumerate(records):
        if not row and width == 1:
            row = [""]  # a blank line in a one-column table is an empty utterance
        if len(row) != width:
            raise InputError(f"{len(row)} fields, the header has {width}", path, number)
        if not keep:
            yield row[index]
            continue
        fields = dict(zip(names, row[:index] + row[index + 1 :], strict=True))
        yield Record._make((number, row_index, row[index], fields))


def default_column(available: list[str], path: str, line: int | None = None) -> str:
    """The first of TEXT_COLUMNS in `available`, else an InputError that lists them."""
    for candidate in TEXT_COLUMNS:
        if candidate in available:
            return candidate
    raise InputError(
        f"no text column (looked for {', '.join(TEXT_COLUMNS)}; found "
        f"{', '.join(map(repr, available)) or 'none'}); name it with --column",
        path,
        line,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "an array" if isinstance(value, list) else "an object")


def iter_lines(text: str) -> list[str]:
    """Split a string the way files are read (for tests and the Python API)."""
    return [t for _, t in _text_lines(io.BytesIO(text.encode("utf-8")), "<string>", "strict")]


# --- lines before the tokenizer --------------------------------------------------------------

# Tokenizing a line costs `tokenizers` about 90 bytes of memory per character before truncation
# happens, so a 20 MB line would need ~2 GB. Long lines are cut first, at a space, to a prefix
# that already holds max_len tokens: splitting at a space never changes the tokens on either
# side, so the features are exactly those of the whole line.
CLIP_WINDOW = 10_000  # characters tokenized at a time while looking for the cut
_SPACES = (" ", "\t", "\n")


def clip_line(text: str, tokenizer: Any, max_len: int, window: int = CLIP_WINDOW) -> str:
    """`text`, or its shortest prefix cut at a space that gives the same first max_len tokens.

    Lines up to `window` characters come back untouched. In a longer line, a run of more than
    `window` characters without a space, tab or newline keeps only its first `window`
    characters (no vocabulary has such a word; the README documents it).
    """
    if len(text) <= window:
        return text
    kept: list[str] = []
    tokens, pos = 0, 0
    while pos < len(text) and tokens < max_len:
        end = resume = min(len(text), pos + window)
        if end < len(text):
            space = max(text.rfind(c, pos + 1, end + 1) for c in _SPACES)
            if space > pos:
                end = resume = space
            else:  # a run longer than `window`: keep its start, go on at the next space
                run = pos + (text[pos] in _SPACES)
                end = run + window
                found = [i for i in (text.find(c, end) for c in _SPACES) if i >= 0]
                resume = min(found, default=len(text))
        piece = text[pos:end]
        kept.append(piece)
        tokens += len(tokenizer.encode(piece, add_special_tokens=False).ids)
        pos = resume
    return "".join(kept)


def fit_lines(lines: Sequence[str], tokenizer: Any, max_len: int) -> list[str]:
    """`lines` ready for `tokenizer.encode_batch*`: long lines clipped (see clip_line)."""
    try:
        return [t if len(t) <= CLIP_WINDOW else clip_line(t, tokenizer, max_len) for t in lines]
    except TypeError:
        check_lines(lines)
        raise


def check_lines(lines: Sequence[Any]) -> None:
    """Raise InputError for the first item the tokenizer cannot take (not a str, or a lone
    surrogate); call it when `tokenizers` has refused a batch, to say which line and why."""
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise InputError(f"line {i + 1} is {type(line).__name__}, not str")
        if _SURROGATE.search(line):
            raise InputError(
                f"line {i + 1} holds a lone surrogate (U+D800-U+DFFF), which is not a "
                "character and has no UTF-8 form"
            )
