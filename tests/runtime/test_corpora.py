"""The published conversation formats (runtime/corpora.py): DailyDialog text + emotion files and
IEMOCAP transcript lines, through `cnnfeat embed` and `cnnfeat train`'s reader. The lines below
are written for these tests (IEMOCAP is licensed; DailyDialog lines imitate its layout)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke, one_error_line, tiny_line

import cnnfeat
from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.corpora import read_dailydialog, read_iemocap
from cnnfeat.training.data import read_labelled

# Three dialogues as DailyDialog publishes them: " __eou__ " after every utterance.
DIALOGUES = [
    [tiny_line(3, 1), tiny_line(5, 2), tiny_line(2, 3)],
    [tiny_line(4, 4), tiny_line(6, 5)],
    [tiny_line(7, 6), "", tiny_line(3, 7), tiny_line(8, 8)],
]
EMOTIONS = ["0 4 4", "1 0", "6 5 0 2"]


def dailydialog(folder: Path, split: str = "train", emotions=EMOTIONS) -> Path:
    text = folder / f"dialogues_{split}.txt"
    text.write_text("".join(" __eou__ ".join(d) + " __eou__ \n" for d in DIALOGUES))
    (folder / f"dialogues_emotion_{split}.txt").write_text("".join(e + " \n" for e in emotions))
    return text


def test_dailydialog_reader(tmp_path: Path) -> None:
    utterances = read_dailydialog(str(dailydialog(tmp_path)))
    assert [u.text for u in utterances] == [t for d in DIALOGUES for t in d]
    assert [u.dialogue_id for u in utterances] == ["0"] * 3 + ["1"] * 2 + ["2"] * 4
    assert [u.speaker for u in utterances[:3]] == ["A", "B", "A"]
    assert [u.label for u in utterances[-4:]] == ["surprise", "sadness", "no emotion", "disgust"]
    assert utterances[5].line == 3  # the text file's line


def test_dailydialog_without_emotion_file_has_no_labels(tmp_path: Path) -> None:
    text = tmp_path / "talk.txt"
    text.write_text("hello __eou__ hi there __eou__\n")
    utterances = read_dailydialog(str(text))
    assert [(u.text, u.label) for u in utterances] == [("hello", None), ("hi there", None)]


@pytest.mark.parametrize(
    ("emotions", "expected"),
    [
        (["0 4 4", "1 0 0", "6 5 0 2"], "dialogues_train.txt:2: 2 utterances but "),
        (["0 4 4", "1 0", "6 5 0"], "dialogues_train.txt:3: 4 utterances but "),
        (["0 4 4", "1 0"], "dialogues_train.txt:3: 4 utterances but "),
        ([*EMOTIONS, "0"], "dialogues_emotion_train.txt:4: 4 label lines but "),
        (["0 4 4", "1 9", "6 5 0 2"], "dialogues_emotion_train.txt:2: emotion '9' is not one"),
        (["0 4 4", "1 7", "6 5 0 2"], "dialogues_emotion_train.txt:2: emotion '7' is not one"),
    ],
)
def test_dailydialog_mismatch_is_one_line(
    tiny_global: TinyModel, tmp_path: Path, emotions: list[str], expected: str
) -> None:
    text = dailydialog(tmp_path, emotions=emotions)
    result = invoke("embed", text, "-o", tmp_path / "d.npz", "--model", tiny_global.model_dir)
    line = one_error_line(result)
    assert expected in line, line
    assert not (tmp_path / "d.npz").exists()
    with pytest.raises(InputError, match=expected.split(": ", 1)[1]):
        read_labelled(text)  # `cnnfeat train` reads it the same way


def test_dailydialog_embed_by_dialogue_and_by_line(tiny_global: TinyModel, tmp_path: Path):
    text = dailydialog(tmp_path, "validation")
    model = tiny_global.model_dir
    result = invoke("embed", text, "--dialogues", "-o", tmp_path / "d.npz", "--model", model)
    assert result.exit_code == 0, result.output
    assert invoke("embed", text, "-o", tmp_path / "l.npy", "--model", model).exit_code == 0
    flat = [t for d in DIALOGUES for t in d]
    lines = np.load(tmp_path / "l.npy")
    assert np.abs(lines - cnnfeat.Embedder(model, device="cpu").embed(flat)).max() <= 1e-6
    with np.load(tmp_path / "d.npz") as npz:
        assert npz.files == ["0", "1", "2"]
        assert np.abs(npz["2"] - lines[5:9]).max() == 0


def test_dailydialog_labels_option_and_parquet(tiny_global: TinyModel, tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    text = tmp_path / "mine.txt"  # not a published name: --corpus and --labels say what it is
    text.write_text(dailydialog(tmp_path).read_text())
    labels = tmp_path / "dialogues_emotion_train.txt"
    result = invoke("embed", text, "--corpus", "dailydialog", "--labels", labels, "-o",
                    tmp_path / "d.parquet", "--model", tiny_global.model_dir)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert [(r["dialogue_id"], r["position"], r["speaker"], r["label"]) for r in rows[:3]] == [
        ("0", 0, "A", "no emotion"), ("0", 1, "B", "happiness"), ("0", 2, "A", "happiness")
    ]  # fmt: skip


def test_train_reads_dailydialog(tmp_path: Path) -> None:
    data = read_labelled(dailydialog(tmp_path, "test"))
    assert data.texts == [t for d in DIALOGUES for t in d]
    assert data.labels[:3] == ["no emotion", "happiness", "happiness"]
    (tmp_path / "dialogues_emotion_test.txt").unlink()
    with pytest.raises(InputError, match="no label file where the dailydialog release keeps it"):
        read_labelled(tmp_path / "dialogues_test.txt")


IEMOCAP = """\
Ses01F_impro01_F000 [006.2901-008.2357]: w1 w2 w3.
Ses01F_impro01_M000 [007.5712-010.4750]: w4 w5, w6?

