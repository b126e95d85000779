"""The published conversation formats (runtime/corpora.py): DailyDialog text + emotion files and
IEMOCAP transcript lines, through `cnnfeat embed` and `cnnfeat train`'s reader. The lines below
are written for these tests (IEMOCAP is licensed; DailyDialog lines imitate its layout)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, keeps_old_output, one_error_line, tiny_line

import cnnfeat
from cnnfeat.contract.errors import InputError
from cnnfeat.runtime.corpora import (
    read_dailydialog,
    read_iemocap,
    read_labelled_corpus,
)
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
    result = invoke(
        "embed",
        text,
        "--corpus",
        "dailydialog",
        "--labels",
        labels,
        "-o",
        tmp_path / "d.parquet",
        "--model",
        tiny_global.model_dir,
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "d.parquet").drop(["features"]).to_pylist()
    assert [(r["dialogue_id"], r["position"], r["speaker"], r["label"]) for r in rows[:3]] == [
        ("0", 0, "A", "no emotion"),
        ("0", 1, "B", "happiness"),
        ("0", 2, "A", "happiness"),
    ]


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
    assert utterances[2].fields == {
        "turn_id": "Ses01F_impro01_F001",
        "start": "010.0100",
        "end": "011.3925",
        "text": "w7",
        "emotion": None,
    }
    assert utterances[2].line == 4


def test_iemocap_embed_and_bad_line(tiny_global: TinyModel, tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"  # recognised by its name
    path.write_text(IEMOCAP)
    result = invoke(
        "embed", path, "--dialogues", "-o", tmp_path / "d.npz", "--model", tiny_global.model_dir
    )
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "d.npz") as npz:
        assert npz.files == ["Ses01F_impro01", "Ses01M_script02_1"]
        assert npz["Ses01F_impro01"].shape == (3, 100)
    other = tmp_path / "turns.txt"
    other.write_text(IEMOCAP + "M: [LAUGHTER]\n")
    result = invoke(
        "embed",
        other,
        "--corpus",
        "iemocap",
        "-o",
        tmp_path / "e.npz",
        "--model",
        tiny_global.model_dir,
    )
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
    result = invoke(
        "train",
        "--train",
        train,
        "--dev",
        dev,
        "--out",
        tmp_path / "run",
        "--vectors",
        tmp_path / "vectors.txt",
        "--epochs",
        "1",
        "--max-len",
        "12",
        "--vocab-top-n",
        "0",
        "-q",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["train"]["rows"] == 9
    assert set(metrics["spec"]["label_names"]) == {
        "no emotion",
        "happiness",
        "anger",
        "surprise",
        "sadness",
        "disgust",
    }


def test_jsonl_table_with_leading_blank_lines_names_its_text_column(tmp_path: Path) -> None:
    """The default text column is found on the first record's line, not on line 1 (a blank
    first line made this an internal JSONDecodeError for `embed --dialogues` and `train`)."""
    from cnnfeat.runtime.corpora import read_utterances

    path = tmp_path / "talk.jsonl"
    records = '{"text": "a", "Dialogue_ID": "1"}\n{"text": "b", "Dialogue_ID": "1"}\n'
    path.write_text("\n  \r\n" + records)
    utterances = read_utterances(str(path))
    assert [(u.dialogue_id, u.text) for u in utterances] == [("1", "a"), ("1", "b")]


# --- odd and damaged conversation input -------------------------------------------------


# --- digits that are not ASCII ----------------------------------------------------------------


def test_superscript_digit_in_dailydialog_labels(tiny_global: TinyModel, tmp_path: Path) -> None:
    """'²'.isdigit() is True but int('²') fails: was `internal error: ValueError`.
    From the odd conversation input round (issue 12, broken on purpose)."""
    text = tmp_path / "dialogues_train.txt"
    text.write_text("w1 __eou__ w2 __eou__\n")
    (tmp_path / "dialogues_emotion_train.txt").write_text("0 \u00b2\n")
    line = keeps_old_output(tmp_path, tiny_global.model_dir, text, tmp_path / "d.npz")
    assert "dialogues_emotion_train.txt:1: emotion '\u00b2' is not one of 0..6" in line


def test_superscript_digit_in_emorynlp_season(tiny_global: TinyModel, tmp_path: Path) -> None:
    """From the odd conversation input round (issue 12, broken on purpose)."""
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
    'N label lines but ... has M dialogues' or '0 utterances but ... has no line N'.
    From the odd conversation input round (issue 12, broken on purpose)."""
    text = tmp_path / "dialogues_train.txt"
    text.write_text("w1 __eou__ w2 __eou__\nw3 __eou__" + text_end)
    (tmp_path / "dialogues_emotion_train.txt").write_text("0 4\n1" + labels_end)
    got = [(u.dialogue_id, u.text, u.label) for u in read_dailydialog(str(text))]
    assert got == [("0", "w1", "no emotion"), ("0", "w2", "happiness"), ("1", "w3", "anger")]


def test_dailydialog_extra_label_line_still_an_error(tmp_path: Path) -> None:
    """From the odd conversation input round (issue 12, broken on purpose)."""
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
    ./EmoEvaluation (Path('X.txt').parent.parent is '.'): every label silently missing.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    """Were `internal error: RecursionError` and `internal error: ValueError`.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
    `internal error: UnicodeEncodeError` for a scene id.
    From the odd conversation input round (issue 12, broken on purpose)."""
    source = tmp_path / "e.json"
    source.write_text(json.dumps(doc))
    for out in ("d.npz", "d.parquet"):
        line = keeps_old_output(tmp_path, tiny_global.model_dir, source, tmp_path / out)
        assert f"e.json: {expected} a lone surrogate" in line


# --- columns and options ---------------------------------------------------------------------


def test_iemocap_turn_without_a_dialogue_part(tmp_path: Path) -> None:
    """'_F000' gave the dialogue id '' (a table refuses an empty id; so does IEMOCAP now).
    From the odd conversation input round (issue 12, broken on purpose)."""
    source = tmp_path / "Ses01F_impro01.txt"
    source.write_text("Ses01F_impro01_F000 [1.0-2.0]: w1\n_F001 [2.0-3.0]: w2\n")
    with pytest.raises(InputError, match="Ses01F_impro01.txt:2: not an IEMOCAP transcript line"):
        read_iemocap(str(source))


def test_iemocap_labels_file_follows_encoding_errors(tmp_path: Path) -> None:
    """A cp1252 byte in the EmoEvaluation file: the error said 'pass --encoding-errors replace',
    which was then not applied to that file.
    From the odd conversation input round (issue 12, broken on purpose)."""
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
