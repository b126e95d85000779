"""Odd and damaged conversation input (issue 12, broken on purpose): each case once crashed,
lost data silently or refused a sound file. Expected: one `cnnfeat: error:` line naming the
file and line, exit 1, the old output kept; or the right result."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke, one_error_line, tiny_line

from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.corpora import (
    Columns,
    read_dailydialog,
    read_iemocap,
    read_labelled_corpus,
    read_table,
)
from cnnfeat.runtime.dialogues import group_dialogues

pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")


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


# --- dialogue ids a .npz cannot hold -----------------------------------------------------------


def test_dialogue_id_too_long_for_a_zip_name(tiny_global: TinyModel, tmp_path: Path) -> None:
    """A zip member name holds at most 65,535 bytes: was `internal error: ushort format`."""
    long_id = "x" * 70_000
    table = write_csv(tmp_path / "t.csv", [(tiny_line(3), "1", "0"), (tiny_line(2), long_id, "0")])
    out = tmp_path / "d.npz"
    line = keeps_old_output(tmp_path, tiny_global.model_dir, table, out, "--dialogues")
    assert "t.csv:3: dialogue id of 70000 bytes" in line and ".parquet" in line
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "d.parquet")  # no limit there
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "d.parquet").column("dialogue_id").to_pylist()[1] == long_id


def test_dialogue_id_at_the_zip_name_limit(tiny_global: TinyModel, tmp_path: Path) -> None:
    """The key is the id plus `.npy`: 65,531 bytes of id fit a zip member name, 65,532 do not
    (the check must count the 4 bytes of `.npy`, or zipfile fails on the name itself)."""
    fits, too_long = "x" * (0xFFFF - 4), "y" * (0xFFFF - 3)
    table = write_csv(
        tmp_path / "t.csv", [(tiny_line(3), fits, "0"), (tiny_line(2), too_long, "0")]
    )
    line = keeps_old_output(
        tmp_path, tiny_global.model_dir, table, tmp_path / "d.npz", "--dialogues"
    )
    assert "t.csv:3: dialogue id of 65532 bytes; a .npz key holds at most 65531" in line
    table = write_csv(tmp_path / "t.csv", [(tiny_line(3), fits, "0")])
    result = embed(tiny_global.model_dir, table, "--dialogues", "-o", tmp_path / "ok.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "ok.npz") as npz:
        assert npz.files == [fits]


def test_dialogue_id_with_nul_is_refused_for_npz(tiny_global: TinyModel, tmp_path: Path) -> None:
    """zipfile cuts a name at NUL, so ids 'a\\0b' and 'a' both became key 'a': one dialogue was
    silently lost when the .npz was read."""
    source = tmp_path / "t.jsonl"
    source.write_text(
        '{"text": "w1 w2", "conv": "a\\u0000b", "turn": 1}\n'
        '{"text": "w3", "conv": "a", "turn": 1}\n'
    )
    args = ("--dialogue-column", "conv", "--order-column", "turn")
    line = keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / "d.npz", *args)
    assert "t.jsonl:1: dialogue id 'a\\x00b' holds a NUL character" in line


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_lone_surrogate_in_a_jsonl_column(
    tiny_global: TinyModel, tmp_path: Path, suffix: str
) -> None:
    """JSON can escape a lone surrogate (no UTF-8 form) into any field: was `internal error:
    UnicodeEncodeError` when the id or column was written. Now as for the text column: an
    error naming line and field, or U+FFFD with --encoding-errors replace."""
    source = tmp_path / "t.jsonl"
    source.write_text(
        '{"text": "w1", "conv": "a", "turn": 1, "note": "ok"}\n'
        '{"text": "w2", "conv": "b\\ud800", "turn": 1, "note": "x\\udfff"}\n'
    )
    args = ("--dialogue-column", "conv", "--order-column", "turn")
    out = tmp_path / f"d{suffix}"
    line = keeps_old_output(tmp_path, tiny_global.model_dir, source, out, *args)
    assert "t.jsonl:2: field 'conv' holds a lone surrogate" in line
    assert "--encoding-errors replace" in line
    result = embed(tiny_global.model_dir, source, *args, "--encoding-errors", "replace", "-o", out)
    assert result.exit_code == 0, result.output
    if suffix == ".parquet":
        rows = pq.read_table(out).to_pylist()
        assert [(r["dialogue_id"], r["note"]) for r in rows] == [
            ("a", "ok"),
            ("b\ufffd", "x\ufffd"),
        ]


# --- order values --------------------------------------------------------------------------


def test_integer_order_beyond_float_precision(tmp_path: Path) -> None:
    """Nanosecond timestamps as the order column: two distinct integers above 2**53 were the
    same float, so a sound file was refused as 'two utterances at order 1.7e+18'."""
    table = write_csv(
        tmp_path / "t.csv",
        [("w1", "c", "1700000000000000001"), ("w2", "c", "1700000000000000000")],
    )
    utterances = read_table(str(table))
    [dialogue] = group_dialogues(utterances, str(table))
    assert [u.text for u in dialogue.utterances] == ["w2", "w1"]
    assert dialogue.rows.tolist() == [1, 0]
    # still numeric across int and float spellings: 2 after 1.5, and 1 == 1.0 is a duplicate
    table = write_csv(tmp_path / "u.csv", [("w1", "c", "2"), ("w2", "c", "1.5"), ("w3", "d", "1")])
    assert [u.text for d in group_dialogues(read_table(str(table)), "u") for u in d.utterances] == [
        "w2", "w1", "w3"
    ]  # fmt: skip
    table = write_csv(tmp_path / "v.csv", [("w1", "c", "1"), ("w2", "c", "1.0")])
    with pytest.raises(Exception, match="two utterances at order 1 "):
        group_dialogues(read_table(str(table)), str(table))


# --- digits that are not ASCII ----------------------------------------------------------------


def test_superscript_digit_in_dailydialog_labels(tiny_global: TinyModel, tmp_path: Path) -> None:
    """'²'.isdigit() is True but int('²') fails: was `internal error: ValueError`."""
    text = tmp_path / "dialogues_train.txt"
    text.write_text("w1 __eou__ w2 __eou__\n")
    (tmp_path / "dialogues_emotion_train.txt").write_text("0 \u00b2\n")
    line = keeps_old_output(tmp_path, tiny_global.model_dir, text, tmp_path / "d.npz")
    assert "dialogues_emotion_train.txt:1: emotion '\u00b2' is not one of 0..6" in line


def test_superscript_digit_in_emorynlp_season(tiny_global: TinyModel, tmp_path: Path) -> None:
    table = tmp_path / "e.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [("Utterance", "Season", "Episode", "Scene_ID"), ("w1", "\u00b2", "1", "1")]
        )
    line = keeps_old_output(
        tmp_path, tiny_global.model_dir, table, tmp_path / "d.npz", "--dialogues"
    )
    assert "e.csv:2: 'Season' is '\u00b2', not a number" in line


# --- DailyDialog: blank lines at the end ------------------------------------------------------


@pytest.mark.parametrize(
    ("text_end", "labels_end"), [("\n", "\n"), ("\n", "\n\n\n"), ("\n\n", "\n"), ("\n\r\n", "")]
)
def test_dailydialog_trailing_blank_lines(tmp_path: Path, text_end: str, labels_end: str) -> None:
    """A blank line or two after the last dialogue or label line (an editor's, a `cat`'s) was
    'N label lines but ... has M dialogues' or '0 utterances but ... has no line N'."""
    text = tmp_path / "dialogues_train.txt"
    text.write_text("w1 __eou__ w2 __eou__\nw3 __eou__" + text_end)
    (tmp_path / "dialogues_emotion_train.txt").write_text("0 4\n1" + labels_end)
    got = [(u.dialogue_id, u.text, u.label) for u in read_dailydialog(str(text))]
    assert got == [("0", "w1", "no emotion"), ("0", "w2", "happiness"), ("1", "w3", "anger")]


def test_dailydialog_extra_label_line_still_an_error(tmp_path: Path) -> None:
    text = tmp_path / "dialogues_train.txt"
    text.write_text("w1 __eou__\n\n")
    (tmp_path / "dialogues_emotion_train.txt").write_text("0\n\n3\n")
    with pytest.raises(Exception, match="3 label lines but .* has 1 dialogues") as caught:
        read_dailydialog(str(text))
    assert caught.value.line == 3


# --- IEMOCAP: a transcript named without its folder -------------------------------------------


def test_iemocap_labels_found_from_the_transcripts_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cd dialog/transcriptions; cnnfeat embed Ses01F_impro01.txt` looked for the labels in
    ./EmoEvaluation (Path('X.txt').parent.parent is '.'): every label silently missing."""
    transcripts = tmp_path / "dialog" / "transcriptions"
    transcripts.mkdir(parents=True)
    (tmp_path / "dialog" / "EmoEvaluation").mkdir()
    (transcripts / "Ses01F_impro01.txt").write_text("Ses01F_impro01_F000 [006.2901-008.2357]: w1\n")
    (tmp_path / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
    )
    monkeypatch.chdir(transcripts)
    assert [u.label for u in read_iemocap("Ses01F_impro01.txt")] == ["neu"]
    assert read_labelled_corpus("Ses01F_impro01.txt") == (["w1"], ["neu"])


