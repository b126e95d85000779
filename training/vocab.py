"""Vocabulary and embedding matrix: the training words plus the vectors' most frequent words.

Words that only the vectors know still get their pretrained row, so an utterance at inference can
use words never seen in training. Training words without a vector get a random row (Kim 2014)
when they occur at least `min_count` times; rarer ones stay [UNK], so the network sees [UNK]
during training and learns what to make of it. Vocabulary words the splitting rules would cut
(`u.s.`, `well-known`) are kept whole by the tokenizer (see `cnnfeat.training.forms`).

The invariant every caller relies on: `embeddings[i + 2]` is the row of `words[i]`, and the
tokenizer built from `words` gives `words[i]` the id i + 2 ([PAD] = 0, [UNK] = 1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cnnfeat.contract.tokenizer import WordSplitter
from cnnfeat.training.forms import candidate_forms, select_kept_forms
from cnnfeat.training.vectors import RESERVED_TOKENS, WordVectors, load_vectors

# Vectors are treated as cased when at least this share of the sampled tokens holds an
# uppercase letter. GloVe 6B has none; a cased corpus's frequent words (names, sentence starts)
# give several percent (the test files below), while one stray `[UNK]` row is 1 in 20,000.
CASED_SHARE = 0.01
CASING_SAMPLE = 20000


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]  # index i+2 is words[i]: ids 0 and 1 are [PAD] and [UNK]
    embeddings: np.ndarray  # (len(words) + 2, dim) float32; row 0 is zeros
    vectors_source: str
    pretrained_rows: int  # how many rows came from the vectors (the rest are random)
    kept_forms: list[str] = field(default_factory=list)  # words the tokenizer keeps whole
    vector_notes: dict = field(default_factory=dict)  # WordVectors.notes of the source

    def __post_init__(self) -> None:
        if self.embeddings.shape[0] != len(self.words) + 2:
            raise ValueError(f"{self.embeddings.shape[0]} rows for {len(self.words)} words + 2")
        if len(set(self.words)) != len(self.words):
            raise ValueError("duplicate vocabulary words would shift every later id")

    @property
    def size(self) -> int:
        return len(self.words) + 2


def count_words(
    texts: Iterable[str], lowercase: bool, kept_forms: Sequence[str] = ()
) -> Counter[str]:
    split = WordSplitter(lowercase, kept_forms)
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(split(text))
    return counts


def build_vocabulary(
    texts: Sequence[str], lowercase: bool, vectors: str, top_n: int, min_count: int, seed: int
) -> Vocabulary:
    """The vocabulary for training texts `texts`: the vectors' first `top_n` words, the training
    words with a vector, then training words without one seen `min_count` times (random rows).

    Reads the vectors once, asking for every word and every candidate kept form of the texts.
    """
    base = count_words(texts, lowercase)
    wanted = set(base) | candidate_forms(texts, lowercase)
    found: WordVectors = load_vectors(vectors, wanted=wanted, top_n=top_n)
    forms = select_kept_forms(found.words, len(found.words), lowercase)
    counts = count_words(texts, lowercase, forms)
    # The first top_n rows are the vectors' most frequent words; of the rows asked for by the
    # training text, keep those its final tokens use (a candidate form may never be one).
    keep = [i for i, w in enumerate(found.words) if i < top_n or w in counts]
    words = [found.words[i] for i in keep]
    matrix = found.matrix[np.asarray(keep, dtype=np.int64)].reshape(len(keep), found.dim)
    known = set(words)
    forms = [f for f in forms if f in known]
    random_words = sorted(
        (w for w, c in counts.items() if w not in known and c >= min_count),
        key=lambda w: (-counts[w], w),
    )
    rng = np.random.default_rng(seed)
    # Random rows drawn with the pretrained rows' per-dimension spread, as Kim (2014) did.
    scale = matrix.std(axis=0) if len(words) > 1 else np.full(found.dim, 0.25)
    special = np.zeros((2, found.dim), np.float32)
    special[1] = rng.normal(0.0, scale).astype(np.float32)  # [UNK]
    extra = rng.normal(0.0, scale, size=(len(random_words), found.dim)).astype(np.float32)
    embeddings = np.concatenate([special, matrix.astype(np.float32), extra])
    return Vocabulary(
        words=words + random_words,
        embeddings=embeddings,
        vectors_source=found.source,
        pretrained_rows=len(words),
        kept_forms=forms,
        vector_notes=found.notes,
    )


def vectors_casing(source: str, sample: int = CASING_SAMPLE) -> dict:
    """Whether the vectors are uncased (GloVe 6B) or cased (840B), and the evidence.

    Looks at the first `sample` distinct words (reserved tokens and a word2vec header left out)
    and counts those holding an uppercase letter; the vectors are cased when that share is at
    least CASED_SHARE. Returns {"lowercase": bool, "sampled_words": n, "uppercase_words": k,
    "uppercase_share": k / n, "cased_at_share": CASED_SHARE, "examples": [up to 5 words]}.
    """
    words = _first_words(source, sample)
    upper = [w for w in words if w != w.lower()]
    share = len(upper) / len(words) if words else 0.0
    return {
        "lowercase": share < CASED_SHARE,
        "sampled_words": len(words),
        "uppercase_words": len(upper),
        "uppercase_share": round(share, 6),
        "cased_at_share": CASED_SHARE,
        "examples": upper[:5],
    }


def _first_words(source: str, sample: int) -> list[str]:
    # Read as training reads it (load_vectors: gzip, zip, word2vec binary, a header), stopping
    # after `sample` distinct words.
    words = load_vectors(source, wanted=(), top_n=sample + len(RESERVED_TOKENS)).words
    return [w for w in words if w not in RESERVED_TOKENS][:sample]
