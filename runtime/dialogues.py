"""Per-dialogue features: one ordered (n_utterances, 100) sequence per dialogue.

The layout conversation models (bc-LSTM, DialogueRNN, COSMIC and their descendants) read.
Utterances are embedded in file order exactly as `cnnfeat embed` embeds the same file line by
line (same chunks, same batches), then grouped: row for row, a dialogue's sequence is the
per-line output of its utterances (max difference 0). Inside a dialogue, rows follow the order
column numerically (ties and formats without one: file order); the order values are kept as
they are, gaps included, in the Parquet output's original columns.

Outputs (both written to a temporary file and renamed when complete, runtime/writing.py):
- `.npz`: one float32 array (n_utterances, 100) per dialogue, keyed by its id, dialogues in
  order of first appearance; `numpy.load` reads it.
- `.parquet`: one row per utterance, dialogues in the same order: `dialogue_id` (string),
  `position` (int32, 0-based row in that dialogue's sequence), `speaker`, `label` (strings,
  null where the input has none), every input column as a string (the text included; a column
  that clashes with one of these names is written as `input.NAME`), and `features`
  (fixed_size_list<float32>[100]). Needs pyarrow.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnfeat.contract.batching import CHUNK_SIZE
from cnnfeat.contract.describe import count
from cnnfeat.contract.errors import InputError, OutputError
from cnnfeat.runtime.corpora import Columns, Utterance, read_utterances
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.pipeline import embed_chunks
from cnnfeat.runtime.writing import (
    FeatureWriter,
    check_not_input,
    check_not_model,
    output_for,
    staged_file,
)

DIALOGUE_FORMATS = (".npz", ".parquet")
DERIVED_COLUMNS = ("dialogue_id", "position", "speaker", "label", "features")
_ZIP_NAME_BYTES = 0xFFFF  # a zip member name's length is a 16-bit field


@dataclass(frozen=True)
class Dialogue:
    """A dialogue's utterances in order; `rows` are their indices in file order."""

    id: str
    utterances: list[Utterance]
    rows: np.ndarray  # int64, (n_utterances,)


@dataclass(frozen=True)
class DialogueFeatures:
    """One dialogue's utterances, in order, and their features (`cnnfeat.embed_dialogues`).

    id: the dialogue id (str: MELD's Dialogue_ID, EmoryNLP's sNN_eNN_cNN, DailyDialog's line
    index, IEMOCAP's session and dialogue); speakers, labels: one per utterance (None where the
    input has none); texts: the utterances as read; features: float32 array of shape
    (n_utterances, dim), row i for utterance i, equal bit for bit to what `cnnfeat embed
    --dialogues` writes for this dialogue.
    """

    id: str
    speakers: list[str | None]
    labels: list[str | None]
    texts: list[str]
    features: np.ndarray


@dataclass(frozen=True)
class DialogueSummary:
    utterances: int
    dialogues: int
    seconds: float
    provider: str
    output: str

    def line(self) -> str:
        rate = self.utterances / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"embedded {count(self.utterances, 'utterance')} in "
            f"{count(self.dialogues, 'dialogue')} in "
            f"{self.seconds:.2f} s ({rate:,.0f} utt/s) on {self.provider} -> {self.output}"
        )


def group_dialogues(utterances: Sequence[Utterance], path: str) -> list[Dialogue]:
    """Group utterances (in file order) by dialogue id, dialogues in order of first appearance,
    each ordered by its `order` values (stable: file order among equal or missing values).
    Two utterances of one dialogue with the same order value are an InputError naming both
    lines."""
    members: dict[str, list[int]] = {}
    for i, utterance in enumerate(utterances):
        members.setdefault(utterance.dialogue_id, []).append(i)
    out = []
    for dialogue_id, rows in members.items():
        if utterances[rows[0]].order is not None:
            rows.sort(key=lambda i: utterances[i].order)  # type: ignore[arg-type, return-value]
            for a, b in zip(rows, rows[1:], strict=False):
                if utterances[a].order == utterances[b].order:
                    first, second = sorted((utterances[a].line, utterances[b].line))
                    raise InputError(
                        f"dialogue {dialogue_id!r} has two utterances at order "
                        f"{utterances[a].order} (lines {first} and {second})",
                        path,
                        second,
                    )
        out.append(Dialogue(dialogue_id, [utterances[i] for i in rows], np.asarray(rows, np.int64)))
    return out


