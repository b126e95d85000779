"""Reading utterances to embed: plain text (one per line), CSV/TSV or JSONL with a column.

Rules (docs/input-rules.md, the behaviour contract): UTF-8, a BOM at the start of the file is
dropped (a UTF-16 BOM, LE or BE, makes the file read as UTF-16);
`\\n`, `\\r\\n` and a lone `\\r` end a line, nothing else does (U+2028, U+0085, form
feed stay inside the line); a missing final newline changes nothing; every line, empty or not,
gives a row, so row i is always line i. Bytes that are not UTF-8 are an error naming the line and
the byte offset unless `encoding_errors="replace"`. Input is read a line at a time, never whole;
a plain-text line keeps its first MAX_LINE_BYTES, a .csv/.tsv/.jsonl record may be as long as
MAX_RECORD_BYTES (its utterance again keeps its first MAX_LINE_BYTES).

read_chunks gives the utterances alone, in chunks (`cnnfeat embed`); read_records gives each with
its line, row and other columns (`cnnfeat embed-dataset`). Both read through the same code.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from cnnfeat.contract.batching import CHUNK_SIZE
from cnnfeat.contract.describe import first_line, json_type
from cnnfeat.contract.errors import ArgumentError, Hint, InputError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
FORMATS = ("text", "csv", "tsv", "jsonl")
ENCODING_ERRORS = ("strict", "replace")
# A .tsv file's quotes: "literal" (the default; TSV as people write it has no quoting, so a `"`
# is text and every line is one record) or "csv" (CSV-style quoting: a quoted field may hold
# tabs and line breaks).
TSV_QUOTING = ("literal", "csv")
# Tried in order when no --column is given (MELD/EmoryNLP CSVs, generic files); `cnnfeat train`
# uses the same list, so a training file can be embedded as it is.
TEXT_COLUMNS = ("Utterance", "text", "utterance", "transcript")

_BOM = b"\xef\xbb\xbf"
# A line is read at most this many bytes at a time and kept up to MAX_LINE_BYTES; the rest of a
# longer line is read and dropped as it comes, so memory stays bounded even for a line that never
# ends (`cnnfeat embed /dev/zero`), and Ctrl-C is seen between reads. 1 MiB holds far more than
# max_len tokens of any text with spaces (512 tokens of English are ~3 KB).
MAX_LINE_BYTES = 1 << 20
# A record of a .csv/.tsv/.jsonl file is read whole up to MAX_RECORD_BYTES (a speech manifest's
# line carries its audio as base64, megabytes long); a longer one is an error naming its line.
# Only the utterance taken from it is kept, cut to MAX_LINE_BYTES as a line of plain text is.
MAX_RECORD_BYTES = 64 << 20
# Files that are not text: refused by name or by their first bytes, with one line saying what
# they are, rather than "not valid UTF-8" at some byte offset.
_NOT_TEXT = {
    ".gz": "gzip-compressed",
    ".bz2": "bzip2-compressed",
    ".xz": "xz-compressed",
    ".zst": "zstd-compressed",
    ".lz4": "lz4-compressed",
    ".zip": "a zip archive",
    ".7z": "a 7-Zip archive",
    ".tar": "a tar archive",
    ".parquet": "a Parquet file",
    ".npy": "a NumPy array",
    ".npz": "a NumPy archive",
    ".pkl": "a Python pickle",
    ".arrow": "an Arrow file",
    ".feather": "an Arrow file",
    ".h5": "an HDF5 file",
}
_MAGIC = (
    (b"\x1f\x8b\x08", "gzip-compressed"),
    *((b"BZh%d1AY&SY" % n, "bzip2-compressed") for n in range(1, 10)),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"PK\x03\x04", "a zip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"\x93NUMPY", "a NumPy array"),
    (b"ARROW1", "an Arrow file"),
    (b"\x89HDF", "an HDF5 file"),
)
SURROGATE = re.compile("[\ud800-\udfff]")  # only JSON "\\ud800" escapes can produce these
# The csv module refuses fields over 128 KiB by default; a transcript cell may be longer. Only
# ever raised, never lowered, so other csv users in the process are not restricted.
_CSV_FIELD_LIMIT = 2**31 - 1


# The advice of reading errors, naming the option of each command (contract.errors.Hint).
_NEEDS_TABLE = Hint(
    "{option} needs a .csv, .tsv or .jsonl file",
    "column",
    "a text column needs a .csv, .tsv or .jsonl file",
)
ENCODING_HINT = Hint("fix the file or pass {option} replace", "encoding_errors", "fix the file")
_COLUMN_HINT = Hint("name it with {option}", "column")


def input_format(path: str, column: str | None) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return suffix[1:]
    if suffix == ".jsonl":
        return "jsonl"
    if column is not None:
        what = "stdin is read as plain text" if path == "-" else ""
        raise InputError(what, path, advice=_NEEDS_TABLE)
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
    path: str,
    column: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    encoding_errors: str = "strict",
    tsv_quoting: str = "literal",
) -> Iterator[list[str]]:
    """Lists of up to chunk_size utterances (str), in file order. `-` reads stdin.

    `.txt` (or any other suffix): one utterance per line; `\n`, `\r\n` and `\r` end a line,
    a leading UTF-8 BOM is dropped, empty lines are kept (they are utterances too). `.csv`
    (RFC 4180), `.tsv` (quotes literal unless tsv_quoting="csv") and `.jsonl`: `column`, or the
    first of TEXT_COLUMNS present (docs/input-rules.md states every rule).

    Args:
        encoding_errors: "strict" (invalid UTF-8 is an error naming the line) or "replace"
            (each invalid byte becomes U+FFFD).

    Raises:
        InputError: a missing or unreadable file, a missing column, invalid UTF-8 (strict), a
            malformed record; the message names the file and line. The file is opened here,
            before the first chunk is asked for, so a missing input is reported before any
            output is created.
    """
    fmt = _check_format(path, column, encoding_errors, None)
    options = _Options(encoding_errors, _tsv_quoting(tsv_quoting), False)
    return _chunks(_open(path), path, fmt, column, chunk_size, options)


def read_records(
    path: str,
    column: str | None = None,
    encoding_errors: str = "strict",
    *,
    handle: BinaryIO | None = None,
    fmt: str | None = None,
    tsv_quoting: str = "literal",
    json_values: bool = False,
) -> Iterator[Record]:
    """Every record of `path` with its position and other fields, by the same rules as
    read_chunks (one Record per utterance read_chunks gives, in the same order). `cnnfeat
    embed`, `cnnfeat train` and `cnnfeat embed-dataset` all read .txt/.csv/.tsv/.jsonl here.

    handle: an open binary stream to read instead of opening `path` (it is left open; `path`
    then only names it in errors). fmt: one of FORMATS (default: from the suffix of `path`).
    tsv_quoting: one of TSV_QUOTING. json_values: JSONL fields keep their JSON values (numbers,
    booleans, null) instead of JSON text (training checks label types with them).
    Raises InputError naming the file and line for anything the file gets wrong.
    """
    fmt = _check_format(path, column, encoding_errors, fmt)
    opened = _open(path) if handle is None else _unicode(handle, path, own=False)
    options = _Options(encoding_errors, _tsv_quoting(tsv_quoting), json_values)
    records = _records(opened, path, fmt, column, options, keep=True)
    return _closing(records, opened) if handle is None else records


class _Options(NamedTuple):
    errors: str
    tsv_quotes: bool
    json_values: bool


def _tsv_quoting(value: str) -> bool:
    if value not in TSV_QUOTING:
        # The CLI's options are checked by Typer: only the Python API's argument gets here.
        raise ArgumentError(f"tsv_quoting must be one of {', '.join(TSV_QUOTING)}, got {value!r}")
    return value == "csv"


def _check_format(path: str, column: str | None, errors: str, fmt: str | None) -> str:
    if errors not in ENCODING_ERRORS:
        raise ArgumentError(
            f"encoding_errors must be one of {', '.join(ENCODING_ERRORS)}, got {errors!r}"
        )
    if fmt is None:
        return input_format(path, column)
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def _chunks(
    handle: BinaryIO, path: str, fmt: str, column: str | None, chunk_size: int, options: _Options
) -> Iterator[list[str]]:
    try:
        chunk: list[str] = []
        for text in _records(handle, path, fmt, column, options, keep=False):
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
    handle: BinaryIO, path: str, fmt: str, column: str | None, options: _Options, keep: bool
) -> Iterator[Any]:
    """A Record per utterance if `keep` (read_records), else its text alone (read_chunks:
    `cnnfeat embed` reads millions of lines, and a Record per line would cost plain text ~30%
    more time). Records are built with Record._make, a third cheaper than Record(...)."""
    if fmt == "text":
        lines = _text_lines(handle, path, options.errors)
    else:
        lines = _text_lines(handle, path, options.errors, MAX_RECORD_BYTES, refuse=True)
    if fmt == "jsonl":
        return _jsonl_records(lines, path, column, options, keep)
    if fmt != "text":
        quotes = fmt == "csv" or options.tsv_quotes
        return _table_records(lines, path, column, TABLE_SUFFIXES["." + fmt], quotes, keep)
    if keep:
        return (Record._make((number, number - 1, text, {})) for number, text in lines)
    return (text for _, text in lines)


def _open(path: str) -> BinaryIO:
    what = _NOT_TEXT.get(Path(path).suffix.lower()) if path != "-" else None
    if what is not None:
        raise not_text_error(path, what)
    if path == "-":
        handle: BinaryIO = sys.stdin.buffer
    else:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise open_error(exc, path) from None
    try:
        head = handle.peek(8)[:8] if hasattr(handle, "peek") else b""
    except OSError:
        head = b""  # reported with its line when reading
    for magic, what in _MAGIC:
        if head.startswith(magic):
            _close(handle)
            raise not_text_error(path, what)
    return _unicode(handle, path, own=True)


def open_text(path: str) -> BinaryIO:
    """`path` (`-`: stdin) as UTF-8 bytes, by the rules of read_records: a file that is not
    text is refused, UTF-16 with a BOM is transcoded. InputError when it cannot be opened."""
    return _open(path)


# A byte order mark names the encoding: UTF-16 (Excel's "Unicode text", Windows Notepad's
# "Unicode") is read as such, little- or big-endian; so is UTF-32, whose LE BOM starts with
# UTF-16 LE's (read as UTF-16 it gave a row of NULs and halves for each line).
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def _unicode(handle: BinaryIO, path: str, own: bool) -> BinaryIO:
    """`handle`, or for a file that starts with a UTF-16/32 BOM a stream of its text in UTF-8."""
    try:
        head = handle.peek(4)[:4] if hasattr(handle, "peek") else b""
    except OSError:
        return handle
    if head in _UTF32_BOMS:
        return io.BufferedReader(_Utf16(handle, path, own, "UTF-32"), MAX_LINE_BYTES)
    if head[:2] not in _UTF16_BOMS:
        return handle
    return io.BufferedReader(_Utf16(handle, path, own), MAX_LINE_BYTES)


class _Utf16(io.RawIOBase):
    """A UTF-16 (or UTF-32) file (BOM first) read as UTF-8 bytes, a piece at a time. Lines and
    their numbers are those of the file. Text that is not UTF-16 (a lone surrogate, an odd
    number of bytes) is an InputError: --encoding-errors replace is about UTF-8 and does not
    apply."""

    def __init__(self, source: BinaryIO, path: str, own: bool, encoding: str = "UTF-16"):
        super().__init__()
        self._source, self._path, self._own = source, path, own
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")  # the BOM picks LE/BE
        self._pending = b""
        self._read = 0  # bytes of the file decoded so far
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            raw = self._source.read(1 << 16)
            self._done = not raw
            try:
                self._pending = self._decoder.decode(raw, final=self._done).encode("utf-8")
            except UnicodeDecodeError as exc:
                code, at = self._encoding, self._read + exc.start
                raise InputError(
                    f"not valid {code} ({exc.reason}) near byte offset {at}",
                    self._path,
                    advice=f"the file starts with a {code} byte order mark: fix the file, or "
                    f"convert it (iconv -f {code} -t UTF-8) to see where it breaks",
                ) from None
            self._read += len(raw)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if self._own and not self.closed:
            _close(self._source)
        super().close()


def not_text_error(path: str, what: str) -> InputError:
    """`path` is `what` (a gzip-compressed file, a Parquet file...), not text."""
    hint = (
        "decompress it first, or use cnnfeat embed-dataset, which reads compressed text"
        if "compressed" in what
        else "cnnfeat embed-dataset reads Parquet"
        if "Parquet" in what
        else "give a UTF-8 text, .csv, .tsv or .jsonl file"
    )
    return InputError(f"{what} file, not text", path, advice=f"cnnfeat reads UTF-8 text ({hint})")


def open_error(exc: OSError, path: str) -> InputError:
    """What to say when an input cannot be opened (here and by `embed-dataset`'s readers)."""
    if isinstance(exc, FileNotFoundError):
        return InputError("no such file", path)
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, expected a file", path)
    if isinstance(exc, PermissionError):
        return InputError("permission denied", path)
    # pyarrow's messages (remote filesystems) run on for lines; the first says what failed.
    detail = exc.strerror or first_line(exc)
    return InputError(f"cannot open: {detail}", path)


def _close(handle: BinaryIO) -> None:
    if handle is not sys.stdin.buffer:
        handle.close()


def _text_lines(
    handle: BinaryIO, path: str, errors: str, limit: int | None = None, refuse: bool = False
) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line; CR, LF and CRLF all end a line.

    Read MAX_LINE_BYTES at most at a time: a line longer than `limit` bytes keeps its first
    `limit` (cut at a character boundary) and the rest is read and dropped, so memory is bounded
    for any input; with `refuse` such a line is an InputError naming it instead. `limit`
    defaults to MAX_LINE_BYTES.
    """
    if limit is None:
        limit = MAX_LINE_BYTES
    number, offset = 0, 0  # offset: byte position of `raw` in the file
    kept = bytearray()  # the start of a line longer than one read
    kept_at = 0  # its byte offset in the file
    full = False  # the current line has reached MAX_LINE_BYTES: drop what follows
    cr = False  # the previous read ended with CR: a LF first in the next one is CRLF
    readline = handle.readline
    while True:
        try:
            raw = readline(MAX_LINE_BYTES)
        except OSError as exc:
            raise InputError(f"read failed: {exc.strerror or exc}", path, number + 1) from None
        if not raw:
            if kept or full or cr:  # a last line without a line end (or a lone final CR)
                if kept or full:
                    number += 1
                    yield number, _decode(bytes(kept), 0, len(kept), kept_at, path, number, errors)
            return
        start = 0
        if offset == 0 and raw.startswith(_BOM):
            start = len(_BOM)
            if start == len(raw):  # the file is nothing but a BOM: no lines at all
                return
        if cr and raw.startswith(b"\n"):
            start = 1  # the LF of a CRLF split between two reads
            if len(raw) == 1:
                cr = False
                offset += 1
                continue
        cr = False
        ends = raw.endswith(b"\n")
        end = len(raw) - 1 if ends else len(raw)
        if not ends and end > start and raw[end - 1] == 13:  # CR at the end of a read
            cr = True
        spans = _line_spans(raw, start, end)
        if not ends and not cr:
            *complete, (first, _) = spans  # the last span continues in the next read
        else:
            complete, first = spans, -1
        for i, (lo, hi) in enumerate(complete):
            number += 1
            if refuse and len(kept) + hi - lo > limit:
                raise _too_long(path, number)
            if i == 0 and (kept or full):
                piece = kept if full else kept + raw[lo:hi]
                if len(piece) > limit:
                    piece = piece[:limit]
                    del piece[_char_boundary(piece) :]
                yield number, _decode(bytes(piece), 0, len(piece), kept_at, path, number, errors)
                kept.clear()
                full = False
            else:
                yield number, _decode(raw, lo, hi, offset, path, number, errors)
        if first >= 0:
            if not kept and not full:
                kept_at = offset + first
            if not full:
                if refuse and len(kept) + len(raw) - first > limit:
                    raise _too_long(path, number + 1)
                kept += raw[first : first + limit - len(kept)]
                if len(kept) >= limit and not refuse:  # refused, never cut, when it grows
                    full = True
                    del kept[_char_boundary(kept) :]
        offset += len(raw)


def _too_long(path: str, number: int) -> InputError:
    return InputError(
        f"a record longer than {MAX_RECORD_BYTES >> 20} MiB, the most cnnfeat reads in one "
        "line of a .csv, .tsv or .jsonl file",
        path,
        number,
        advice="keep large fields (audio) in files of their own",
    )


def kept_text(value: str) -> str:
    """The utterance kept from a record's field: its first MAX_LINE_BYTES in UTF-8, as a line
    of plain text is kept."""
    if len(value) <= MAX_LINE_BYTES // 4:
        return value
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_LINE_BYTES:
        return value
    return str(data[:MAX_LINE_BYTES], "utf-8", "ignore")  # no half character at the end


def _char_boundary(data: bytearray) -> int:
    """The length of `data` without a UTF-8 character cut off at its end."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): is its character complete?
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4
            return end if back >= need else end - back
    return end


def _decode(
    raw: bytes, first: int, last: int, offset: int, path: str, number: int, errors: str
) -> str:
    try:
        return str(memoryview(raw)[first:last], "utf-8", errors)
    except UnicodeDecodeError as exc:
        bad = first + exc.start
        raise InputError(
            f"not valid UTF-8 at byte offset {offset + bad} (byte 0x{raw[bad]:02x})",
            path,
            number,
            advice=ENCODING_HINT,
        ) from None


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
    lines: Iterator[tuple[int, str]], path: str, column: str | None, options: _Options, keep: bool
) -> Iterator[Any]:
    errors = options.errors
    row = -1
    for number, line in lines:
        if not line.strip():
            continue  # blank lines hold no record (a trailing one is common)
        try:
            record = json.loads(line)
        except RecursionError:
            raise InputError("invalid JSON (nested too deeply)", path, number) from None
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise InputError(f"invalid JSON ({reason})", path, number) from None
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {json_type(record)}", path, number)
        if column is None:
            column = default_column(list(record), path, number)
        if column not in record:
            names = ", ".join(map(repr, record)) or "none"
            raise InputError(f"no field {column!r} (fields: {names})", path, number)
        value = record.pop(column)
        if not isinstance(value, str):
            raise InputError(f"field {column!r} is {json_type(value)}, not a string", path, number)
        if SURROGATE.search(value):
            if errors != "replace":
                raise InputError(
                    f"field {column!r} holds a lone surrogate escape (\\ud800-\\udfff), which "
                    "is not a character",
                    path,
                    number,
                    advice=ENCODING_HINT,
                )
            value = SURROGATE.sub("\ufffd", value)
        value = kept_text(value)
        if not keep:
            yield value
            continue
        row += 1
        if options.json_values:
            yield Record._make((number, row, value, record))
            continue
        fields = {
            k: v if isinstance(v, str) or v is None else json.dumps(v, ensure_ascii=False)
            for k, v in record.items()
        }
        yield Record._make((number, row, value, fields))


