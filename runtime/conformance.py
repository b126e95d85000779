"""Conformance vectors: hard utterances with the Python runtime's token ids and features.

Every host (Node, the browser, C) loads `MODEL_DIR/conformance.json` and must reproduce the ids
exactly and the features within `atol`. The cases are the inputs where tokenisers and runtimes
tend to disagree: Unicode normalisation, case mapping, what counts as whitespace, control
characters, truncation and padding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cnnfeat.contract.layout import CONFORMANCE_FILE, MODEL_FILE, TOKENIZER_FILE
from cnnfeat.runtime.writing import check_not_model, standard_output, write_file

FORMAT = "cnnfeat-conformance"
VERSION = 1
ATOL = 1e-5

# (name, text). No case contains "\n" or "\r", so every case also survives a one-per-line file.
CASES: list[tuple[str, str]] = [
    ("plain", "Oh my God, Ross, are you serious?"),
    ("contractions", "I don't know, it's fine. You can't, they'll, we'd, I'm, you've, she's"),
    ("contractions_upper", "DON'T YOU DARE! I'M NOT KIDDING, IT'S OVER."),
    ("apostrophes", "rock 'n' roll, 'cause it's 5 o'clock at Joey's and Ross' place"),
    ("curly_quotes", "\u201cHello,\u201d she said. \u2018Really?\u2019 He didn\u2019t."),
    ("ellipsis", "Well\u2026 I mean... wait.... what?!?"),
    ("dashes", "Wait\u2014what? 10\u201320 people -- maybe \u2013 or not"),
    ("meld_2018_mojibake", "you\x92re kidding\x85 \x93Okay\x94 \x96 fine\x97right"),
    ("cp1252_undefined_c1", "a\x81b\x8dc\x8fd\x90e\x9df"),
    ("numbers", "It's 3.5 km, 1,000 times, at 10:30, 2nd of 3"),
    ("chinese", "我不知道。你好吗？"),
    ("japanese", "ありがとう、ございます！ｶﾀｶﾅ"),
    ("korean", "안녕하세요, 친구"),
    ("arabic", "مرحبا، كيف حالك؟"),
    ("hindi", "नमस्ते, आप कैसे हैं?"),
    ("cyrillic", "Привет, КАК ДЕЛА?"),
    ("greek_final_sigma", "ΟΔΟΣ ΚΑΛΗΜΕΡΑ ΣΑΣ"),
    ("turkish_dotted_i", "İSTANBUL Iğdır"),
    ("nfkc_compat", "Straße ﬁne ＦＵＬＬ１２３ ① x² 𝐇𝐞𝐥𝐥𝐨 ™"),
    ("combining_accents", "cafe\u0301 nai\u0308ve Zoë a\u0300\u0301\u0302"),
    ("emoji", "I love it 😂😂 👍🏽!"),
    ("emoji_zwj", "family 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈 flag 🇺🇸"),
    ("shorter_than_filter", "No."),
    ("four_tokens", "Oh my God!"),
    ("one_char", "k"),
    ("empty", ""),
    ("whitespace_only", "   \t  "),
    ("unicode_spaces", "a\u00a0b\u2002c\u3000d\u202fe\u2028f\u205fg"),
    ("zero_width", "a\u200bb\u200cc\u2060d"),
    ("bom_start", "\ufeffHello there"),
    ("bom_inside", "a\ufeffb"),
    ("controls", "tab\tseparated\x00nul\x07bell\x1bescape\x7fdel\x0bvt\x0cff"),
    ("pad_literal", "[PAD] [UNK] [PAD][PAD]"),
    ("repeated_punct", "Noooo!!!!....???---"),
    ("url_email", "see http://example.com/a?b=c or mail a.b@c.de #hashtag @user"),
    ("symbols", "50% off $5 & €3 <b>tags</b> C++ a_b"),
    ("unknown_words", "zxqvbnm qwertyuiop Chandlerrrr"),
    # Issue 10: invisible characters add nothing, look-alikes map to ASCII, kept forms.
    ("format_characters", "Thanks\u200b a lot, won\u00adderful\u2060 news\u200e\u202e!\ufeff"),
    ("variation_selectors", "I \u2764\ufe0f it \u263a\ufe0e \u845b\U000e0100\u57ce"),
    ("tag_flag", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f go"),
    ("lookalike_apostrophes", "don\u00b4t, don\u02bct, it\u00b4s \uff07quoted\uff07"),
    (
        "cjk_punctuation",
        "\u4f60\u597d\u3002\u6211\u3001\u8c22\u8c22\uff01\uff1f\uff0c\u300c\u5f15\u300d\uff61",
    ),
    ("kept_forms", "Mr. Geller met Dr. Green in the U.S. at 5 o'clock, a well-known a.m. thing"),
    ("kept_forms_edges", "No. mr.smith summr. well-known-ish (u.s.) x'cause 'cause U.S.A.,"),
    ("controls_inside_words", "a\x00b c\x1bd e\x85f g\x80h"),
]


def cases(max_len: int) -> list[tuple[str, str]]:
    """CASES plus a line longer than `max_len` tokens, so truncation is exercised."""
    words = "so I said to him you know what I mean".split()
    n = max_len + 37
    long_line = " ".join(words[i % len(words)] for i in range(n - 1)) + " END"
    return [*CASES, ("longer_than_max_len", long_line)]


def _floats(row: np.ndarray) -> list[float]:
    # str(np.float32) is the shortest text that reads back as the same float32.
    return [float(str(v)) for v in row.astype(np.float32)]


def build_conformance(model_dir: str | Path, embedder: Any = None) -> dict[str, Any]:
    """The conformance document for `model_dir`, computed on the CPU."""
    import onnxruntime
    import tokenizers

    from cnnfeat.contract import __version__
    from cnnfeat.runtime.embedder import Embedder

    emb = embedder or Embedder(model_dir, device="cpu")
    named = cases(emb.spec.max_len)
    texts = [text for _, text in named]
    ids = emb.tokenize(texts)
    # The words before vocabulary lookup: two unknown words are both [UNK], so only the words
    # show a host that splits or case-maps them differently.
    tok = emb.tokenizer
    words = [
        [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]
        for text in texts
    ]
    features = emb.embed(texts)
    sha = emb.model_dir.card.get("sha256", {})
    return {
        "format": FORMAT,
        "version": VERSION,
        "atol": ATOL,
        "model": {
            "sha256": {name: sha.get(name) for name in (MODEL_FILE, TOKENIZER_FILE)},
            "spec": emb.spec.to_dict(),
        },
        "produced_by": {
            "cnnfeat": __version__,
            "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "cases": [
            {
                "name": name,
                "text": text,
                "words": row_words[: len(row_ids)],
                "ids": list(row_ids),
                "features": _floats(row),
            }
            for (name, text), row_words, row_ids, row in zip(
                named, words, ids, features, strict=True
            )
        ],
    }


def write_conformance(model_dir: str | Path, path: str | Path | None = None) -> Path | str:
    """Write `model_dir/conformance.json` (or `path`; "-" for standard output, as `embed -o -`)
    and return where it went. OutputError when `path` is one of the model's own files."""
    if path is not None and str(path) == "-":
        check_not_model(model_dir, "-")
        data = conformance_bytes(model_dir)
        stdout = standard_output()  # a local: the CLI tells a failed write to it by its frame
        stdout.write(data)
        stdout.flush()
        return "-"
    out = path if path is not None else Path(model_dir) / CONFORMANCE_FILE  # as given: a
    # trailing '/' (a directory, to the shell) is refused by write_file, not dropped by pathlib
    check_not_model(model_dir, out)  # never write over what is checked
    # Whole or not at all: an interrupted or failed write leaves the old file as it was.
    write_file(out, conformance_bytes(model_dir))
    return out


def conformance_bytes(model_dir: str | Path) -> bytes:
    """conformance.json's content for `model_dir` (`build_conformance`), as written."""
    doc = build_conformance(model_dir)
    # ASCII JSON: NUL, BOM and friends travel as \\u escapes that every JSON parser reads back.
    # One case per line keeps diffs between two exports readable.
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    return (text.replace('{"name":', '\n{"name":') + "\n").encode("ascii")
