"""`cnnfeat tokenize`: the ids `cnnfeat embed` feeds the model, in the format hosts/c reads.

hosts/c/embed_ids.c reads one utterance per line, its ids as decimal integers separated by
spaces, an empty line for an empty utterance. The C host's features from these ids are checked
against `cnnfeat embed` in tests/hosts/test_hosts.py (test_c_features_from_cnnfeat_tokenize).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, installed_script, invoke, one_error_line, tiny_line, write

from cnnfeat.runtime.embedder import Embedder

LINES = [tiny_line(3), "", tiny_line(600, 5), "nowhere w1 W2", "  w3\tw4  ", tiny_line(1)]
ID_LINE = re.compile(r"(\d+( \d+)*)?")


def read_ids(text: str) -> list[list[int]]:
    assert text.endswith("\n") or text == ""
    lines = text.split("\n")[:-1]
    assert all(ID_LINE.fullmatch(line) for line in lines), lines
    return [[int(v) for v in line.split(" ")] if line else [] for line in lines]


def test_ids_are_what_embed_runs_one_line_per_row(tiny: TinyModel, tmp_path: Path) -> None:
    source = write(tmp_path, "t.txt", "\n".join(LINES) + "\n")
    model = tiny.model_dir
    result = invoke("tokenize", source, "-o", tmp_path / "ids.txt", "--model", model)
    assert result.exit_code == 0, result.output
    ids = read_ids((tmp_path / "ids.txt").read_text(encoding="ascii"))
    embedder = Embedder(model, device="cpu")
    assert ids == embedder.tokenize(LINES)
    assert ids[1] == [] and len(ids[2]) == tiny.spec.max_len  # empty row; cut to max_len
    assert ids[3][0] == 1  # an unknown word is [UNK]
    # The features of those ids are `cnnfeat embed`'s, row for row.
    assert invoke("embed", source, "-o", tmp_path / "f.npy", "--model", model, "-q").exit_code == 0
    want = np.load(tmp_path / "f.npy")
    assert np.abs(embedder.embed_ids(ids) - want).max() <= 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy", "ids.txt", "t.txt"]


def test_a_column_and_stdout(tiny_global: TinyModel, tmp_path: Path) -> None:
    source = write(tmp_path, "t.csv", 'id,text\n1,"w5 w6"\n2,"w7,\nw8"\n3,\n')
    result = invoke("tokenize", source, "--column", "text", "--model", tiny_global.model_dir)
    assert result.exit_code == 0, result.output
    want = Embedder(tiny_global.model_dir, device="cpu").tokenize(["w5 w6", "w7,\nw8", ""])
    assert read_ids(result.stdout) == want


@pytest.mark.parametrize(
    ("content", "extra", "words"),
    [
        (b"w1\n\xff\xfe\n", (), ":2:"),  # not UTF-8, at line 2
        (b"id,text\n1,w1\n", ("--column", "nope"), "nope"),
    ],
)
def test_bad_input_is_one_line_and_the_old_output_stays(
    tiny_global: TinyModel, tmp_path: Path, content: bytes, extra: tuple, words: str
) -> None:
    source = write(tmp_path, "t.csv" if extra else "t.txt", content)
    out = write(tmp_path, "ids.txt", "yesterday's ids\n")
    line = one_error_line(
        invoke("tokenize", source, "-o", out, "--model", tiny_global.model_dir, *extra)
    )
    assert str(source) in line and words in line
    assert out.read_text() == "yesterday's ids\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ids.txt", source.name])


def test_bad_output_is_one_line(tiny_global: TinyModel, tmp_path: Path) -> None:
    source = write(tmp_path, "t.txt", "w1\n")
    absent = tmp_path / "absent"
    for out, words in [
        (tmp_path, f"{tmp_path} is a directory"),
        (source, f"{source} is the input file"),
        (absent / "ids.txt", f"cannot write in {absent}"),
    ]:
        line = one_error_line(
            invoke("tokenize", source, "-o", out, "--model", tiny_global.model_dir)
        )
        assert words in line
    assert source.read_text() == "w1\n" and sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_installed_console_script(tiny_global: TinyModel, tmp_path: Path) -> None:
    script = installed_script()
    if script is None:
        pytest.skip("the `cnnfeat` console script is not installed in this environment")
    source = write(tmp_path, "t.txt", "\n".join(LINES) + "\n")
    run = subprocess.run(
        [script, "tokenize", str(source), "--model", str(tiny_global.model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert read_ids(run.stdout) == Embedder(tiny_global.model_dir, device="cpu").tokenize(LINES)
    broken = subprocess.run(
        [script, "tokenize", str(tmp_path / "absent.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        f"cnnfeat: error: {tmp_path / 'absent.txt'}: no such file"
    ]


# --- found by trying to break the API surface, tokenize and writing ---------------------------


@pytest.mark.parametrize("name", ["tokenizer.json", "model.onnx", "cnnfeat.json"])
def test_tokenize_never_writes_over_the_model_it_reads(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """tokenize's -o takes any name (no format suffix as embed's): `-o MODEL/tokenizer.json`
    replaced the model's tokenizer with ids and exited 0 (conformance refuses this too).
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_global.model_dir, model)
    before = (model / name).read_bytes()
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    line = one_error_line(invoke("tokenize", source, "-o", model / name, "--model", model))
    assert "part of the model directory" in line, line
    assert (model / name).read_bytes() == before


@pytest.mark.parametrize("name", ["ids.npy", "ids.NPZ", "ids.parquet", "ids.csv", "ids.jsonl"])
def test_tokenize_refuses_a_features_file_name(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """Ids are text: `-o ids.npy` wrote text into a file every reader takes for features.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    line = one_error_line(
        invoke("tokenize", source, "-o", tmp_path / name, "--model", tiny_global.model_dir)
    )
    assert "token ids are text" in line, line
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("to", ["-", "ids.txt"])
def test_ids_on_standard_output_are_noted_as_streamed(
    tiny_global: TinyModel, tmp_path: Path, to: str
) -> None:
    """An interrupt then says rows may have gone out (interface/cli_errors.py `_stopped`)."""
    from cnnfeat.runtime import signals
    from cnnfeat.runtime.token_ids import write_token_ids

    source = write(tmp_path, "t.txt", "\n".join(LINES) + "\n")
    signals.clear()
    output = to if to == "-" else str(tmp_path / to)
    write_token_ids(str(source), output, Embedder(tiny_global.model_dir, device="cpu"))
    assert signals.streamed() is (to == "-")
    signals.clear()
