"""Per-dialogue output of `cnnfeat embed` (runtime/dialogues.py): .npz by dialogue id and Parquet
by utterance, ordered by the order column numerically, gaps kept, rows equal to the per-line
output of the same file (max difference 0); bad input gives one line and leaves outputs alone."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, TinyModel, invoke, one_error_line, tiny_line
from helpers import ROWS, write_table

from cnnfeat.runtime.model_dir import default_model_dir

pq = pytest.importorskip("pyarrow.parquet", reason="Parquet output needs pyarrow")


def embed(model: Path, *args: object):
    return invoke("embed", *args, "--model", model, "--device", "cpu", "-q")


@pytest.fixture
def meld_like(tmp_path: Path, tiny_global: TinyModel) -> tuple[Path, np.ndarray]:
    """The table and its per-line features (`cnnfeat embed` without --dialogues)."""
    table = write_table(tmp_path / "talk.csv")
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "lines.npy")
    assert result.exit_code == 0, result.output
    return table, np.load(tmp_path / "lines.npy")


def test_npz_one_ordered_array_per_dialogue(tiny_global: TinyModel, meld_like, tmp_path: Path):
    table, lines = meld_like
    result = invoke("embed", table, "--dialogues", "-o", tmp_path / "d.npz",
                    "--model", tiny_global.model_dir, "--device", "cpu")  # fmt: skip
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
        ("3", 0, "0"), ("3", 1, "9"), ("3", 2, "10"), ("7", 0, "0"), ("7", 1, "2")
    ]  # fmt: skip
    assert [r["speaker"] for r in rows] == ["Joey", "Ross", "Ross", "Monica", "Rachel"]
    assert [r["label"] for r in rows] == ["surprise", "anger", "joy", "neutral", "neutral"]
    assert rows[2]["Utterance"] == ROWS[0][1] and rows[2]["Sr No."] == "1"  # original columns
    features = np.asarray(got.column("features").combine_chunks().flatten()).reshape(-1, 100)
    assert np.abs(features - lines[[4, 2, 0, 3, 1]]).max() == 0


def test_named_columns_and_no_label(tiny_global: TinyModel, tmp_path: Path):
    rows = [("a", "x1", "2", tiny_line(3)), ("b", "x1", "1", tiny_line(5)), ("a", "x2", "1", "")]
    table = write_table(tmp_path / "mine.csv", rows, ("who", "conv", "turn", "text"))
    out = tmp_path / "d.parquet"
    result = embed(tiny_global.model_dir, table, "--dialogue-column", "conv", "--order-column",
                   "turn", "--speaker-column", "who", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pq.read_table(out).drop(["features"]).to_pylist()
    assert [r["text"] for r in got] == [rows[1][3], rows[0][3], ""]  # under its own name
    assert [(r["dialogue_id"], r["speaker"], r["label"]) for r in got] == [
        ("x1", "b", None), ("x1", "a", None), ("x2", "a", None)
    ]  # fmt: skip


def test_composite_dialogue_key_and_emorynlp_default(tiny_global: TinyModel, tmp_path: Path):
    header = ("Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode")
    rows = [(tiny_line(3), "['Rachel Green']", "Joyful", "1", "1", "1", "15"),
            (tiny_line(4), "['Ross Geller', 'Joey Tribbiani']", "Mad", "1", "2", "1", "15"),
            (tiny_line(5), "['Ross Geller']", "Sad", "1", "1", "2", "3")]  # fmt: skip
    table = write_table(tmp_path / "emory.csv", rows, header)
    result = embed(tiny_global.model_dir, table, "-o", tmp_path / "d.parquet")
    assert result.exit_code == 0, result.output
    got = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert [r["dialogue_id"] for r in got] == ["s01_e15_c01", "s01_e15_c01", "s02_e03_c01"]
    assert got[1]["speaker"] == "Ross Geller, Joey Tribbiani"
    result = embed(tiny_global.model_dir, table, "--dialogue-column", "Season,Scene_ID",
                   "-o", tmp_path / "e.npz")  # fmt: skip
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "e.npz") as npz:
        assert npz.files == ["1_1", "2_1"] and npz["1_1"].shape == (2, 100)


@pytest.mark.parametrize(
    ("rows", "args", "expected"),
    [
        ([*ROWS, ("6", "w1", "Ross", "joy", "3", "9")], [], "talk.csv:7: dialogue '3' has two "
         "utterances at order 9 (lines 4 and 7)"),
        ([*ROWS, ("6", "w1", "Ross", "joy", "3", "nine")], [], "talk.csv:7: 'Utterance_ID' is "
         "'nine', not a number"),
        ([*ROWS, ("6", "w1", "Ross", "joy", "3", "inf")], [], "talk.csv:7: 'Utterance_ID' is "
         "'inf', not a number"),
        ([*ROWS, ("6", "w1", "Ross", "joy", "3", "-Infinity")], [], "talk.csv:7: 'Utterance_ID' "
         "is '-Infinity', not a number"),
        ([*ROWS, ("6", "w1", "Ross", "joy", " ", "1")], [], "talk.csv:7: empty dialogue id"),
        (ROWS, ["--dialogue-column", "Scene"], "talk.csv:1: no column 'Scene'"),
        (ROWS, ["--order-column", "Turn"], "talk.csv:1: no column 'Turn'"),
    ],
)  # fmt: skip
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
