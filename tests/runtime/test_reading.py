"""The input rules of `cnnfeat embed` (runtime/reading.py), one test per rule, no model needed."""

from __future__ import annotations

import gzip
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SETTINGS, TinyModel, oracle_lines, raises_at, read_file, write
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat.contract.errors import ArgumentError, InputError
from cnnfeat.runtime import reading
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


def test_unknown_encoding_errors_mode(tmp_path: Path, tiny_global: TinyModel) -> None:
    """The Python API's argument is named as the API names it (it said --encoding-errors, an
    option of the CLI, whose Typer choices never let a wrong value through), as an
    ArgumentError; found by breaking the refactored API."""
    match = "^encoding_errors must be one of strict, replace, got 'ignore'$"
    with pytest.raises(ArgumentError, match=match):
        read_chunks(str(write(tmp_path, "t.txt", "a")), encoding_errors="ignore")
    with pytest.raises(ArgumentError, match=match):
        cnnfeat.embed_file(
            write(tmp_path, "u.txt", "a"),
            tmp_path / "o.npy",
            model=tiny_global.model_dir,
            encoding_errors="ignore",
        )


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
        pytest.param(
            "a,b\n1,2\n", None, 1, "no text column .*'a', 'b'.*--column", id="no text column"
        ),
        pytest.param(
            "id,Utterance\n1,hi\n",
            "text",
            1,
            "no column 'text' \\(columns: id, Utterance\\)",
            id="no such column",
        ),
        pytest.param("\nid,text\n", "text", 1, "header row", id="empty header line"),
        # The record on line 4 starts after a quoted field that spans lines 2-3.
        pytest.param(
            'id,text\n1,"a\nb"\n2,c,extra\n',
            "text",
            4,
            "3 fields, the header has 2",
            id="ragged row names its first line",
        ),
        pytest.param(
            "id,text,speaker\n1,a,x\n2,b\n", "text", 3, "2 fields, the header has 3", id="short row"
        ),
        pytest.param(
            'id,text\n1,ok\n2,"never closed\n3,x\n4,y\n',
            "text",
            3,
            "malformed CSV record",
            id="stray quote is an error, not a swallowed file",
        ),
    ],
)
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
    [
        (3, "a number"),
        (1.5, "a number"),
        (None, "null"),
        (True, "a boolean"),
        (["a"], "an array"),
        ({"a": 1}, "an object"),
    ],
)
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


# --- property tests (hypothesis): arbitrary text -----------------------------------------


@settings(max_examples=400, **SETTINGS)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=8),
            st.sampled_from(
                [
                    b"\r",
                    b"\n",
                    b"\r\n",
                    b"\xef\xbb\xbf",
                    b"\xff",
                    b"\xc3",
                    b"\xe2\x82",
                    b"\x00",
                    b"w1 ",
                ]
            ),
        ),
        max_size=30,
    ).map(b"".join)
)
@example(b"")
@example(b"\xef\xbb\xbf")
@example(b"a\r\r\n\r")
def test_reader_splits_any_bytes_like_the_rule(data: bytes) -> None:
    from cnnfeat.runtime.reading import _MAGIC

    # Files that start like a compressed or binary format are refused (below).
    assume(not any(data.startswith(magic) for magic, _ in _MAGIC))
    # A UTF-16 byte order mark makes the file UTF-16 (below).
    assume(not data.startswith((b"\xff\xfe", b"\xfe\xff")))
    expected = oracle_lines(data)
    assert read_file(data, "replace") == [line.decode("utf-8", "replace") for line in expected]
    try:
        strict = read_file(data)
    except InputError as error:
        bad = next(i for i, line in enumerate(expected) if not _is_utf8(line))
        assert f":{bad + 1}: not valid UTF-8 at byte offset " in str(error)
    else:
        assert all(_is_utf8(line) for line in expected)
        assert strict == [line.decode("utf-8") for line in expected]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- bounded memory for any line, files that are not text, reads cut anywhere ----------


