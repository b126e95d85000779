"""A broken or wrong model directory: one line that says what is wrong and what to do, exit 1.

Every case starts from a copy of the tiny exported model (conftest.py) and breaks one thing.
Wrong command-line usage is Typer's business and exits 2.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import TinyModel, invoke, one_error_line

from cnnfeat.contract.spec import FORMAT_VERSION
from cnnfeat.contract.tokenizer import build_tokenizer


@pytest.fixture
def model(tiny_global: TinyModel, tmp_path: Path) -> Path:
    """A private copy of the tiny model directory, free to break."""
    return Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("w1 w2 w3\n\nw4\n", encoding="utf-8")
    return path


def embed_error(model_dir: Path, transcript: Path) -> str:
    """Run embed, expect one error line and no output (and no temporary) at all."""
    out = transcript.parent / "out.npy"
    line = one_error_line(invoke("embed", transcript, "-o", out, "--model", model_dir))
    assert sorted(p.name for p in transcript.parent.iterdir() if p.is_file()) == ["in.txt"]
    return line


def card(model_dir: Path) -> dict:
    return json.loads((model_dir / "cnnfeat.json").read_text())


def save_card(model_dir: Path, data: dict) -> None:
    (model_dir / "cnnfeat.json").write_text(json.dumps(data))


def rehash(model_dir: Path) -> None:
    """Record the files' current sha256, as a user who 'fixes' the card by hand would."""
    data = card(model_dir)
    for name in ("model.onnx", "tokenizer.json"):
        data["sha256"][name] = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    save_card(model_dir, data)


def test_the_intact_copy_works(model: Path, transcript: Path) -> None:
    result = invoke("embed", transcript, "-o", transcript.parent / "o.npy", "--model", model, "-q")
    assert result.exit_code == 0, result.output


# --- missing things --------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path, transcript: Path) -> None:
    line = embed_error(tmp_path / "nowhere", transcript)
    assert "nowhere does not exist" in line and "cnnfeat export" in line


def test_directory_is_a_file(transcript: Path) -> None:
    line = embed_error(transcript, transcript)
    assert "is a file, not a directory" in line


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
def test_missing_file(model: Path, transcript: Path, name: str) -> None:
    (model / name).unlink()
    line = embed_error(model, transcript)
    assert f"{name} is missing" in line and "copy the whole model directory again" in line


def test_training_run_instead_of_model(tiny_global: TinyModel, transcript: Path) -> None:
    line = embed_error(tiny_global.run_dir, transcript)
    assert "is a training run, not a model directory" in line
    assert f"cnnfeat export {tiny_global.run_dir} --out" in line


# --- damaged or foreign files ----------------------------------------------------------------


