"""The input rules of `cnnfeat embed` (runtime/reading.py), one test per rule, no model needed."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from conftest import raises_at, write

from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.reading import (
    Record,
    read_chunks,
    read_records,
)


def rows(path: Path | str, **kwargs) -> list[str]:
    return [text for chunk in read_chunks(str(path), **kwargs) for text in chunk]


# --- plain text: line endings, BOM, empty lines ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a\nb\n", ["a", "b"]),
        (b"a\nb", ["a", "b"]),  # no final newline: same rows
        (b"a\r\nb\r\n", ["a", "b"]),  # CRLF (Windows)
        (b"a\rb\r", ["a", "b"]),  # lone CR (old Mac)
        (b"a\r\nb\rc\nd", ["a", "b", "c", "d"]),  # mixed
        (b"a\r\r\n", ["a", ""]),  # CR then CRLF: two line ends
        (b"\n", [""]),
        (b"\r\n", [""]),
        (b"\r", [""]),
        (b"", []),
        (b"\n\n\n", ["", "", ""]),
        (b"a\n\n  \n\t\nb\n", ["a", "", "  ", "\t", "b"]),  # empty/blank lines keep their row
    ],
)
def test_line_endings_and_empty_lines(tmp_path: Path, content: bytes, expected: list[str]) -> None:
    assert rows(write(tmp_path, "t.txt", content)) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xef\xbb\xbfa\nb\n", ["a", "b"]),
        (b"\xef\xbb\xbf", []),  # a BOM alone is an empty file
        (b"\xef\xbb\xbf\n", [""]),
        (b"\xef\xbb\xbf\r\nx", ["", "x"]),
        (b"a\n\xef\xbb\xbfb\n", ["a", "\ufeffb"]),  # only the file's first bytes are a BOM
    ],
)
def test_bom(tmp_path: Path, content: bytes, expected: list[str]) -> None:
    assert rows(write(tmp_path, "t.txt", content)) == expected


def test_unicode_separators_stay_inside_the_line(tmp_path: Path) -> None:
    text = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"
    assert rows(write(tmp_path, "t.txt", text + "\n" + text)) == [text, text]


def test_non_latin_scripts_and_emoji(tmp_path: Path) -> None:
    lines = [
        "Ой, привет!",
        "مرحبا كيف حالك",
        "你好，世界",
        "שלום",
        "नमस्ते",
        "😀👍🏽 family: 👨‍👩‍👧",
        "Zoë",
    ]
    assert rows(write(tmp_path, "t.txt", "\n".join(lines))) == lines


def test_nul_bytes_are_kept(tmp_path: Path) -> None:
    assert rows(write(tmp_path, "t.txt", b"a\x00b\n\x00\n")) == ["a\x00b", "\x00"]


def test_chunks_keep_order_and_size(tmp_path: Path) -> None:
    lines = [f"line {i}" for i in range(10)]
    chunks = list(read_chunks(str(write(tmp_path, "t.txt", "\n".join(lines))), chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [t for c in chunks for t in c] == lines


def test_line_endings_and_bom(tmp_path: Path) -> None:
    text = "\ufeffa\r\nb\rc\n\nd\u2028e"
    assert rows(write(tmp_path, "t.txt", text)) == ["a", "b", "c", "", "d\u2028e"]


# --- invalid UTF-8 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "offset", "byte"),
    [
        (b"\xff", 1, 0, 0xFF),
        (b"ok\nbad \xff here\n", 2, 7, 0xFF),
        (b"a\r\nb\rc \xe9t\xe9\n", 3, 7, 0xE9),  # Latin-1: line counted over CRLF and CR
        (b"\xef\xbb\xbfa\n\xc3(\n", 2, 5, 0xC3),  # offsets count the BOM bytes too
        (b"fine\ncut \xe2\x82", 2, 9, 0xE2),  # a multi-byte character cut short at EOF
    ],
)
def test_invalid_utf8_names_line_and_byte_offset(
    tmp_path: Path, content: bytes, line: int, offset: int, byte: int
) -> None:
    path = write(tmp_path, "t.txt", content)
    with raises_at(path, line, f"not valid UTF-8 at byte offset {offset} \\(byte 0x{byte:02x}\\)"):
        rows(path)
    assert content[offset] == byte  # the offset really points at the bad byte


def test_invalid_utf8_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--encoding-errors replace"):
        rows(write(tmp_path, "t.txt", b"\xff\n"))


def test_encoding_errors_replace_carries_on(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", b"ok\nbad \xff here\n\xc3(\nend")
    assert rows(path, encoding_errors="replace") == ["ok", "bad \ufffd here", "\ufffd(", "end"]


def test_unknown_encoding_errors_mode(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--encoding-errors must be one of strict, replace"):
        read_chunks(str(write(tmp_path, "t.txt", "a")), encoding_errors="ignore")


# --- files that are not there ----------------------------------------------------------------


def test_missing_input(tmp_path: Path) -> None:
    with raises_at(tmp_path / "nope.txt", None, "no such file"):
        read_chunks(str(tmp_path / "nope.txt"))


def test_directory_input(tmp_path: Path) -> None:
    with raises_at(tmp_path, None, "is a directory"):
        read_chunks(str(tmp_path))


def test_column_needs_a_table(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--column needs a .csv, .tsv or .jsonl file"):
        read_chunks(str(write(tmp_path, "t.txt", "a")), column="text")
    with pytest.raises(InputError, match="stdin is read as plain text"):
        read_chunks("-", column="text")


# --- stdin -----------------------------------------------------------------------------------


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa\r\n\nb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert rows("-") == ["a", "", "b"]
    assert not stdin.buffer.closed  # stdin is not ours to close


# --- CSV / TSV -------------------------------------------------------------------------------


def test_csv_named_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", 'id,text\r\n1,"Well, no."\r\n2,\r\n3,"He said ""hi"""\r\n')
    assert rows(path, column="text") == ["Well, no.", "", 'He said "hi"']