# --- EmoryNLP JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "e.json: invalid JSON (nested too deeply)"),
        ('{"episodes": ' + "1" * 5000 + "}", "e.json: invalid JSON (Exceeds the limit"),
    ],
)
def test_emorynlp_json_too_deep_or_too_long(
    tiny_global: TinyModel, tmp_path: Path, content: str, expected: str
) -> None:
    """Were `internal error: RecursionError` and `internal error: ValueError`."""
    source = tmp_path / "e.json"
    source.write_text(content)
    assert expected in keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / "d.npz")


def scenes(scene_id: object, transcript: str) -> dict:
    utterance = {"utterance_id": "u1", "speakers": ["Ross"], "transcript": transcript}
    return {"episodes": [{"scenes": [{"scene_id": scene_id, "utterances": [utterance]}]}]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (scenes("s01", "w1 \ud800"), "episodes[0].scenes[0].utterances[0]: 'transcript' holds"),
        (scenes("s01\udfff", "w1"), "episodes[0].scenes[0]: 'scene_id' holds"),
    ],
)
def test_emorynlp_json_lone_surrogate(
    tiny_global: TinyModel, tmp_path: Path, doc: dict, expected: str
) -> None:
    """Was `line 1 holds a lone surrogate` (no file; JSON has no such line) for a transcript and
    `internal error: UnicodeEncodeError` for a scene id."""
    source = tmp_path / "e.json"
    source.write_text(json.dumps(doc))
    for out in ("d.npz", "d.parquet"):
        line = keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / out)
        assert f"e.json: {expected} a lone surrogate" in line


