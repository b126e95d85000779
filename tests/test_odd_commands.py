"""train, export, conformance and info with odd arguments and damaged directories: one line
naming the path the user gave (never a staging one), exit 1, and nothing of theirs touched.

docs/input-rules.md lists each case; the fault-injection tests of
saving are in test_saving.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import TinyModel, invoke, one_error_line

pytest.importorskip("torch", reason="train and export need the [train] extra (torch)")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture
def run(tiny_global: TinyModel, tmp_path: Path) -> Path:
    """A private copy of the tiny run directory, free to break."""
    return Path(shutil.copytree(tiny_global.run_dir, tmp_path / "run"))


# --- export --out: only a new, empty or model directory ------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda tmp, run: run, "would replace the run directory"),
        (lambda tmp, run: tmp, "would replace the run directory"),  # the parent of the run
        (lambda tmp, run: _folder(tmp / "mine", {"notes.txt": b"my notes"}), "is not empty"),
        (lambda tmp, run: _file(tmp / "model"), "is a file, not a directory"),
        (lambda tmp, run: _folder(tmp / "m", {"cnnfeat.json": b"{}", "x.csv": b"1"}),
         "also holds x.csv, which cnnfeat did not write"),
    ],
)  # fmt: skip
def test_export_refuses_to_replace_what_it_did_not_write(
    run: Path, tmp_path: Path, make, match: str
) -> None:
    out = make(tmp_path, run)
    before = tree(tmp_path)
    line = one_error_line(invoke("export", run, "--out", out))
    assert match in line and str(out) in line
    assert tree(tmp_path) == before  # untouched, nothing added beside it


def test_export_dot_inside_an_unrelated_folder(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path / "work", {"data.csv": b"a,b\n"})
    monkeypatch.chdir(folder)
    line = one_error_line(invoke("export", run, "--out", "."))
    assert "is not empty and is not a cnnfeat model directory" in line
    assert tree(folder) == {"data.csv": b"a,b\n"}


@pytest.mark.slow
def test_export_replaces_a_model_directory_and_fills_an_empty_one(
    run: Path, tmp_path: Path, tiny_global: TinyModel
) -> None:
    old = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "old"))
    (old / "cnnfeat.json").write_text((old / "cnnfeat.json").read_text().replace("{", "{ ", 1))
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (old, empty):
        result = invoke("export", run, "--out", out)
        assert result.exit_code == 0, result.output
        assert tree(out) == tree(tiny_global.model_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "old", "run"]


@pytest.mark.slow
def test_export_again_over_a_model_directory_with_its_report(run: Path, tmp_path: Path) -> None:
    # Export copies the run's report.html into the model directory; exporting again over that
    # directory is replacing what cnnfeat wrote, not touching a stranger's file.
    (run / "report.html").write_text("<p>report</p>", encoding="utf-8")
    out = tmp_path / "model"
    for _ in range(2):
        result = invoke("export", run, "--out", out)
        assert result.exit_code == 0, result.output
    assert (out / "report.html").read_text(encoding="utf-8") == "<p>report</p>"


# --- damaged run directories -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("metrics.json", b"{not json", "metrics.json: not valid JSON"),
        ("metrics.json", b"[1, 2]", "metrics.json: not a cnnfeat metrics file"),
        ("metrics.json", b'{"config": "x"}', "field 'config' has the wrong type"),
        ("metrics.json", b'{"config": {"command": 5}}', "'config.command' is not a string"),
        ("checkpoint.pt", b"this is text, not a checkpoint", "not a readable PyTorch checkpoint"),
        ("checkpoint.pt", None, "not a readable PyTorch checkpoint"),  # truncated
        ("tokenizer.json", b'{"x": 1}', "tokenizer.json: not a tokenizers file"),
    ],
)
def test_damaged_run_directory_is_one_line(
    run: Path, tmp_path: Path, name: str, content: bytes | None, match: str
) -> None:
    path = run / name
    if content is None:
        content = path.read_bytes()[:683]
    path.write_bytes(content)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert f"{path}: " in line and match in line and "internal error" not in line
    assert not (tmp_path / "model").exists()


def test_checkpoint_with_a_bad_spec(run: Path, tmp_path: Path) -> None:
    import torch

    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    saved["spec"]["max_len"] = 512.0
    torch.save(saved, run / "checkpoint.pt")
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert "max_len must be an integer, got 512.0" in line


# --- train ------------------------------------------------------------------------------------


def _data(tmp_path: Path) -> tuple[Path, Path]:
    rows = "".join(f"w{i} w{i + 1} w{i + 2},{'ab'[i % 2]}\n" for i in range(40))
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + rows, encoding="utf-8")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"w{i} {i / 10} 0.5 -0.25 1\n" for i in range(45)))
    return train, vectors


def test_train_out_naming_a_file_fails_before_any_work(tmp_path: Path) -> None:
    out = _file(tmp_path / "run")
    # The training file does not even exist: --out is checked first.
    line = one_error_line(invoke("train", "--train", tmp_path / "absent.csv", "--out", out))
    assert f"{out} is a file, not a directory" in line
    assert out.read_bytes() == b"a file of mine\n"


def test_train_out_in_a_folder_of_other_files(tmp_path: Path) -> None:
    train, _ = _data(tmp_path)
    line = one_error_line(invoke("train", "--train", train, "--out", tmp_path))
    assert "is not empty and is not a cnnfeat run directory" in line


def test_same_column_for_text_and_label(tmp_path: Path) -> None:
    train, vectors = _data(tmp_path)
    line = one_error_line(invoke("train", "--train", train, "--out", tmp_path / "run",
                                 "--text-column", "text", "--label-column", "text",
                                 "--vectors", vectors))  # fmt: skip
    assert "column 'text' would be both the text and the label" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_loss_that_is_not_finite_stops_training_at_once(tmp_path: Path) -> None:
    train, vectors = _data(tmp_path)
    result = invoke("train", "--train", train, "--out", tmp_path / "run", "--vectors", vectors,
                    "--lr", "1e30", "--epochs", "50", "--patience", "50", "--max-len", "10",
                    "--vocab-top-n", "0", "--fine-tune-embeddings", "-q")  # fmt: skip
    line = one_error_line(result)
    assert re.search(r"error: epoch \d+: the training loss became (nan|inf)", line), line
    assert "try a smaller --lr (it was 1e+30)" in line
    assert not (tmp_path / "run").exists()


# --- model directories: damaged cards, parts that disagree -----------------------------------


@pytest.fixture
def model(tiny_global: TinyModel, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))


def _edit_card(model: Path, edit) -> None:
    card = json.loads((model / "cnnfeat.json").read_text())
    edit(card)
    (model / "cnnfeat.json").write_text(json.dumps(card))


def _rehash(model: Path) -> None:
    def rehash(card: dict) -> None:
        for name in ("model.onnx", "tokenizer.json"):
            card["sha256"][name] = hashlib.sha256((model / name).read_bytes()).hexdigest()

    _edit_card(model, rehash)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.update(metrics=[1]), "field 'metrics' is an array, not an object"),
        (lambda c: c["metrics"].update(dev={"weighted_f1": "high"}),
         "field 'metrics.dev.weighted_f1' is a string, not a number"),
        (lambda c: c.update(vectors="glove"), "field 'vectors' is a string"),
        (lambda c: c.update(training={"command": ["cnnfeat"]}), "'training.command' is an array"),
        (lambda c: c.update(format_version="1"), "format_version must be an integer, got '1'"),
        (lambda c: c["spec"].update(max_len=512.0), "max_len must be an integer, got 512.0"),
        (lambda c: c["spec"].update(max_len=10**30), "values out of range (max_len"),
        (lambda c: c["spec"].update(lowercase="yes"), "lowercase must be true or false"),
        (lambda c: c["spec"].update(max_len=256), "cnnfeat.json and model.onnx disagree: "
                                                  "max_len 256 in cnnfeat.json, 512 in model.onnx"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["info", "embed"])
def test_damaged_card_is_one_line(
    model: Path, tmp_path: Path, edit, match: str, command: str
) -> None:
    _edit_card(model, edit)
    text = tmp_path / "in.txt"
    text.write_text("w1 w2\n")
    args = ["info", model] if command == "info" else ["embed", text, "--model", model]
    line = one_error_line(invoke(*args))
    assert match in line and "internal error" not in line, line
    assert not (tmp_path / "in.npy").exists()


def test_another_models_graph_with_this_tokenizer(
    model: Path, tiny_window: TinyModel, tmp_path: Path
) -> None:
    shutil.copyfile(tiny_window.model_dir / "model.onnx", model / "model.onnx")
    _rehash(model)  # as a user who "fixes" the checksums would
    line = one_error_line(invoke("info", model))
    assert "cnnfeat.json and model.onnx disagree: pool 'global' in cnnfeat.json, 'window'" in line


def _graph(path: Path, spec: dict, rows: str, dtype: str) -> None:
    """A graph that declares (batch, 100) but returns `rows` rows of `dtype`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {"float": TensorProto.FLOAT, "double": TensorProto.DOUBLE}[dtype]
    first = ["input_ids", "starts", "ends"] if rows == "one" else ["input_ids", "zero", "all"]
    nodes = [
        helper.make_node("Slice", first + ["axis0"], ["picked"]),
        helper.make_node("ReduceSum", ["picked", "axis1"], ["summed"], keepdims=1),
        helper.make_node("Cast", ["summed"], ["as_float"], to=elem),
        helper.make_node("MatMul", ["as_float", "weight"], ["features"]),
    ]
    init = [
        numpy_helper.from_array(np.array([0]), "starts"),
        numpy_helper.from_array(np.array([1]), "ends"),
        numpy_helper.from_array(np.array([0]), "zero"),
        numpy_helper.from_array(np.array([1 << 40]), "all"),
        numpy_helper.from_array(np.array([0]), "axis0"),
        numpy_helper.from_array(np.array([1]), "axis1"),
        numpy_helper.from_array(np.ones((1, 100), np.float64 if dtype == "double" else np.float32),
                                "weight"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "lying", [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                                       ["batch", "seq"])],
        [helper.make_tensor_value_info("features", elem, ["batch", 100])], init,
    )  # fmt: skip
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "cnnfeat.spec", json.dumps(spec)
    onnx.save_model(proto, str(path))


