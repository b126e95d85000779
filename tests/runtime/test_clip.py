"""Long lines before the tokenizer (runtime/clip.py): clipped to a prefix with the whole line's
first max_len tokens, in bounded memory; and the check that names a line the tokenizer refuses.
Moved from the reading tests with the code (runtime/reading.py held it before)."""

from __future__ import annotations

import re

import pytest
from helpers import ANY_CHAR, NASTY, SETTINGS, TinyModel
from hypothesis import example, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat.contract.errors import InputError
from cnnfeat.runtime import clip
from cnnfeat.runtime.clip import CLIP_WINDOW, check_lines, clip_line, fit_lines


class WordCounter:
    """Stands in for a tokenizer in clip_line: one token per whitespace-separated word."""

    class _Encoding:
        def __init__(self, ids: list[int]):
            self.ids = ids

    def encode(self, text: str, add_special_tokens: bool = False):
        return self._Encoding([0] * len(text.split()))


def test_short_lines_are_untouched() -> None:
    text = "w " * (CLIP_WINDOW // 2)
    assert clip_line(text, WordCounter(), 3) is text


def test_long_line_is_cut_at_a_space_after_max_len_words() -> None:
    text = " ".join(f"w{i}" for i in range(1_000_000))  # ~6.9 MB
    clipped = clip_line(text, WordCounter(), 512)
    assert text.startswith(clipped)
    assert len(clipped) <= 2 * CLIP_WINDOW
    assert clipped.split()[:512] == text.split()[:512]


def test_long_line_of_whitespace_then_words() -> None:
    text = " " * 5_000_000 + "a b c"
    assert clip_line(text, WordCounter(), 512).split() == ["a", "b", "c"]


def test_runs_without_a_space_lose_only_their_middle() -> None:
    # Issue 10's rule (the CJK cases are below): a single run of word
    # characters longer than the window keeps its start and its end, one [UNK] token either way.
    from cnnfeat.contract.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(["after", "z"], True, 512)
    text = "x" * 3_000_000 + " after " + "y" * (CLIP_WINDOW + 1) + "\tz"
    clipped = clip_line(text, tokenizer, 512)
    assert len(clipped) < 3 * CLIP_WINDOW
    assert clipped.split()[1::2] == ["after", "z"]
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert tokenizer.encode(clipped, add_special_tokens=False).ids == ids == [1, 2, 1, 3]


def test_fit_lines_and_check_lines() -> None:
    long = "w " * CLIP_WINDOW
    fitted = fit_lines(["a", long, ""], WordCounter(), 4)
    assert fitted[0] == "a" and fitted[2] == "" and len(fitted[1]) < len(long)
    with pytest.raises(InputError, match="line 2 is int, not str"):
        fit_lines(["a", 5], WordCounter(), 4)
    with pytest.raises(InputError, match="line 3 holds a lone surrogate"):
        check_lines(["a", "b", "c\ud800"])
    check_lines(["fine", ""])  # nothing to say


# --- property tests (hypothesis): arbitrary text -----------------------------------------


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
SCRIPT_WORDS = st.sampled_from(
    [
        "\u0e01\u0e31",
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",  # Thai: consonant + vowel sign (Mn)
        "\u0928\u092e\u0938\u094d\u0924\u0947",
        "\u0915\u093f",  # Devanagari: virama, matra (Mc)
        "\u1100\u1161\u11a8",
        "\u1112\u1161\u11ab",  # Hangul jamo (conjoining, Lo)
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u2764\ufe0f",  # emoji: ZWJ (Cf), VS16 (Mn)
        "e\u0301",
        "\u0627\u064e\u0644\u0652",  # a combining acute; Arabic harakat (Mn)
        "\u20dd",
        "a\u20dd",  # an enclosing mark (Me), alone and on a letter
        "\u4f60\u597d",
        "w1",
        "!",
        "?",
        "'",
        "n't",
        "don't",
        "_",
    ]
)


@settings(max_examples=300, **SETTINGS)
@given(
    st.lists(
        st.tuples(SCRIPT_WORDS, st.sampled_from(["", "", "", " "])), min_size=1, max_size=400
    ).map(lambda parts: "".join(w + s for w, s in parts))
)
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


# --- bounded memory for any line, files that are not text, reads cut anywhere ----------


# --- long lines without spaces: clipped by tokens ---------------------------------------------


def _cjk_tokenizer(max_len: int):
    from cnnfeat.contract.tokenizer import build_tokenizer

    words = ["\u4f60\u597d", "\u6211", ".", ",", "n't", "do", "u.s.", "a"]
    return build_tokenizer(words, True, max_len, kept_forms=["u.s."])


def test_cjk_line_without_spaces_keeps_every_token_up_to_max_len() -> None:
    """From the reading rules round (issue 10)."""
    tokenizer = _cjk_tokenizer(512)
    sentence = "\u4f60\u597d" * 30 + "\u3002"  # 61 characters, 2 tokens, no space
    line = sentence * 1000  # 61,000 characters: 2,000 tokens
    clipped = clip.clip_line(line, tokenizer, 512)
    assert len(clipped) < len(line)
    full = tokenizer.encode(line, add_special_tokens=False).ids
    assert len(full) == 512
    assert tokenizer.encode(clipped, add_special_tokens=False).ids == full
    # The rule before this issue kept 10,000 characters of the stretch: 328 tokens, not 512.
    assert len(tokenizer.encode(line[:10_000], add_special_tokens=False).ids) < 512


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "\u4f60\u597d",
                "\u6211",
                "\u3002",
                "\u3001",
                "a",
                "do",
                "n't",
                "u.s.",
                "'",
                ".",
                "x" * 30,
                " ",
                "\u200b",
                "_",
            ]
        ),
        min_size=50,
        max_size=400,
    ),
    st.integers(3, 40),
)
def test_clip_line_gives_the_whole_lines_first_tokens(pieces: list[str], max_len: int) -> None:
    """From the reading rules round (issue 10)."""
    tokenizer = _cjk_tokenizer(max_len)
    line = "".join(pieces)
    clipped = clip.clip_line(line, tokenizer, max_len, window=120, margin=45)
    full = tokenizer.encode(line, add_special_tokens=False).ids
    assert tokenizer.encode(clipped, add_special_tokens=False).ids == full


def test_a_kept_form_at_a_cut_reads_as_it_does_in_the_line() -> None:
    """Hypothesis found it: `u.s.` is one token only before a non-word character, so a cut
    between `u.s.` and `_n't` made the clipped line read `u.s.` where the line reads u . s .
    From the reading rules round (issue 10)."""
    tokenizer = _cjk_tokenizer(5)
    line = "\u4f60\u597d" * 16 + "\u3002u.s._n't\u3002" + "x" * 30 + "_n't" + "a" * 200
    clipped = clip.clip_line(line, tokenizer, 5, window=120, margin=45)
    full = tokenizer.encode(line, add_special_tokens=False).tokens
    assert tokenizer.encode(clipped, add_special_tokens=False).tokens == full


def test_a_giant_run_of_letters_keeps_its_ends() -> None:
    """From the reading rules round (issue 10)."""
    tokenizer = _cjk_tokenizer(16)
    line = "a" * 50_000 + "don't \u6211"
    clipped = clip.clip_line(line, tokenizer, 16)
    assert len(clipped) < 11_000
    assert (
        tokenizer.encode(clipped, add_special_tokens=False).ids
        == tokenizer.encode(line, add_special_tokens=False).ids
    )  # [UNK] n't 我
