"""Vocabulary and embedding matrix: the training words plus the vectors' most frequent words.

Words that only the vectors know still get their pretrained row, so an utterance at inference can
use words never seen in training. Training words without a vector get a random row (Kim 2014)
when they occur at least `min_count` times; rarer ones stay [UNK], so the network sees [UNK]
during training and learns what to make of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cnnfeat.runtime.tokenizer import PAD_TOKEN, UNK_TOKEN, WordSplitter
from cnnfeat.training.vectors import WordVectors, load_vectors


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]  # index i+2 is words[i]: ids 0 and 1 are [PAD] and [UNK]
    embeddings: np.ndarray  # (len(words) + 2, dim) float32; row 0 is zeros
    vectors_source: str
    pretrained_rows: int  # how many rows came from the vectors (the rest are random)

    @property
    def size(self) -> int:
        return len(self.words) + 2


def count_words(texts: Iterable[str], lowercase: bool) -> Counter[str]:
    split = WordSplitter(lowercase)
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(split(text))
    return counts


def build_vocabulary(
    train_counts: Counter[str], vectors: str, top_n: int, min_count: int, seed: int
) -> Vocabulary:
    found: WordVectors = load_vectors(vectors, wanted=set(train_counts), top_n=top_n)
    known = set(found.words)
    random_words = sorted(
        (w for w, c in train_counts.items() if w not in known and c >= min_count),
        key=lambda w: (-train_counts[w], w),
    )
    random_words = [w for w in random_words if w not in (PAD_TOKEN, UNK_TOKEN)]
    rng = np.random.default_rng(seed)
    # Random rows drawn with the pretrained rows' per-dimension spread, as Kim (2014) did.
    scale = found.matrix.std(axis=0) if len(found.words) > 1 else np.full(found.dim, 0.25)
    special = np.zeros((2, found.dim), np.float32)
    special[1] = rng.normal(0.0, scale).astype(np.float32)  # [UNK]
    extra = rng.normal(0.0, scale, size=(len(random_words), found.dim)).astype(np.float32)
    embeddings = np.concatenate([special, found.matrix.astype(np.float32), extra])
    return Vocabulary(
        words=list(found.words) + random_words,
        embeddings=embeddings,
        vectors_source=found.source,
        pretrained_rows=len(found.words),
    )


def vectors_are_uncased(source: str, sample: int = 20000) -> bool:
    """GloVe 6B is lower-cased; 840B keeps case. Decide from the first words of the source."""
    if source == "glove-6b-50d":
        return True
    import gzip

    opener = gzip.open if source.endswith(".gz") else open
    with opener(source, "rb") as handle:
        for i, line in enumerate(handle):
            if i >= sample:
                break
            word = line.split(b" ", 1)[0].decode("utf-8", "ignore")
            if word != word.lower():
                return False
    return True