def check_npz_ids(dialogues: Sequence[Dialogue], path: str) -> None:
    """InputError naming the first line of a dialogue whose id a .npz key cannot hold: one with
    a NUL (zipfile ends a member name there, so two ids could become one key) or longer than a
    zip member name (65,535 bytes of UTF-8 with its `.npy`). Parquet holds any id."""
    for dialogue in dialogues:
        line = min(u.line for u in dialogue.utterances) or None  # 0: JSON keeps no lines
        if "\0" in dialogue.id:
            raise InputError(
                f"dialogue id {dialogue.id!r} holds a NUL character, which a .npz key cannot hold",
                path,
                line,
                advice="write .parquet instead",
            )
        size = len(dialogue.id.encode("utf-8"))
        if size + len(".npy") > _ZIP_NAME_BYTES:
            raise InputError(
                f"dialogue id of {size} bytes",
                path,
                line,
                advice=f"a .npz key holds at most {_ZIP_NAME_BYTES - len('.npy')}: "
                "write .parquet instead",
            )


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """(len(texts), dim) float32, computed in the chunks and batches `cnnfeat embed` uses for
    the same lines, so the rows equal its output bit for bit."""
    chunks = [list(texts[i : i + CHUNK_SIZE]) for i in range(0, len(texts), CHUNK_SIZE)]
    parts = [features for _, features in embed_chunks(embedder, chunks)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def write_npz(path: str, dialogues: Sequence[Dialogue], features: np.ndarray) -> None:
    """One uncompressed .npy member per dialogue (`ID.npy`), as numpy.savez writes them."""
    with staged_file(path) as temp:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for dialogue in dialogues:
                member = zipfile.ZipInfo(f"{dialogue.id}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member.external_attr = 0o644 << 16
                with archive.open(member, "w", force_zip64=True) as handle:
                    np.lib.format.write_array(handle, features[dialogue.rows], allow_pickle=False)


def dialogue_table(dialogues: Sequence[Dialogue], features: np.ndarray):
    """The Parquet layout as a pyarrow.Table (see the module docstring)."""
    import pyarrow as pa

    utterances = [u for d in dialogues for u in d.utterances]
    rows = np.concatenate([d.rows for d in dialogues]) if dialogues else np.zeros(0, np.int64)
    names: dict[str, None] = {}
    for utterance in utterances:
        names.update(dict.fromkeys(utterance.fields))
    columns = {
        "dialogue_id": pa.array([u.dialogue_id for u in utterances], pa.string()),
        "position": pa.array([i for d in dialogues for i in range(len(d.utterances))], pa.int32()),
        "speaker": pa.array([u.speaker for u in utterances], pa.string()),
        "label": pa.array([u.label for u in utterances], pa.string()),
    }
    taken = set(DERIVED_COLUMNS) | set(names)
    for name in names:
        key = name
        if name in DERIVED_COLUMNS:  # input.NAME, or input.input.NAME if that is a column too
            key = f"input.{name}"
            while key in taken:
                key = f"input.{key}"
            taken.add(key)
        columns[key] = pa.array([u.fields.get(name) for u in utterances], pa.string())
    dim = features.shape[1]
    flat = pa.array(np.ascontiguousarray(features[rows], np.float32).reshape(-1), pa.float32())
    columns["features"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(columns)


def write_parquet(path: str, dialogues: Sequence[Dialogue], features: np.ndarray) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise OutputError(
            "Parquet output needs pyarrow, which is not installed: pip install pyarrow"
        ) from None
    table = dialogue_table(dialogues, features)
    with staged_file(path) as temp:
        pq.write_table(table, temp)


def embed_dialogues(
    input_path: str,
    output_path: str,
    embedder: Embedder | Callable[[], Embedder],
    corpus: str = "table",
    column: str | None = None,
    columns: Columns | None = None,
    labels_path: str | None = None,
    encoding_errors: str = "strict",
    per_dialogue: bool = True,
) -> DialogueSummary:
    """Embed a conversation file. per_dialogue: `.npz`/`.parquet` by dialogue (see the module
    docstring); else the line-by-line layout of `cnnfeat embed` (.npy/.npz/.jsonl/.csv), rows
    in file order. `embedder` may be a function that loads one: it is called once the input
    has been read, so bad input is reported before a model is loaded. Raises InputError,
    OutputError."""
    started = time.perf_counter()
    suffix = Path(output_path).suffix.lower()
    if per_dialogue and suffix not in DIALOGUE_FORMATS:
        raise OutputError(
            f"per-dialogue output is .npz or .parquet, not {suffix or '(none)'!r}", output_path
        )
    output = None if per_dialogue else output_for(output_path)
    check_not_input(input_path, output_path)
    utterances, dialogues = _read(
        input_path, corpus, column, columns, labels_path, encoding_errors, per_dialogue
    )
    if per_dialogue and suffix == ".npz":
        check_npz_ids(dialogues, input_path)
    if not isinstance(embedder, Embedder):
        embedder = embedder()
    check_not_model(embedder.model_dir.path, output_path)  # never write over what is run
    features = embed_texts(embedder, [u.text for u in utterances])
    if output is not None:
        with FeatureWriter(output, embedder.dim) as writer:
            writer.write(features)
    elif suffix == ".npz":
        write_npz(output_path, dialogues, features)
    else:
        write_parquet(output_path, dialogues, features)
    count = len(dialogues) if per_dialogue else len({u.dialogue_id for u in utterances})
    return DialogueSummary(
        len(utterances), count, time.perf_counter() - started, embedder.provider, output_path
    )


def dialogue_features(
    input_path: str,
    embedder: Embedder | Callable[[], Embedder],
    corpus: str = "table",
    column: str | None = None,
    columns: Columns | None = None,
    labels_path: str | None = None,
    encoding_errors: str = "strict",
) -> list[DialogueFeatures]:
    """Every dialogue of a conversation file with its features, dialogues in order of first
    appearance: what `embed_dialogues` writes to .npz/.parquet, as Python objects. Read by the
    same readers (runtime/corpora.py) and embedded in the same chunks, so the features equal
    the written ones bit for bit. `embedder` may be a function that loads one (called once the
    input has been read). Raises InputError naming the file and line."""
    utterances, dialogues = _read(
        input_path, corpus, column, columns, labels_path, encoding_errors, True
    )
    if not isinstance(embedder, Embedder):
        embedder = embedder()
    features = embed_texts(embedder, [u.text for u in utterances])
    return [
        DialogueFeatures(
            id=d.id,
            speakers=[u.speaker for u in d.utterances],
            labels=[u.label for u in d.utterances],
            texts=[u.text for u in d.utterances],
            features=features[d.rows],
        )
        for d in dialogues
    ]


def _read(
    input_path: str,
    corpus: str,
    column: str | None,
    columns: Columns | None,
    labels_path: str | None,
    encoding_errors: str,
    per_dialogue: bool,
) -> tuple[list[Utterance], list[Dialogue]]:
    """The utterances of a conversation file, and its dialogues (none unless per_dialogue)."""
    if input_path == "-":
        raise InputError("reading dialogues needs a file, not stdin")
    utterances = read_utterances(
        input_path, corpus, column, columns, labels_path, encoding_errors, dialogues=per_dialogue
    )
    dialogues = group_dialogues(utterances, input_path) if per_dialogue else []
    return utterances, dialogues
