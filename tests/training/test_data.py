"""read_labelled on generated files for each rule, stratified_split, and the real shared data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers import SHARED, csv_file, raises_at, write

from cnnfeat.contract.errors import InputError
from cnnfeat.training.data import LabelledData, label_names, read_labelled, stratified_split

# --- CSV / TSV -------------------------------------------------------------------------------


def test_csv_meld_style_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "Sr No.,Utterance,Speaker,Emotion,Sentiment\r\n"
        "1,Oh my God!,Rachel,surprise,positive\r\n"
        '2,"Well, no.",Ross,neutral,neutral\r\n',
    )
    data = read_labelled(path)
    assert isinstance(data, LabelledData)
    assert data.texts == ["Oh my God!", "Well, no."]
    assert data.labels == ["surprise", "neutral"]
    assert data.path == str(path)
    assert len(data) == 2
    assert read_labelled(path, label_column="Sentiment").labels == ["positive", "neutral"]
    assert read_labelled(str(path), text_column="Speaker").texts == ["Rachel", "Ross"]


@pytest.mark.parametrize(
    ("name", "content", "texts", "labels"),
    [
        pytest.param(
            "d.csv",
            "id,label,text\n1,pos,good\n2,neg,bad\n",
            ["good", "bad"],
            ["pos", "neg"],
            id="csv with generic column names",
        ),
        pytest.param(
            "d.TSV", 'text\tlabel\na, b\tx\n"q" q\ty\n', ["a, b", '"q" q'], ["x", "y"], id="tsv"
        ),
    ],
)
def test_table_columns(
    tmp_path: Path, name: str, content: str, texts: list[str], labels: list[str]
) -> None:
    data = read_labelled(write(tmp_path, name, content))
    assert data.texts == texts
    assert data.labels == labels


def test_csv_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", b"\xef\xbb\xbfUtterance,Emotion\nhi,joy\n")
    data = read_labelled(path)
    assert data.texts == ["hi"]


def test_csv_embedded_newline_and_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "text,label\r\n"  # line 1
        "one,a\r\n"  # line 2
        '"two\r\nlines",b\r\n'  # lines 3-4
        "\r\n"  # line 5, blank: skipped
        "ragged,c,extra\r\n",  # line 6
    )
    with raises_at(path, 6, "3 fields, the header has 2"):
        read_labelled(path)
    good = write(tmp_path, "g.csv", 'text,label\r\none,a\r\n"two\r\nlines",b\r\n\r\n')
    data = read_labelled(good)
    assert data.texts == [
        "one",
        "two\nlines",
    ]  # a line break in a quoted field reads as "\n", as in embed
    assert data.labels == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "options", "line", "match"),
    [
        pytest.param(
            'text,label\n"a\nb\nc",x\nlonely\n', {}, 5, "1 fields, the header has 2", id="short row"
        ),
        pytest.param(
            'text,label\nok,a\n"unterminated,b\nmore,c\n',
            {},
            3,
            "malformed CSV record",
            id="stray quote is an error, not a swallowed file",
        ),
        pytest.param(
            "Utterance,Speaker,Emotion\nhi,Joey,joy\n",
            {"label_column": "Sentiment"},
            1,
            "no label column 'Sentiment'; other columns: 'Speaker', 'Emotion'",
            id="missing named column lists available",
        ),
        pytest.param(
            "sentence,label\nhi,joy\n",
            {},
            1,
            "no text column.*found 'sentence', 'label'",
            id="no default column lists available",
        ),
    ],
)
def test_csv_errors_name_the_line(
    tmp_path: Path, content: str, options: dict, line: int, match: str
) -> None:
    path = write(tmp_path, "d.csv", content)
    with raises_at(path, line, match):
        read_labelled(path, **options)


@pytest.mark.parametrize("label", ["", "   "])
def test_missing_label(tmp_path: Path, label: str) -> None:
    path = write(tmp_path, "d.csv", f"text,label\nfine,a\nhello,{label}\n")
    with raises_at(path, 3, "missing label"):
        read_labelled(path)


def test_empty_text_allowed_and_text_untouched(tmp_path: Path) -> None:
    # Mojibake (U+0092, U+0085), NBSP, double and edge spaces must all survive: repair is the
    # tokenizer's job. U+0085 and U+2028 are line breaks to str.splitlines, not to the reader.
    odd = " I\x92m  here\x85\xa0\u2028 "
    path = write(tmp_path, "d.csv", f'text,label\n,a\n"{odd}", b \n')
    data = read_labelled(path)
    assert data.texts == ["", odd]
    assert data.labels == ["a", "b"]  # labels are stripped


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl(tmp_path: Path) -> None:
    lines = [
        {"text": "hi", "label": "joy", "extra": 1},
        {"text": "odd\x92\x85\u2028", "label": 3},
        {"text": "", "label": "neutral"},
    ]
    content = "\n".join(json.dumps(r, ensure_ascii=False) for r in lines[:2])
    content += "\n\n   \n" + json.dumps(lines[2]) + "\n"
    data = read_labelled(write(tmp_path, "d.jsonl", content))
    assert data.texts == ["hi", "odd\x92\x85\u2028", ""]
    assert data.labels == ["joy", "3", "neutral"]


def test_jsonl_named_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"s": "a", "y": "p", "label": "q"}\n')
    data = read_labelled(path, text_column="s", label_column="y")
    assert (data.texts, data.labels) == (["a"], ["p"])


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ('{"text": 5, "label": "a"}', "field 'text' is a number, not a string"),
        ('{"text": null, "label": "a"}', "field 'text' is null, not a string"),
        ('{"text": ["a"], "label": "a"}', "field 'text' is an array, not a string"),
        ('{"text": "a", "label": null}', "label must be a string or an integer, got null"),
        ('{"text": "a", "label": true}', "got a boolean"),
        ('{"text": "a", "label": 1.5}', "got a number"),
        ('{"text": "a", "label": " "}', "missing label"),
        ('{"text": "a"}', "missing key 'label'"),
        ('{"text": "a", "label": "b"', "invalid JSON"),
        ('["a", "b"]', "expected a JSON object, got an array"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, bad_line: str, match: str) -> None:
    path = write(tmp_path, "d.jsonl", '{"text": "ok", "label": "a"}\n\n' + bad_line + "\n")
    with raises_at(path, 3, match):
        read_labelled(path)


def test_jsonl_missing_named_column(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"text": "ok", "label": "a"}\n')
    with raises_at(path, 1, "no label column 'Sentiment'; other columns: 'label'"):
        read_labelled(path, label_column="Sentiment")


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("d.csv", "text,label\nhello,a\n", 1),
        ("d.jsonl", '\n{"text": "hello", "label": "a"}\n', 2),
    ],
)
@pytest.mark.parametrize("text_column", [None, "text"])
def test_the_text_column_as_label_column_is_said_so(
    tmp_path: Path, name: str, content: str, line: int, text_column: str | None
) -> None:
    """`cnnfeat evaluate --label-column text` (and train's), the text column picked by
    default, said "no label column 'text'; other columns: 'label'" of a file that has it:
    the text column is not among the record's other columns. Named or picked, it is the
    same mistake, said the same way."""
    from helpers import invoke, one_error_line

    path = write(tmp_path, name, content)
    with raises_at(path, line, "column 'text' would be both the text and the label"):
        read_labelled(path, text_column=text_column, label_column="text")
    named = [] if text_column is None else ["--text-column", text_column]
    result = invoke("evaluate", "--train", path, "--test", path, "--label-column", "text", *named)
    assert one_error_line(result) == (
        f"cnnfeat: error: {path}:{line}: column 'text' would be both the text and the label; "
        "give --text-column and --label-column different columns"
    )


def test_the_text_column_that_is_the_default_label_is_said_so(tmp_path: Path) -> None:
    """`--text-column Emotion`, the label left to its default (Emotion), said "no label column
    (looked for 'Emotion', ...)" of a file that has it; EmoryNLP JSON said "would be both"."""
    path = write(tmp_path, "u.csv", "Utterance,Emotion\nhello,joy\n")
    with raises_at(path, 1, "column 'Emotion' would be both the text and the label"):
        read_labelled(path, text_column="Emotion")


# --- EmoryNLP JSON ---------------------------------------------------------------------------


def emorynlp_doc(utterances: list[dict]) -> dict:
    return {
        "season_id": "s01",
        "episodes": [
            {
                "episode_id": "s01_e01",
                "scenes": [
                    {"scene_id": "s01_e01_c01", "utterances": utterances[:1]},
                    {"scene_id": "s01_e01_c02", "utterances": utterances[1:]},
                ],
            },
            {"episode_id": "s01_e02", "scenes": []},
        ],
    }


def utterance(uid: str, transcript: object, emotion: object) -> dict:
    return {
        "utterance_id": uid,
        "speakers": ["Monica Geller"],
        "transcript": transcript,
        "tokens": [["x"]],
        "emotion": emotion,
    }


def test_emorynlp_json(tmp_path: Path) -> None:
    doc = emorynlp_doc(
        [
            utterance("s01_e01_c01_u001", "There's nothing to tell!", "Joyful"),
            utterance("s01_e01_c02_u001", "C'mon.", "Neutral"),
            utterance("s01_e01_c02_u002", "", "Mad"),
        ]
    )
    path = write(tmp_path, "d.json", json.dumps(doc, indent=1))
    data = read_labelled(path)
    assert data.texts == ["There's nothing to tell!", "C'mon.", ""]
    assert data.labels == ["Joyful", "Neutral", "Mad"]


def test_emorynlp_json_errors(tmp_path: Path) -> None:
    bad = emorynlp_doc([utterance("u1", "a", "Joyful"), utterance("u2", None, "Sad")])
    path = write(tmp_path, "d.json", json.dumps(bad))
    with raises_at(path, None, "utterance u2: 'transcript' must be a string, got null"):
        read_labelled(path)

    path = write(tmp_path, "e.json", json.dumps([{"text": "a", "label": "b"}]))
    with raises_at(path, None, "expected an object with a 'episodes' list"):
        read_labelled(path)

    path = write(tmp_path, "f.json", '{\n  "episodes": [\n    oops\n]}')
    with raises_at(path, 3, "invalid JSON"):
        read_labelled(path)

    path = write(tmp_path, "g.json", json.dumps(emorynlp_doc([])))
    with raises_at(path, None, "no data rows"):
        read_labelled(path)


# --- whole-file errors -----------------------------------------------------------------------


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", b"text,label\r\nfine,a\r\nI\x92m bad,b\r\n")
    with raises_at(path, 3, "not valid UTF-8 at byte offset 21 \\(byte 0x92"):
        read_labelled(path)
    path = write(tmp_path, "d.jsonl", b'{"text": "ok", "label": "a"}\n{"text": "\xff"}\n')
    with raises_at(path, 2, "not valid UTF-8"):
        read_labelled(path)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.csv", "", "no data rows"),
        ("header_only.csv", "text,label\r\n", "no data rows"),
        ("blank.jsonl", "\n  \n", "no data rows"),
    ],
)
def test_file_without_rows(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = write(tmp_path, name, content)
    with raises_at(path, None, match):
        read_labelled(path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "d.txt", "text,label\nhi,a\n")
    with raises_at(path, None, "unknown file type '.txt'"):
        read_labelled(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_labelled(tmp_path / "nope.csv")


# --- stratified_split ------------------------------------------------------------------------


def make_data(counts: dict[str, int]) -> LabelledData:
    # Interleave classes so that "original order" is a real constraint; texts are unique ids.
    labels: list[str] = []
    remaining = dict(counts)
    while any(remaining.values()):
        for label in counts:
            if remaining[label]:
                labels.append(label)
                remaining[label] -= 1
    return LabelledData([f"t{i}" for i in range(len(labels))], labels, "mem.csv")


def test_split_is_stratified_and_ordered() -> None:
    data = make_data({"a": 10, "b": 5, "c": 2, "d": 1, "e": 7})
    train, dev = stratified_split(data, 0.2, seed=0)
    # round(n * 0.2): a 2, b 1, c 0.4 -> at least 1, d single -> stays in train, e round(1.4) 1.
    assert Counter(dev.labels) == {"a": 2, "b": 1, "c": 1, "e": 1}
    assert Counter(train.labels) == {"a": 8, "b": 4, "c": 1, "d": 1, "e": 6}
    assert sorted(train.texts + dev.texts, key=lambda t: int(t[1:])) == data.texts
    assert not set(train.texts) & set(dev.texts)
    for part in (train, dev):
        ids = [int(t[1:]) for t in part.texts]
        assert ids == sorted(ids)
        assert all(data.labels[i] == label for i, label in zip(ids, part.labels, strict=True))
        assert part.path == data.path


def test_split_keeps_one_in_train() -> None:
    train, dev = stratified_split(make_data({"a": 2, "b": 3}), 0.9, seed=1)
    assert Counter(train.labels) == {"a": 1, "b": 1}
    assert Counter(dev.labels) == {"a": 1, "b": 2}


def test_split_is_deterministic_per_seed() -> None:
    data = make_data({"a": 40, "b": 25, "c": 9})
    first = stratified_split(data, 0.25, seed=7)
    assert stratified_split(data, 0.25, seed=7) == first
    others = {tuple(stratified_split(data, 0.25, seed=s)[1].texts) for s in range(5)}
    assert len(others) > 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="dev_fraction"):
        stratified_split(make_data({"a": 4}), fraction, seed=0)


# --- real data -------------------------------------------------------------------------------


def shared(sub: str, name: str) -> Path:
    folder = SHARED / sub
    if not folder.is_dir():
        pytest.skip(
            f"../shared/data/{sub} not found: {name} tests need the shared data beside the repo"
        )
    return folder


def test_meld_train_emotions() -> None:
    data = read_labelled(shared("meld", "MELD") / "train_sent_emo.csv")
    assert len(data) == 9989
    assert Counter(data.labels) == {
        "neutral": 4710,
        "joy": 1743,
        "surprise": 1205,
        "anger": 1109,
        "sadness": 683,
        "disgust": 271,
        "fear": 268,
    }
    # CRLF line endings must not leak into the text.
    assert not any("\r" in t or "\n" in t for t in data.texts)
    assert sum("\u2019" in t for t in data.texts) > 0


def test_meld_sentiment_column() -> None:
    data = read_labelled(shared("meld", "MELD") / "dev_sent_emo.csv", label_column="Sentiment")
    assert len(data) == 1109
    assert Counter(data.labels) == {"neutral": 470, "negative": 406, "positive": 233}


def test_meld_2018_keeps_mojibake() -> None:
    folder = shared("meld", "MELD")
    old = read_labelled(folder / "original_2018" / "test_sent_emo.csv")
    new = read_labelled(folder / "test_sent_emo.csv")
    assert len(old) == 2610
    # The README's 984 counts U+0092 characters; they sit in 710 of the utterances.
    assert sum(t.count("\x92") for t in old.texts) == 984
    assert sum("\x92" in t for t in old.texts) == 710
    assert old.labels == new.labels
    assert not any("\x92" in t for t in new.texts)


def test_emorynlp_csv_train() -> None:
    data = read_labelled(shared("emorynlp", "EmoryNLP") / "emorynlp_train_final.csv")
    assert len(data) == 7551
    assert Counter(data.labels)["Neutral"] == 2485
    assert len(set(data.labels)) == 7


def test_emorynlp_official_json_dev() -> None:
    data = read_labelled(shared("emorynlp", "EmoryNLP") / "emotion-detection-dev.json")
    assert len(data) == 1344
    assert Counter(data.labels) == {
        "Neutral": 393,
        "Joyful": 289,
        "Scared": 178,
        "Mad": 143,
        "Powerful": 134,
        "Peaceful": 132,
        "Sad": 75,
    }


# --- odd training data: labels, classes, text that gives the network nothing --------------


# --- missing or unusable labels --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "line", "match"),
    [
        ("t.csv", "text,label\nhi,pos\nho,\n", 3, "missing label"),
        ("t.csv", "text,label\nhi,pos\nho,   \n", 3, "missing label"),
        ("t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', 2, "missing key 'label'"),
        (
            "t.jsonl",
            '{"text": "a", "label": null}\n',
            1,
            "label must be a string or an integer, got null",
        ),
        ("t.jsonl", '{"text": "a", "label": true}\n', 1, "got a boolean"),
        ("t.jsonl", '{"text": "a", "label": 1.5}\n', 1, "got a number"),
        ("t.jsonl", '{"text": "a", "label": ["x"]}\n', 1, "got an array"),
        ("t.jsonl", '{"text": 5, "label": "x"}\n', 1, "field 'text' is a number, not a string"),
        ("t.jsonl", '{"text": "a \\ud800", "label": "x"}\n', 1, "lone surrogate"),
    ],
)
def test_unusable_labels_and_texts_name_the_line(
    tmp_path: Path, name: str, content: str, line: int, match: str
) -> None:
    """From the odd-training-data round (docs/input-rules.md, "Training data")."""
    path = write(tmp_path, name, content)
    with pytest.raises(InputError, match=f"^{path}:{line}: .*{match}"):
        read_labelled(path)


def test_integer_labels_are_class_names_and_labels_are_stripped(tmp_path: Path) -> None:
    """From the odd-training-data round (docs/input-rules.md, "Training data")."""
    path = write(tmp_path, "t.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": " 1 "}\n')
    assert read_labelled(path).labels == ["0", "1"]


def test_case_matters_in_labels(tmp_path: Path) -> None:
    """From the odd-training-data round (docs/input-rules.md, "Training data")."""
    path = csv_file(tmp_path, "t.csv", [("a", "Joy"), ("b", "joy")])
    assert label_names(read_labelled(path).labels) == ["Joy", "joy"]


def test_a_long_csv_cell_is_read(tmp_path: Path) -> None:
    """From the odd-training-data round (docs/input-rules.md, "Training data")."""
    long = "word " * 60_000  # 300 KB, over the csv module's default field limit
    path = csv_file(tmp_path, "t.csv", [(long, "a"), ("b", "c")])
    assert read_labelled(path).texts[0] == long


# --- a class seen once; a single class -------------------------------------------------------


def test_a_class_with_one_example_stays_in_training(tmp_path: Path) -> None:
    """From the odd-training-data round (docs/input-rules.md, "Training data")."""
    rows = [("good", "pos")] * 10 + [("bad", "neg")] * 10 + [("meh", "rare")]
    data = read_labelled(csv_file(tmp_path, "t.csv", rows))
    train, dev = stratified_split(data, 0.2, seed=1)
    assert train.labels.count("rare") == 1 and "rare" not in dev.labels
    assert label_names(train.labels, train.path, [(dev.labels, dev.path)]) == ["neg", "pos", "rare"]
