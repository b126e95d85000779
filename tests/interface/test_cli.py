"""Every `cnnfeat` command through Typer's CliRunner, and once through the installed script."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    TinyModel,
    has_module,
    installed_script,
    invoke,
    one_error_line,
    read_features,
    tiny_line,
    write_dataset,
    write_vectors,
)

import cnnfeat
from cnnfeat.contract.layout import CARD_FILE
from cnnfeat.runtime.model_dir import default_model_dir

ATOL = 1e-5
LINES = ["w1 w2 w3", "", tiny_line(40, 5), "W7, w8!", "unknown", tiny_line(3, 9)]


@pytest.fixture(scope="module")
def expected(tiny_global: TinyModel) -> np.ndarray:
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu").embed(LINES)


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "talk.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


# --- embed -----------------------------------------------------------------------------------


def test_embed_default_output_next_to_input(
    tiny_global: TinyModel, transcript: Path, expected: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(transcript.parent)
    result = invoke("embed", transcript.name, "--model", tiny_global.model_dir, "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = transcript.with_suffix(".npy")
    got = np.load(out)
    assert got.shape == (len(LINES), 100) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= ATOL
    assert f"embedded {len(LINES)} rows" in result.stderr  # the summary line
    assert "CPUExecutionProvider" in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in transcript.parent.iterdir()) == ["talk.npy", "talk.txt"]


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".jsonl", ".csv"])
def test_embed_output_formats(
    tiny_global: TinyModel, transcript: Path, expected: np.ndarray, suffix: str
) -> None:
    out = transcript.parent / "sub" / f"features{suffix}"
    out.parent.mkdir()
    result = invoke(
        "embed",
        transcript,
        "-o",
        out,
        "--model",
        tiny_global.model_dir,
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet
    got = read_features(out)
    assert got.shape == (len(LINES), 100)
    assert np.abs(got - expected).max() <= ATOL
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary left


def test_embed_empty_file(tiny_global: TinyModel, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    result = invoke("embed", tmp_path / "empty.txt", "--model", tiny_global.model_dir, "-q")
    assert result.exit_code == 0, result.output
    got = np.load(tmp_path / "empty.npy")
    assert got.shape == (0, 100) and got.dtype == np.float32


def test_embed_to_stdout(tiny_global: TinyModel, transcript: Path, expected: np.ndarray) -> None:
    result = invoke(
        "embed", transcript, "-o", "-", "--model", tiny_global.model_dir, "--device", "cpu", "-q"
    )
    assert result.exit_code == 0, result.output
    got = np.array([json.loads(line) for line in result.stdout.splitlines()], np.float32)
    assert np.abs(got - expected).max() <= ATOL


def test_embed_csv_column(tiny_global: TinyModel, tmp_path: Path, expected: np.ndarray) -> None:
    path = tmp_path / "talk.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "Utterance", "Speaker"])
        for i, line in enumerate(LINES):
            writer.writerow([i, line, 'Ross, "Dr."\nGeller'])  # quotes and a newline
    out = tmp_path / "o.npy"
    result = invoke(
        "embed",
        path,
        "--column",
        "Utterance",
        "-o",
        out,
        "--model",
        tiny_global.model_dir,
        "--device",
        "cpu",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(out) - expected).max() <= ATOL


def test_embed_jsonl_column(tiny_global: TinyModel, tmp_path: Path, expected: np.ndarray) -> None:
    path = tmp_path / "talk.jsonl"
    path.write_text("".join(json.dumps({"n": i, "line": t}) + "\n" for i, t in enumerate(LINES)))
    result = invoke(
        "embed", path, "--column", "line", "--model", tiny_global.model_dir, "--device", "cpu", "-q"
    )
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(tmp_path / "talk.npy") - expected).max() <= ATOL


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["missing.txt"], "no such file"),
        (["{input}", "-o", "out.h5"], "unknown output format"),
        (["{input}", "-o", "out.parquet"], "plain text has no dialogue column"),  # by dialogue
        (["{input}", "--column", "text"], "--column needs"),
        (["{input}", "--model", "{tmp}/nowhere"], "does not exist"),
    ],
)
def test_embed_errors_are_one_line(
    tiny_global: TinyModel, transcript: Path, args: list[str], match: str
) -> None:
    args = [a.format(input=transcript, tmp=transcript.parent) for a in args]
    if "--model" not in args:
        args += ["--model", str(tiny_global.model_dir)]
    line = one_error_line(invoke("embed", *args))
    assert match in line
    assert not transcript.with_suffix(".npy").exists()


# --- info ------------------------------------------------------------------------------------


def test_info(tiny_global: TinyModel) -> None:
    result = invoke("info", tiny_global.model_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"model: {tiny_global.model_dir}" in out
    spec_line = next(line for line in out.splitlines() if line.startswith("spec: "))
    assert cnnfeat.ModelSpec.from_json(spec_line[len("spec: ") :]) == tiny_global.spec
    assert "vectors: test" in out
    assert "CPUExecutionProvider" in out
    assert "cuda: " in out


def test_shipped_model_is_the_default(tmp_path: Path) -> None:
    if not (default_model_dir() / "model.onnx").is_file():
        pytest.skip(f"no shipped default model at {default_model_dir()} yet")
    info = invoke("info")
    assert info.exit_code == 0, info.output
    assert f"model: {default_model_dir()}" in info.stdout
    assert "test: weighted-F1" in info.stdout
    text = tmp_path / "t.txt"
    text.write_text("Oh my God!\nHow you doin'?\n", encoding="utf-8")
    result = invoke("embed", text, "-q")
    assert result.exit_code == 0, result.output
    want = cnnfeat.Embedder().embed(["Oh my God!", "How you doin'?"])
    assert np.abs(np.load(tmp_path / "t.npy") - want).max() <= ATOL


def test_info_on_a_missing_model(tmp_path: Path) -> None:
    assert "does not exist" in one_error_line(invoke("info", tmp_path / "nowhere"))


# --- train and export on generated data ------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    root = tmp_path_factory.mktemp("cli_train")
    write_dataset(root / "train.csv", 80, seed=1)
    write_dataset(root / "test.csv", 20, seed=2)
    write_vectors(root / "vectors.txt")
    run = root / "run"
    result = invoke(
        "train",
        "--train",
        root / "train.csv",
        "--test",
        root / "test.csv",
        "--out",
        run,
        "--vectors",
        root / "vectors.txt",
        "--pool",
        "window",
        "--max-len",
        "12",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
        "--vocab-top-n",
        "5",
    )  # not -q: test_train reads the summary
    return run, result


def test_train(trained: tuple[Path, object]) -> None:
    run, result = trained
    assert result.exit_code == 0, result.output
    assert "dev: weighted-F1" in result.stderr and "test: weighted-F1" in result.stderr
    assert {"checkpoint.pt", "metrics.json", "tokenizer.json"} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    spec = cnnfeat.ModelSpec.from_dict(metrics["spec"])
    assert (spec.pool, spec.max_len, spec.embedding_dim) == ("window", 12, 8)
    assert spec.label_names == ("neg", "pos")
    assert len(metrics["history"]) == 2
    assert metrics["test"]["support"] == 20
    # No --dev: a stratified tenth of the training file became the dev set.
    assert metrics["data"]["dev"]["rows"] + metrics["data"]["train"]["rows"] == 80
    assert metrics["vectors"]["source"].startswith(str((run.parent / "vectors.txt").resolve()))
    # "zorp" has no vector but is frequent, so it gets a random row; top-5 words are kept too.
    assert metrics["vectors"]["random_rows"] >= 1
    assert spec.vocab_size == metrics["vectors"]["pretrained_rows"] + (
        metrics["vectors"]["random_rows"] + 2
    )


@pytest.fixture(scope="module")
def exported(trained: tuple[Path, object]) -> tuple[Path, object]:
    run, result = trained
    assert result.exit_code == 0, result.output
    out = run.parent / "model"
    return out, invoke("export", run, "--out", out)


def test_export(exported: tuple[Path, object], trained: tuple[Path, object]) -> None:
    out, result = exported
    assert result.exit_code == 0, result.output
    assert "parity: max |onnx - torch|" in result.stderr
    card = json.loads((out / "cnnfeat.json").read_text())
    metrics = json.loads((trained[0] / "metrics.json").read_text())
    assert card["metrics"] == {"dev": metrics["dev"], "test": metrics["test"]}
    assert card["spec"] == metrics["spec"]
    assert card["export"]["parity_max_abs_diff"] <= ATOL


def test_embed_and_info_with_the_exported_model(
    exported: tuple[Path, object], tmp_path: Path
) -> None:
    model, _ = exported
    text = tmp_path / "t.txt"
    text.write_text("it was great !\nthe zorp was awful\n\n", encoding="utf-8")
    result = invoke("embed", text, "--model", model, "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    got = np.load(tmp_path / "t.npy")
    want = cnnfeat.Embedder(model, device="cpu").embed(["it was great !", "the zorp was awful", ""])
    assert got.shape == (3, 100) and np.abs(got - want).max() <= ATOL
    info = invoke("info", model)
    assert info.exit_code == 0, info.output
    assert "dev: weighted-F1" in info.stdout and "test: weighted-F1" in info.stdout
    assert "reproduce: cnnfeat " in info.stdout


def test_train_errors_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    path = tmp_path / "one.csv"
    path.write_text("Utterance,Emotion\nhi,joy\nho,joy\n")
    line = one_error_line(invoke("train", "--train", path, "--out", tmp_path / "run"))
    assert "only one label" in line
    line = one_error_line(
        invoke("train", "--train", tmp_path / "nope.csv", "--out", tmp_path / "run")
    )
    assert "nope.csv" in line


# --- the installed console script and `python -m cnnfeat` ------------------------------------


def test_installed_console_script(tiny_global: TinyModel, transcript: Path) -> None:
    script = installed_script()
    if script is None:
        pytest.skip("the `cnnfeat` console script is not installed in this environment")
    run = subprocess.run(
        [script, "embed", str(transcript), "--model", str(tiny_global.model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"embedded {len(LINES)} rows" in run.stderr
    got = np.load(transcript.with_suffix(".npy"))
    # No --device: "auto", so compare with what auto picks here.
    want = cnnfeat.Embedder(tiny_global.model_dir, device="auto").embed(LINES)
    assert np.abs(got - want).max() <= ATOL
    broken = subprocess.run(
        [
            script,
            "embed",
            str(transcript.parent / "absent.txt"),
            "--model",
            str(tiny_global.model_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == [
        f"cnnfeat: error: {transcript.parent / 'absent.txt'}: no such file"
    ]


def test_python_dash_m() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cnnfeat", "--help"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    for command in ("embed", "info", "train", "export"):
        assert command in run.stdout


def test_no_arguments_shows_help() -> None:
    result = invoke()
    assert result.exit_code in (0, 2)
    assert "embed" in result.output


@pytest.mark.skipif(has_module("torch"), reason="only meaningful without the [train] extra")
def test_train_without_torch_says_how_to_install(tmp_path: Path) -> None:
    line = one_error_line(invoke("train", "--train", tmp_path / "x.csv", "--out", tmp_path))
    assert "pip install 'cnnfeat[train]' (from a clone: pip install -e '.[train]')" in line


# --- `cnnfeat embed` on odd input, end to end: the tables of docs/input-rules.md ---------
# Row alignment is checked against `Embedder.embed` on the lines as they should be read, so a
# row that moves, goes missing or appears from nowhere fails the test.


POSIX = sys.platform != "win32"


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu")


@pytest.fixture
def run(tiny_global: TinyModel, tmp_path: Path):
    """embed(content, name, *options) -> (result, output path); content is written as bytes."""

    def embed(content: bytes | str, name: str = "in.txt", *options: str, out: str = "out.npy"):
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        target = tmp_path / out
        result = invoke(
            "embed",
            path,
            "-o",
            target,
            "--model",
            tiny_global.model_dir,
            "--device",
            "cpu",
            "-q",
            *options,
        )
        return result, target

    return embed


def assert_rows(path: Path, lines: list[str], embedder) -> None:
    got = np.load(path)
    assert got.shape == (len(lines), 100) and got.dtype == np.float32
    if lines:
        assert np.abs(got - embedder.embed(lines)).max() <= ATOL


def cli(*args: str, input: bytes | None = None, env=None, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a child process (stdin/stdout pipes, resource limits)."""
    return subprocess.run(
        [sys.executable, "-m", "cnnfeat", *map(str, args)],
        input=input,
        capture_output=True,
        timeout=120,
        env=env,
        **kwargs,
    )