def test_truncated_onnx(model: Path, transcript: Path) -> None:
    data = (model / "model.onnx").read_bytes()
    (model / "model.onnx").write_bytes(data[: len(data) // 2])
    line = embed_error(model, transcript)
    assert "model.onnx does not match cnnfeat.json" in line
    assert "damaged or comes from another model" in line
    assert "copy the model directory again or re-run `cnnfeat export`" in line


@pytest.mark.parametrize("content", [b"not an onnx file\n", b"", "half"])
def test_not_onnx_even_with_a_matching_hash(model: Path, transcript: Path, content) -> None:
    if content == "half":
        content = (model / "model.onnx").read_bytes()[:5000]
    (model / "model.onnx").write_bytes(content)
    rehash(model)
    line = embed_error(model, transcript)
    assert "model.onnx: onnxruntime cannot load this model" in line


def foreign_tokenizer(model: Path, words: int) -> None:
    build_tokenizer([f"x{i}" for i in range(words)], True, 512).save(str(model / "tokenizer.json"))


def test_tokenizer_of_another_model(model: Path, transcript: Path) -> None:
    foreign_tokenizer(model, 10)
    line = embed_error(model, transcript)
    assert "tokenizer.json does not match cnnfeat.json" in line
    assert "copy the model directory again" in line


def test_tokenizer_of_another_model_with_a_matching_hash(model: Path, transcript: Path) -> None:
    foreign_tokenizer(model, 10)
    rehash(model)  # the sha256 no longer catches it; the vocabulary size does
    line = embed_error(model, transcript)
    assert "has 12 words but the model expects 202" in line
    assert "belongs to another model" in line


@pytest.mark.parametrize("special", ["[PAD]", "[UNK]"])
def test_tokenizer_whose_special_ids_differ_from_the_spec(
    model: Path, transcript: Path, special: str
) -> None:
    """Same size, same words, but [PAD] or [UNK] swapped with a word: that word would become
    padding, or unknown words would all read as it. The sha256 is fixed up by hand, so only
    the id check can catch it."""
    data = json.loads((model / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab[special], vocab["w5"] = vocab["w5"], vocab[special]
    (model / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    rehash(model)
    line = embed_error(model, transcript)
    assert "tokenizer.json: [PAD]/[UNK] ids differ from the model spec" in line


def test_tokenizer_not_a_tokenizer(model: Path, transcript: Path) -> None:
    (model / "tokenizer.json").write_text('{"hello": 1}')
    rehash(model)
    assert "not a tokenizers file" in embed_error(model, transcript)


# --- the model card --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 99])
@pytest.mark.parametrize("where", ["card", "spec", "both"])
def test_newer_format_version(model: Path, transcript: Path, where: str, version: int) -> None:
    data = card(model)
    if where in ("card", "both"):
        data["format_version"] = version
    if where in ("spec", "both"):
        data["spec"]["format_version"] = version
        data["spec"]["attention_heads"] = 4  # a newer format may well add fields
    save_card(model, data)
    line = embed_error(model, transcript)
    assert f"was written by a newer cnnfeat (model format {version}" in line
    assert "upgrade: pip install -U cnnfeat" in line
    info = one_error_line(invoke("info", model))  # `info` reads the card the same way
    assert "newer cnnfeat" in info


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda d: "{ not json", "cnnfeat.json is not valid JSON"),
        (lambda d: [1, 2], "is not a cnnfeat model card"),
        (lambda d: {k: v for k, v in d.items() if k != "spec"}, "has no 'spec'"),
        (lambda d: {**d, "spec": {**d["spec"], "filter_sizes": ["x"]}}, "re-export the model"),
        (lambda d: {**d, "spec": {**d["spec"], "pool": "average"}}, "pool must be one of"),
        (lambda d: {**d, "spec": {k: v for k, v in d["spec"].items() if k != "vocab_size"}},
         "vocab_size"),
        (lambda d: {**d, "spec": "global"}, "re-export the model"),
        (lambda d: {k: v for k, v in d.items() if k != "sha256"}, "records no sha256"),
        (lambda d: {**d, "sha256": "abc"}, "records no sha256"),
    ],
)  # fmt: skip
def test_damaged_card(model: Path, transcript: Path, breakage, match: str) -> None:
    broken = breakage(card(model))
    text = broken if isinstance(broken, str) else json.dumps(broken)
    (model / "cnnfeat.json").write_text(text)
    assert match in embed_error(model, transcript)


def test_card_not_utf8(model: Path, transcript: Path) -> None:
    (model / "cnnfeat.json").write_bytes(b"\xff\xfe{}")
    assert "is not valid JSON" in embed_error(model, transcript)


# --- an ONNX graph that does not match the spec ----------------------------------------------


def graph(
    path: Path,
    input_name: str = "input_ids",
    input_type: str = "int64",
    input_rank: int = 2,
    output_name: str = "features",
    output_dim: int = 100,
    seq: str | int = "seq",
) -> None:
    """A small valid ONNX graph: sum the ids per row, then a (1, output_dim) MatMul."""
    onnx = pytest.importorskip("onnx", reason="building ONNX graphs needs the onnx package")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    elem = {"int64": TensorProto.INT64, "float": TensorProto.FLOAT}[input_type]
    dims = ["batch", seq, "extra"][:input_rank]
    nodes = [
        helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["as_float", "reduce_axes"], ["summed"], keepdims=0),
        helper.make_node("Unsqueeze", ["summed", "one"], ["column"]),
        helper.make_node("MatMul", ["column", "weight"], [output_name]),
    ]
    initializers = [
        numpy_helper.from_array(np.arange(1, input_rank, dtype=np.int64), "reduce_axes"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.ones((1, output_dim), dtype=np.float32), "weight"),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "wrong",
            [helper.make_tensor_value_info(input_name, elem, dims)],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", output_dim])],
            initializers,
        ),
        opset_imports=[helper.make_opsetid("", 18)],
        ir_version=8,  # what every onnxruntime since 1.13 reads
    )
    entry = model.metadata_props.add()  # the spec, as export writes it
    entry.key, entry.value = "cnnfeat.spec", json.dumps(card(path.parent)["spec"])
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, str(path))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({}, None),  # the right names and dims: loads and runs
        ({"input_name": "ids"}, "input should be int64 'input_ids', found [('ids'"),
        ({"input_type": "float"}, "input should be int64 'input_ids'"),
        ({"input_rank": 3}, "input shape ['batch', 'seq', 'extra'] does not fit the spec"),
        ({"output_name": "logits"}, "output should be 'features', found ['logits']"),
        ({"output_dim": 50}, "output shape ['batch', 50], spec says (batch, 100)"),
    ],
)
def test_graph_that_differs_from_the_spec(
    model: Path, transcript: Path, change: dict, match: str | None
) -> None:
    graph(model / "model.onnx", **change)
    rehash(model)
    if match is None:
        out = transcript.parent / "o.npy"
        result = invoke("embed", transcript, "-o", out, "--model", model, "-q")
        assert result.exit_code == 0, result.output
        return
    line = embed_error(model, transcript)
    assert "model.onnx does not match its spec" in line
    assert match in line


def test_window_graph_of_another_length(
    tiny_window: TinyModel, tmp_path: Path, transcript: Path
) -> None:
    """A window-pooling graph takes exactly max_len ids; one built for another length is named
    as such, not reported later as a failed test batch."""
    model = Path(shutil.copytree(tiny_window.model_dir, tmp_path / "window"))
    length = tiny_window.spec.max_len + 1
    graph(model / "model.onnx", seq=length)
    rehash(model)
    line = embed_error(model, transcript)
    assert "model.onnx does not match its spec" in line
    assert f"input shape ['batch', {length}] does not fit the spec" in line


# --- usage errors: Typer exits 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["embed"],
        ["embed", "{t}", "--batch-size", "0"],
        ["embed", "{t}", "--threads", "-1"],
        ["embed", "{t}", "--encoding-errors", "ignore"],
        ["embed", "{t}", "--device", "tpu"],
        ["embed", "{t}", "--no-such-option"],
        ["embed", "{t}", "-o"],
        ["train", "--out", "x"],
        ["export"],
        ["frobnicate"],
    ],
)
def test_wrong_usage_exits_2(transcript: Path, args: list[str]) -> None:
    result = invoke(*[a.format(t=transcript) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in transcript.parent.iterdir()) == ["in.txt"]