def test_csv_default_column_like_train(tmp_path: Path) -> None:
    # No --column: the first of Utterance, text, utterance, transcript (as `cnnfeat train`).
    path = write(tmp_path, "t.csv", "Sr No.,Utterance,Emotion\n1,Oh my God!,surprise\n")
    assert rows(path) == ["Oh my God!"]


def test_csv_quoted_field_with_newlines(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", 'id,text\n1,"two\nlines"\n2,"crlf\r\ninside"\n3,after\n')
    assert rows(path, column="text") == ["two\nlines", "crlf\ninside", "after"]


@pytest.mark.parametrize(
    ("content", "column", "line", "match"),
    [
        pytest.param("a,b\n1,2\n", None, 1, "no text column .*'a', 'b'.*--column",
                     id="no text column"),
        pytest.param("id,Utterance\n1,hi\n", "text", 1,
                     "no column 'text' \\(columns: id, Utterance\\)", id="no such column"),
        pytest.param("\nid,text\n", "text", 1, "header row", id="empty header line"),
        # The record on line 4 starts after a quoted field that spans lines 2-3.
        pytest.param('id,text\n1,"a\nb"\n2,c,extra\n', "text", 4, "3 fields, the header has 2",
                     id="ragged row names its first line"),
        pytest.param("id,text,speaker\n1,a,x\n2,b\n", "text", 3, "2 fields, the header has 3",
                     id="short row"),
        pytest.param('id,text\n1,ok\n2,"never closed\n3,x\n4,y\n', "text", 3,
                     "malformed CSV record", id="stray quote is an error, not a swallowed file"),
    ],
)  # fmt: skip
def test_csv_errors_name_the_line(
    tmp_path: Path, content: str, column: str | None, line: int, match: str
) -> None:
    path = write(tmp_path, "t.csv", content)
    with raises_at(path, line, match):
        rows(path, column=column)


def test_csv_blank_line_in_a_one_column_table(tmp_path: Path) -> None:
    # An empty utterance, like in a .txt file (in a wider table it is an error, above).
    one = write(tmp_path, "one.csv", "text\na\n\nb\n")
    assert rows(one) == ["a", "", "b"]


def test_csv_header_only_and_empty(tmp_path: Path) -> None:
    assert rows(write(tmp_path, "h.csv", "id,text\n"), column="text") == []
    assert rows(write(tmp_path, "e.csv", ""), column="text") == []


def test_csv_bom_crlf_nul_and_long_field(tmp_path: Path) -> None:
    long = "word " * 100_000  # 500 KB, over the csv module's default 128 KiB field limit
    path = write(tmp_path, "t.csv", f'\ufefftext,n\r\n"{long}",1\r\na\x00b,2\r\n')
    assert rows(path) == [long, "a b"]  # NUL: a space, as the tokenizer reads it anyway


def test_tsv(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", "id\ttext\n1\tone, two\n2\t\n")
    assert rows(path, column="text") == ["one, two", ""]


# --- JSONL -----------------------------------------------------------------------------------


def jsonl(tmp_path: Path, *records) -> Path:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"
    return write(tmp_path, "t.jsonl", text)


def test_jsonl_default_and_named_column(tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"text": "a", "n": 1}, {"text": "", "n": 2}, {"text": "😀", "n": 3})
    assert rows(path) == ["a", "", "😀"]
    path = jsonl(tmp_path, {"line": "x"}, {"line": "y\nz"})
    assert rows(path, column="line") == ["x", "y\nz"]


def test_jsonl_missing_field(tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"text": "a"}, {"txt": "b", "n": 1})
    with raises_at(path, 2, "no field 'text' \\(fields: 'txt', 'n'\\)"):
        rows(path)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(3, "a number"), (1.5, "a number"), (None, "null"), (True, "a boolean"),
     (["a"], "an array"), ({"a": 1}, "an object")],
)  # fmt: skip
def test_jsonl_non_string_value(tmp_path: Path, value, kind: str) -> None:
    path = jsonl(tmp_path, {"text": "ok"}, {"text": value})
    with raises_at(path, 2, f"field 'text' is {kind}, not a string"):
        rows(path)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"text": "a"', "invalid JSON"),
        ('["text"]', "expected a JSON object, got an array"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),  # nested too deeply for Python
        ('{"text": ' + "1" * 5000 + "}", "invalid JSON"),  # an integer too long to convert
    ],
)
def test_jsonl_bad_lines(tmp_path: Path, line: str, match: str) -> None:
    path = jsonl(tmp_path, {"text": "ok"}, line, {"text": "after"})
    with raises_at(path, 2, match):
        rows(path)


