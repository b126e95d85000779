"""Every `cnnfeat` command through Typer's CliRunner, and once through the installed script."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, has_module, invoke, one_error_line, read_features, tiny_line
from helpers import installed_script, write_dataset, write_vectors

import cnnfeat
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
    result = invoke("embed", transcript, "-o", out, "--model", tiny_global.model_dir,
                    "--device", "cpu", "--batch-size", "2", "--threads", "1", "-q")  # fmt: skip
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
    result = invoke("embed", path, "--column", "Utterance", "-o", out,
                    "--model", tiny_global.model_dir, "--device", "cpu", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(out) - expected).max() <= ATOL


def test_embed_jsonl_column(tiny_global: TinyModel, tmp_path: Path, expected: np.ndarray) -> None:
    path = tmp_path / "talk.jsonl"
    path.write_text("".join(json.dumps({"n": i, "line": t}) + "\n" for i, t in enumerate(LINES)))
    result = invoke("embed", path, "--column", "line", "--model", tiny_global.model_dir,
                    "--device", "cpu", "-q")  # fmt: skip
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
    result = invoke("train", "--train", root / "train.csv", "--test", root / "test.csv",
                    "--out", run, "--vectors", root / "vectors.txt", "--pool", "window",
                    "--max-len", "12", "--epochs", "2", "--batch-size", "16", "--seed", "3",
                    "--vocab-top-n", "5", "-q")  # fmt: skip
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
    line = one_error_line(invoke("train", "--train", tmp_path / "nope.csv",
                                 "--out", tmp_path / "run"))  # fmt: skip
    assert "nope.csv" in line


# --- the installed console script and `python -m cnnfeat` ------------------------------------


def test_installed_console_script(tiny_global: TinyModel, transcript: Path) -> None:
    script = installed_script()
    if script is None:
        pytest.skip("the `cnnfeat` console script is not installed in this environment")
    run = subprocess.run([script, "embed", str(transcript), "--model", str(tiny_global.model_dir)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"embedded {len(LINES)} rows" in run.stderr
    got = np.load(transcript.with_suffix(".npy"))
    # No --device: "auto", so compare with what auto picks here.
    want = cnnfeat.Embedder(tiny_global.model_dir, device="auto").embed(LINES)
    assert np.abs(got - want).max() <= ATOL
    broken = subprocess.run([script, "embed", str(transcript.parent / "absent.txt"),
                             "--model", str(tiny_global.model_dir)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == [
        f"cnnfeat: error: {transcript.parent / 'absent.txt'}: no such file"
    ]


def test_python_dash_m() -> None:
    run = subprocess.run([sys.executable, "-m", "cnnfeat", "--help"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
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
