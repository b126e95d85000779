"""Per-dialogue output of `cnnfeat embed` (runtime/dialogues.py): .npz by dialogue id and Parquet
by utterance, ordered by the order column numerically, gaps kept, rows equal to the per-line
output of the same file (max difference 0); bad input gives one line and leaves outputs alone."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    ROWS,
    SHARED,
    TinyModel,
    embed,
    invoke,
    keeps_old_output,
    one_error_line,
    tiny_line,
    write_csv,
    write_table,
)

from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.corpora import (
    Columns,
    read_table,
)
from cnnfeat.runtime.dialogues import group_dialogues
from cnnfeat.runtime.model_dir import default_model_dir

pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")


@pytest.fixture
def meld_like(tmp_path: Path, tiny_global: TinyModel) -> tuple[Path, np.ndarray]:
    """The table and its per-line features (`cnnfeat embed` without --dialogues)."""
    table = write_table(tmp_path / "talk.csv")
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "lines.npy")
    assert result.exit_code == 0, result.output
    return table, np.load(tmp_path / "lines.npy")


def test_npz_one_ordered_array_per_dialogue(tiny_global: TinyModel, meld_like, tmp_path: Path):
    table, lines = meld_like
    result = invoke(
        "embed",
        table,
        "--dialogues",
        "-o",
        tmp_path / "d.npz",
        "--model",
        tiny_global.model_dir,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "embedded 5 utterances in 2 dialogues" in result.stderr
    with np.load(tmp_path / "d.npz") as npz:
        assert npz.files == ["3", "7"]  # first appearance in the file
        # dialogue 3: Utterance_ID 0, 9, 10 = rows 4, 2, 0; dialogue 7: 0, 2 = rows 3, 1
        for key, rows in (("3", [4, 2, 0]), ("7", [3, 1])):
            got = npz[key]
            assert got.dtype == np.float32 and got.shape == (len(rows), 100)
            assert np.abs(got - lines[rows]).max() == 0


def test_parquet_one_row_per_utterance(tiny_global: TinyModel, meld_like, tmp_path: Path):
    table, lines = meld_like
    out = tmp_path / "d.parquet"
    result = embed(tiny_global.model_dir, table, "-o", out)  # .parquet implies --dialogues
    assert result.exit_code == 0, result.output
    got = pq.read_table(out)
    assert str(got.schema.field("features").type) == "fixed_size_list<element: float>[100]"
    assert got.column_names[:4] == ["dialogue_id", "position", "speaker", "label"]
    rows = got.drop(["features"]).to_pylist()
    assert [(r["dialogue_id"], r["position"], r["Utterance_ID"]) for r in rows] == [
        ("3", 0, "0"),
        ("3", 1, "9"),
        ("3", 2, "10"),
        ("7", 0, "0"),
        ("7", 1, "2"),
    ]
    assert [r["speaker"] for r in rows] == ["Joey", "Ross", "Ross", "Monica", "Rachel"]
    assert [r["label"] for r in rows] == ["surprise", "anger", "joy", "neutral", "neutral"]
    assert rows[2]["Utterance"] == ROWS[0][1] and rows[2]["Sr No."] == "1"  # original columns
    features = np.asarray(got.column("features").combine_chunks().flatten()).reshape(-1, 100)
    assert np.abs(features - lines[[4, 2, 0, 3, 1]]).max() == 0


def test_named_columns_and_no_label(tiny_global: TinyModel, tmp_path: Path):
    rows = [("a", "x1", "2", tiny_line(3)), ("b", "x1", "1", tiny_line(5)), ("a", "x2", "1", "")]
    table = write_table(tmp_path / "mine.csv", rows, ("who", "conv", "turn", "text"))
    out = tmp_path / "d.parquet"
    result = embed(
        tiny_global.model_dir,
        table,
        "--dialogue-column",
        "conv",
        "--order-column",
        "turn",
        "--speaker-column",
        "who",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    got = pq.read_table(out).drop(["features"]).to_pylist()
    assert [r["text"] for r in got] == [rows[1][3], rows[0][3], ""]  # under its own name
    assert [(r["dialogue_id"], r["speaker"], r["label"]) for r in got] == [
        ("x1", "b", None),
        ("x1", "a", None),
        ("x2", "a", None),
    ]


def test_composite_dialogue_key_and_emorynlp_default(tiny_global: TinyModel, tmp_path: Path):
    header = ("Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode")
    rows = [
        (tiny_line(3), "['Rachel Green']", "Joyful", "1", "1", "1", "15"),
        (tiny_line(4), "['Ross Geller', 'Joey Tribbiani']", "Mad", "1", "2", "1", "15"),
        (tiny_line(5), "['Ross Geller']", "Sad", "1", "1", "2", "3"),
    ]
    table = write_table(tmp_path / "emory.csv", rows, header)
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "d.parquet")
    assert result.exit_code == 0, result.output
    got = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert [r["dialogue_id"] for r in got] == ["s01_e15_c01", "s01_e15_c01", "s02_e03_c01"]
    assert got[1]["speaker"] == "Ross Geller, Joey Tribbiani"
    result = embed(
        tiny_global.model_dir,
        table,
        "--dialogue-column",
        "Season,Scene_ID",
        "-o",
        tmp_path / "e.npz",
    )
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "e.npz") as npz:
        assert npz.files == ["1_1", "2_1"] and npz["1_1"].shape == (2, 100)


@pytest.mark.parametrize(
    ("rows", "args", "expected"),
    [
        (
            [*ROWS, ("6", "w1", "Ross", "joy", "3", "9")],
            [],
            "talk.csv:7: dialogue '3' has two utterances at order 9 (lines 4 and 7)",
        ),
        (
            [*ROWS, ("6", "w1", "Ross", "joy", "3", "nine")],
            [],
            "talk.csv:7: 'Utterance_ID' is 'nine', not a number",
        ),
        (
            [*ROWS, ("6", "w1", "Ross", "joy", "3", "inf")],
            [],
            "talk.csv:7: 'Utterance_ID' is 'inf', not a number",
        ),
        (
            [*ROWS, ("6", "w1", "Ross", "joy", "3", "-Infinity")],
            [],
            "talk.csv:7: 'Utterance_ID' is '-Infinity', not a number",
        ),
        ([*ROWS, ("6", "w1", "Ross", "joy", " ", "1")], [], "talk.csv:7: empty dialogue id"),
        (ROWS, ["--dialogue-column", "Scene"], "talk.csv:1: no column 'Scene'"),
        (ROWS, ["--order-column", "Turn"], "talk.csv:1: no column 'Turn'"),
    ],
)
def test_bad_input_is_one_line_and_keeps_the_old_output(
    tiny_global: TinyModel, tmp_path: Path, rows, args, expected: str
):
    table = write_table(tmp_path / "talk.csv", rows)
    out = tmp_path / "d.npz"
    out.write_bytes(b"previous")
    line = one_error_line(embed(tiny_global.model_dir, table, "--dialogues", *args, "-o", out))
    assert expected in line
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "talk.csv"]


def test_no_dialogue_column_and_wrong_output_format(tiny_global: TinyModel, tmp_path: Path):
    table = write_table(tmp_path / "plain.csv", [("hi",)], ("Utterance",))
    line = one_error_line(
        embed(tiny_global.model_dir, table, "--dialogues", "-o", tmp_path / "x.npz")
    )
    assert "plain.csv:1: no dialogue column" in line and "--dialogue-column" in line
    line = one_error_line(
        embed(tiny_global.model_dir, table, "--dialogues", "-o", tmp_path / "x.npy")
    )
    assert "per-dialogue output is .npz or .parquet" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.csv"]


@pytest.mark.skipif(not (SHARED / "meld").is_dir(), reason="needs ../shared/data/meld")
def test_meld_test_split_equals_per_line_features(tmp_path: Path) -> None:
    """The real MELD test split with the shipped model: 280 dialogues, 2,610 utterances, every
    sequence equal to the per-line rows, and the two dialogues with Utterance_ID gaps kept."""
    meld = SHARED / "meld" / "test_sent_emo.csv"
    model = default_model_dir()
    assert embed(model, meld, "-o", tmp_path / "lines.npy").exit_code == 0
    assert embed(model, meld, "-o", tmp_path / "d.parquet").exit_code == 0
    assert embed(model, meld, "--dialogues", "-o", tmp_path / "d.npz").exit_code == 0
    lines = np.load(tmp_path / "lines.npy")
    with meld.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    by_dialogue: dict[str, list[tuple[int, int]]] = {}
    for i, r in enumerate(records):
        by_dialogue.setdefault(r["Dialogue_ID"], []).append((int(r["Utterance_ID"]), i))
    with np.load(tmp_path / "d.npz") as npz:
        assert len(npz.files) == 280 == len(by_dialogue)
        for key, members in by_dialogue.items():
            rows = [i for _, i in sorted(members)]
            assert np.abs(npz[key] - lines[rows]).max() == 0
    table = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert len(table) == 2610
    gaps = {d for d, m in by_dialogue.items() if sorted(u for u, _ in m) != list(range(len(m)))}
    assert len(gaps) == 2  # the data README: gaps in 2 test dialogues
    for d in gaps:
        kept = [int(r["Utterance_ID"]) for r in table if r["dialogue_id"] == d]
        assert kept == sorted(u for u, _ in by_dialogue[d])  # never renumbered


@pytest.mark.skipif(not (SHARED / "emorynlp").is_dir(), reason="needs ../shared/data/emorynlp")
def test_emorynlp_csv_and_json_scenes(tmp_path: Path) -> None:
    model = default_model_dir()
    folder = SHARED / "emorynlp"
    assert (
        embed(
            model, folder / "emorynlp_test_final.csv", "--dialogues", "-o", tmp_path / "c.npz"
        ).exit_code
        == 0
    )
    assert (
        embed(model, folder / "emotion-detection-dev.json", "-o", tmp_path / "j.parquet").exit_code
        == 0
    )
    with np.load(tmp_path / "c.npz") as npz:
        assert len(npz.files) == 79  # scenes of the test CSV (data README)
        assert sum(npz[k].shape[0] for k in npz.files) == 984
    table = pq.read_table(tmp_path / "j.parquet")
    assert table.num_rows == 1344 and len(set(table.column("dialogue_id").to_pylist())) == 99
    assert table.column("dialogue_id")[0].as_py() == "s01_e15_c01"


def test_staged_file_renames_only_on_success(tmp_path: Path) -> None:
    from cnnfeat.contract.errors import OutputError
    from cnnfeat.runtime.writing import staged_file

    target = tmp_path / "out.npz"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), staged_file(str(target)) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("stop")
    assert target.read_bytes() == b"previous" and sorted(tmp_path.iterdir()) == [target]
    with staged_file(str(target)) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".out.npz.")
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]
    with (
        pytest.raises(OutputError, match="cannot write in"),
        staged_file(str(tmp_path / "no" / "x")),
    ):
        pass


# --- odd and damaged conversation input -------------------------------------------------


# --- dialogue ids a .npz cannot hold -----------------------------------------------------------


def test_dialogue_id_too_long_for_a_zip_name(tiny_global: TinyModel, tmp_path: Path) -> None:
    """A zip member name holds at most 65,535 bytes: was `internal error: ushort format`.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    (the check must count the 4 bytes of `.npy`, or zipfile fails on the name itself).
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    silently lost when the .npz was read.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    error naming line and field, or U+FFFD with --encoding-errors replace.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    same float, so a sound file was refused as 'two utterances at order 1.7e+18'.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
        "w2",
        "w1",
        "w3",
    ]
    table = write_csv(tmp_path / "v.csv", [("w1", "c", "1"), ("w2", "c", "1.0")])
    with pytest.raises(Exception, match="two utterances at order 1 "):
        group_dialogues(read_table(str(table)), str(table))


