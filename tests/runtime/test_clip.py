"""Long lines before the tokenizer (runtime/clip.py): clipped to a prefix with the whole line's
first max_len tokens, in bounded memory; and the check that names a line the tokenizer refuses.
Moved from tests/test_reading.py with the code (runtime/reading.py held it before)."""

from __future__ import annotations

import pytest

from cnnfeat.contract.errors import InputError
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
    # Issue 10's rule (test_reading_rules.py has the CJK cases): a single run of word
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
