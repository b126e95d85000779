"""Defects found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import TinyModel

import cnnfeat
from cnnfeat.contract.errors import ArgumentError, InputError, OutputError


class Table2D:
    """A 2-D table that is not a numpy array (as a pandas DataFrame): iterating it yields
    its column names, so taking it as an iterable would embed the header, not the rows."""

    ndim = 2
    shape = (3, 1)

    def __iter__(self):
        return iter(["text"])


def test_embed_refuses_any_2d_table(tiny_global: TinyModel) -> None:
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    with pytest.raises(ArgumentError, match=r"1-D sequence of strings, got a Table2D of shape"):
        embedder.embed(Table2D())


def test_embed_refuses_a_dataframe(tiny_global: TinyModel) -> None:
    pd = pytest.importorskip("pandas")
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    with pytest.raises(ArgumentError, match=r"shape \(2, 1\)"):
        embedder.embed(pd.DataFrame({"text": ["w1", "w2"]}))
    assert embedder.embed(pd.Series(["w1", "w2"])).shape == (2, tiny_global.spec.feature_dim)


@pytest.mark.parametrize("model_dir", [5, b"model", ["model"]])
def test_embedder_model_dir_of_a_wrong_type(model_dir: object) -> None:
    with pytest.raises(ArgumentError, match="model_dir must be a path"):
        cnnfeat.Embedder(model_dir)  # type: ignore[arg-type]


def test_embedder_accepts_a_path_like(tiny_global: TinyModel) -> None:
    assert cnnfeat.Embedder(Path(tiny_global.model_dir), device="cpu").dim == 100


def _a_file(d: Path) -> str:
    (d / "notes.txt").write_text("x")
    return "notes.txt"


def _a_folder(d: Path) -> str:
    (d / "mine").mkdir()
    (d / "mine" / "a").write_text("x")
    return "mine"


def _a_dangling_link(d: Path) -> str:
    (d / "link").symlink_to(d / "nowhere")
    return "link"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_a_file, "is a file, not a directory"),
        (_a_folder, "is not empty and is not a cnnfeat model directory"),
        (_a_dangling_link, "is a broken symbolic link"),
    ],
)
def test_export_names_out_as_the_user_gave_it(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, match: str
) -> None:
    from conftest import invoke, one_error_line

    given = make(tmp_path)
    monkeypatch.chdir(tmp_path)
    line = one_error_line(invoke("export", tiny_global.run_dir, "--out", given))
    assert line.startswith(f"cnnfeat: error: {given} {match}"), line


def _read_only_dir(d: Path) -> Path:
    (d / "locked").mkdir()
    (d / "locked").chmod(0o555)
    return d / "locked" / "run"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt" / "run",
         "notes.txt is not a directory"),
        (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt" / "a" / "run",
         "notes.txt is not a directory"),
        (_read_only_dir, "Permission denied"),
    ],
)  # fmt: skip
def test_train_out_that_cannot_be_written_fails_before_any_work(
    tmp_path: Path, make, match: str
) -> None:
    """Found: such an --out failed only after the whole training run (`File exists` for a
    file in the path), losing hours on real data."""
    from conftest import invoke, one_error_line

    out = make(tmp_path)
    if match == "Permission denied" and os.access(out.parent, os.W_OK):
        pytest.skip("running as root: permissions do not bind")
    # The training file does not even exist: --out is checked first.
    line = one_error_line(invoke("train", "--train", tmp_path / "absent.csv", "--out", out))
    assert f"cannot write {out}: " in line and match in line, line
    assert "absent.csv" not in line


def test_out_on_a_read_only_file_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cnnfeat.runtime import staging

    real_statvfs = os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(staging.os, "access", lambda path, mode: False)
    monkeypatch.setattr(staging.os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'run'}: {tmp_path}: "
                       "Read-only file system; choose another --out"):  # fmt: skip
        staging.check_replaceable(tmp_path / "run", "cnnfeat run", "checkpoint.pt", ())
    monkeypatch.setattr(staging.os, "statvfs", real_statvfs)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_info_to_a_full_stdout_names_standard_output(tiny_global: TinyModel) -> None:
    """Found: `cnnfeat info MODEL > /dev/full` said only `No space left on device`."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        command = [sys.executable, "-m", "cnnfeat", "info", str(tiny_global.model_dir)]
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=99)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "cnnfeat: error: writing to standard output failed: No space left on device"
    ]