def _table_records(
    lines: Iterator[tuple[int, str]],
    path: str,
    column: str | None,
    delimiter: str,
    quotes: bool,
    keep: bool,
) -> Iterator[Any]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    numbers: list[int] = [0]
    fed = [0]  # characters of the record being read (a quoted field spans lines)
    first_line = 1

    def feed() -> Iterator[str]:
        # csv wants the newlines back to see quoted fields that span lines. NUL becomes a space
        # (what the tokenizer makes of it anyway): Python 3.10's csv refuses NUL outright.
        for number, line in lines:
            numbers.append(number)
            fed[0] += len(line)
            if fed[0] > MAX_RECORD_BYTES:  # a stray quote: not the rest of the file in memory
                raise _too_long(path, first_line)
            yield (line.replace("\x00", " ") if "\x00" in line else line) + "\n"

    # strict: a stray quote is an error, not a field silently swallowing the rest of the file.
    # Without quotes (TSV by default) a `"` is text and every line is one record.
    reader = csv.reader(
        feed(),
        delimiter=delimiter,
        strict=True,
        quoting=csv.QUOTE_MINIMAL if quotes else csv.QUOTE_NONE,
    )

    def rows() -> Iterator[tuple[int, list[str]]]:
        nonlocal first_line
        while True:
            first_line, fed[0] = numbers[-1] + 1, 0
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
        raise InputError(
            f"column names {repeated} occur more than once", path, 1, advice="rename them"
        )
    if column is None:
        column = default_column(header, path, 1)
    elif column not in header:
        raise InputError(f"no column {column!r} (columns: {', '.join(header)})", path, 1)
    index, width = header.index(column), len(header)
    names = header[:index] + header[index + 1 :]
    row_index = -1
    for number, row in records:
        if not row:
            if width > 1:
                continue  # a blank line holds no record (csv.DictReader and pandas skip it too)
            row = [""]  # a blank line in a one-column table is an empty utterance
        row_index += 1
        if len(row) != width:
            raise InputError(f"{len(row)} fields, the header has {width}", path, number)
        text = kept_text(row[index])
        if not keep:
            yield text
            continue
        fields = dict(zip(names, row[:index] + row[index + 1 :], strict=True))
        yield Record._make((number, row_index, text, fields))


def default_column(available: list[str], path: str, line: int | None = None) -> str:
    """The first of TEXT_COLUMNS in `available`, else an InputError that lists them."""
    for candidate in TEXT_COLUMNS:
        if candidate in available:
            return candidate
    raise InputError(
        f"no text column (looked for {', '.join(TEXT_COLUMNS)}; found "
        f"{', '.join(map(repr, available)) or 'none'})",
        path,
        line,
        advice=_COLUMN_HINT,
    )