# --- columns and options ---------------------------------------------------------------------


def test_renamed_input_column_does_not_overwrite_another(tiny_global: TinyModel, tmp_path: Path):
    """An input column `dialogue_id` is written as `input.dialogue_id`; an input column of that
    very name then overwrote it (one column's values silently lost)."""
    table = tmp_path / "t.csv"
    with table.open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ("Utterance", "Dialogue_ID", "dialogue_id", "input.dialogue_id"),
                ("w1", "1", "a", "b"),
            ]
        )
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "d.parquet")
    assert result.exit_code == 0, result.output
    [row] = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert row["dialogue_id"] == "1" and row["input.dialogue_id"] == "b"
    assert row["input.input.dialogue_id"] == "a"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--labels", "x.txt"], "--labels is for DailyDialog and IEMOCAP"),
        (["--speaker-column", "Nope"], "t.csv:1: no column 'Nope'"),
        (["--label-column", "Nope"], "t.csv:1: no column 'Nope'"),
        (["--dialogue-column", ""], "t.csv:1: no column ''"),
    ],
)
def test_dialogue_options_are_never_silently_ignored(
    tiny_global: TinyModel, tmp_path: Path, args: list[str], expected: str
) -> None:
    """Without --dialogues these options were dropped without a word (exit 0, a per-line
    .npz); an empty --dialogue-column fell back to the default columns."""
    table = write_csv(tmp_path / "t.csv", [("w1", "1", "0")])
    line = keeps_old_output(tmp_path, tiny_global.model_dir, table, tmp_path / "d.npz", *args)
    assert expected in line


def test_jsonl_record_without_the_dialogue_field(tmp_path: Path) -> None:
    """A later record lacking the field was reported as "'conv' is null"."""
    source = tmp_path / "t.jsonl"
    source.write_text('{"text": "w1", "conv": "a"}\n{"text": "w2", "conv": "b"}\n{"text": "w3"}\n')
    columns = Columns(dialogue=("conv",))
    with pytest.raises(InputError, match="t.jsonl:3: no field 'conv'"):
        read_table(str(source), columns=columns)
    source.write_text('{"text": "w1", "conv": "a"}\n{"text": "w2", "conv": null}\n')
    with pytest.raises(InputError, match="t.jsonl:2: 'conv' is null"):
        read_table(str(source), columns=columns)


