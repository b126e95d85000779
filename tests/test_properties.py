"""Property tests (hypothesis): arbitrary text through the reader, the tokenizer and the embedder.

- the reader splits any bytes exactly like an independent oracle (row i is line i), and with
  strict decoding fails only with InputError, only when the bytes are not UTF-8;
- any text (any Unicode except surrogates, control characters and line separators included)
  embeds without an exception into exactly one finite, non-negative row per line;
- clipping a long line never changes its first max_len tokens.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.clip import clip_line
from cnnfeat.runtime.reading import read_chunks

# Any code point a UTF-8 file can hold: everything but the surrogates.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
# Biased toward what breaks line splitting and tokenising: line ends, BOM, NUL and controls,
# Unicode separators, combining marks, clitics, numbers, wide and emoji characters.
NASTY = st.sampled_from(
    list("\r\n\t \x00\x0b\x0c\x1c\x85\u2028\u2029\ufeff\u00a0\u3000\u0301\u0308'.,:-n't")
    + ["\r\n", "w1", "w2 ", "Σ", "ﬃ", "½", "…", "😀", "👨\u200d👩", "你好", "١٢٣"]
    + ["\ud7ff", "\U0010ffff"]
)  # fmt: skip
TEXT = st.lists(st.one_of(ANY_CHAR, NASTY), max_size=60).map("".join)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def oracle_lines(data: bytes) -> list[bytes]:
    """Lines as docs/input-rules.md states the rule, written independently of the reader."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = re.split(rb"\r\n|\r|\n", data)
    if parts[-1] == b"":
        parts.pop()  # a final line end does not start another line
    return parts


def read_file(data: bytes, errors: str = "strict") -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.txt"
        path.write_bytes(data)
        return [t for chunk in read_chunks(str(path), chunk_size=7, encoding_errors=errors)
                for t in chunk]  # fmt: skip


@settings(max_examples=400, **SETTINGS)
@given(st.lists(st.one_of(st.binary(max_size=8), st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xe2\x82", b"\x00", b"w1 "]
)), max_size=30).map(b"".join))  # fmt: skip
@example(b"")
@example(b"\xef\xbb\xbf")
@example(b"a\r\r\n\r")
def test_reader_splits_any_bytes_like_the_rule(data: bytes) -> None:
    from cnnfeat.runtime.reading import _MAGIC

    # Files that start like a compressed or binary format are refused (test_reading_rules.py).
    assume(not any(data.startswith(magic) for magic, _ in _MAGIC))
    # A UTF-16 byte order mark makes the file UTF-16 (test_reading_rules.py).
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


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu", batch_size=4)


@settings(max_examples=300, **SETTINGS)
@given(TEXT)
@example("")
@example("\ufeff\r\n\x00\u2028")
def test_any_text_embeds_one_finite_nonnegative_row_per_line(embedder, text: str) -> None:
    lines = read_file(text.encode("utf-8"))
    assert lines == [b.decode() for b in oracle_lines(text.encode("utf-8"))]
    features = embedder.embed(lines)
    assert features.shape == (len(lines), 100) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()
    ids = embedder.tokenize(lines)
    assert all(0 < i < embedder.spec.vocab_size for row in ids for i in row)  # never [PAD]=0


@settings(max_examples=100, **SETTINGS)
@given(st.lists(TEXT, max_size=20))
def test_any_lines_embed_in_order(embedder, lines: list[str]) -> None:
    # Each line alone gives the same row as in a batch: nothing leaks between lines.
    together = embedder.embed(lines)
    alone = np.array([embedder.embed([line])[0] for line in lines]).reshape(-1, 100)
    assert np.abs(together - alone).max(initial=0) <= 1e-5


@pytest.fixture(scope="module")
def tokenizer(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu").tokenizer


WINDOW = 24  # tiny, so that short generated lines exercise every branch of clip_line
MAX_LEN = 5
RUN = re.compile(r"[^ \t\n]+")


def words(tokenizer, text: str) -> list[str]:
    """The tokens of `text` as strings (every pre-token is one id for a WordLevel model)."""
    normalized = tokenizer.normalizer.normalize_str(text)
    return [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


@settings(max_examples=400, **SETTINGS)
@given(st.lists(st.one_of(NASTY, ANY_CHAR, st.just(" "), st.just("w1")), max_size=120).map("".join))
@example("a" * 30 + " b c d e f g")
@example("1.2.3.4.5.6.7.8.9.0.1.2.3 x")
@example("don't " * 10)
def test_clipping_keeps_the_first_max_len_tokens(tokenizer, text: str) -> None:
    # The documented rule: the first MAX_LEN ids are those of the whole line. (A single run of
    # letters and digits longer than WINDOW may lose its middle: one [UNK] token either way,
    # since the vocabulary has no word that long.)
    clipped = clip_line(text, tokenizer, MAX_LEN, window=WINDOW)
    assert max(map(len, tokenizer.get_vocab())) < WINDOW * 2 // 3
    ids = tokenizer.encode(text, add_special_tokens=False).ids[:MAX_LEN]
    assert tokenizer.encode(clipped, add_special_tokens=False).ids[:MAX_LEN] == ids
    if len(text) > WINDOW:
        assert len(clipped) <= len(text)


# Words of scripts whose words hold combining marks (Mn, Mc, Me) or are built of several code
# points: the tokenizer reads marks as word characters, and so must the clip.
SCRIPT_WORDS = st.sampled_from([
    "\u0e01\u0e31", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",  # Thai: consonant + vowel sign (Mn)
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0915\u093f",  # Devanagari: virama, matra (Mc)
    "\u1100\u1161\u11a8", "\u1112\u1161\u11ab",  # Hangul jamo (conjoining, Lo)
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f",  # emoji: ZWJ (Cf), VS16 (Mn)
    "e\u0301", "\u0627\u064e\u0644\u0652",  # a combining acute; Arabic harakat (Mn)
    "\u20dd", "a\u20dd",  # an enclosing mark (Me), alone and on a letter
    "\u4f60\u597d", "w1", "!", "?", "'", "n't", "don't", "_",
])  # fmt: skip


@settings(max_examples=300, **SETTINGS)
@given(st.lists(st.tuples(SCRIPT_WORDS, st.sampled_from(["", "", "", " "])), min_size=1,
                max_size=400).map(lambda parts: "".join(w + s for w, s in parts)))  # fmt: skip
@example("\u0e01\u0e31" * 500)
@example("\u0915\u093f" * 500 + " w1")
@example("\u2764\ufe0f" * 500)
def test_clipping_is_bounded_in_every_script(tokenizer, text: str) -> None:
    """`Embedder().embed(['ก\u0e31' * 4_000_000])` took 23 s and 1 GB more memory: the clip took
    the Thai vowel sign (a mark) for a word break, found no cut and kept the whole line. The
    clipped line is at most a window per token and keeps the first MAX_LEN tokens."""
    clipped = clip_line(text, tokenizer, MAX_LEN, window=WINDOW)
    assert len(clipped) <= (MAX_LEN + 2) * WINDOW
    ids = tokenizer.encode(text, add_special_tokens=False).ids[:MAX_LEN]
    assert tokenizer.encode(clipped, add_special_tokens=False).ids[:MAX_LEN] == ids
