"""The word tokenizer: Stanford-style splits like GloVe's, unicode folding, MELD's mojibake."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import split_words
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from cnnfeat.contract.tokenizer import (
    PAD_TOKEN,
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
        "do", "n't", "it", "'s", "we", "'re",
    ]  # fmt: skip


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
