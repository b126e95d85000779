"""Defects found by trying to break issue 13's changes (API surface, tokenize, writing)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke, one_error_line, tiny_line, write

from cnnfeat import ArgumentError, InputError
from cnnfeat.runtime.embedder import Embedder


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel) -> Embedder:
    return Embedder(tiny_global.model_dir, device="cpu")


@pytest.mark.parametrize(
    ("rows", "error", "words"),
    [
        ([[1.5, 2.0]], ArgumentError, "row 1 holds float"),  # was silently truncated to [1, 2]
        (np.array([[1.7, 2.2]]), ArgumentError, "float64"),
        ([[2**70]], InputError, "0.."),  # was OverflowError from numpy
        (np.array([[2**63 + 5]], dtype=np.uint64), InputError, "0.."),
        ([[float("nan")]], ArgumentError, "row 1"),  # was ValueError
        ([[1, None]], ArgumentError, "row 1"),  # was TypeError
        ([[True, False]], ArgumentError, "row 1 holds bool"),
        ([1, 2, 3], ArgumentError, "row 1 is int"),  # was TypeError: no len()
        (["12 3"], ArgumentError, "row 1 is str"),  # was ValueError from int()
        ("123", ArgumentError, "single str"),  # was 3 rows of ids 1, 2, 3
        (None, ArgumentError, "NoneType"),  # was TypeError
        ({0: [1]}, ArgumentError, "dict"),  # was TypeError
        ([{1, 2}], ArgumentError, "row 1 is set"),  # no order: silently some order
        (np.array([1, 2, 3]), ArgumentError, "shape"),  # 1-D: one id per row? refuse
    ],
)
def test_embed_ids_refuses_odd_rows_with_a_typed_one_line_error(
    embedder: Embedder, rows: object, error: type, words: str
) -> None:
    with pytest.raises(error, match=words) as caught:
        embedder.embed_ids(rows)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "rows",
    [
        [[3, 4], [], [5]],
        ([3, 4] if i == 0 else [] if i == 1 else [5] for i in range(3)),  # a generator
        ((3, 4), (), (5,)),
        [np.array([3, 4], dtype=np.int32), np.array([], dtype=np.int64), np.array([5])],
        [[np.int64(3), np.uint8(4)], [], [5]],
        np.array([[3, 4], [], [5]], dtype=object),  # ragged rows in an object array
        [range(3, 5), range(0), range(5, 6)],
    ],
)
def test_embed_ids_takes_any_iterable_of_integer_rows(embedder: Embedder, rows: object) -> None:
    want = embedder.embed_ids([[3, 4], [], [5]])
    assert want.shape == (3, embedder.dim)
    assert np.array_equal(embedder.embed_ids(rows), want)  # type: ignore[arg-type]


def test_embed_ids_takes_a_2d_integer_array_and_empty_input(embedder: Embedder) -> None:
    ids = np.array([[3, 4], [5, 6]], dtype=np.int32)
    assert np.array_equal(embedder.embed_ids(ids), embedder.embed_ids([[3, 4], [5, 6]]))
    assert embedder.embed_ids([]).shape == (0, embedder.dim)
    assert embedder.embed_ids(np.zeros((2, 0), dtype=np.int64)).shape == (2, embedder.dim)


def test_a_model_dir_name_too_long_is_a_model_error() -> None:
    """Path.is_dir() raises OSError for ENAMETOOLONG (and EACCES): it reached the API caller
    as a bare OSError, not a CnnfeatError."""
    from cnnfeat import ModelError

    with pytest.raises(ModelError, match="File name too long") as caught:
        Embedder("m" * 5000)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "args",
    [
        ("tokenize", "IN", "-o", "OUT"),
        ("embed", "IN", "-o", "OUT.jsonl", "-q"),
        ("embed", "IN", "-o", "OUT.csv", "-q"),
        ("conformance", "MODEL", "-o", "OUT"),
    ],
)
def test_an_output_that_is_a_fifo_is_refused_not_replaced(
    tiny_global: TinyModel, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Staging renames a regular file over -o: over a FIFO (or a device such as /dev/null,
    as root) that replaced the special file with a regular one, exit 0."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    out = tmp_path / [a for a in args if a.startswith("OUT")][0]
    os.mkfifo(out)
    argv = [str(source) if a == "IN" else str(out) if a.startswith("OUT") else a for a in args]
    argv = [str(tiny_global.model_dir) if a == "MODEL" else a for a in argv]
    if args[0] != "conformance":
        argv += ["--model", str(tiny_global.model_dir)]
    line = one_error_line(invoke(*argv))
    assert "not a regular file" in line, line
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.txt", out.name])


def test_a_symlink_to_a_fifo_is_refused_too(tiny_global: TinyModel, tmp_path: Path) -> None:
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "ids.txt").symlink_to("pipe")
    model = tiny_global.model_dir
    line = one_error_line(invoke("tokenize", source, "-o", tmp_path / "ids.txt", "--model", model))
    assert "ids.txt is a FIFO" in line, line
    assert stat.S_ISFIFO(os.stat(tmp_path / "ids.txt").st_mode)


@pytest.mark.parametrize("name", ["tokenizer.json", "model.onnx", "cnnfeat.json"])
def test_tokenize_never_writes_over_the_model_it_reads(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """tokenize's -o takes any name (no format suffix as embed's): `-o MODEL/tokenizer.json`
    replaced the model's tokenizer with ids and exited 0 (conformance refuses this too)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_global.model_dir, model)
    before = (model / name).read_bytes()
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    line = one_error_line(invoke("tokenize", source, "-o", model / name, "--model", model))
    assert "part of the model directory" in line, line
    assert (model / name).read_bytes() == before