# --- plain text ------------------------------------------------------------------------------


A, B, C, D, E = (tiny_line(n, s) for n, s in ((3, 1), (9, 2), (1, 3), (20, 4), (5, 5)))


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        (f"\ufeff{A}\n{B}\n", [A, B]),  # UTF-8 BOM
        (f"{A}\r\n{B}\r\n{C}", [A, B, C]),  # CRLF, no final newline
        (f"{A}\r{B}\r{C}\r", [A, B, C]),  # lone CR
        (f"{A}\r\n{B}\r{C}\n{D}", [A, B, C, D]),  # all three mixed
        (f"{A}\n\n{B}\n   \n\t\n{C}\n\n", [A, "", B, "   ", "\t", C, ""]),  # empty lines
        (f"{A}\u2028{B}\n{C}\x85{D}\n", [f"{A}\u2028{B}", f"{C}\x85{D}"]),  # not line ends
    ],
)
def test_line_rules_keep_row_i_on_line_i(run, embedder, content: str, lines: list[str]) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(content)
    assert result.exit_code == 0, result.output
    assert_rows(out, lines, embedder)


def test_non_latin_scripts_and_emoji(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    lines = [
        "Ой, привет! w1",
        "مرحبا w2",
        "你好，世界",
        "😀 w3 👍🏽",
        "👨‍👩‍👧 w4",
        "Zoë w5",
        "नमस्ते",
    ]
    result, out = run("\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, lines, embedder)


def test_nul_bytes_read_as_spaces(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(b"w1\x00w2\n\x00\nw3\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, ["w1 w2", "", "w3"], embedder)


def test_invalid_utf8_is_an_error_naming_line_and_offset(run, tmp_path: Path) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    (tmp_path / "out.npy").write_bytes(b"previous")
    result, out = run(b"w1\r\nw2\nw3 \x92 w4\n")
    line = one_error_line(result)
    assert f"{tmp_path / 'in.txt'}:3: not valid UTF-8 at byte offset 10 (byte 0x92)" in line
    assert "--encoding-errors replace" in line
    assert out.read_bytes() == b"previous"
    assert files(tmp_path) == ["in.txt", "out.npy"]


def test_encoding_errors_replace_carries_on(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(b"w1\nw2 \x92 w3\n\xff\n", "in.txt", "--encoding-errors", "replace")
    assert result.exit_code == 0, result.output
    assert_rows(out, ["w1", "w2 \ufffd w3", "\ufffd"], embedder)


def test_a_line_of_several_megabytes(run, embedder, tiny_global: TinyModel) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    words = [tiny_line(1, i) for i in range(600_000)]  # ~3 MB on one line, then a short one
    result, out = run(" ".join(words) + "\nw7\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, [" ".join(words[: tiny_global.spec.max_len]), "w7"], embedder)


# Runs the command and reports its own peak resident memory on stderr. Linux: VmHWM, which
# starts afresh at exec (ru_maxrss would count the forking pytest process, torch and all).
_PEAK_RSS = """
import resource, sys
from cnnfeat.cli import app
try:
    app(sys.argv[1:], prog_name="cnnfeat")
except SystemExit as stop:
    code = stop.code
try:
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0])
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak // 1024 if sys.platform == "darwin" else peak
sys.stderr.write(f"peak_rss_kb={peak}\\n")
sys.exit(code)
"""


def peak_rss_mb(*args) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("peak_rss_kb=", 1)[1]) / 1024


@pytest.mark.skipif(not POSIX, reason="resource.getrusage")
def test_a_20_mb_line_does_not_blow_up_memory(tiny_global: TinyModel, tmp_path: Path) -> None:
    """Tokenizing a 20 MB line whole took `tokenizers` ~1.8 GB and 45 s; clipped, ~100 MB.
    From the odd-input round (docs/input-rules.md's tables, end to end)."""
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    block = (" ".join(tiny_line(1, i) for i in range(1000)) + " ").encode()
    line = (block * (20 * 2**20 // len(block) + 1))[: 20 * 2**20]
    big.write_bytes(line + b"\nw1\n")
    small.write_bytes(b"w1\nw2\n")
    model = ("--model", tiny_global.model_dir, "--device", "cpu", "-q")
    base = peak_rss_mb("embed", small, "-o", tmp_path / "s.npy", *model)
    peak = peak_rss_mb("embed", big, "-o", tmp_path / "b.npy", *model)
    print(f"peak RSS: {base:.0f} MB for 2 short lines, {peak:.0f} MB with a 20 MB line")
    assert np.load(tmp_path / "b.npy").shape == (2, 100)
    assert peak - base < 10 * 20, f"a 20 MB line took {peak - base:.0f} MB more than 2 lines"


# --- empty input: a valid (0, 100) output in every format ------------------------------------


def read_any(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            return archive["features"]
    text = path.read_text()
    if path.suffix == ".jsonl":
        return np.array([json.loads(x) for x in text.splitlines()], np.float32).reshape(-1, 100)
    header, *rows = text.splitlines()
    assert header.split(",") == [f"f{i}" for i in range(100)]
    return np.array([r.split(",") for r in rows], np.float32).reshape(-1, 100)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".jsonl", ".csv"])
@pytest.mark.parametrize(
    ("name", "content", "options"),
    [
        ("in.txt", b"", ()),
        ("in.txt", b"\xef\xbb\xbf", ()),  # nothing but a BOM
        ("in.csv", b"", ("--column", "text")),
        ("in.csv", b"id,text\r\n", ("--column", "text")),  # a header and no rows
        ("in.jsonl", b"", ()),
    ],
)
def test_empty_input_gives_0_by_100(run, suffix: str, name: str, content: bytes, options) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(content, name, *options, out=f"out{suffix}")
    assert result.exit_code == 0, result.output
    got = read_any(out)
    assert got.shape == (0, 100)


def test_empty_input_to_stdout(tiny_global: TinyModel) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result = invoke("embed", "-", "-o", "-", "--model", tiny_global.model_dir, "-q", input=b"")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


# --- tables ----------------------------------------------------------------------------------


def test_csv_quoted_fields_with_newlines_keep_alignment(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    content = (
        f'id,Utterance,Speaker\r\n1,"{A}\r\n{B}",x\r\n2,"{C}, ""{D}""",y\r\n3,,z\r\n4,{E},w\r\n'
    )
    result, out = run(content, "in.csv")  # no --column: Utterance, as `cnnfeat train` picks
    assert result.exit_code == 0, result.output
    assert_rows(out, [f"{A}\n{B}", f'{C}, "{D}"', "", E], embedder)


def test_tsv(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(f"text\tn\n{A}\t1\n{B}\t2\n", "in.tsv")
    assert result.exit_code == 0, result.output
    assert_rows(out, [A, B], embedder)


def test_jsonl(run, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    records = [{"text": A, "n": 1}, {"text": "", "n": 2}, {"n": 3, "text": f"{B}\n{C}"}]
    result, out = run("".join(json.dumps(r) + "\n" for r in records), "in.jsonl")
    assert result.exit_code == 0, result.output
    assert_rows(out, [A, "", f"{B}\n{C}"], embedder)


@pytest.mark.parametrize(
    ("name", "content", "options", "match"),
    [
        (
            "in.csv",
            "id,text\n1,a\n",
            ("--column", "Utterance"),
            "in.csv:1: no column 'Utterance' (columns: id, text)",
        ),
        ("in.csv", "id,speaker\n1,a\n", (), "in.csv:1: no text column"),
        (
            "in.csv",
            'id,text\n1,"a\nb"\n2,c,d\n',
            ("--column", "text"),
            "in.csv:4: 3 fields, the header has 2",
        ),
        (
            "in.csv",
            "id,text\n1,a\n2\n",
            ("--column", "text"),
            "in.csv:3: 1 fields, the header has 2",
        ),
        ("in.csv", 'id,text\n1,"open\n2,b\n', ("--column", "text"), "in.csv:2: malformed CSV"),
        ("in.tsv", "id\ttext\n1\n", ("--column", "text"), "in.tsv:2: 1 fields"),
        ("in.jsonl", '{"text": "a"}\n{"line": "b"}\n', (), "in.jsonl:2: no field 'text'"),
        ("in.jsonl", '{"text": "a"}\n{"text": 5}\n', (), "in.jsonl:2: field 'text' is a number"),
        ("in.jsonl", '{"text": null}\n', (), "in.jsonl:1: field 'text' is null, not a string"),
        ("in.jsonl", '{"text": ["a"]}\n', (), "in.jsonl:1: field 'text' is an array"),
        ("in.jsonl", '{"text": "a"}\n{"text": "b"\n', (), "in.jsonl:2: invalid JSON"),
        ("in.jsonl", '"just a string"\n', (), "in.jsonl:1: expected a JSON object"),
        (
            "in.jsonl",
            '{"text": "\\udc00"}\n',
            (),
            "in.jsonl:1: field 'text' holds a lone surrogate",
        ),
        ("in.txt", "a\n", ("--column", "text"), "--column needs a .csv, .tsv or .jsonl file"),
    ],
)
def test_table_errors_are_one_line_naming_the_line(
    run, tmp_path: Path, name: str, content: str, options, match: str
) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, out = run(content, name, *options)
    assert match in one_error_line(result)
    assert files(tmp_path) == [name]  # no output, no temporary


# --- stdin and stdout ------------------------------------------------------------------------


def test_stdin_to_stdout_json_lines(tiny_global: TinyModel, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    done = cli(
        "embed",
        "-",
        "-o",
        "-",
        "--model",
        tiny_global.model_dir,
        "-q",
        input=f"\ufeff{A}\r\n\n{B}".encode(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    got = np.array([json.loads(x) for x in done.stdout.decode().splitlines()], np.float32)
    assert got.shape == (3, 100)
    assert np.abs(got - embedder.embed([A, "", B])).max() <= ATOL


def test_stdin_is_the_default_for_stdout(tiny_global: TinyModel, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    # With `-` as input and no -o, the output is stdout too (there is no file name to follow).
    result = invoke("embed", "-", "--model", tiny_global.model_dir, "-q", input=f"{A}\n".encode())
    assert result.exit_code == 0, result.output
    got = np.array([json.loads(x) for x in result.stdout.splitlines()], np.float32)
    assert np.abs(got - embedder.embed([A])).max() <= ATOL


def test_stdin_to_a_file(tiny_global: TinyModel, tmp_path: Path, embedder) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    out = tmp_path / "o.npz"
    result = invoke(
        "embed",
        "-",
        "-o",
        out,
        "--model",
        tiny_global.model_dir,
        "-q",
        input=f"{A}\n{B}\n".encode(),
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as archive:
        assert np.abs(archive["features"] - embedder.embed([A, B])).max() <= ATOL


def test_stdin_invalid_utf8(tiny_global: TinyModel) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    done = cli("embed", "-", "-o", "-", "--model", tiny_global.model_dir, "-q", input=b"w1\n\xff\n")
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        "cnnfeat: error: -:2: not valid UTF-8 at byte offset 3 (byte 0xff); "
        "fix the file or pass --encoding-errors replace"
    )


@pytest.mark.skipif(not POSIX, reason="pipes and SIGPIPE")
def test_stdout_closed_early_is_a_quiet_exit(tiny_global: TinyModel, tmp_path: Path) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    # `cnnfeat embed big.txt -o - | head -1`: no traceback, no "Exception ignored", exit 141.
    path = tmp_path / "in.txt"
    path.write_text("w1 w2\n" * 50_000)  # ~45 MB of JSON lines, far more than a pipe holds
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnfeat",
            "embed",
            str(path),
            "-o",
            "-",
            "--model",
            str(tiny_global.model_dir),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = child.stdout.readline()
    child.stdout.close()
    _, stderr = child.communicate(timeout=120)
    assert len(json.loads(first)) == 100
    assert child.returncode == 141, stderr
    assert stderr == b""


# --- output problems -------------------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="resource limits")
def test_disk_full_for_real(tiny_global: TinyModel, tmp_path: Path) -> None:
    """The OS refuses the writes part way (a file size limit, EFBIG): one line, nothing kept.
    From the odd-input round (docs/input-rules.md's tables, end to end)."""
    import resource

    path, out = tmp_path / "in.txt", tmp_path / "out.npy"
    path.write_text("w1 w2\n" * 5000)  # 2 MB of features
    out.write_bytes(b"previous")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    done = cli("embed", path, "-o", out, "--model", tiny_global.model_dir, "-q", preexec_fn=limit)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.strip().splitlines() == [
        f"cnnfeat: error: writing {out} failed: File too large; nothing was written"
    ]
    assert out.read_bytes() == b"previous"
    assert files(tmp_path) == ["in.txt", "out.npy"]


def test_unwritable_directory(run, tmp_path: Path) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    if POSIX and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
    elif Path("/sys").is_dir():
        locked = Path("/sys")  # root may write anywhere else; sysfs still says no
    else:
        pytest.skip("no directory here that this user cannot write")
    result, _ = run("w1\n", "in.txt", out=str(locked / "out.npy"))
    line = one_error_line(result)
    assert f"cannot write in {locked}: " in line and line.endswith("; choose another -o")
    assert "Permission denied" in line or "Read-only file system" in line
    if locked != Path("/sys"):
        assert files(locked) == []
        locked.chmod(0o755)


def test_missing_output_directory(run, tmp_path: Path) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    result, _ = run("w1\n", "in.txt", out="nowhere/out.npy")
    assert "cannot write in" in one_error_line(result)
    assert files(tmp_path) == ["in.txt"]


def test_output_would_overwrite_the_input(tiny_global: TinyModel, tmp_path: Path) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "w1"}\n')
    line = one_error_line(invoke("embed", path, "-o", path, "--model", tiny_global.model_dir))
    assert "is the input file; choose another -o" in line
    assert path.read_text() == '{"text": "w1"}\n'


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ("in.jsonl", "is the input file"),
        ("folder.npy", "is a directory; give a file name"),
        ("out.h5", "unknown output format '.h5'"),
        ("out.parquet", "in.jsonl:1: no dialogue column"),  # .parquet: by dialogue
    ],
)
def test_bad_outputs_are_refused_before_the_model_loads(
    tmp_path: Path, out: str, match: str
) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    (tmp_path / "in.jsonl").write_text('{"text": "w1"}\n')
    (tmp_path / "folder.npy").mkdir()
    args = ("embed", tmp_path / "in.jsonl", "-o", tmp_path / out, "--model", tmp_path / "none")
    assert match in one_error_line(invoke(*args))  # not "model directory ... does not exist"
    assert files(tmp_path) == ["folder.npy", "in.jsonl"]
    assert (tmp_path / "in.jsonl").read_text() == '{"text": "w1"}\n'


# --- never a traceback -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (
            ZeroDivisionError("division by zero"),
            "internal error: ZeroDivisionError: division by "
            "zero -- this is a bug in cnnfeat; please report it",
        ),
        (RuntimeError("two\nlines"), "internal error: RuntimeError: two lines"),
        (OSError(5, "Input/output error", "/some/file"), "/some/file: Input/output error"),
        (MemoryError(), "out of memory; try a smaller --batch-size"),
    ],
)
def test_unexpected_errors_are_one_line(
    run, monkeypatch: pytest.MonkeyPatch, error: BaseException, match: str
) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr("cnnfeat.runtime.pipeline.embed_file", broken)
    result, _ = run("w1\n")
    assert match in one_error_line(result)


def test_debug_shows_the_traceback(run, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""

    def broken(*args, **kwargs):
        raise ZeroDivisionError("here")

    monkeypatch.setattr("cnnfeat.runtime.pipeline.embed_file", broken)
    monkeypatch.setenv("CNNFEAT_DEBUG", "1")
    result, _ = run("w1\n")
    assert isinstance(result.exception, ZeroDivisionError)


def test_sigterm_handler_is_put_back(run) -> None:
    """From the odd-input round (docs/input-rules.md's tables, end to end)."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    result, _ = run("w1\n")
    assert result.exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before


# --- one line, typed errors, files kept safe --------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["info"], ["conformance", "-o", "-"]])
def test_a_full_stdout_names_standard_output(tiny_global: TinyModel, args: list[str]) -> None:
    """Found: `cnnfeat info MODEL > /dev/full` said only `No space left on device`, and so did
    `cnnfeat conformance MODEL -o - > /dev/full`."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        command = [sys.executable, "-m", "cnnfeat", args[0], str(tiny_global.model_dir), *args[1:]]
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=99)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "cnnfeat: error: writing to standard output failed: No space left on device"
    ]


# --- `cnnfeat info`'s seeds line on damaged cards; numbers no float holds -----------------


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(shutil.copytree(default_model_dir(), tmp_path_factory.mktemp("b15") / "m"))


def _seeds_output(model: Path, seeds: object) -> list[str]:
    """The `seeds` lines `cnnfeat info` prints for the shipped card with this record (json
    writes float('nan') and inf as NaN and Infinity, which json.loads accepts back)."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    card["seeds"] = seeds
    (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    result = invoke("info", model)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return [line for line in result.stdout.splitlines() if line.startswith("seeds")]


def _release() -> dict:
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    return card["seeds"]


def _run(index: int, **fields: object) -> dict:
    seeds = _release()
    seeds["runs"][index].update(fields)
    return seeds


DAMAGED = {
    "f1 true": _run(0, test_weighted_f1=True),
    "f1 NaN": _run(0, test_weighted_f1=float("nan")),
    "f1 huge int": _run(0, test_weighted_f1=10**400),
    "f1 above 1": _run(0, test_weighted_f1=56.6),
    "f1 negative": _run(0, test_weighted_f1=-3),
    "seed missing": _run(0, seed=None),
    "seed nested": _run(0, seed={"a": [1, {"b": 2}]}),
    "seed with newline": _run(0, seed="1\nforged: line"),
    "seed true": _run(0, seed=True),
    "seeds repeated": _run(1, seed=1),
    "a run not an object": {**_release(), "runs": [*_release()["runs"], 5]},
    "shipped seed not run": {**_release(), "shipped_seed": 99},
    "shipped seed nested": {**_release(), "shipped_seed": [4, {"x": 2}]},
    "shipped seed true": {**_release(), "shipped_seed": True},
    "shipped seed missing": {k: v for k, v in _release().items() if k != "shipped_seed"},
}


@pytest.mark.parametrize("name", DAMAGED)
def test_info_leaves_out_a_damaged_seeds_record(shipped_copy: Path, name: str) -> None:
    """A release record with any run, seed or score out of shape gives no seeds line: a half
    shown or wrong one (a bool as 1.0000, a dropped run, a shipped seed never trained) would
    mislead, and a huge integer score was an internal error.
    Found by trying to break the seeds line, the recorded train command and the root help."""
    seeds = copy.deepcopy(DAMAGED[name])
    assert _seeds_output(shipped_copy, seeds) == []


def test_info_seeds_mean_and_std_are_the_runs_own(shipped_copy: Path) -> None:
    """mean ± std is computed from the per-seed scores printed beside it, so a damaged stored
    mean (a string, true, infinity, 0.9) can neither hide nor contradict them.
    Found by trying to break the seeds line, the recorded train command and the root help."""
    want = _release()
    (line,) = _seeds_output(shipped_copy, want)
    summary = f"{want['test_weighted_f1_mean']:.4f} ± {want['test_weighted_f1_std']:.4f}, "
    assert summary in line
    for mean, std in (("0.5", None), (True, False), (0.9, -1.0), (float("inf"), 0.1)):
        seeds = {**want, "test_weighted_f1_mean": mean, "test_weighted_f1_std": std}
        (damaged,) = _seeds_output(shipped_copy, seeds)
        assert damaged == line


def test_info_seeds_line_of_many_runs_stays_short(shipped_copy: Path) -> None:
    """5000 runs give one line of a few hundred characters, not every score.
    Found by trying to break the seeds line, the recorded train command and the root help."""
    runs = [{"seed": s, "test_weighted_f1": 0.5} for s in range(5000)]
    (line,) = _seeds_output(shipped_copy, {"runs": runs, "shipped_seed": 7})
    assert len(line) < 400, line
    assert "(seeds 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 4990 more)" in line and line.endswith(
        "this model is seed 7's run"
    )


@pytest.mark.parametrize(
    "group, name, value",
    [
        ("training", "train_seconds", 10**400),
        ("export", "parity_max_abs_diff", 10**400),
        ("export", "parity_max_abs_diff", float("nan")),
        ("metrics", "dev", {"weighted_f1": 10**400, "macro_f1": 0.3, "accuracy": 0.5}),
        ("metrics", "test", {"weighted_f1": float("inf"), "macro_f1": 0.3, "accuracy": 0.5}),
    ],
    ids=["seconds-huge-int", "parity-huge-int", "parity-nan", "score-huge-int", "score-inf"],
)
def test_info_refuses_a_number_no_float_holds(
    shipped_copy: Path, group: str, name: str, value: object
) -> None:
    """A card number past float range (an integer of 400 digits) was an internal error in
    `cnnfeat info` (OverflowError formatting it), and NaN or Infinity (which json.loads takes)
    was printed as a score or a parity bound: both are a damaged card, one error line.
    Found by trying to break the seeds line, the recorded train command and the root help."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    card[group][name] = value
    (shipped_copy / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    line = one_error_line(invoke("info", shipped_copy))
    assert f"field '{group}." in line and "not a finite number" in line, line