def test_jsonl_lone_surrogate(tmp_path: Path) -> None:
    path = jsonl(tmp_path, '{"text": "ok \\ud83d"}', '{"text": "pair \\ud83d\\ude00"}')
    with raises_at(path, 1, "lone surrogate.*--encoding-errors replace"):
        rows(path)
    assert rows(path, encoding_errors="replace") == ["ok \ufffd", "pair 😀"]


# --- records: the same reading, with each row's place and other columns (embed-dataset) ------


def records(path: Path, **kwargs) -> list[Record]:
    return list(read_records(str(path), **kwargs))


def test_records_carry_line_row_and_other_fields(tmp_path: Path) -> None:
    table = write(tmp_path, "t.csv", 'id,text,who\n1,"two\nlines",a\n2,,b\n')
    assert records(table) == [
        Record(2, 0, "two\nlines", {"id": "1", "who": "a"}),
        Record(4, 1, "", {"id": "2", "who": "b"}),
    ]
    # JSONL fields: strings and null as they are, any other value as its JSON text.
    path = jsonl(tmp_path, {"id": 7, "text": "a", "meta": {"k": [1]}, "who": None, "s": "é"})
    assert records(path) == [
        Record(1, 0, "a", {"id": "7", "meta": '{"k": [1]}', "who": None, "s": "é"})
    ]
    text = write(tmp_path, "t.txt", b"\xef\xbb\xbfa\r\rb")
    assert records(text) == [Record(1, 0, "a", {}), Record(2, 1, "", {}), Record(3, 2, "b", {})]


@pytest.mark.parametrize(
    ("name", "content", "column"),
    [
        ("t.txt", b"a\r\n\nb\rc\xe2\x80\xa8d\n", None),
        ("t.csv", b'id,text\r\n1,"x\r\ny"\r\n2,\r\n3,z', "text"),
        ("t.tsv", b"id\ttext\n1\tone, two\n2\t\n", "text"),
        ("t.jsonl", b'{"text": "a", "n": 1}\n{"n": 2, "text": "\\ud83d"}\n', None),
    ],
)
def test_records_and_chunks_read_the_same_utterances(
    tmp_path: Path, name: str, content: bytes, column: str | None
) -> None:
    path = write(tmp_path, name, content)
    got = records(path, column=column, encoding_errors="replace")
    assert [r.text for r in got] == rows(path, column=column, encoding_errors="replace")
    assert [r.row for r in got] == list(range(len(got)))


def test_records_from_an_open_stream_name_it_in_errors() -> None:
    stream = io.BytesIO(b"text,n\nx,1\n")
    assert list(read_records("<upload>", handle=stream, fmt="csv")) == [
        Record(2, 0, "x", {"n": "1"})
    ]
    assert not stream.closed  # the caller's to close
    bad = read_records("<upload>", handle=io.BytesIO(b"ok\n\xff\n"), fmt="text")
    with pytest.raises(InputError, match="^<upload>:2: not valid UTF-8"):
        list(bad)
    with pytest.raises(ValueError, match="unknown input format 'xml'"):
        read_records("<upload>", handle=io.BytesIO(b""), fmt="xml")