@pytest.mark.parametrize("command", ["embed", "tokenize"])
def test_an_output_symlink_loop_is_one_line_not_an_internal_error(
    tiny_global: TinyModel, tmp_path: Path, command: str
) -> None:
    """Path.resolve() raises RuntimeError on a symlink loop: `cnnfeat embed -o loop.npy`
    said 'internal error: RuntimeError: Symlink loop ... this is a bug in cnnfeat'."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    a, b = ("a.npy", "b.npy") if command == "embed" else ("a.txt", "b.txt")
    (tmp_path / a).symlink_to(b)
    (tmp_path / b).symlink_to(a)
    model = tiny_global.model_dir
    line = one_error_line(invoke(command, source, "-o", tmp_path / a, "--model", model))
    assert "internal error" not in line and "symbolic links" in line, line
    assert (tmp_path / a).is_symlink() and (tmp_path / b).is_symlink()


def test_embed_file_to_a_symlink_loop_raises_output_error(
    tiny_global: TinyModel, tmp_path: Path
) -> None:
    from cnnfeat import OutputError
    from cnnfeat.runtime.pipeline import embed_file
    from cnnfeat.runtime.writing import output_for

    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    (tmp_path / "a.npy").symlink_to("b.npy")
    (tmp_path / "b.npy").symlink_to("a.npy")
    with pytest.raises(OutputError, match="a.npy"):
        embed_file(
            str(source), output_for(str(tmp_path / "a.npy")), Embedder(tiny_global.model_dir)
        )


def test_embed_ids_takes_torch_tensors(embedder: Embedder) -> None:
    torch = pytest.importorskip("torch")
    want = embedder.embed_ids([[3, 4], [5, 6]])
    assert np.array_equal(embedder.embed_ids(torch.tensor([[3, 4], [5, 6]])), want)
    assert np.array_equal(embedder.embed_ids([torch.tensor([3, 4]), torch.tensor([5, 6])]), want)
    with pytest.raises(ArgumentError, match="row 1"):
        embedder.embed_ids(torch.tensor([[3.0, 4.0]]))


def test_a_file_added_to_the_old_directory_while_writing_is_never_deleted(tmp_path: Path) -> None:
    """check_replaceable looks at --out before the work (hours of training); a file the user
    put in the old run/model directory meanwhile was deleted with it by the swap."""
    from cnnfeat import OutputError
    from cnnfeat.runtime.staging import staged_directory

    target = tmp_path / "run"
    target.mkdir()
    (target / "metrics.json").write_text("old")
    with pytest.raises(OutputError, match=r"notes\.txt.*left as it was"):
        with staged_directory(target, known=("metrics.json",)) as staging:
            (staging / "metrics.json").write_text("new")
            (target / "notes.txt").write_text("mine")  # the user, while cnnfeat works
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # Only names it writes: the swap goes ahead.
    (target / "notes.txt").unlink()
    with staged_directory(target, known=("metrics.json",)) as staging:
        (staging / "metrics.json").write_text("new")
    assert (target / "metrics.json").read_text() == "new"


def test_export_keeps_a_file_added_to_its_out_while_it_runs(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from cnnfeat import OutputError
    from cnnfeat.export import onnx_export

    out = tmp_path / "model"
    shutil.copytree(tiny_global.model_dir, out)
    real = onnx_export._export_onnx

    def export_then_user_writes(*args, **kwargs):
        real(*args, **kwargs)
        (out / "notes.txt").write_text("mine")

    monkeypatch.setattr(onnx_export, "_export_onnx", export_then_user_writes)
    with pytest.raises(OutputError, match="notes.txt"):
        onnx_export.export_model(tiny_global.run_dir, out)
    assert (out / "notes.txt").read_text() == "mine"


class _Outside(BaseException):
    """Stands for entry.exit_at_once (which would os._exit(130)) in the test process."""


def test_sigint_at_every_line_of_the_cli_boundary_exits_130_and_restores_handlers() -> None:
    """A SIGINT inside `_restore_signals` (the `finally` after every command) escaped the
    wrapper as a bare KeyboardInterrupt (click: 'Aborted!', exit 1; SIGTERM: a traceback);
    one inside `_catch_signals` left the handlers installed for the rest of the process."""
    import signal as signals

    import typer
    from conftest import sigint_at_line

    from cnnfeat import cli_errors

    def outside(signum, frame):
        raise _Outside()

    @cli_errors.cli_errors
    def command() -> int:
        return 1

    before = (signals.getsignal(signals.SIGINT), signals.getsignal(signals.SIGTERM))
    outcomes = []
    try:
        for k in range(1, 200):
            signals.signal(signals.SIGINT, outside)
            try:
                with sigint_at_line(k, {cli_errors.__file__}):
                    command()
                outcome = "ok"
            except typer.Exit as exc:
                outcome = f"exit {exc.exit_code}"
            except _Outside:
                outcome = "exit at once"
            except KeyboardInterrupt:
                outcome = f"line {k}: KeyboardInterrupt escaped"
            handler = signals.getsignal(signals.SIGINT)
            if handler is not outside:
                outcome = f"line {k}: SIGINT handler left as {handler}"
            outcomes.append(outcome)
            if outcome == "ok" and outcomes.count("ok") > 5:
                break
    finally:
        signals.signal(signals.SIGINT, before[0])
        signals.signal(signals.SIGTERM, before[1])
    assert "exit 130" in outcomes
    assert set(outcomes) <= {"ok", "exit 130", "exit at once"}, outcomes


@pytest.mark.parametrize("name", ["ids.npy", "ids.NPZ", "ids.parquet", "ids.csv", "ids.jsonl"])
def test_tokenize_refuses_a_features_file_name(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """Ids are text: `-o ids.npy` wrote text into a file every reader takes for features."""
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    line = one_error_line(invoke("tokenize", source, "-o", tmp_path / name,
                                 "--model", tiny_global.model_dir))  # fmt: skip
    assert "token ids are text" in line, line
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("method", ["embed", "tokenize"])
def test_a_bare_string_error_names_the_method_called(embedder: Embedder, method: str) -> None:
    with pytest.raises(ArgumentError, match=rf"^{method} takes a list of strings.*{method}\(\["):
        getattr(embedder, method)("abc")


def test_version_and_dir() -> None:
    import cnnfeat

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"cnnfeat {cnnfeat.__version__}\n"
    assert {"Embedder", "ModelSpec", "ArgumentError"} <= set(dir(cnnfeat))