def reference_lines(data: bytes, cap: int) -> list[str]:
    """The rule, written plainly: BOM dropped, CR / LF / CRLF end lines, no line after a final
    line end, each line cut to its first `cap` bytes at a character boundary."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = re.split(rb"\r\n|\r|\n", data)
    if parts and parts[-1] == b"":
        parts.pop()
    return [p[:cap].decode("utf-8", "ignore") for p in parts]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "é", "€", "😀", "\r", "\n", "\r\n", " ", "\x00"]), max_size=60),
    st.integers(4, 12),
    st.booleans(),
)
def test_lines_cut_at_any_read_boundary(pieces: list[str], cap: int, bom: bool) -> None:
    """From the reading rules round (issue 10)."""
    data = ("\ufeff" if bom else "").encode() + "".join(pieces).encode("utf-8")
    original = reading.MAX_LINE_BYTES
    reading.MAX_LINE_BYTES = cap
    try:
        got = [t for _, t in reading._text_lines(io.BytesIO(data), "x", "strict")]
    finally:
        reading.MAX_LINE_BYTES = original
    assert got == reference_lines(data, cap)


def test_long_line_keeps_its_first_mebibyte_and_the_next_line_follows() -> None:
    """From the reading rules round (issue 10)."""
    data = b"x" * (3 * reading.MAX_LINE_BYTES + 5) + b"\nnext\r\nlast"
    got = list(reading._text_lines(io.BytesIO(data), "x", "strict"))
    assert [(n, len(t)) for n, t in got] == [(1, reading.MAX_LINE_BYTES), (2, 4), (3, 4)]


def test_bad_utf8_after_a_long_line_has_the_right_line_and_offset() -> None:
    """From the reading rules round (issue 10)."""
    data = b"ok\n" + b"y" * (reading.MAX_LINE_BYTES + 10) + b"\nab\xffc\n"
    with pytest.raises(InputError) as info:
        list(reading._text_lines(io.BytesIO(data), "in.txt", "strict"))
    assert str(info.value).startswith("in.txt:3: not valid UTF-8 at byte offset ")
    assert f"offset {len(data) - 3} (byte 0xff)" in str(info.value)


# --- not text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "what"),
    [
        ("t.txt.gz", gzip.compress(b"hello\n"), "gzip-compressed"),
        ("t.txt", gzip.compress(b"hello\n"), "gzip-compressed"),  # by its first bytes
        ("t.bz2", b"BZh91AY&SY", "bzip2-compressed"),
        ("t.csv", b"\xfd7zXZ\x00\x00", "xz-compressed"),
        ("t.zst", b"\x28\xb5\x2f\xfd....", "zstd-compressed"),
        ("t.jsonl", b"PK\x03\x04....", "a zip archive"),
        ("t.parquet", b"PAR1....", "a Parquet file"),
        ("data", b"PAR1....", "a Parquet file"),
        ("t.npy", b"\x93NUMPY\x01\x00", "a NumPy array"),
    ],
)
def test_files_that_are_not_text_are_refused_by_what_they_are(
    tmp_path: Path, name: str, data: bytes, what: str
) -> None:
    """From the reading rules round (issue 10)."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        next(reading.read_chunks(str(path)))
    message = str(info.value)
    assert message.startswith(f"{path}: {what} file, not text") and "\n" not in message
    assert "UTF-8 at byte" not in message


