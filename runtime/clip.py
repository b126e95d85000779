"""Lines before the tokenizer: long lines clipped (`fit_lines`, `clip_line`) so that
tokenising them takes bounded memory and gives the whole line's tokens, and `check_lines`, which
says which line the tokenizer refused and why. The engine's tokenise step (runtime/embedder.py)
and training (training/train.py) call these.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from cnnfeat.contract.errors import InputError

# Tokenizing a line costs `tokenizers` about 90 bytes of memory per character before truncation
# happens, so a 20 MB line would need ~2 GB. Long lines are cut first, to a prefix that already
# holds max_len tokens, at places where cutting cannot change a token before the cut: whitespace,
# or (in text without spaces, such as Chinese or Japanese) the start of a token that follows a
# non-word character, found from the tokenizer's own offsets. The features are exactly those of
# the whole line. The one thing dropped before max_len tokens is the middle of a single run of
# more than CLIP_WINDOW letters and digits: it is one token either way, [UNK] (no vocabulary has
# such a word), and its start and end are kept.
CLIP_WINDOW = 10_000  # characters tokenized at a time while looking for the cut
CLIP_MARGIN = 256  # tokens ending this close to a window's end may still change: not counted
_SPACES = (" ", "\t", "\n")


@functools.cache
def _not_word() -> re.Pattern[str]:
    """A character that is not a word character as the tokenizer reads them
    (contract.tokenizer.WORD_CHAR: letters, numbers, marks, `_`). Python's `\\w` is letters,
    numbers and `_` but no mark (Mn, Mc, Me: Thai vowel signs, Devanagari matras, combining
    accents, variation selectors); were marks word breaks here, a line of Thai would never be
    cut and its memory would grow with its length. Marks live in planes 0, 1 and 14 only."""
    marks: list[str] = []
    for plane in (0, 1, 14):
        run = None
        for code in range(plane << 16, (plane + 1) << 16):
            mark = unicodedata.category(chr(code))[0] == "M"
            if mark and run is None:
                run = code
            elif not mark and run is not None:
                marks.append(
                    f"\\u{run:04x}-\\u{code - 1:04x}"
                    if plane == 0
                    else f"\\U{run:08x}-\\U{code - 1:08x}"
                )
                run = None
    return re.compile(f"[^\\w{''.join(marks)}]")


def clip_line(
    text: str, tokenizer: Any, max_len: int, window: int = CLIP_WINDOW, margin: int = CLIP_MARGIN
) -> str:
    """`text`, or a shorter string whose first max_len tokens are those of `text`.

    Lines up to `window` characters come back untouched. Memory and time follow `window` and
    max_len, not the length of the line (but for the pathological case in _cut_without_spaces).
    """
    if len(text) <= window:
        return text
    margin = min(margin, window // 3)
    kept: list[str] = []
    tokens, pos = 0, 0
    while pos < len(text) and tokens < max_len:
        end = pos + window
        if end >= len(text):
            kept.append(text[pos:])
            break
        space = max(text.rfind(c, pos + 1, end + 1) for c in _SPACES)
        if space > pos:
            cut, resume, count = space, space, None
        else:
            cut, resume, count = _cut_without_spaces(text, pos, end, tokenizer, margin)
        piece = text[pos:cut]
        kept.append(piece)
        if count is None:
            count = len(tokenizer.encode(piece, add_special_tokens=False).ids)
        tokens += count
        pos = resume
    return "".join(kept)


def _cut_without_spaces(
    text: str, pos: int, end: int, tokenizer: Any, margin: int
) -> tuple[int, int, int | None]:
    """(cut, resume, tokens before the cut or None to count them) in a stretch without spaces.

    The cut is the last start of a token that ends at least `margin` characters before `end`,
    with a non-word character on both sides, so no token before or after it reads differently.
    Without one: if the stretch starts with a single run of word characters (one token), keep
    `end - margin` of it and resume just before the next non-word character (one earlier for the
    n of n't); otherwise keep the whole window, counting only the tokens that end before the
    margin.
    """
    piece = text[pos:end]
    limit = len(piece) - margin
    offsets = tokenizer.encode(piece, add_special_tokens=False).offsets
    not_word = _not_word()
    for start, _ in reversed(offsets):
        # Non-word on both sides: a token that ends at the cut reads the same whether text
        # follows or not (a kept form such as `u.s.` is one token only before a non-word
        # character: `u.s._n't` reads u . s . _n't, but `u.s.` cut there would read whole).
        if 0 < start <= limit and not_word.match(piece[start - 1]) and not_word.match(piece[start]):
            return pos + start, pos + start, None
    if not not_word.search(piece, 0, limit):  # one run of letters, digits, marks and _
        found = not_word.search(text, pos + limit)
        after = found.start() if found else len(text)
        if text[after - 1] in "nN":
            after -= 1
        return pos + limit, max(after, pos + limit), 1
    return end, end, sum(1 for _, stop in offsets if stop <= limit)


def fit_lines(lines: Sequence[str], tokenizer: Any, max_len: int) -> list[str]:
    """`lines` ready for `tokenizer.encode_batch*`: long lines clipped (see clip_line)."""
    try:
        return [t if len(t) <= CLIP_WINDOW else clip_line(t, tokenizer, max_len) for t in lines]
    except TypeError:
        check_lines(lines)
        raise


def check_lines(lines: Sequence[Any]) -> None:
    """Raise InputError for the first item the tokenizer cannot take (not a str, or a lone
    surrogate); call it when `tokenizers` has refused a batch, to say which line and why."""
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise InputError(f"line {i + 1} is {type(line).__name__}, not str")
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, the one str with no UTF-8 form
            raise InputError(
                f"line {i + 1} holds a lone surrogate (U+D800-U+DFFF), which is not a "
                "character and has no UTF-8 form"
            ) from None
