"""Conversation corpora as dialogues: MELD/EmoryNLP tables, EmoryNLP JSON, DailyDialog, IEMOCAP.

Every reader gives `Utterance`s in file order; `runtime/dialogues.py` groups and orders them.
Formats, as published:

- Tables (.csv/.tsv/.jsonl, read by `runtime/reading.py`): one utterance per record, a dialogue
  id column and an order column. MELD (Poria et al., ACL 2019): `Dialogue_ID`, `Utterance_ID`.
  EmoryNLP CSV (declare-lab/MELD `data/emorynlp`): `Season`, `Episode`, `Scene_ID`,
  `Utterance_ID`; the dialogue id is `s01_e15_c01`, the official JSON's scene id.
- EmoryNLP JSON (emorynlp/emotion-detection, `json/`): episodes > scenes > utterances; a scene is
  a dialogue, its `utterances` list is the order.
- DailyDialog (Li et al., IJCNLP 2017, `dialogues_text.txt`): one dialogue per line, each
  utterance followed by `__eou__`; `dialogues_emotion.txt` has one line per dialogue with one
  label per utterance (0 no emotion, 1 anger, 2 disgust, 3 fear, 4 happiness, 5 sadness,
  6 surprise). The dialogue id is the 0-based line index; speakers alternate A, B (the corpus is
  dyadic and gives no names).
- IEMOCAP transcripts (Busso et al. 2008, `dialog/transcriptions/*.txt`): lines such as
  `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`; the dialogue is the turn id without
  its last part (`Ses01F_impro01`), the speaker the letter that starts the last part (F or M).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnfeat.contract.describe import json_type
from cnnfeat.contract.errors import ArgumentError, InputError
from cnnfeat.runtime.reading import (
    ENCODING_HINT,
    SURROGATE,
    Record,
    default_column,
    input_format,
    open_error,
    open_text,
    read_records,
)

CORPORA = ("table", "emorynlp-json", "dailydialog", "iemocap")
SPEAKER_COLUMNS = ("Speaker", "speaker", "speakers")
LABEL_COLUMNS = ("Emotion", "label", "emotion")  # also `cnnfeat train`'s (training/data.py)
DAILYDIALOG_EMOTIONS = (
    "no emotion",
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
)
_DAILYDIALOG_NAME = re.compile(r"dialogues_(text|train|validation|test)\.txt")
_IEMOCAP_NAME = re.compile(r"Ses\d\d[FM]_\w+\.txt")
_IEMOCAP_SUMMARY = re.compile(r"\[\d+(?:\.\d*)? - \d+(?:\.\d*)?\]")
_IEMOCAP_LINE = re.compile(r"(\S+) \[(\d+(?:\.\d*)?)-(\d+(?:\.\d*)?)\]:\s?(.*)")
_EOU = "__eou__"


@dataclass(frozen=True)
class Utterance:
    """One utterance of a dialogue, as read (before ordering).

    order: the numeric value of the order column, int or float (None: file order decides);
    fields: every column of the record as a string (the text included), for the Parquet output;
    line: 1-based line of the source (0 where the format keeps none, JSON), for error messages.
    """

    dialogue_id: str
    order: int | float | None
    speaker: str | None
    label: str | None
    text: str
    fields: dict[str, str | None]
    line: int


@dataclass(frozen=True)
class Columns:
    """Which table columns hold the dialogue id(s), the order, the speaker and the label."""

    dialogue: tuple[str, ...] | None = None
    order: str | None = None
    speaker: str | None = None
    label: str | None = None

    @classmethod
    def named(
        cls,
        dialogue: str | Sequence[str] | None = None,
        order: str | None = None,
        speaker: str | None = None,
        label: str | None = None,
    ) -> Columns:
        """The columns as a user names them: `dialogue` one name, several comma-separated in
        one str (the CLI's --dialogue-column), or a sequence; None for the corpus' defaults
        ("" is the column "", an error when read, not the defaults)."""
        names = None
        if isinstance(dialogue, str):
            names = tuple(c.strip() for c in dialogue.split(","))
        elif isinstance(dialogue, Sequence) and not isinstance(dialogue, bytes | bytearray):
            names = tuple(dialogue)
        elif dialogue is not None:
            names = (dialogue,)  # refused below, as any name that is not a str
        for what, value in (("order", order), ("speaker", speaker), ("label", label)):
            if value is not None and not isinstance(value, str):
                raise ArgumentError(f"{what}_column must be a column name (a str), got {value!r}")
        if names is not None and not all(isinstance(n, str) for n in names):
            raise ArgumentError(
                f"dialogue_column must be a column name (a str) or a list of them, got {dialogue!r}"
            )
        return cls(names, order, speaker, label)


def corpus_format(path: str, corpus: str | None = None) -> str:
    """The corpus layout of `path`: `corpus` if given, else by the published file names
    (`dialogues_{text,train,validation,test}.txt` DailyDialog, `Ses01F_*.txt` IEMOCAP,
    `.json` EmoryNLP), else "table" (csv/tsv/jsonl, or plain text)."""
    if corpus is not None:
        if corpus not in CORPORA:
            raise InputError(
                f"unknown corpus {corpus!r}", advice=f"use one of {', '.join(CORPORA)}"
            )
        return corpus
    name = Path(path).name
    if _DAILYDIALOG_NAME.fullmatch(name):
        return "dailydialog"
    if _IEMOCAP_NAME.fullmatch(name):
        return "iemocap"
    if name.lower().endswith(".json"):
        return "emorynlp-json"
    return "table"


def read_utterances(
    path: str,
    corpus: str = "table",
    column: str | None = None,
    columns: Columns | None = None,
    labels_path: str | None = None,
    encoding_errors: str = "strict",
    dialogues: bool = True,
) -> list[Utterance]:
    """Every utterance of `path` in file order, as `Utterance`s (text, dialogue id, position,
    speaker, label, the record's other fields).

    corpus: "table" (.csv/.tsv/.jsonl, read by runtime/reading.py with MELD's and EmoryNLP's
    column names by default), "emorynlp-json", "dailydialog" or "iemocap" (formats as
    published; module docstring). Raises InputError naming the file and line.

    dialogues=False reads a table without asking for a dialogue column (every record its own
    dialogue: the line-by-line layout). labels_path: DailyDialog's emotion file (default: the
    published name beside `path`, if it exists).
    """
    if corpus == "dailydialog":
        return read_dailydialog(path, labels_path, encoding_errors)
    if corpus == "iemocap":
        return read_iemocap(path, labels_path, encoding_errors)
    if labels_path is not None:
        raise InputError("--labels is for DailyDialog and IEMOCAP (see --corpus)")
    if corpus == "emorynlp-json":
        return read_emorynlp_json(path, encoding_errors)
    return read_table(path, column, columns, encoding_errors, dialogues)


def read_table(
    path: str,
    column: str | None = None,
    columns: Columns | None = None,
    encoding_errors: str = "strict",
    dialogues: bool = True,
) -> list[Utterance]:
    """Utterances of a .csv/.tsv/.jsonl table (MELD, EmoryNLP CSV, or your own columns)."""
    columns = columns or Columns()
    if Path(path).is_dir():
        raise open_error(IsADirectoryError(), path)
    if dialogues and input_format(path, column) == "text":
        raise InputError(
            "plain text has no dialogue column: per-dialogue output needs a .csv, "
            ".tsv or .jsonl with one, or a corpus format (--corpus)",
            path,
        )
    records = read_records(path, column, encoding_errors)
    if input_format(path, column) == "jsonl":  # JSON escapes can hold lone surrogates
        records = (_sound_fields(r, path, encoding_errors) for r in records)
    first = next(records, None)
    fmt = input_format(path, column)
    if first is None and fmt not in ("csv", "tsv"):
        return []  # nothing to check the columns against
    if first is None:  # a header alone: its columns are still checked
        header = _table_header(path, fmt)
        if header is None:
            return []  # an empty file
        text_column = column or default_column(header, path, 1)
        available = [name for name in header if name != text_column]
    else:
        text_column = column or default_text_column(path, first)
        available = list(first.fields)
    named = [("a dialogue", c) for c in columns.dialogue or ()] + [
        ("an order", columns.order),
        ("a speaker", columns.speaker),
        ("a label", columns.label),
    ]
    for what, name in named:
        if name is not None and name == text_column:
            raise InputError(f"{name!r} is the text column, not {what} column", path, 1)
    dialogue, order, emorynlp = _dialogue_columns(columns, available, path, dialogues)
    speaker = _pick(columns.speaker, SPEAKER_COLUMNS, available, path)
    label = _pick(columns.label, LABEL_COLUMNS, available, path)
    if first is None:
        return []
    out = []
    for record in _chain(first, records):
        fields = {text_column: record.text, **record.fields}
        if not dialogue:
            dialogue_id = str(record.row)
        elif emorynlp:
            dialogue_id = _emorynlp_scene(record, path)
        else:
            dialogue_id = "_".join(_value(record, c, path) for c in dialogue)
        if dialogue and not dialogue_id.strip():
            raise InputError(f"empty dialogue id ({', '.join(dialogue)})", path, record.line)
        position = None if order is None else _number(record, order, path)
        out.append(
            Utterance(
                dialogue_id,
                position,
                _speaker(record.fields.get(speaker or "")),
                _label(record.fields.get(label or "")),
                record.text,
                fields,
                record.line,
            )
        )
    return out


def default_text_column(path: str, first: Record) -> str:
    """The text column `read_records` picked (the first of TEXT_COLUMNS in the header): the
    header is read again here, as read_records does not say which one it took. The file has
    already been read past its first record, so its header is known to be sound."""
    fmt = input_format(path, None)
    if fmt == "text":
        return "text"  # plain lines: no header
    if fmt == "jsonl":
        # the first record is on the first line that is not blank (the reader skips those)
        with io.TextIOWrapper(open_text(path), encoding="utf-8-sig", errors="replace") as handle:
            names = list(json.loads(next((line for line in handle if line.strip()), "{}")))
    else:
        names = _table_header(path, fmt) or []
    return default_column(names, path, 1)


def _table_header(path: str, fmt: str) -> list[str] | None:
    """The header row of a .csv/.tsv that read_records has already read (so it is sound);
    None for an empty file."""
    delimiter = "\t" if fmt == "tsv" else ","
    with io.TextIOWrapper(open_text(path), "utf-8-sig", errors="replace", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), None)


def _dialogue_columns(
    columns: Columns, available: list[str], path: str, dialogues: bool
) -> tuple[tuple[str, ...], str | None, bool]:
    """(dialogue id columns, order column, whether the id is EmoryNLP's sNN_eNN_cNN)."""
    order = columns.order or _if_there("Utterance_ID", available)
    if order is not None and order not in available:
        raise _no_column(order, available, path)
    if columns.dialogue is not None:
        for name in columns.dialogue:
            if name not in available:
                raise _no_column(name, available, path)
        return columns.dialogue, order, False
    if "Dialogue_ID" in available:  # MELD
        return ("Dialogue_ID",), order, False
    if {"Season", "Episode", "Scene_ID"} <= set(available):  # EmoryNLP CSV
        return (
            ("Season", "Episode", "Scene_ID"),
            order,
            True,
        )
    if not dialogues:
        return (), order, False
    raise InputError(
        "no dialogue column (looked for MELD's Dialogue_ID and EmoryNLP's Season/Episode/"
        f"Scene_ID; found {', '.join(map(repr, available)) or 'none'})",
        path,
        1,
        advice="name it with --dialogue-column",
    )


def _if_there(name: str, available: list[str]) -> str | None:
    return name if name in available else None


def _pick(
    named: str | None, defaults: tuple[str, ...], available: list[str], path: str
) -> str | None:
    if named is not None:
        if named not in available:
            raise _no_column(named, available, path)
        return named
    return next((c for c in defaults if c in available), None)


def _no_column(name: str, available: list[str], path: str) -> InputError:
    return InputError(f"no column {name!r} (columns: {', '.join(available)})", path, 1)


def _chain(first: Record, rest: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from rest


def _sound_fields(record: Record, path: str, errors: str) -> Record:
    """`record` with every field checked by _sound_text (reading.py does the text column)."""
    fields = record.fields
    if any(v is not None and SURROGATE.search(v) for v in fields.values()):
        fields = {
            k: _sound_text(v, f"field {k!r}", path, record.line, errors) for k, v in fields.items()
        }
        return record._replace(fields=fields)
    return record


def _sound_text(value: str | None, what: str, path: str, line: int | None, errors: str):
    """`value` if it has a UTF-8 form; its lone surrogates (U+D800-U+DFFF, which only a JSON
    escape can produce) as U+FFFD if errors == "replace"; else an InputError: written as a .npz
    key or a Parquet string it would fail."""
    if value is None or not SURROGATE.search(value):
        return value
    if errors == "replace":
        return SURROGATE.sub("\ufffd", value)
    raise InputError(
        f"{what} holds a lone surrogate escape (\\ud800-\\udfff), which is not a character",
        path,
        line,
        advice=ENCODING_HINT,
    )


def _value(record: Record, column: str, path: str) -> str:
    if column not in record.fields:  # a JSONL record without it (a CSV row has every column)
        raise InputError(f"no field {column!r}", path, record.line)
    value = record.fields[column]
    if value is None:
        raise InputError(f"{column!r} is null", path, record.line)
    return value.strip()


def _number(record: Record, column: str, path: str) -> int | float:
    """The order value: an int when it is one (exact at any size: nanosecond timestamps are
    beyond a float's 2**53), else a finite float; Python compares the two exactly."""
    value = _value(record, column, path)
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(f"{column!r} is {value!r}, not a number", path, record.line)
    return number


def _emorynlp_scene(record: Record, path: str) -> str:
    parts = []
    for prefix, column in (("s", "Season"), ("e", "Episode"), ("c", "Scene_ID")):
        value = _value(record, column, path)
        if not _is_ascii_digits(value):
            raise InputError(f"{column!r} is {value!r}, not a number", path, record.line)
        parts.append(f"{prefix}{int(value):02d}")
    return "_".join(parts)


def _is_ascii_digits(value: str) -> bool:
    """0-9 only: str.isdigit() also takes '²' and other digits int() refuses."""
    return value.isascii() and value.isdigit()


def _speaker(value: str | None) -> str | None:
    """EmoryNLP's CSV writes speakers as a Python list (`['Rachel Green']`): joined by ", "."""
    if value is None or not value.startswith("["):
        return value
    try:
        names = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return ", ".join(names)
    return value


def _label(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value.strip()


# --- EmoryNLP JSON ----------------------------------------------------------------------------


def read_emorynlp_json(path: str, encoding_errors: str = "strict") -> list[Utterance]:
    """Scenes of the official EmoryNLP JSON as dialogues: the one reader of the format, for
    `cnnfeat embed --dialogues` and `cnnfeat train` (training/data.py). Each utterance's fields
    are `utterance_id`, `speakers` (joined by ", "), `transcript` (the text) and `emotion` (the
    label; None unless a string). JSON keeps no lines: errors name the utterance by its
    `utterance_id` (else its place, `episodes[e].scenes[s].utterances[u]`). Lone surrogate
    escapes: see _sound_text."""
    try:
        with io.TextIOWrapper(open_text(path), encoding="utf-8-sig") as handle:
            doc = json.load(handle)
    except OSError as exc:
        raise open_error(exc, path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte offset {exc.start}", path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
    except RecursionError:
        raise InputError("invalid JSON (nested too deeply)", path) from None
    except ValueError as exc:  # an integer too long to convert
        raise InputError(f"invalid JSON ({exc})", path) from None
    out = []
    for e, episode in enumerate(_items(doc, "episodes", "top level", path)):
        for s, scene in enumerate(_items(episode, "scenes", f"episodes[{e}]", path)):
            where = f"episodes[{e}].scenes[{s}]"
            scene_id = scene.get("scene_id")
            scene_id = where if scene_id is None else str(scene_id)
            scene_id = _sound_text(scene_id, f"{where}: 'scene_id'", path, None, encoding_errors)
            for u, utt in enumerate(_items(scene, "utterances", where, path)):
                name = f"{where}.utterances[{u}]"
                if not isinstance(utt, dict):
                    raise InputError(f"{name} is not an object", path)
                who = f"utterance {utt.get('utterance_id', name)}"
                if "transcript" not in utt:
                    raise InputError(f"{who}: missing key 'transcript'", path)
                if not isinstance(utt["transcript"], str):
                    got = json_type(utt["transcript"])
                    raise InputError(f"{who}: 'transcript' must be a string, got {got}", path)
                speakers = utt.get("speakers") or []
                speaker = ", ".join(map(str, speakers)) if isinstance(speakers, list) else None
                label = utt.get("emotion") if isinstance(utt.get("emotion"), str) else None
                fields: dict[str, Any] = {
                    "utterance_id": str(utt.get("utterance_id", name)),
                    "speakers": speaker,
                    "transcript": utt["transcript"],
                    "emotion": label,
                }
                fields = {
                    k: _sound_text(v, f"{name}: {k!r}", path, None, encoding_errors)
                    for k, v in fields.items()
                }
                speaker, label, text = fields["speakers"], fields["emotion"], fields["transcript"]
                out.append(Utterance(scene_id, None, speaker, _label(label), text, fields, 0))
    return out


def _items(parent: object, key: str, where: str, path: str) -> list:
    if not isinstance(parent, dict) or not isinstance(parent.get(key), list):
        raise InputError(f"{where}: expected an object with a {key!r} list (EmoryNLP JSON)", path)
    return parent[key]


# --- DailyDialog ------------------------------------------------------------------------------


def dailydialog_labels_path(text_path: str) -> Path | None:
    """The emotion file the DailyDialog release puts beside a text file, if that name is one of
    the published ones: dialogues_text.txt -> dialogues_emotion.txt, dialogues_train.txt ->
    dialogues_emotion_train.txt (validation, test likewise)."""
    path = Path(text_path)
    match = _DAILYDIALOG_NAME.fullmatch(path.name)
    if match is None:
        return None
    split = match.group(1)
    name = "dialogues_emotion.txt" if split == "text" else f"dialogues_emotion_{split}.txt"
    return path.with_name(name)


def read_dailydialog(
    text_path: str, labels_path: str | None = None, encoding_errors: str = "strict"
) -> list[Utterance]:
    """Utterances of a DailyDialog text file, with labels from its emotion file when there is
    one (`labels_path`, else the published name beside it). A line whose utterance count differs
    from its label line's is an InputError naming the text file's line. Blank lines at the end
    of either file are not dialogues (a blank line inside one is a dialogue of no utterances,
    which pairs with a blank label line)."""
    if labels_path is None:
        found = dailydialog_labels_path(text_path)
        labels_path = str(found) if found is not None and found.is_file() else None
    label_lines = None
    if labels_path is not None:
        label_lines = [r.text for r in read_records(labels_path, None, encoding_errors, fmt="text")]
        _drop_trailing_blanks(label_lines)
    records = list(read_records(text_path, None, encoding_errors, fmt="text"))
    _drop_trailing_blanks(records)
    n_dialogues = len(records)
    out: list[Utterance] = []
    for record in records:
        pieces = [p.strip() for p in record.text.split(_EOU)]
        if pieces and not pieces[-1]:
            pieces.pop()  # the text after the last __eou__
        labels: list[str | None] = [None] * len(pieces)
        if label_lines is not None and labels_path is not None:
            labels = _dailydialog_labels(
                label_lines, record.line, len(pieces), labels_path, text_path
            )
        dialogue_id = str(record.row)
        for i, (text, label) in enumerate(zip(pieces, labels, strict=True)):
            fields = {"text": text, "emotion": label}
            out.append(Utterance(dialogue_id, None, "AB"[i % 2], label, text, fields, record.line))
    if label_lines is not None and len(label_lines) > n_dialogues:
        extra = next(i for i in range(n_dialogues, len(label_lines)) if label_lines[i].strip()) + 1
        raise InputError(
            f"{len(label_lines)} label lines but {text_path} has {n_dialogues} dialogues",
            labels_path,
            extra,
        )
    return out


def _drop_trailing_blanks(lines: list) -> None:
    """Remove blank lines (str or Record) from the end of `lines`, in place."""
    while lines and not (lines[-1] if isinstance(lines[-1], str) else lines[-1].text).strip():
        lines.pop()


def _dailydialog_labels(
    lines: list[str], line: int, count: int, path: str, text_path: str
) -> list[str | None]:
    if line > len(lines):
        raise InputError(
            f"{count} utterances but {path} has no line {line} (it has {len(lines)} label lines)",
            text_path,
            line,
        )
    names: list[str | None] = []
    for value in lines[line - 1].split():
        if not _is_ascii_digits(value) or int(value) >= len(DAILYDIALOG_EMOTIONS):
            raise InputError(f"emotion {value!r} is not one of 0..6", path, line)
        names.append(DAILYDIALOG_EMOTIONS[int(value)])
    if len(names) != count:
        raise InputError(
            f"{count} utterances but {path} line {line} has {len(names)} labels", text_path, line
        )
    return names


# --- IEMOCAP ----------------------------------------------------------------------------------


def iemocap_labels_path(transcript: str) -> Path:
    """Where the IEMOCAP release keeps a transcript's labels:
    `SessionN/dialog/transcriptions/X.txt` -> `SessionN/dialog/EmoEvaluation/X.txt`."""
    path = Path(transcript).absolute()  # "X.txt" alone: its folder is the working directory
    return path.parent.parent / "EmoEvaluation" / path.name


def read_iemocap_labels(path: str, encoding_errors: str = "strict") -> dict[str, str]:
    """{turn id: emotion} from an IEMOCAP EmoEvaluation file: its summary lines
    `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`; every
    other line (the annotators' own lines, the header) is not a summary and is passed over.
    Labels as written: neu, hap, sad, ang, exc, fru, sur, fea, dis, oth, xxx (no majority)."""
    labels = {}
    for record in read_records(path, None, encoding_errors, fmt="text"):
        parts = record.text.split("\t")
        if len(parts) == 4 and _IEMOCAP_SUMMARY.fullmatch(parts[0].strip()):
            labels[parts[1].strip()] = parts[2].strip()
    return labels


def read_iemocap(
    path: str, labels_path: str | None = None, encoding_errors: str = "strict"
) -> list[Utterance]:
    """Turns of IEMOCAP transcript lines (`ID [START-END]: text`); blank lines are skipped, any
    other line is an InputError naming it. Several transcripts may be concatenated. Labels come
    from an EmoEvaluation file (`labels_path`, else the release's place for it, if it exists);
    turns it does not list get none."""
    if labels_path is None and iemocap_labels_path(path).is_file():
        labels_path = str(iemocap_labels_path(path))
    labels = {} if labels_path is None else read_iemocap_labels(labels_path, encoding_errors)
    out = []
    for record in read_records(path, None, encoding_errors, fmt="text"):
        if not record.text.strip():
            continue
        match = _IEMOCAP_LINE.fullmatch(record.text.strip())
        if match is None or not match.group(1).rpartition("_")[0]:  # no dialogue part
            raise InputError(
                "not an IEMOCAP transcript line (expected 'Ses01F_impro01_F000 "
                "[006.2901-008.2357]: text')",
                path,
                record.line,
            )
        turn, start, end, text = match.groups()
        dialogue_id, _, last = turn.rpartition("_")
        label = labels.get(turn)
        fields = {"turn_id": turn, "start": start, "end": end, "text": text, "emotion": label}
        out.append(Utterance(dialogue_id, None, last[:1], label, text, fields, record.line))
    return out


# --- training ---------------------------------------------------------------------------------


def read_labelled_corpus(path: str | Path) -> tuple[list[str], list[str]] | None:
    """(texts, labels) for `cnnfeat train` of a DailyDialog text file (labels from the emotion
    file beside it) or an IEMOCAP transcript (labels from its EmoEvaluation file, where the
    release keeps it; turns that file does not list are left out), both by their published
    names; None for any other file."""
    path = str(path)
    corpus = corpus_format(path)
    if corpus == "dailydialog":
        labels_path = dailydialog_labels_path(path)
        utterances = (
            read_dailydialog(path, str(labels_path))
            if labels_path is not None and labels_path.is_file()
            else None
        )
    elif corpus == "iemocap":
        labels_path = iemocap_labels_path(path)
        utterances = read_iemocap(path, str(labels_path)) if labels_path.is_file() else None
    else:
        return None
    if utterances is None:
        raise InputError(
            f"no label file where the {corpus} release keeps it ({labels_path}); "
            "training needs the labels",
            path,
        )
    labelled = [(u.text, u.label) for u in utterances if u.label is not None]
    if not labelled:
        raise InputError("no labelled utterances", path)
    return [text for text, _ in labelled], [label for _, label in labelled]