@pytest.mark.parametrize(
    ("rows", "dtype", "match"),
    [
        ("one", "float", "returns float32 (1, 100) for a 2-row batch"),
        ("all", "double", "output should be float32, found tensor(double)"),
    ],
)
def test_graph_that_lies_about_its_output(model: Path, rows: str, dtype: str, match: str) -> None:
    spec = json.loads((model / "cnnfeat.json").read_text())["spec"]
    _graph(model / "model.onnx", spec, rows, dtype)
    _rehash(model)
    line = one_error_line(invoke("info", model))
    assert match in line


def test_graph_whose_word_table_is_smaller_than_the_tokenizer(
    model: Path, tiny_global: TinyModel
) -> None:
    """The embedding must hold every tokenizer id: the probe feeds the last one."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(model / "model.onnx"))
    for tensor in proto.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.ndim == 2 and array.shape[0] >= tiny_global.spec.vocab_size:  # the embedding
            tensor.CopyFrom(numpy_helper.from_array(array[:100].copy(), tensor.name))
    onnx.save_model(proto, str(model / "model.onnx"))
    _rehash(model)
    line = one_error_line(invoke("info", model))
    assert "model.onnx" in line and "internal error" not in line


# --- helpers ----------------------------------------------------------------------------------


def _folder(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def _file(path: Path) -> Path:
    path.write_bytes(b"a file of mine\n")
    return path


@pytest.mark.parametrize(
    "args",
    [["--lr", "1e300"], ["--weight-decay", "1e39"], ["--max-len", "4"]],
)
def test_train_values_torch_cannot_take_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    train, vectors = _data(tmp_path)
    result = invoke("train", "--train", train, "--out", tmp_path / "run", "--vectors", vectors,
                    *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "run").exists()
