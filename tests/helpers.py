"""Helpers the test files share; the fixtures live in conftest.py.

Every test file, in any folder, imports them as `from helpers import ...` (pyproject.toml puts
tests/ on pytest's path). One of each: a helper two test files need lives here, never in a test
file, and no test file imports another test file.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

from cnnfeat.contract.errors import InputError
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.runtime.reading import read_chunks

# The real data sits beside the repository and is never copied into it.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_WORDS = [f"w{i}" for i in range(200)]  # ids 2..201; [PAD]=0, [UNK]=1


def split_words(text: str, lowercase: bool, kept_forms: Collection[str] = ()) -> list[str]:
    """The tokens `text` becomes before vocabulary lookup (WordSplitter, built per call)."""
    from cnnfeat.contract.tokenizer import WordSplitter

    return WordSplitter(lowercase, list(kept_forms))(text)


# --- the tiny models of conftest.py's fixtures ----------------------------------------------


@dataclass(frozen=True)
class TinyModel:
    """A random-weight utterance CNN: its run directory and its exported model directory."""

    pool: str
    spec: ModelSpec
    run_dir: Path
    model_dir: Path

    def torch_model(self):
        """The checkpoint rebuilt in PyTorch, in eval mode (dropout off)."""
        from cnnfeat.training.train import load_checkpoint

        model, _ = load_checkpoint(self.run_dir)
        return model


def tiny_line(n: int, start: int = 0) -> str:
    """A line of n in-vocabulary words (every word known to the tiny tokenizer)."""
    return " ".join(TINY_WORDS[(start + 7 * i) % len(TINY_WORDS)] for i in range(n))


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# --- files, the CLI, errors -----------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """Write bytes exactly as given (str is UTF-8 encoded, newlines untranslated)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def raises_at(path: Path | str, line: int | None, match: str):
    """pytest.raises for an InputError formatted "path:line: message" ("path: message")."""
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    return pytest.raises(InputError, match="^" + re.escape(where) + ".*" + match)


def invoke(*args: object, input: bytes | str | None = None):
    """`cnnfeat ARGS` through Typer's CliRunner; arguments may be paths or numbers."""
    from typer.testing import CliRunner

    from cnnfeat.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def one_error_line(result) -> str:
    """The single `cnnfeat: error: ...` line a failed command must print, and nothing else."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnnfeat: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def read_features(path: Path, dim: int = 100) -> np.ndarray:
    """A features file in any output format (by its suffix) as an (N, dim) array, checking
    the .npz key and the CSV header on the way."""
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            assert list(archive.keys()) == ["features"]
            return archive["features"]
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        with path.open(newline="") as f:
            header, *rows = csv.reader(f)
        assert header == [f"f{i}" for i in range(dim)]
    return np.array(rows, np.float32).reshape(-1, dim)


@contextmanager
def sigint_at_line(k: int, sources: Collection[str]) -> Iterator[None]:
    """Deliver a real SIGINT at the k-th line executed in the files `sources` (for every-step
    interrupt tests: loop k = 1, 2, ... until a run gets through)."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count == k:
                os.kill(os.getpid(), signal.SIGINT)
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename in sources else None)
    try:
        yield
    finally:
        sys.settrace(None)


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


# --- odd training data ---------------------------------------------------------------------


def csv_file(tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    body = "".join(f'"{text}",{label}\n' for text, label in rows)
    return write(tmp_path, name, "text,label\n" + body)


# --- odd and damaged conversation input -------------------------------------------------


def embed(model: Path, *args: object):
    return invoke("embed", *args, "--model", model, "--device", "cpu", "-q")


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("Utterance", "Dialogue_ID", "Utterance_ID"), *rows])
    return path


def keeps_old_output(tmp_path: Path, model: Path, source: Path, out: Path, *args: str) -> str:
    out.write_bytes(b"previous")
    line = one_error_line(embed(model, source, *args, "-o", out))
    assert out.read_bytes() == b"previous"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    return line


# --- durability: tests that name fds through /proc -----------------------------------------


needs_proc_fd = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="names fds through /proc/self/fd (Linux)"
)


# --- property tests (hypothesis): arbitrary text -----------------------------------------


# Any code point a UTF-8 file can hold: everything but the surrogates.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
# Biased toward what breaks line splitting and tokenising: line ends, BOM, NUL and controls,
# Unicode separators, combining marks, clitics, numbers, wide and emoji characters.
NASTY = st.sampled_from(
    list("\r\n\t \x00\x0b\x0c\x1c\x85\u2028\u2029\ufeff\u00a0\u3000\u0301\u0308'.,:-n't")
    + ["\r\n", "w1", "w2 ", "Σ", "ﬃ", "½", "…", "😀", "👨\u200d👩", "你好", "١٢٣"]
    + ["\ud7ff", "\U0010ffff"]
)
TEXT = st.lists(st.one_of(ANY_CHAR, NASTY), max_size=60).map("".join)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def oracle_lines(data: bytes) -> list[bytes]:
    """Lines as docs/input-rules.md states the rule, written independently of the reader."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = re.split(rb"\r\n|\r|\n", data)
    if parts[-1] == b"":
        parts.pop()  # a final line end does not start another line
    return parts


def read_file(data: bytes, errors: str = "strict") -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.txt"
        path.write_bytes(data)
        return [
            t
            for chunk in read_chunks(str(path), chunk_size=7, encoding_errors=errors)
            for t in chunk
        ]


# --- odd arguments and damaged directories -----------------------------------------------


def _file(path: Path) -> Path:
    path.write_bytes(b"a file of mine\n")
    return path
