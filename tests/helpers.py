"""Helpers the test files share: data writers and paths (fixtures live in conftest.py).

Every test file imports them as `from helpers import ...` (pyproject.toml puts tests/ on the
path); no test file imports another test file.
"""

from __future__ import annotations

import csv
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from conftest import tiny_line

# --- a conversation table (the MELD layout), for per-dialogue output -----------------------

# Two dialogues, rows shuffled in the file: order 10 must come after 9 (numeric, not text
# order), dialogue 7 has a gap (no Utterance_ID 1), dialogue 3 appears first.
ROWS = [
    # Sr No., Utterance, Speaker, Emotion, Dialogue_ID, Utterance_ID
    ("1", tiny_line(4, 1), "Ross", "joy", "3", "10"),
    ("2", tiny_line(6, 2), "Rachel", "neutral", "7", "2"),
    ("3", tiny_line(2, 3), "Ross", "anger", "3", "9"),
    ("4", tiny_line(9, 4), "Monica", "neutral", "7", "0"),
    ("5", "", "Joey", "surprise", "3", "0"),
]
HEADER = ("Sr No.", "Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")


def write_table(path: Path, rows=ROWS, header=HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


# --- a tiny labelled dataset and word vectors, for `cnnfeat train` ---------------------------

POSITIVE = ["good", "great", "happy", "love", "nice", "wonderful"]
NEGATIVE = ["bad", "awful", "sad", "hate", "terrible", "zorp"]  # zorp: not in the vectors
FILLER = ["the", "a", "it", "is", "was", "so", "really", "n't", "!"]


def write_dataset(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Sr No.", "Utterance", "Emotion"])
        for i in range(rows):
            label = rng.choice(["pos", "neg"])
            words = rng.sample(FILLER, 3) + rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2)
            rng.shuffle(words)
            writer.writerow([i, " ".join(words).replace(" n't", "n't"), label])


def write_vectors(path: Path, dim: int = 8) -> None:
    rng = np.random.default_rng(0)
    words = FILLER + POSITIVE + NEGATIVE[:-1] + [f"extra{i}" for i in range(30)]
    with path.open("w", encoding="utf-8") as f:
        for word in words:
            f.write(word + " " + " ".join(f"{v:.5f}" for v in rng.normal(size=dim)) + "\n")


# --- the installed console script ------------------------------------------------------------


def installed_script() -> str | None:
    beside = Path(sys.executable).parent / "cnnfeat"
    return str(beside) if beside.is_file() else shutil.which("cnnfeat")
