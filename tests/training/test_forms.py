"""Kept forms (training/forms.py): which abbreviations and hyphenated words the tokenizer keeps
whole, chosen from the vectors and the training text."""

from __future__ import annotations

from cnnfeat.training.forms import candidate_forms, select_kept_forms

# --- kept forms ---------------------------------------------------------------------------------


def test_selection_keeps_abbreviations_the_vectors_rank_first() -> None:
    """From the tokenisation rules round (issue 10)."""
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
    """From the tokenisation rules round (issue 10)."""
    found = candidate_forms(["Hi, Mr. Smith (u.s.-led) 'cause x'til"], lowercase=True)
    assert {"mr.", "(u.s.-led)", "u.s.-led", "u.s.", "'cause", "hi,"} <= found
    assert "i," not in found and "ed)" not in found  # would start inside a word
    assert "'til" not in found  # the x touches it
    assert "r." not in found and "smith" not in found