@pytest.mark.parametrize("seed", ["-1", str(2**32), "99999999999999999999"])
def test_train_seed_out_of_range_is_a_usage_error(tmp_path: Path, seed: str) -> None:
    """Found: `--seed -1` trained up to seeding, then said `internal error: ValueError`."""
    from conftest import invoke

    result = invoke("train", "--train", tmp_path / "absent.csv", "--out", tmp_path / "run",
                    "--seed", seed)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--seed" in result.output and "internal error" not in result.output


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ('{"dev": {"accuracy": "x"}}', "field 'dev.accuracy' has the wrong type"),
        ('{"test": {"macro_f1": true}}', "field 'test.macro_f1' has the wrong type"),
        ('{"vectors": {"source": 5}}', "field 'vectors.source' has the wrong type"),
        (None, "cannot read"),  # metrics.json is a directory: was silently skipped
    ],
)
def test_export_names_a_damaged_metrics_file_not_a_staging_path(
    tiny_global: TinyModel, tmp_path: Path, metrics: str | None, match: str
) -> None:
    """Found: a score of the wrong type in metrics.json was caught only in the staged card, and
    the message named `.model.staging-PID-XXXX/cnnfeat.json`."""
    import shutil

    from conftest import invoke, one_error_line

    run = Path(shutil.copytree(tiny_global.run_dir, tmp_path / "run"))
    (run / "metrics.json").unlink(missing_ok=True)
    if metrics is None:
        (run / "metrics.json").mkdir()
    else:
        (run / "metrics.json").write_text(metrics)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert f"{run / 'metrics.json'}" in line and match in line, line
    assert "staging" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_any_typed_error_from_inside_staging_names_the_target(tmp_path: Path) -> None:
    """A safety net for the defect above: no typed error names the staging directory. The file
    an error is about is its `path` field (the message text is never rewritten)."""
    from cnnfeat.contract.errors import ModelError
    from cnnfeat.runtime.staging import staged_directory

    with pytest.raises(ModelError) as caught:
        with staged_directory(tmp_path / "model") as staging:
            raise ModelError("field 'x' is damaged", staging / "cnnfeat.json")
    assert str(caught.value) == f"{tmp_path / 'model' / 'cnnfeat.json'}: field 'x' is damaged"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [b"nan", b"inf", b"-Infinity", b"1e999", b"4e38"])
def test_vectors_that_are_not_finite_are_an_error_at_load(tmp_path: Path, value: bytes) -> None:
    """Issue 9 promised it; found missing: `1e999` (inf in float32) reached training and
    stopped it only at a nan loss, naming no file."""
    pytest.importorskip("torch")
    from cnnfeat.training.vectors import load_vectors

    path = tmp_path / "vec.txt"
    path.write_bytes(b"w1 1 2\nw2 0.5 " + value + b"\n")  # 4e38: finite, but not in float32
    with pytest.raises(InputError, match=r"vec.txt:2: .*not a finite number"):
        load_vectors(path, {"w1", "w2"}, top_n=0)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
def test_conformance_refuses_to_write_over_the_model_it_checks(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """Found: `cnnfeat conformance M -o M/model.onnx` replaced the model with JSON, exit 0."""
    import shutil

    from conftest import invoke, one_error_line

    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))
    before = (model / name).read_bytes()
    line = one_error_line(invoke("conformance", model, "-o", model / name))
    assert f"{model / name} is part of the model directory" in line, line
    assert (model / name).read_bytes() == before
