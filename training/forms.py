"""Which vocabulary words the tokenizer keeps whole (`u.s.`, `mr.`, `well-known`, `o'clock`).

GloVe's corpora went through the Stanford tokenizer, which keeps abbreviations with periods,
hyphenated compounds and `o'clock` as one token, so the vectors have rows for them (`u.s.` is
among GloVe 6B's 100 most frequent words). Our splitting rules would cut them into pieces. A
*kept form* is a word of the model's vocabulary, with a pretrained vector, that those rules
would cut; the tokenizer then keeps it whole wherever it stands between non-word characters
(`cnnfeat.contract.tokenizer.forms_pattern`), and splits it as before everywhere else.

One exception decides between an abbreviation and a word at the end of a sentence: a form that
is one word plus a final period (`no.`, `mr.`) is kept only when the vectors list it before the
bare word, i.e. it was the more frequent of the two in their corpus. `mr.` (rank 1,995 in GloVe
6B; `mr` 3,944) is kept; `no.` (892; `no` 84) and `a.` are not, so "No." stays `no` `.`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from cnnfeat.contract.tokenizer import WordSplitter

MAX_FORM_CHARS = 40  # longer candidates are not looked for in the training text
_WORD_PLUS_PERIOD = re.compile(r"[^\W_]+\.")


def _is_word_char(char: str) -> bool:
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def select_kept_forms(words: Sequence[str], pretrained: int, lowercase: bool) -> list[str]:
    """The kept forms among words[:pretrained] (the rows with a vector, in the vectors' order).

    A form qualifies when the splitting rules cut it into two or more tokens, it holds a word
    character, it is its own normal form (so text can produce it: no `’`, no uppercase in an
    uncased model, no space) and, for `word.`, it comes before the bare `word` (see above).
    """
    split = WordSplitter(lowercase)
    rank = {word: i for i, word in reversed(list(enumerate(words)))}
    kept = []
    for word in words[:pretrained]:
        if len(word) > MAX_FORM_CHARS or not any(map(_is_word_char, word)):
            continue
        if split.normalize(word) != word or len(split(word)) < 2:
            continue
        if _WORD_PLUS_PERIOD.fullmatch(word) and rank.get(word[:-1], len(words)) < rank[word]:
            continue
        kept.append(word)
    return kept


def candidate_forms(texts: Iterable[str], lowercase: bool) -> set[str]:
    """Every stretch of the texts that could be a kept form: normalised, within one
    whitespace-separated chunk, no word character right before or after it, at most
    MAX_FORM_CHARS long, holding a word character and a non-word character. A superset of
    what the tokenizer can keep whole, to ask the vector file for."""
    split = WordSplitter(lowercase)
    found: set[str] = set()
    for text in texts:
        for chunk in split.normalize(text).split():
            if chunk.isalnum():
                continue
            word = [_is_word_char(c) for c in chunk]
            n = len(chunk)
            starts = [i for i in range(n) if i == 0 or not word[i - 1]]
            ends = {j for j in range(1, n + 1) if j == n or not word[j]}
            for i in starts:
                for j in range(i + 2, min(n, i + MAX_FORM_CHARS) + 1):
                    if j in ends and any(word[i:j]) and not all(word[i:j]):
                        found.add(chunk[i:j])
    return found
