"""contract/describe.py: how every layer's messages name a JSON value's type and another
library's exception (one helper each; they were copied into five modules)."""

from __future__ import annotations

import json

import pytest

from cnnfeat.contract.describe import MISSING, count, first_line, json_type, not_a_file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null", "null"),
        ("true", "a boolean"),
        ("1", "a number"),
        ("1.5", "a number"),
        ('"x"', "a string"),
        ("[1]", "an array"),
        ('{"a": 1}', "an object"),
    ],
)
def test_json_type(text: str, expected: str) -> None:
    assert json_type(json.loads(text)) == expected


def test_first_line() -> None:
    assert first_line(RuntimeError("\n  one\ntwo\nthree")) == "one"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(OSError("  \n ")) == "OSError"


def test_count_names_one_in_the_singular() -> None:
    assert [count(n, "dialogue") for n in (0, 1, 2)] == ["0 dialogues", "1 dialogue", "2 dialogues"]


def test_not_a_file_says_what_stands_there(tmp_path) -> None:
    """A FIFO or a symbolic link loop in place of model.onnx was called "missing"."""
    import os

    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    found = {p.name: not_a_file(p) for p in tmp_path.iterdir()}
    assert found == {
        "file": None,
        "link": None,
        "dir": "is a directory, not a file",
        "fifo": "is not a regular file",
        "loop": "is not a regular file",
        "dangling": "is not a regular file",
    }
    assert not_a_file(tmp_path / "absent") == MISSING == "is missing"