def test_iemocap_turn_without_a_dialogue_part(tmp_path: Path) -> None:
    """'_F000' gave the dialogue id '' (a table refuses an empty id; so does IEMOCAP now)."""
    source = tmp_path / "Ses01F_impro01.txt"
    source.write_text("Ses01F_impro01_F000 [1.0-2.0]: w1\n_F001 [2.0-3.0]: w2\n")
    with pytest.raises(InputError, match="Ses01F_impro01.txt:2: not an IEMOCAP transcript line"):
        read_iemocap(str(source))


def test_iemocap_labels_file_follows_encoding_errors(tmp_path: Path) -> None:
    """A cp1252 byte in the EmoEvaluation file: the error said 'pass --encoding-errors replace',
    which was then not applied to that file."""
    source = tmp_path / "Ses01F_impro01.txt"
    source.write_text("Ses01F_impro01_F000 [1.0-2.0]: w1\n")
    labels = tmp_path / "labels.txt"
    labels.write_bytes(
        b"[1.0 - 2.0]\tSes01F_impro01_F000\tneu\t[2.5, 2.5, 2.5]\nC-E2:\t\x93ok\x94\n"
    )
    with pytest.raises(
        InputError, match="labels.txt:2: not valid UTF-8.*--encoding-errors replace"
    ):
        read_iemocap(str(source), str(labels))
    assert [u.label for u in read_iemocap(str(source), str(labels), "replace")] == ["neu"]


@pytest.mark.parametrize("name", ["folder", "folder.csv", "folder.json"])
def test_a_directory_as_input_says_so(tiny_global: TinyModel, tmp_path: Path, name: str) -> None:
    """A directory was 'plain text has no dialogue column' (or 'cannot read: Is a directory')."""
    (tmp_path / name).mkdir()
    result = embed(tiny_global.model_dir, tmp_path / name, "--dialogues", "-o", tmp_path / "d.npz")
    assert one_error_line(result).endswith(f"{name}: is a directory, expected a file")


@pytest.mark.parametrize(
    ("header", "args", "expected"),
    [
        ("Utterance,Dialogue_ID", ["--dialogue-column", "Conv"], "h.csv:1: no column 'Conv'"),
        ("Utterance,Dialogue_ID", ["--order-column", "Turn"], "h.csv:1: no column 'Turn'"),
        ("Utterance,Speaker", ["--dialogues"], "h.csv:1: no dialogue column"),
    ],
)
def test_header_only_table_checks_the_columns(
    tiny_global: TinyModel, tmp_path: Path, header: str, args: list[str], expected: str
) -> None:
    """A header without rows skipped every column check (exit 0, an empty output), so a typo
    in a column name passed until the file had data."""
    source = tmp_path / "h.csv"
    source.write_text(header + "\n")
    assert expected in keeps_old_output(
        tmp_path, tiny_global.model_dir, source, tmp_path / "d.npz", *args
    )
    source.write_text("Utterance,Dialogue_ID\n")  # sound: an empty output, as before
    result = embed(tiny_global.model_dir, source, "--dialogues", "-o", tmp_path / "e.npz")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "e.npz").files == []


def test_duplicate_header_name(tiny_global: TinyModel, tmp_path: Path) -> None:
    """Two columns named Dialogue_ID: the last silently won (and the Parquet output kept one of
    the two columns)."""
    source = tmp_path / "t.csv"
    source.write_text("Utterance,Dialogue_ID,Note,Dialogue_ID\nw1,1,a,2\n")
    line = keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / "d.parquet")
    assert "t.csv:1: column names ['Dialogue_ID'] occur more than once" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--order-column", "Utterance"], "'Utterance' is the text column, not an order column"),
        (["--column", "Dialogue_ID", "--dialogue-column", "Dialogue_ID"], "'Dialogue_ID' is the "
         "text column, not a dialogue column"),
    ],
)  # fmt: skip
def test_text_column_named_as_another(tmp_path: Path, args: list[str], expected: str) -> None:
    """Was "no column 'Utterance' (columns: ...)" for a column the header has."""
    table = write_csv(tmp_path / "t.csv", [("w1", "1", "0")])
    result = invoke("embed", table, "-o", tmp_path / "d.npz", *args)
    assert f"t.csv:1: {expected}" in one_error_line(result)