Ses01F_impro01_F001 [010.0100-011.3925]: w7
Ses01M_script02_1_M000 [001.0000-002.5000]: w8 w9 w10 w11
Ses01M_script02_1_F000 [003.0-004.0]:
"""


def test_iemocap_reader(tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(IEMOCAP)
    utterances = read_iemocap(str(path))
    assert [(u.dialogue_id, u.speaker, u.text) for u in utterances] == [
        ("Ses01F_impro01", "F", "w1 w2 w3."),
        ("Ses01F_impro01", "M", "w4 w5, w6?"),
        ("Ses01F_impro01", "F", "w7"),
        ("Ses01M_script02_1", "M", "w8 w9 w10 w11"),
        ("Ses01M_script02_1", "F", ""),
    ]
    assert utterances[2].fields == {"turn_id": "Ses01F_impro01_F001", "start": "010.0100",
                                    "end": "011.3925", "text": "w7", "emotion": None}  # fmt: skip
    assert utterances[2].line == 4


def test_iemocap_embed_and_bad_line(tiny_global: TinyModel, tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"  # recognised by its name
    path.write_text(IEMOCAP)
    result = invoke("embed", path, "--dialogues", "-o", tmp_path / "d.npz",
                    "--model", tiny_global.model_dir)  # fmt: skip
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "d.npz") as npz:
        assert npz.files == ["Ses01F_impro01", "Ses01M_script02_1"]
        assert npz["Ses01F_impro01"].shape == (3, 100)
    other = tmp_path / "turns.txt"
    other.write_text(IEMOCAP + "M: [LAUGHTER]\n")
    result = invoke("embed", other, "--corpus", "iemocap", "-o", tmp_path / "e.npz",
                    "--model", tiny_global.model_dir)  # fmt: skip
    assert "turns.txt:7: not an IEMOCAP transcript line" in one_error_line(result)
    with pytest.raises(InputError, match="no label file where the iemocap release keeps it"):
        read_labelled(path)


# An EmoEvaluation file as the release lays it out: a header, then per turn a summary line
# ([START - END] TURN EMOTION [V, A, D]) and the annotators' own lines. Written for the tests.
EMO_EVALUATION = """\
% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[7.5712 - 10.4750]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.5000]
C-E1:\tFrustration;\t()
"""


def test_iemocap_labels_from_emo_evaluation(tiny_global: TinyModel, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    dialog = tmp_path / "Session1" / "dialog"
    (dialog / "transcriptions").mkdir(parents=True)
    (dialog / "EmoEvaluation").mkdir()
    transcript = dialog / "transcriptions" / "Ses01F_impro01.txt"
    transcript.write_text(IEMOCAP)
    (dialog / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(EMO_EVALUATION)
    out = tmp_path / "d.parquet"
    result = invoke("embed", transcript, "-o", out, "--model", tiny_global.model_dir)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert [(r["turn_id"], r["label"]) for r in rows[:3]] == [
        ("Ses01F_impro01_F000", "neu"),
        ("Ses01F_impro01_M000", "fru"),
        ("Ses01F_impro01_F001", None),
    ]
    data = read_labelled(transcript)  # `cnnfeat train`: the labelled turns only
    assert (data.texts, data.labels) == (["w1 w2 w3.", "w4 w5, w6?"], ["neu", "fru"])


@pytest.mark.slow
def test_cnnfeat_train_on_dailydialog(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    train, dev = dailydialog(tmp_path, "train"), dailydialog(tmp_path, "validation")
    rng = np.random.default_rng(0)
    with (tmp_path / "vectors.txt").open("w") as f:
        for i in range(200):
            f.write(f"w{i} " + " ".join(f"{v:.4f}" for v in rng.normal(size=8)) + "\n")
    result = invoke("train", "--train", train, "--dev", dev, "--out", tmp_path / "run",
                    "--vectors", tmp_path / "vectors.txt", "--epochs", "1", "--max-len", "12",
                    "--vocab-top-n", "0", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["train"]["rows"] == 9
    assert set(metrics["spec"]["label_names"]) == {
        "no emotion", "happiness", "anger", "surprise", "sadness", "disgust"
    }  # fmt: skip


def test_jsonl_table_with_leading_blank_lines_names_its_text_column(tmp_path: Path) -> None:
    """The default text column is found on the first record's line, not on line 1 (a blank
    first line made this an internal JSONDecodeError for `embed --dialogues` and `train`)."""
    from cnnfeat.runtime.corpora import read_utterances

    path = tmp_path / "talk.jsonl"
    records = '{"text": "a", "Dialogue_ID": "1"}\n{"text": "b", "Dialogue_ID": "1"}\n'
    path.write_text("\n  \r\n" + records)
    utterances = read_utterances(str(path))
    assert [(u.dialogue_id, u.text) for u in utterances] == [("1", "a"), ("1", "b")]