# --- columns and options ---------------------------------------------------------------------


def test_renamed_input_column_does_not_overwrite_another(tiny_global: TinyModel, tmp_path: Path):
    """An input column `dialogue_id` is written as `input.dialogue_id`; an input column of that
    very name then overwrote it (one column's values silently lost).
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    .npz); an empty --dialogue-column fell back to the default columns.
    From the odd conversation input round (issue 12, broken on purpose)."""
    table = write_csv(tmp_path / "t.csv", [("w1", "1", "0")])
    line = keeps_old_output(tmp_path, tiny_global.model_dir, table, tmp_path / "d.npz", *args)
    assert expected in line


def test_jsonl_record_without_the_dialogue_field(tmp_path: Path) -> None:
    """A later record lacking the field was reported as "'conv' is null".
    From the odd conversation input round (issue 12, broken on purpose)."""
    source = tmp_path / "t.jsonl"
    source.write_text('{"text": "w1", "conv": "a"}\n{"text": "w2", "conv": "b"}\n{"text": "w3"}\n')
    columns = Columns(dialogue=("conv",))
    with pytest.raises(InputError, match="t.jsonl:3: no field 'conv'"):
        read_table(str(source), columns=columns)
    source.write_text('{"text": "w1", "conv": "a"}\n{"text": "w2", "conv": null}\n')
    with pytest.raises(InputError, match="t.jsonl:2: 'conv' is null"):
        read_table(str(source), columns=columns)


