"""Issue 10's tokenisation rules: invisible characters, look-alike punctuation, kept forms,
and the merged normaliser against the one shipped before (every BMP code point)."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest
from conftest import split_words
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from cnnfeat.contract.tokenizer import REMOVED, WordSplitter, build_tokenizer
from cnnfeat.training.forms import candidate_forms, select_kept_forms

ROOT = Path(__file__).resolve().parents[1]
FORMS = ["u.s.", "u.s.a.", "mr.", "dr.", "a.m.", "well-known", "twenty-one", "o'clock", "'cause"]
KEEPING = WordSplitter(True, FORMS)


def ids(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


# --- invisible characters add nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("Thanks\u200b a lot", "Thanks a lot"),  # zero-width space
        ("won\u00adderful news", "wonderful news"),  # soft hyphen
        ("\u2764\ufe0f", "\u2764"),  # variation selector 16
        ("a\u2060b\ufeffc", "abc"),  # word joiner, BOM inside a line
        ("\u200eok\u200f \u202ayes\u202c", "ok yes"),  # bidi marks
        ("\U0001f469\u200d\U0001f4bb", "\U0001f469\U0001f4bb"),  # ZWJ sequence
        ("\u845b\U000e0100", "\u845b"),  # ideographic variation selector
        ("\U0001f3f4\U000e0067\U000e0062\U000e007f", "\U0001f3f4"),  # tag characters
        ("e\u200b\u0301", "\u00e9"),  # removed before NFKC: the accent still composes
    ],
)
def test_invisible_characters_give_the_clean_lines_ids(dirty: str, clean: str) -> None:
    for lowercase in (True, False):
        words = split_words(clean, lowercase)
        assert split_words(dirty, lowercase) == words
        tokenizer = build_tokenizer(words, lowercase, 64)
        assert ids(tokenizer, dirty) == ids(tokenizer, clean)
        assert 1 not in ids(tokenizer, dirty)  # control: no [UNK] left


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cf")), max_size=40),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(REMOVED)), max_size=6),
)
def test_inserting_removed_characters_anywhere_changes_nothing(text: str, inserts) -> None:
    dirty = text
    for position, char in sorted(inserts, reverse=True):
        dirty = dirty[:position] + char + dirty[position:]
    assert KEEPING(dirty) == KEEPING(text)


def test_removed_set_is_every_format_character_and_variation_selector() -> None:
    removed = set(REMOVED)
    assert {c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cf"} <= removed
    assert {"\ufe0f", "\ufe00", "\u180b", "\U000e0100", "\U000e01ef"} <= removed
    assert not removed & {" ", "a", "\u0301", "\u200d\u200d"}


# --- look-alike punctuation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fancy", "plain"),
    [
        ("don\u00b4t", "don't"),  # acute accent as apostrophe (NFKC: space + U+0301)
        ("don\u02bct", "don't"),  # modifier letter apostrophe
        ("it\u00b4s", "it's"),
        ("\uff07x\uff07", "'x'"),  # fullwidth apostrophe (NFKC)
        ("\u4f60\u597d\u3002", "\u4f60\u597d."),  # ideographic full stop
        ("\u4f60\uff61", "\u4f60."),  # halfwidth ideographic full stop (NFKC, then the rule)
        ("\u6211\u3001\u4f60", "\u6211,\u4f60"),  # ideographic comma
        ("\u597d\uff01\uff1f\uff0c", "\u597d!?,"),  # fullwidth ! ? , (NFKC)
        ("\u300c\u5f15\u300d \u300e\u5f15\u300f", '"\u5f15" "\u5f15"'),  # corner brackets
        ("a\u2033", "a''"),  # double prime: NFKC makes two primes, each an apostrophe
    ],
)
def test_lookalike_punctuation_becomes_ascii(fancy: str, plain: str) -> None:
    for lowercase in (True, False):
        assert split_words(fancy, lowercase) == split_words(plain, lowercase)
    assert split_words("don\u00b4t", True) == ["do", "n't"]


# --- kept forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("In the U.S. today", ["in", "the", "u.s.", "today"]),
        ("the U.S.A., then", ["the", "u.s.a.", ",", "then"]),  # longest form first
        ("Mr. Geller and Dr. Green", ["mr.", "geller", "and", "dr.", "green"]),
        ("a well-known twenty-one", ["a", "well-known", "twenty-one"]),
        ("at 5 o'clock.", ["at", "5", "o'clock", "."]),
        ("(u.s.)", ["(", "u.s.", ")"]),
        ("'cause I said", ["'cause", "i", "said"]),
        # Touching a word character on either side: split as before.
        ("mr.smith", ["mr", ".", "smith"]),
        ("summr. swell-known", ["summr", ".", "swell", "-", "known"]),
        ("x'cause", ["x", "'", "cause"]),
        ("well-known-ish", ["well-known", "-", "ish"]),  # `-` is not a word character
        ("u.s.a", ["u", ".", "s", ".", "a"]),  # `u.s.` would touch the `a`
    ],
)
def test_kept_forms_stay_whole_only_between_non_word_characters(text: str, words) -> None:
    assert KEEPING(text) == words


def test_without_the_form_in_the_vocabulary_it_splits_as_before() -> None:
    assert split_words("the U.S. well-known o'clock", True) == [
        "the", "u", ".", "s", ".", "well", "-", "known", "o", "'", "clock",
    ]  # fmt: skip
    tokenizer = build_tokenizer(["u.s.", "u", ".", "s"], True, 20, kept_forms=["u.s."])
    assert ids(tokenizer, "U.S. u.s") == [2, 3, 4, 5]


def test_kept_forms_must_be_vocabulary_words() -> None:
    with pytest.raises(ValueError, match="not vocabulary words"):
        build_tokenizer(["a"], True, 10, kept_forms=["u.s."])


@pytest.mark.parametrize("word", ["[PAD]", "[UNK]"])
def test_special_tokens_cannot_be_vocabulary_words(word: str) -> None:
    """Their ids are 0 and 1: as words they would shift every later row of the embedding."""
    with pytest.raises(ValueError, match=r"is reserved and cannot be a vocabulary word"):
        build_tokenizer(["a", word, "b"], True, 10)


def test_forms_with_regex_syntax_are_literal() -> None:
    forms = ["a+b", "c.d", "e|f", "(g)", "h/i", "j-k", "l$m", "[n]", "o\\p", "q^r", "s{t}"]
    split = WordSplitter(True, forms)
    for form in forms:
        assert split(form) == [form]
    assert split("a+bb cxd") == ["a", "+", "bb", "cxd"]


def test_selection_keeps_abbreviations_the_vectors_rank_first() -> None:
    # Vector order = frequency order: "no" is more frequent than "no.", "mr." than "mr".
    words = [
        "the",
        "no",
        ",",
        "u.s.",
        "mr.",
        "no.",
        "mr",
        "well-known",
        "don\u2019t",
        "A.B.",
        "...",
    ]
    kept = select_kept_forms(words, len(words), lowercase=True)
    assert kept == ["u.s.", "mr.", "well-known"]  # not `no.` (sentence end), `don’t`, `A.B.`
    assert select_kept_forms(words, 4, lowercase=True) == ["u.s."]  # only pretrained rows
    assert "A.B." in select_kept_forms(words, len(words), lowercase=False)


def test_candidate_forms_cover_every_stretch_between_non_word_characters() -> None:
    found = candidate_forms(["Hi, Mr. Smith (u.s.-led) 'cause x'til"], lowercase=True)
    assert {"mr.", "(u.s.-led)", "u.s.-led", "u.s.", "'cause", "hi,"} <= found
    assert "i," not in found and "ed)" not in found  # would start inside a word
    assert "'til" not in found  # the x touches it
    assert "r." not in found and "smith" not in found


# --- the merged normaliser --------------------------------------------------------------------

# What the normaliser shipped before this issue did differently on purpose.
INTENDED = {
    *(c for c in REMOVED if ord(c) < 0x10000),
    "\u00b4", "\u0384", "\u1ffd", "\u02bc", "\u0149",  # acute, tonos, oxia; ʼ and ŉ
    "\u0301", "\u0341",  # a combining acute after a space is read as an apostrophe, like `´`
    # CJK full stop, comma, corner brackets, and their NFKC variants
    *(c for c in map(chr, range(0x10000))
      if set(unicodedata.normalize("NFKC", c)) & set("\u3002\u3001\u300c\u300d\u300e\u300f")),
    # C1 controls whose cp1252 character has no ASCII form (€ ƒ † ...): now word breaks.
    *(chr(b) for b in (0x80, 0x83, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8E, 0x95,
                       0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9E, 0x9F)),
}  # fmt: skip


def _previous_tokenizer() -> Tokenizer:
    """The shipped tokenizer.json before issue 10 (from git), or skip."""
    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", "8e8d869:models/meld-glove6b50d/tokenizer.json"],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the previous tokenizer.json is not in this checkout's git history")
    return Tokenizer.from_str(text)


def _tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    normalized = tokenizer.normalizer.normalize_str(text)
    return [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


def test_every_bmp_character_tokenises_as_before_unless_intended() -> None:
    previous = _previous_tokenizer()
    current = build_tokenizer([], lowercase=True, max_len=512)
    changed = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or chr(code) in INTENDED:
            continue
        text = f"a{chr(code)}b {chr(code)}"
        if _tokens(previous, text) != _tokens(current, text):
            changed.append(f"U+{code:04X}")
    assert changed == [], changed
    # Control: the intended ones really differ.
    assert _tokens(previous, "don\u00b4t") != _tokens(current, "don\u00b4t")


def test_normaliser_is_a_handful_of_passes() -> None:
    normalizer = json.loads(build_tokenizer([], True, 8).to_str())["normalizer"]["normalizers"]
    assert len(normalizer) == 12  # was 51 (12, not 10: cheaper passes, see build_normalizer)
    assert [n["type"] for n in normalizer].count("Replace") == 10
    # No Regex alternative may start with a space: Oniguruma would stop at every space.
    patterns = [n["pattern"].get("Regex", "") for n in normalizer if n["type"] == "Replace"]
    assert not any(p.startswith(" ") or "| " in p for p in patterns), patterns
