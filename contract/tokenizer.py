"""The word tokenizer: HuggingFace `tokenizers`, WordLevel, Stanford/PTB-style like GloVe.

GloVe's corpora were tokenised with the Stanford tokenizer, so we split the way it does:
clitics (`n't`, `'s`, `'re`, `'ve`, `'ll`, `'m`, `'d`) come off the word, punctuation stands
alone, `...` and `--` are single tokens, and typographic quotes, ellipsis and dashes become their
ASCII forms. Forms the Stanford tokenizer keeps whole (`u.s.`, `mr.`, `well-known`, `o'clock`)
stay whole when the model's vocabulary has them (`kept_forms`, chosen at training time by
`cnnfeat.training.forms`). The 2018 MELD release decoded cp1252 bytes as Latin-1 (U+0092 for ’
and so on); the normaliser maps those C1 controls back. Invisible format characters (Unicode
category Cf) and variation selectors are deleted first, so a line holding them gives exactly the
clean line's tokens. Every rule lives in `tokenizer.json`, so Node, the browser and C hosts that
load the file tokenise identically.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


# Deleted before anything else: format characters (Unicode category Cf: zero-width space and
# joiners, soft hyphen, word joiner, BOM, bidi marks, tag characters) and variation selectors
# (U+FE0F in "❤️", the Mongolian ones, the supplement U+E0100-E01EF). The set is spelled out
# from Python's Unicode tables into tokenizer.json, so every host deletes exactly the same
# characters whatever Unicode version its regex engine knows. (Spelled out, not a range: with a
# class among them Oniguruma loses its fast scan and the pass costs 20 times more.)
# REMOVED is computed on first use (module __getattr__ below): the scan of all 1.1M code points
# took 0.3 s, which every `cnnfeat embed` paid at import for nothing (it loads tokenizer.json).
@functools.cache
def _removed() -> list[str]:
    return sorted(
        {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}
        | {chr(c) for c in (0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10))}
        | {chr(c) for c in range(0xE0100, 0xE01F0)}
    )


def __getattr__(name: str) -> list[str]:
    if name == "REMOVED":
        return _removed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# After NFKC, one pass per ASCII form. C1 controls are the 2018 MELD release's cp1252 bytes
# (U+0092 is ’, U+0085 is …); NFKC leaves C1 controls alone, so they are mapped together with
# the characters they stand for. Characters NFKC already folds (fullwidth `！？，`, the no-break
# space, `…` -> `...`, `″` -> `′′`) need no rule of their own. NFKC turns the acute accent `´`
# (used as an apostrophe: `don´t`) into a space and U+0301, so that pair is an apostrophe.
_AFTER_NFKC = {
    "'": [*"\u2018\u2019\u201a\u201b\u2032`\u02bc\x91\x92\x82"],
    '"': [*"\u201c\u201d\u201e\u201f\u00ab\u00bb\u300c\u300d\u300e\u300f\x93\x94\x84"],
    "...": ["\x85"],
    "--": [*"\u2014\u2015\x97"],
    "-": [*"\u2013\u2012\u2010\x96"],
    ".": ["\u3002"],  # ideographic full stop (NFKC folds the halfwidth one into it)
    ",": ["\u3001"],  # ideographic comma
}
# What separates words: Unicode White_Space (the set of Rust's `char::is_whitespace`) and every
# other control character (NUL, the remaining C1 controls): no token ever holds one.
SEPARATORS = "\\p{Cc} \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WORD_CHAR = r"[\p{L}\p{N}\p{M}_]"
# Every token is one match of this pattern; whatever no match covers (whitespace) is dropped.
# The alternatives are tried in order at each token start. Written without `\w`, `\d`, `\s`,
# `$` or `(?i:)` so that Oniguruma (Rust tokenizers) and JavaScript's `u` regexes (browser
# hosts) read it the same way.
_TOKEN_PATTERN = (
    rf"{WORD_CHAR}+(?![^{SEPARATORS}])"  # a plain word before whitespace or the end (most)
    # punctuation that no later alternative can start with (`,` `!` `?`): alone, at once
    rf"|[^\p{{L}}\p{{N}}\p{{M}}_{SEPARATORS}{{starters}}]"
    # a word before punctuation that no later alternative could take part of (not `'` for
    # n't and clitics, not what follows the first word of a kept form, not a number's `.,:`)
    rf"|(?![0-9]+[.,:][0-9]){WORD_CHAR}+(?=[^\p{{L}}\p{{N}}\p{{M}}_{SEPARATORS}'{{follows}}])"
    "{forms}"  # kept forms (forms_pattern), when the vocabulary has any
    r"|[0-9]+(?:[.,:][0-9]+)+"  # 3.5  1,000  10:30
    rf"|{WORD_CHAR}+?(?=[nN]'[tT](?!{WORD_CHAR}))"  # the word before n't
    rf"|[nN]'[tT](?!{WORD_CHAR})"  # don't -> do n't ; can't -> ca n't
    rf"|'(?:[sS]|[rR][eE]|[vV][eE]|[lL][lL]|[mM]|[dD])(?!{WORD_CHAR})"  # it's -> it 's
    r"|\.\.\.|--"
    rf"|[^\p{{L}}\p{{N}}\p{{M}}_{SEPARATORS}]"  # other punctuation, symbols, emoji: alone
    rf"|{WORD_CHAR}+"  # the rest of a word (before punctuation)
)
# Characters that are syntax in a JavaScript `u` regex; only these may be escaped there.
_REGEX_SYNTAX = set("^$\\.*+?()[]{}|/")


def _replace(texts: Sequence[str], content: str) -> normalizers.Normalizer:
    # An alternation of literals, not a class: Oniguruma skips to the possible first
    # bytes of an alternation of literals, so a pass over a line without them costs ~0.5 µs
    # where a class costs ~1.5 µs (measured on MELD lines). JavaScript reads it the same way.
    return normalizers.Replace(Regex("|".join(_escape(t) for t in texts)), content)


# NFKC's acute accent (`´` -> " \u0301") is an apostrophe too, but in a pass of its own: an
# alternative that starts with a space makes Oniguruma stop at every space, which doubled the
# cost of the apostrophe pass (2.1 against 1.0 CPU µs per line; bench/tokenizer_passes.py).
# A `String` pattern: no regex at all (one-character and one-string replaces cost the same).
_SPACE_ACUTE = " \u0301"


def build_normalizer(lowercase: bool) -> normalizers.Normalizer:
    """Deletion of REMOVED, NFKC, the look-alikes to ASCII, then (uncased vectors) Lowercase:
    12 passes, 11 for cased vectors (the file shipped before had 51)."""
    # REMOVED in two passes, the Basic Multilingual Plane and the rest: one alternation of all
    # ~300 characters cost 2.0 µs a line, the two 1.0 + 0.7 (measured as above).
    steps = [
        _replace([c for c in _removed() if c <= "\uffff"], ""),
        _replace([c for c in _removed() if c > "\uffff"], ""),
    ]
    steps.append(normalizers.NFKC())
    steps += [_replace(texts, a) for a, texts in _AFTER_NFKC.items()]
    steps.append(normalizers.Replace(_SPACE_ACUTE, "'"))
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SYNTAX else c for c in text)


def forms_pattern(forms: Iterable[str]) -> str:
    """A regex matching any of `forms` as a whole word, the longest first, or "" for none.

    The forms are merged into a trie (`u\\.(?:s\\.|n\\.)`), so matching costs the length of the
    form, not the number of forms. A match must not touch a word character on either side:
    `mr.` is kept in "mr. smith" but not in "summr." or "mr.smith".
    """
    forms = sorted(set(forms))
    trie: dict = {}
    for form in forms:
        if form:
            node = trie
            for char in form:
                node = node.setdefault(char, {})
            node[""] = {}
    if not trie:
        return ""
    # A cheap guard first: the next characters must look like the start of some form (its
    # first character if that is punctuation, or a word followed by the punctuation that comes
    # after the first word of some form: `.` in `mr.`, `-` in `well-known`), so "okay," and most
    # other tokens skip the trie.
    firsts = {f[0] for f in forms if f and not _is_word_char(f[0])}
    follows = {f[_word_prefix(f)] for f in forms if f and _is_word_char(f[0])}
    guard = "|".join(
        ([f"[{_class(firsts)}]"] if firsts else [])
        + ([f"{WORD_CHAR}+[{_class(follows)}]"] if follows else [])
    )
    trie_regex = _trie_regex(trie)
    return rf"(?<!{WORD_CHAR})(?=(?:{guard}))(?:{trie_regex})(?!{WORD_CHAR})"


def _word_prefix(form: str) -> int:
    """The length of the word characters `form` starts with."""
    n = 0
    while n < len(form) and _is_word_char(form[n]):
        n += 1
    return n


def _class(chars: set[str]) -> str:
    return "".join(_class_escape(c) for c in sorted(chars))


def _trie_regex(node: dict) -> str:
    branches = [(c, _escape(c) + _trie_regex(child)) for c, child in sorted(node.items()) if c]
    if not branches:
        return ""
    body = branches[0][1] if len(branches) == 1 else _choice(branches)
    if "" in node:  # a form ends here: try the longer forms first (greedy), then stop here
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body


def _is_word_char(char: str) -> bool:
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def _class_escape(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


def _choice(branches: list[tuple[str, str]]) -> str:
    """One of `branches` (first character, regex), halved by a lookahead on the first
    character until a few are left: a backtracking engine tries the alternatives of a group one
    by one, so 40 branches cost 40 tries where the halving costs about log2(40) + 4."""
    if len(branches) <= 4:
        return "(?:" + "|".join(regex for _, regex in branches) + ")"
    half = len(branches) // 2
    first = "".join(_class_escape(c) for c, _ in branches[:half])
    return f"(?:(?=[{first}]){_choice(branches[:half])}|{_choice(branches[half:])})"


def build_pre_tokenizer(kept_forms: Iterable[str] = ()) -> pre_tokenizers.PreTokenizer:
    """One Split: each token is a match of the token pattern, kept forms tried first."""
    kept_forms = list(kept_forms)
    forms = forms_pattern(kept_forms)
    # Non-word characters that start a longer token: clitics, `...`, `--`, and kept forms.
    starters = {"'", ".", "-"} | {f[0] for f in kept_forms if f and not _is_word_char(f[0])}
    follows = {f[_word_prefix(f)] for f in kept_forms if f and _is_word_char(f[0])}
    pattern = (
        _TOKEN_PATTERN.replace("{forms}", "|" + forms if forms else "")
        .replace("{starters}", _class(starters))
        .replace("{follows}", _class(follows))
    )
    return pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)


class WordSplitter:
    """The tokens a text becomes before vocabulary lookup (used to count training words), with
    the normaliser and pre-tokeniser built once for a whole corpus."""

    def __init__(self, lowercase: bool, kept_forms: Sequence[str] = ()):
        self._normalizer = build_normalizer(lowercase)
        self._pre_tokenizer = build_pre_tokenizer(kept_forms)

    def normalize(self, text: str) -> str:
        return self._normalizer.normalize_str(text)

    def __call__(self, text: str) -> list[str]:
        normalized = self._normalizer.normalize_str(text)
        return [w for w, _ in self._pre_tokenizer.pre_tokenize_str(normalized)]


def build_tokenizer(
    words: Iterable[str], lowercase: bool, max_len: int, kept_forms: Sequence[str] = ()
) -> Tokenizer:
    """A WordLevel tokenizer: [PAD]=0, [UNK]=1, then `words` in order; truncates to max_len.

    The special tokens are plain vocabulary entries, not added tokens, so a line that literally
    contains "[PAD]" is split like any other text and can never produce the padding id.
    `kept_forms` (words of `words`) are kept whole by the pre-tokenizer (see forms_pattern).
    Raises ValueError when `words` holds [PAD] or [UNK] (their ids are 0 and 1, so row i + 2
    of an embedding matrix would no longer be words[i]) or a kept form that is not a word.
    """
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    for word in words:
        if word in (PAD_TOKEN, UNK_TOKEN):
            raise ValueError(f"{word} is reserved and cannot be a vocabulary word")
        vocab.setdefault(word, len(vocab))
    missing = [form for form in kept_forms if form not in vocab]
    if missing:
        raise ValueError(f"kept forms that are not vocabulary words: {missing[:5]}")
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    tokenizer.normalizer = build_normalizer(lowercase)
    tokenizer.pre_tokenizer = build_pre_tokenizer(kept_forms)
    tokenizer.enable_truncation(max_length=max_len)
    return tokenizer
