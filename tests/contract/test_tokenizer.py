"""The word tokenizer: Stanford-style splits like GloVe's, unicode folding, MELD's mojibake."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest
from helpers import split_words
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from cnnfeat.contract.tokenizer import (
    PAD_TOKEN,
    REMOVED,
    UNK_TOKEN,
    WordSplitter,
    build_tokenizer,
)


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def tokenizer_for(texts: list[str], lowercase: bool = True, max_len: int = 512) -> Tokenizer:
    """A tokenizer whose vocabulary holds every word of `texts` (so no id is [UNK])."""
    words: list[str] = []
    for text in texts:
        words += split_words(text, lowercase)
    return build_tokenizer(words, lowercase, max_len)


# --- Stanford / PTB splits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("don't", ["do", "n't"]),
        ("can't", ["ca", "n't"]),
        ("won't", ["wo", "n't"]),
        ("isn't", ["is", "n't"]),
        ("it's", ["it", "'s"]),
        ("we're", ["we", "'re"]),
        ("I'm", ["i", "'m"]),
        ("they've", ["they", "'ve"]),
        ("we'll", ["we", "'ll"]),
        ("he'd", ["he", "'d"]),
        ("Joey's", ["joey", "'s"]),
        ("DON'T", ["do", "n't"]),
        ("I can't believe it!", ["i", "ca", "n't", "believe", "it", "!"]),
        ("Oh my God!", ["oh", "my", "god", "!"]),
        ("Wait... what?!", ["wait", "...", "what", "?", "!"]),
        ("yes--no", ["yes", "--", "no"]),
        ("(laughs) okay, fine.", ["(", "laughs", ")", "okay", ",", "fine", "."]),
        (
            "it costs $3.50, or 1,000 at 10:30",
            ["it", "costs", "$", "3.50", ",", "or", "1,000", "at", "10:30"],
        ),
        ("'cause", ["'", "cause"]),  # not a clitic: only 's 're 've 'll 'm 'd split off
        ("Ross's", ["ross", "'s"]),
        ("o'clock", ["o", "'", "clock"]),
        ("  two   spaces\tand a tab  ", ["two", "spaces", "and", "a", "tab"]),
    ],
)
def test_stanford_style_splits(text: str, words: list[str]) -> None:
    assert split_words(text, lowercase=True) == words


def test_cased_keeps_case_and_uncased_lowers() -> None:
    assert split_words("I'm Ross DON'T", lowercase=False) == ["I", "'m", "Ross", "DO", "N'T"]
    assert split_words("I'm Ross DON'T", lowercase=True) == ["i", "'m", "ross", "do", "n't"]
    cased = build_tokenizer(["Hello", "hello"], lowercase=False, max_len=10)
    assert encode(cased, "Hello hello") == [2, 3]
    assert encode(cased, "HELLO") == [1]  # unknown when case matters
    uncased = build_tokenizer(["hello"], lowercase=True, max_len=10)
    assert encode(uncased, "Hello HELLO hello") == [2, 2, 2]


def test_word_splitter_matches_split_words() -> None:
    texts = ["I don\u2019t know\u2026", "It's 3.5", "", "\x93Hi\x94"]
    for lowercase in (True, False):
        splitter = WordSplitter(lowercase)
        assert [splitter(t) for t in texts] == [split_words(t, lowercase) for t in texts]


# --- unicode folding and MELD's mojibake -----------------------------------------------------


@pytest.mark.parametrize(
    ("fancy", "plain"),
    [
        ("I don\u2019t know", "I don't know"),  # right single quote
        ("\u2018yes\u2019", "'yes'"),
        ("\u201cHi\u201d", '"Hi"'),
        ("\u201eHi\u201f", '"Hi"'),
        ("\u00abHi\u00bb", '"Hi"'),
        ("wait\u2026", "wait..."),
        ("yes\u2014no", "yes--no"),
        ("yes\u2015no", "yes--no"),
        ("1\u20132", "1-2"),
        ("a\u00a0b", "a b"),  # no-break space
        ("\uff48\uff45\uff4c\uff4c\uff4f", "hello"),  # fullwidth (NFKC)
        ("\ufb01ne", "fine"),  # ligature (NFKC)
        ("cafe\u0301", "caf\u00e9"),  # combining accent composes (NFKC)
        ("it`s", "it's"),
    ],
)
def test_typographic_forms_become_ascii(fancy: str, plain: str) -> None:
    for lowercase in (True, False):
        assert split_words(fancy, lowercase) == split_words(plain, lowercase)


# The 2018 MELD release: cp1252 bytes decoded as Latin-1, so ’ is U+0092, … is U+0085 and so on.
MOJIBAKE = [
    ("I don\x92t know\x85", "I don\u2019t know\u2026"),
    ("\x93Hi\x94 \x96 \x97 \x91yo\x92", "\u201cHi\u201d \u2013 \u2014 \u2018yo\u2019"),
    ("It\x92s Monica\x92s\xa0place", "It\u2019s Monica\u2019s place"),
    ("Okay\x85I\x92m done\x97really", "Okay\u2026I\u2019m done\u2014really"),
]


@pytest.mark.parametrize(("broken", "fixed"), MOJIBAKE)
def test_meld_2018_mojibake_gives_the_fixed_texts_ids(broken: str, fixed: str) -> None:
    for lowercase in (True, False):
        tokenizer = tokenizer_for([fixed], lowercase)
        ids = encode(tokenizer, fixed)
        assert 1 not in ids  # control: every fixed word is in the vocabulary
        assert encode(tokenizer, broken) == ids
        assert split_words(broken, lowercase) == split_words(fixed, lowercase)


def test_mojibake_clitics_split_like_ascii() -> None:
    assert split_words("don\x92t it\x92s we\x92re", True) == [
        "do",
        "n't",
        "it",
        "'s",
        "we",
        "'re",
    ]


def test_undefined_cp1252_bytes_and_control_characters_separate_words() -> None:
    assert split_words("a\x81b\x8dc\x00d\te\x1bf", True) == ["a", "b", "c", "d", "e", "f"]


# --- special tokens, empty lines, truncation -------------------------------------------------


def test_special_ids() -> None:
    tokenizer = build_tokenizer(["the"], True, 10)
    assert tokenizer.token_to_id(PAD_TOKEN) == 0
    assert tokenizer.token_to_id(UNK_TOKEN) == 1
    assert encode(tokenizer, "the zyzzyva") == [2, 1]


@pytest.mark.parametrize(
    "text",
    ["", " ", "   ", "\t", " \t  ", "\x00", "\u00a0", "\x81\xa0", "\u3000", "\u2028", "\r\n"],
)
def test_empty_and_whitespace_only_lines_give_no_ids(text: str) -> None:
    tokenizer = build_tokenizer(["the"], True, 10)
    assert encode(tokenizer, text) == []


@pytest.mark.parametrize("lowercase", [True, False])
def test_literal_pad_text_never_yields_the_padding_id(lowercase: bool) -> None:
    # Even with "pad", "[" and "]" all in the vocabulary, "[PAD]" is three ordinary words.
    tokenizer = build_tokenizer(["[", "]", "pad", "PAD", "unk", "UNK"], lowercase, 20)
    for text in ("[PAD]", "[PAD][PAD] x", "a[PAD]b", "[UNK]", "[pad]"):
        ids = encode(tokenizer, text)
        assert 0 not in ids, text
    vocab = tokenizer.get_vocab()
    pad = "pad" if lowercase else "PAD"
    assert encode(tokenizer, "[PAD]") == [vocab["["], vocab[pad], vocab["]"]]


def test_truncation_at_max_len() -> None:
    words = [f"w{i}" for i in range(30)]
    tokenizer = build_tokenizer(words, True, max_len=7)
    assert encode(tokenizer, " ".join(words)) == list(range(2, 9))
    assert encode(tokenizer, "w0 w1") == [2, 3]  # no padding added


def test_saved_file_tokenises_identically(tmp_path: Path) -> None:
    texts = [
        "I don\x92t know\x85",
        "\u201cHi!\u201d \U0001f600 caf\u00e9 3.50",
        "[PAD] it's",
        "",
        "unknown words here",
    ]
    tokenizer = tokenizer_for(texts[:3], lowercase=True, max_len=6)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in texts:
        assert loaded.encode(text, add_special_tokens=False).ids == encode(tokenizer, text)


UNICODE_LINES = [
    "\U0001f600\U0001f600 great",
    "\U0001f469\u200d\U0001f4bb zero-width joiner",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # Hebrew, Arabic (RTL)
    "\u4f60\u597d\u4e16\u754c",
    "\u2028line separator\u2029paragraph",
    "\ufeffbom inside",
    "\ufffd replacement char",
    "e\u0301\u0301\u0301 stacked accents",
    "\U0001d573\U0001d586\U0001d588\U0001d588",  # mathematical letters (NFKC folds them)
]


@pytest.mark.parametrize("text", UNICODE_LINES)
def test_unicode_and_emoji_do_not_crash(text: str) -> None:
    tokenizer = tokenizer_for(UNICODE_LINES, lowercase=True, max_len=50)
    ids = encode(tokenizer, text)
    assert ids and 0 not in ids
    assert split_words(text, lowercase=False)


def test_emoji_stand_alone() -> None:
    assert split_words("wow\U0001f600\U0001f602!", True) == ["wow", "\U0001f600", "\U0001f602", "!"]


_PROPERTY_TOKENIZER = build_tokenizer(["[", "]", "pad", "a", "'s", "n't", "..."], True, 12)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_real_ids_within_max_len(text: str) -> None:
    ids = encode(_PROPERTY_TOKENIZER, text)
    assert 0 not in ids
    assert len(ids) <= 12
    assert all(0 < i < _PROPERTY_TOKENIZER.get_vocab_size() for i in ids)


# --- real MELD -------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_meld_2018_release_splits_exactly_like_the_fixed_release(meld: Path, split: str) -> None:
    from cnnfeat.training.data import read_labelled

    old_path = meld / "original_2018" / f"{split}_sent_emo.csv"
    if not old_path.is_file():
        pytest.skip(f"{old_path} is absent")
    old = read_labelled(old_path)
    new = read_labelled(meld / f"{split}_sent_emo.csv")
    assert len(old) == len(new)
    changed = sum(a != b for a, b in zip(old.texts, new.texts, strict=True))
    assert changed > 300  # control: the releases really differ, in hundreds of rows
    splitter = WordSplitter(lowercase=True)
    for i, (a, b) in enumerate(zip(old.texts, new.texts, strict=True)):
        assert splitter(a) == splitter(b), f"row {i}: {a!r} vs {b!r}"


def test_meld_2018_test_file_gives_identical_ids(meld: Path) -> None:
    from cnnfeat.training.data import read_labelled
    from cnnfeat.training.vocab import count_words

    old_path = meld / "original_2018" / "test_sent_emo.csv"
    if not old_path.is_file():
        pytest.skip(f"{old_path} is absent")
    # The vocabulary training would count from the (fixed) training file.
    counts = count_words(read_labelled(meld / "train_sent_emo.csv").texts, lowercase=True)
    tokenizer = build_tokenizer(sorted(counts), lowercase=True, max_len=512)
    old = read_labelled(old_path).texts
    new = read_labelled(meld / "test_sent_emo.csv").texts
    old_ids = [e.ids for e in tokenizer.encode_batch(old, add_special_tokens=False)]
    new_ids = [e.ids for e in tokenizer.encode_batch(new, add_special_tokens=False)]
    assert old_ids == new_ids
    # The curly apostrophe became a clitic, so "n't" from the test file is a known word.
    nt = tokenizer.token_to_id("n't")
    assert nt is not None and sum(row.count(nt) for row in old_ids) > 100


ROOT = Path(__file__).resolve().parents[2]
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
    """From the tokenisation rules round (issue 10)."""
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
    """From the tokenisation rules round (issue 10)."""
    dirty = text
    for position, char in sorted(inserts, reverse=True):
        dirty = dirty[:position] + char + dirty[position:]
    assert KEEPING(dirty) == KEEPING(text)


def test_removed_set_is_every_format_character_and_variation_selector() -> None:
    """From the tokenisation rules round (issue 10)."""
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
    """From the tokenisation rules round (issue 10)."""
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
    """From the tokenisation rules round (issue 10)."""
    assert KEEPING(text) == words


def test_without_the_form_in_the_vocabulary_it_splits_as_before() -> None:
    """From the tokenisation rules round (issue 10)."""
    assert split_words("the U.S. well-known o'clock", True) == [
        "the",
        "u",
        ".",
        "s",
        ".",
        "well",
        "-",
        "known",
        "o",
        "'",
        "clock",
    ]
    tokenizer = build_tokenizer(["u.s.", "u", ".", "s"], True, 20, kept_forms=["u.s."])
    assert ids(tokenizer, "U.S. u.s") == [2, 3, 4, 5]


def test_kept_forms_must_be_vocabulary_words() -> None:
    """From the tokenisation rules round (issue 10)."""
    with pytest.raises(ValueError, match="not vocabulary words"):
        build_tokenizer(["a"], True, 10, kept_forms=["u.s."])


@pytest.mark.parametrize("word", ["[PAD]", "[UNK]"])
def test_special_tokens_cannot_be_vocabulary_words(word: str) -> None:
    """Their ids are 0 and 1: as words they would shift every later row of the embedding.
    From the tokenisation rules round (issue 10)."""
    with pytest.raises(ValueError, match=r"is reserved and cannot be a vocabulary word"):
        build_tokenizer(["a", word, "b"], True, 10)


def test_forms_with_regex_syntax_are_literal() -> None:
    """From the tokenisation rules round (issue 10)."""
    forms = ["a+b", "c.d", "e|f", "(g)", "h/i", "j-k", "l$m", "[n]", "o\\p", "q^r", "s{t}"]
    split = WordSplitter(True, forms)
    for form in forms:
        assert split(form) == [form]
    assert split("a+bb cxd") == ["a", "+", "bb", "cxd"]


# --- the merged normaliser --------------------------------------------------------------------


# What the normaliser shipped before this issue did differently on purpose.
INTENDED = {
    *(c for c in REMOVED if ord(c) < 0x10000),
    "\u00b4",
    "\u0384",
    "\u1ffd",
    "\u02bc",
    "\u0149",  # acute, tonos, oxia; ʼ and ŉ
    "\u0301",
    "\u0341",  # a combining acute after a space is read as an apostrophe, like `´`
    # CJK full stop, comma, corner brackets, and their NFKC variants
    *(
        c
        for c in map(chr, range(0x10000))
        if set(unicodedata.normalize("NFKC", c)) & set("\u3002\u3001\u300c\u300d\u300e\u300f")
    ),
    # C1 controls whose cp1252 character has no ASCII form (€ ƒ † ...): now word breaks.
    *(
        chr(b)
        for b in (
            0x80,
            0x83,
            0x86,
            0x87,
            0x88,
            0x89,
            0x8A,
            0x8B,
            0x8C,
            0x8E,
            0x95,
            0x98,
            0x99,
            0x9A,
            0x9B,
            0x9C,
            0x9E,
            0x9F,
        )
    ),
}


def _previous_tokenizer() -> Tokenizer:
    """The shipped tokenizer.json before issue 10 (from git), or skip."""
    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", "8e8d869:models/meld-glove6b50d/tokenizer.json"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the previous tokenizer.json is not in this checkout's git history")
    return Tokenizer.from_str(text)


def _tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    normalized = tokenizer.normalizer.normalize_str(text)
    return [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


def test_every_bmp_character_tokenises_as_before_unless_intended() -> None:
    """From the tokenisation rules round (issue 10)."""
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
    """From the tokenisation rules round (issue 10)."""
    normalizer = json.loads(build_tokenizer([], True, 8).to_str())["normalizer"]["normalizers"]
    assert len(normalizer) == 12  # was 51 (12, not 10: cheaper passes, see build_normalizer)
    assert [n["type"] for n in normalizer].count("Replace") == 10
    # No Regex alternative may start with a space: Oniguruma would stop at every space.
    patterns = [n["pattern"].get("Regex", "") for n in normalizer if n["type"] == "Replace"]
    assert not any(p.startswith(" ") or "| " in p for p in patterns), patterns
