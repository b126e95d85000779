"""The word tokenizer: HuggingFace `tokenizers`, WordLevel, Stanford/PTB-style like GloVe.

GloVe's corpora were tokenised with the Stanford tokenizer, so we split the way it does:
clitics (`n't`, `'s`, `'re`, `'ve`, `'ll`, `'m`, `'d`) come off the word, punctuation stands
alone, `...` and `--` are single tokens, and typographic quotes, ellipsis and dashes become their
ASCII forms. The 2018 MELD release decoded cp1252 bytes as Latin-1 (U+0092 for ’ and so on); the
normaliser maps those C1 controls back before anything else. Every rule lives in `tokenizer.json`,
so Node, the browser and C hosts that load the file tokenise identically.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"

# C1 control characters that are really cp1252 bytes (2018 MELD release), and NBSP.
_CP1252_C1 = {
    chr(byte): bytes([byte]).decode("cp1252")
    for byte in range(0x80, 0xA0)
    if byte not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # undefined in cp1252
}
_ASCII_FORMS = {
    "\u00a0": " ",  # no-break space
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2026": "...",
    "\u2014": "--", "\u2015": "--", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-",
}  # fmt: skip

# One token each: numbers with inner separators, clitics, `...`, `--`, any other non-word char.
# Applied per whitespace-separated chunk with "isolated": the matches become tokens and the
# text between matches (the words) stays whole. Written without `\w`, `\d` or `(?i:)` so that
# Oniguruma (Rust tokenizers) and JavaScript's `u` regexes (browser hosts) read it the same way.
_WORD_CHAR = r"[\p{L}\p{N}\p{M}_]"
_TOKEN_PATTERN = (
    r"[0-9]+(?:[.,:][0-9]+)+"  # 3.5  1,000  10:30
    rf"|[nN]'[tT](?!{_WORD_CHAR})"  # don't -> do n't ; can't -> ca n't
    rf"|'(?:[sS]|[rR][eE]|[vV][eE]|[lL][lL]|[mM]|[dD])(?!{_WORD_CHAR})"  # it's -> it 's
    r"|\.\.\.|--"
    r"|[^\p{L}\p{N}\p{M}_]"  # any other punctuation, symbol or emoji stands alone
)


def build_normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps: list[normalizers.Normalizer] = [
        normalizers.Replace(bad, good) for bad, good in _CP1252_C1.items()
    ]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(u, a) for u, a in _ASCII_FORMS.items()]
    # Remaining control characters (NUL, the undefined C1s, tabs...) are word separators.
    steps.append(normalizers.Replace(Regex(r"\p{Cc}"), " "))
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def build_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(_TOKEN_PATTERN), behavior="isolated"),
        ]
    )


def split_words(text: str, lowercase: bool) -> list[str]:
    """The tokens `text` becomes, before vocabulary lookup (used to count training words)."""
    normalized = build_normalizer(lowercase).normalize_str(text)
    return [w for w, _ in build_pre_tokenizer().pre_tokenize_str(normalized)]


class WordSplitter:
    """`split_words` with the normaliser and pre-tokeniser built once (for whole corpora)."""

    def __init__(self, lowercase: bool):
        self._normalizer = build_normalizer(lowercase)
        self._pre_tokenizer = build_pre_tokenizer()

    def __call__(self, text: str) -> list[str]:
        normalized = self._normalizer.normalize_str(text)
        return [w for w, _ in self._pre_tokenizer.pre_tokenize_str(normalized)]


def build_tokenizer(words: Iterable[str], lowercase: bool, max_len: int) -> Tokenizer:
    """A WordLevel tokenizer: [PAD]=0, [UNK]=1, then `words` in order; truncates to max_len.

    The special tokens are plain vocabulary entries, not added tokens, so a line that literally
    contains "[PAD]" is split like any other text and can never produce the padding id.
    """
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    for word in words:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    tokenizer.normalizer = build_normalizer(lowercase)
    tokenizer.pre_tokenizer = build_pre_tokenizer()
    tokenizer.enable_truncation(max_length=max_len)
    return tokenizer