@pytest.mark.parametrize("name", ["folder", "folder.csv", "folder.json"])
def test_a_directory_as_input_says_so(tiny_global: TinyModel, tmp_path: Path, name: str) -> None:
    """A directory was 'plain text has no dialogue column' (or 'cannot read: Is a directory').
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    in a column name passed until the file had data.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    the two columns).
    From the odd conversation input round (issue 12, broken on purpose)."""
    source = tmp_path / "t.csv"
    source.write_text("Utterance,Dialogue_ID,Note,Dialogue_ID\nw1,1,a,2\n")
    line = keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / "d.parquet")
    assert "t.csv:1: column names ['Dialogue_ID'] occur more than once" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--order-column", "Utterance"], "'Utterance' is the text column, not an order column"),
        (
            ["--column", "Dialogue_ID", "--dialogue-column", "Dialogue_ID"],
            "'Dialogue_ID' is the text column, not a dialogue column",
        ),
    ],
)
def test_text_column_named_as_another(tmp_path: Path, args: list[str], expected: str) -> None:
    """Was "no column 'Utterance' (columns: ...)" for a column the header has.
    From the odd conversation input round (issue 12, broken on purpose)."""
    table = write_csv(tmp_path / "t.csv", [("w1", "1", "0")])
    result = invoke("embed", table, "-o", tmp_path / "d.npz", *args)
    assert f"t.csv:1: {expected}" in one_error_line(result)


def test_dialogues_never_write_over_the_model_they_run(tiny_global: TinyModel, tmp_path: Path):
    """Found by breaking the refactor's same-file checks: `cnnfeat embed talk.csv --dialogues -o
    out.npz` with out.npz a symlink to the model's tokenizer.json replaced the model it ran."""
    import shutil

    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))
    before = (model / "tokenizer.json").read_bytes()
    table = write_table(tmp_path / "talk.csv")
    link = tmp_path / "out.npz"
    link.symlink_to(model / "tokenizer.json")
    line = one_error_line(embed(model, table, "--dialogues", "-o", link))
    assert line == (
        f"cnnfeat: error: {link} is part of the model directory {model}; it was left untouched; "
        "choose another -o"
    )
    assert (model / "tokenizer.json").read_bytes() == before