def test_training_refuses_a_compressed_file(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    from cnnfeat.training.data import read_labelled

    path = tmp_path / "train.csv"
    path.write_bytes(gzip.compress(b"Utterance,Emotion\nhi,joy\n"))
    with pytest.raises(InputError, match="gzip-compressed file, not text"):
        read_labelled(path)


def test_text_that_starts_like_a_magic_number_only_by_accident_is_read(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    path = tmp_path / "t.txt"
    path.write_text("PAR 1 is fine\nBZ is fine\n", encoding="utf-8")
    assert next(reading.read_chunks(str(path))) == ["PAR 1 is fine", "BZ is fine"]


# --- a line that never ends ---------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32" or not Path("/dev/zero").exists(), reason="POSIX")
def test_embed_dev_zero_uses_bounded_memory_and_stops_on_ctrl_c(
    tiny_global: TinyModel, tmp_path: Path
) -> None:
    """From the reading rules round (issue 10)."""
    out = tmp_path / "zero.npy"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnfeat",
            "embed",
            "/dev/zero",
            "-o",
            str(out),
            "--model",
            str(tiny_global.model_dir),
            "--device",
            "cpu",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(6)  # start-up, then seconds of reading zeros
        assert child.poll() is None, child.stderr.read().decode()
        rss_kib = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{child.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        )
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        rc = child.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read().decode()
    assert rc == 130, stderr
    assert took < 1.0
    assert rss_kib < 400 * 1024  # the interpreter, onnxruntime and one MiB of line
    assert not out.exists()
    assert stderr.strip().splitlines()[-1].startswith("cnnfeat: error: interrupted")


# --- one reader: embed, train and embed-dataset get the same records ---------------------------


SAME_RECORDS = [
    ("t.jsonl", b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n\n', ["a", "b"]),
    ("t.jsonl", b'\n{"text": "a", "label": "x"}\r\n  \r\n{"text": "b", "label": "y"}', ["a", "b"]),
    ("t.csv", b"text,label\r\na,x\r\n\r\nb,y\r\n\r\n", ["a", "b"]),  # blank lines: no record
    ("t.csv", b'text,label\ra,x\r"b\r\nc",y\n', ["a", "b\nc"]),  # CR, CRLF, LF; a quoted break
    ("t.csv", b"\xef\xbb\xbftext,label\na,x\nb,y", ["a", "b"]),  # BOM, no final line end
    # TSV quotes are text: one unbalanced quote no longer merges four records into three.
    ("t.tsv", b'text\tlabel\n"a\tx\nb\ty\nc"\tx\nd\ty\n', ['"a', "b", 'c"', "d"]),
]


@pytest.mark.parametrize(("name", "data", "texts"), SAME_RECORDS)
def test_embed_train_and_embed_dataset_read_the_same_records(
    tmp_path: Path, name: str, data: bytes, texts: list[str]
) -> None:
    """From the reading rules round (issue 10)."""
    from cnnfeat.training.data import read_labelled

    path = tmp_path / name
    path.write_bytes(data)
    embedded = [t for chunk in reading.read_chunks(str(path), "text") for t in chunk]
    assert embedded == texts
    assert read_labelled(path).texts == texts
    assert [r.text for r in reading.read_records(str(path), "text")] == texts
    assert [r.row for r in reading.read_records(str(path), "text")] == list(range(len(texts)))
    pa = pytest.importorskip("pyarrow", reason="embed-dataset needs the [ray] extra")
    from cnnfeat.distributed.sources import TEXT, read_blocks

    blocks = list(read_blocks(io.BytesIO(data), str(path), "text", "strict", 1000))
    assert pa.concat_tables(blocks)[TEXT].to_pylist() == texts


def test_tsv_csv_quoting_is_an_option(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    from cnnfeat.training.data import read_labelled

    path = tmp_path / "q.tsv"
    path.write_bytes(b'text\tlabel\n"two\nlines"\tx\n"tab\there"\ty\n')
    assert read_labelled(path, tsv_quoting="csv").texts == ["two\nlines", "tab\there"]
    records = list(reading.read_records(str(path), "text", tsv_quoting="csv"))
    assert [(r.line, r.text) for r in records] == [(2, "two\nlines"), (4, "tab\there")]
    with pytest.raises(InputError, match=r"q\.tsv:2: 1 fields, the header has 2"):
        list(reading.read_records(str(path), "text"))  # literal: line 2 is a ragged record
    with pytest.raises(
        ArgumentError, match="^tsv_quoting must be one of literal, csv, got 'excel'$"
    ):
        reading.read_chunks(str(path), "text", tsv_quoting="excel")


def test_embed_cli_takes_tsv_quoting(tmp_path: Path, tiny_global: TinyModel) -> None:
    """From the reading rules round (issue 10)."""
    import numpy as np

    path = tmp_path / "q.tsv"
    path.write_bytes(b'text\n"a\nb"\n')
    base = [
        sys.executable,
        "-m",
        "cnnfeat",
        "embed",
        str(path),
        "--model",
        str(tiny_global.model_dir),
        "-q",
        "-o",
    ]
    literal = subprocess.run([*base, str(tmp_path / "l.npy")], capture_output=True)
    quoted = subprocess.run(
        [*base, str(tmp_path / "c.npy"), "--tsv-quoting", "csv"], capture_output=True
    )
    assert literal.returncode == 0 and quoted.returncode == 0, quoted.stderr
    assert np.load(tmp_path / "l.npy").shape[0] == 2 and np.load(tmp_path / "c.npy").shape[0] == 1


# --- records over 1 MiB; the record cap -------------------------------------------------------


AUDIO = "UklGR" + "A" * (3 << 20)  # a speech manifest's base64 audio field, 3 MiB


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.jsonl", f'{{"audio": "{AUDIO}", "text": "w1 w2"}}\n{{"audio": "", "text": "w3"}}\n'),
        ("m.csv", f"audio,text\n{AUDIO},w1 w2\n,w3\n"),
        ("q.csv", f'audio,text\n"{AUDIO}\n{AUDIO}","w1 w2"\n,w3\n'),  # a quoted field, two lines
        ("m.tsv", f"audio\ttext\n{AUDIO}\tw1 w2\n\tw3\n"),
    ],
)
def test_records_over_a_mebibyte_are_read(tmp_path: Path, name: str, content: str) -> None:
    """A JSONL line over 1 MiB was "invalid JSON", a CSV field "1 fields, the header has 2":
    the line was cut at 1 MiB. The record is read whole; the utterance is what is kept.
    From the reading rules round (issue 10)."""
    path = tmp_path / name
    path.write_text(content)
    assert [t for chunk in reading.read_chunks(str(path)) for t in chunk] == ["w1 w2", "w3"]
    records = list(reading.read_records(str(path)))
    first = 1 if name.endswith(".jsonl") else 2  # after the header row
    second = first + 1 + name.startswith("q")
    assert [(r.line, r.text) for r in records] == [(first, "w1 w2"), (second, "w3")]
    assert records[0].fields["audio"] in (AUDIO, f"{AUDIO}\n{AUDIO}")


def test_a_long_utterance_in_a_record_is_kept_as_a_long_line_is(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    text = "é" * (reading.MAX_LINE_BYTES // 2 + 7)  # 2 bytes each: over MAX_LINE_BYTES
    (tmp_path / "t.txt").write_text(text + "\n")
    (tmp_path / "t.jsonl").write_text(f'{{"text": "{text}"}}\n')
    (tmp_path / "t.csv").write_text(f"text\n{text}\n")
    kept = [
        t for p in ("t.txt", "t.jsonl", "t.csv") for t in reading.read_chunks(str(tmp_path / p))
    ]
    assert kept == [[text[: reading.MAX_LINE_BYTES // 2]]] * 3


def test_a_record_over_the_cap_names_its_line(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    path = tmp_path / "m.jsonl"
    big = b'{"text": "w1", "audio": "' + b"A" * reading.MAX_RECORD_BYTES + b'"}\n'
    path.write_bytes(b'{"text": "w0"}\n' + big)
    with pytest.raises(InputError) as info:
        list(reading.read_chunks(str(path)))
    assert str(info.value) == (
        f"{path}:2: a record longer than 64 MiB, the most cnnfeat reads in one line of a .csv, "
        ".tsv or .jsonl file; keep large fields (audio) in files of their own"
    )
    path.write_bytes(b'{"text": "w0"}\n' + big[: reading.MAX_RECORD_BYTES - 2] + b'"}\n')
    assert list(reading.read_chunks(str(path))) == [["w0", "w1"]]  # at the cap: read


@pytest.mark.parametrize("name", ["t.csv", "t.tsv"])
def test_a_quoted_record_over_the_cap_across_lines_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A stray quote made the rest of the file one field, read whole before "malformed CSV
    record": a 200 MB CSV took 1 GB of memory (a tester's find). The cap holds for a record
    that spans lines too; one at the cap is read."""
    monkeypatch.setattr(reading, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / name
    quote = "csv" if name.endswith(".tsv") else "literal"
    sep = b"\t" if name.endswith(".tsv") else b","
    path.write_bytes(b"text" + sep + b"a\nw0" + sep + b'"x\n' + b"z" * 497 + b"\n" + b"y" * 500)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}:2: a record longer than"):
        list(reading.read_chunks(str(path), tsv_quoting=quote))
    path.write_bytes(b"text" + sep + b"a\nw0" + sep + b'"x\n' + b"z" * 994 + b'"\nw1' + sep)
    assert list(reading.read_chunks(str(path), tsv_quoting=quote)) == [["w0", "w1"]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "é", "€", "😀", "\r", "\n", "\r\n"]), max_size=40),
    st.integers(4, 12),
)
def test_records_at_any_read_boundary_are_whole_or_refused(pieces: list[str], cap: int) -> None:
    """The record reader: each line whole when it fits `cap` bytes, else an error naming it.
    From the reading rules round (issue 10)."""
    data = "".join(pieces).encode("utf-8")
    want = reference_lines(data, 1 << 30)
    original = reading.MAX_LINE_BYTES
    reading.MAX_LINE_BYTES = 3  # reads end anywhere, even inside a character
    try:
        lines = reading._text_lines(io.BytesIO(data), "x", "strict", cap, refuse=True)
        too_long = [i + 1 for i, line in enumerate(want) if len(line.encode()) > cap]
        if too_long:
            with pytest.raises(InputError, match=f"^x:{too_long[0]}: a record longer"):
                list(lines)
        else:
            assert [t for _, t in lines] == want
    finally:
        reading.MAX_LINE_BYTES = original


# --- UTF-16 with a byte order mark ------------------------------------------------------------


UTF16_TABLE = "Utterance\tEmotion\nOh my God!\tsurprise\r\nça va 你好 😀\tjoy\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.txt", "first line\r\nça va 你好 😀\n\nlast"),
        ("t.tsv", UTF16_TABLE),
        ("t.csv", UTF16_TABLE.replace("\t", ",").replace("Oh my God!", '"Oh, my God!"')),
        ("t.jsonl", '{"text": "ça va"}\n{"text": "😀"}\n'),
    ],
)
def test_utf16_with_a_bom_reads_as_its_utf8_twin(
    tmp_path: Path, codec: str, name: str, content: str
) -> None:
    """Excel's "Unicode text" export (UTF-16 LE, BOM FF FE) was "not valid UTF-8 ... pass
    --encoding-errors replace", and that advice gave letter-by-letter garbage. UTF-32 LE, whose
    BOM starts with UTF-16 LE's, was read as UTF-16: each line a row of NULs and halves, exit 0
    (a tester's find); UTF-32 BE was "not valid UTF-8". From the reading rules round (issue 10)."""
    utf8 = tmp_path / f"utf8{Path(name).suffix}"
    utf8.write_bytes(content.encode("utf-8"))
    utf16 = tmp_path / name
    utf16.write_bytes("\ufeff".encode(codec) + content.encode(codec))
    assert list(reading.read_records(str(utf16))) == list(reading.read_records(str(utf8)))
    assert list(reading.read_chunks(str(utf16), chunk_size=2)) == list(
        reading.read_chunks(str(utf8), chunk_size=2)
    )


def test_broken_utf16_names_utf16_and_iconv(tmp_path: Path) -> None:
    """From the reading rules round (issue 10)."""
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xff\xfe" + "ok\n".encode("utf-16-le") + b"\x00\xd8" + b"a\x00\n\x00")
    for errors in ("strict", "replace"):
        with pytest.raises(InputError) as info:
            list(reading.read_chunks(str(path), encoding_errors=errors))
        message = str(info.value)
        assert message.startswith(f"{path}: not valid UTF-16 (")
        assert "iconv -f UTF-16 -t UTF-8" in message and "--encoding-errors" not in message


MELD_LIKE = (
    "Dialogue_ID,Utterance_ID,Speaker,Utterance,Emotion\n0,0,Ross,Oh my God!,surprise\r\n"
    "0,1,Rachel,ça va 你好 😀,joy\n1,0,Joey,How you doin'?,neutral\n"
)


def test_utf16_and_large_records_in_every_reader(tmp_path: Path, tiny_global: TinyModel) -> None:
    """embed, tokenize, train's reader, the dialogue reader (which reads the header again) and
    the EmoryNLP JSON reader see a UTF-16 file (with a 3 MiB field) as its UTF-8 twin.
    From the reading rules round (issue 10)."""
    import json

    import numpy as np
    from helpers import invoke

    from cnnfeat.runtime.corpora import read_emorynlp_json, read_utterances
    from cnnfeat.training.data import read_labelled

    table = MELD_LIKE.replace("Emotion\n", "Emotion,audio\n").replace(
        "\n0,0,Ross,Oh my God!,surprise", "\n0,0,Ross,Oh my God!,surprise," + AUDIO
    )
    table = table.replace("joy\n", "joy,\n").replace("neutral\n", "neutral,\n")
    utf8, utf16 = tmp_path / "utf8.csv", tmp_path / "utf16.csv"
    utf8.write_bytes(table.encode("utf-8"))
    utf16.write_bytes(b"\xff\xfe" + table.encode("utf-16-le"))
    for command, suffix in (("embed", ".npy"), ("tokenize", ".txt")):
        outs = []
        for source in (utf8, utf16):
            out = tmp_path / f"{command}-{source.stem}{suffix}"
            result = invoke(command, source, "-o", out, "--model", tiny_global.model_dir)
            assert result.exit_code == 0, result.output
            outs.append(np.load(out) if suffix == ".npy" else out.read_text())
        assert len(outs[0]) == 3 if suffix == ".npy" else outs[0].count("\n") == 3
        assert np.array_equal(outs[0], outs[1]) if suffix == ".npy" else outs[0] == outs[1]
    assert read_labelled(utf16).labels == read_labelled(utf8).labels
    assert read_labelled(utf16).texts == ["Oh my God!", "ça va 你好 😀", "How you doin'?"]
    dialogues = [read_utterances(str(p)) for p in (utf8, utf16)]
    assert dialogues[1] == dialogues[0] and dialogues[0][1].speaker == "Rachel"
    doc = {
        "episodes": [
            {
                "scenes": [
                    {
                        "scene_id": "s01_e01_c01",
                        "utterances": [
                            {
                                "utterance_id": "s01_e01_c01_u001",
                                "speakers": ["Ross"],
                                "transcript": "ça va",
                                "emotion": "Joyful",
                            }
                        ],
                    }
                ]
            }
        ]
    }
    emory = tmp_path / "emory.json"
    emory.write_bytes(b"\xfe\xff" + json.dumps(doc, ensure_ascii=False).encode("utf-16-be"))
    assert [u.text for u in read_emorynlp_json(str(emory))] == ["ça va"]
