"""runtime/model_dir.py's `load_model`: the one loader of a model directory (the Embedder,
export's validation and conformance load through it). Each of its checks has its own test,
through the Embedder and the CLI, in tests/runtime/test_embedder.py and below (a broken or
wrong model directory: one line that says what is wrong and what to do, exit 1); first, what it
returns."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line

from cnnfeat.contract.batching import pad_batch
from cnnfeat.contract.spec import FORMAT_VERSION
from cnnfeat.contract.tokenizer import build_tokenizer
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.model_dir import VerifiedModel, load_model
from cnnfeat.runtime.session import CPU


def test_load_model_gives_the_checked_parts_and_runs_a_batch(tiny: TinyModel) -> None:
    model = load_model(tiny.model_dir, device="cpu")
    assert isinstance(model, VerifiedModel)
    assert model.spec == tiny.spec == model.model_dir.spec
    assert model.provider == CPU
    assert model.tokenizer.get_vocab_size(with_added_tokens=True) == tiny.spec.vocab_size
    assert model.tokenizer.truncation["max_length"] == tiny.spec.max_len
    rows = [[2, 3, 4], [], [tiny.spec.vocab_size - 1]]
    features = model.run(pad_batch(rows, tiny.spec))
    assert features.dtype == np.float32 and features.shape == (3, tiny.spec.feature_dim)
    # The Embedder runs the same model: its features for the same rows are these.
    embedder = Embedder(tiny.model_dir, device="cpu")
    np.testing.assert_allclose(embedder.embed_ids(rows), features, atol=1e-6)


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


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["embed", "IN", "-o", "OUT/o.npy", "--model", "MODEL"], "--model"),
        (["tokenize", "IN", "--model", "MODEL"], "--model"),
        (["info", "MODEL"], None),
        (["conformance", "MODEL", "-o", "OUT/c.json"], None),
    ],
)
@pytest.mark.parametrize("where", ["nowhere", "in.txt"])
def test_missing_directory_advice_names_the_commands_own_option(
    tmp_path: Path, transcript: Path, command: list[str], option: str | None, where: str
) -> None:
    """Found by breaking the refactored loader: `cnnfeat info nowhere` and `cnnfeat
    conformance nowhere` said "give --model a directory", an option they do not have (they take
    MODEL_DIR as an argument)."""
    model = tmp_path / where
    swap = {"IN": str(transcript), "OUT": str(tmp_path), "MODEL": str(model)}
    args = [swap.get(a, a.replace("OUT", str(tmp_path))) for a in command]
    line = one_error_line(invoke(*args))
    assert f"model directory {model} " in line
    assert line.endswith(" directory written by `cnnfeat export`"), line
    if option is None:
        assert "--" not in line and "give a model directory" in line, line
    else:
        assert f"give {option} a directory" in line, line


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
def test_missing_file(model: Path, transcript: Path, name: str) -> None:
    (model / name).unlink()
    line = embed_error(model, transcript)
    assert f"{name} is missing" in line and "copy the whole model directory again" in line


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
@pytest.mark.parametrize(
    ("kind", "said"),
    [("directory", "is a directory, not a file"), ("fifo", "is not a regular file")],
)
def test_a_directory_in_place_of_a_file(
    model: Path, transcript: Path, name: str, kind: str, said: str
) -> None:
    """A directory or a FIFO named cnnfeat.json or model.onnx was called "missing"."""
    (model / name).unlink()
    if kind == "directory":
        (model / name).mkdir()
    else:
        os.mkfifo(model / name)
    line = embed_error(model, transcript)
    assert line == (
        f"cnnfeat: error: {model}: {name} {said}; "
        "move it away, then copy the whole model directory again or re-run `cnnfeat export` into it"
    )


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
        (
            lambda d: {**d, "spec": {k: v for k, v in d["spec"].items() if k != "vocab_size"}},
            "vocab_size",
        ),
        (lambda d: {**d, "spec": "global"}, "re-export the model"),
        (lambda d: {k: v for k, v in d.items() if k != "sha256"}, "records no sha256"),
        (lambda d: {**d, "sha256": "abc"}, "records no sha256"),
    ],
)
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


# --- odd arguments and damaged directories: one line naming the user's path, nothing touched


# --- model directories: damaged cards, parts that disagree -----------------------------------


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
        (
            lambda c: c["metrics"].update(dev={"weighted_f1": "high"}),
            "field 'metrics.dev.weighted_f1' is a string, not a number",
        ),
        (lambda c: c.update(vectors="glove"), "field 'vectors' is a string"),
        (lambda c: c.update(training={"command": ["cnnfeat"]}), "'training.command' is an array"),
        (lambda c: c.update(format_version="1"), "format_version must be an integer, got '1'"),
        (lambda c: c["spec"].update(max_len=512.0), "max_len must be an integer, got 512.0"),
        (lambda c: c["spec"].update(max_len=10**30), "values out of range (max_len"),
        (lambda c: c["spec"].update(lowercase="yes"), "lowercase must be true or false"),
        (
            lambda c: c["spec"].update(max_len=256),
            "cnnfeat.json and model.onnx disagree: max_len 256 in cnnfeat.json, 512 in model.onnx",
        ),
    ],
)
@pytest.mark.parametrize("command", ["info", "embed"])
def test_damaged_card_is_one_line(
    model: Path, tmp_path: Path, edit, match: str, command: str
) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
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
    """From the odd-commands round (docs/input-rules.md lists each case)."""
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
        numpy_helper.from_array(
            np.ones((1, 100), np.float64 if dtype == "double" else np.float32), "weight"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "lying",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("features", elem, ["batch", 100])],
        init,
    )
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
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    spec = json.loads((model / "cnnfeat.json").read_text())["spec"]
    _graph(model / "model.onnx", spec, rows, dtype)
    _rehash(model)
    line = one_error_line(invoke("info", model))
    assert match in line


def test_graph_whose_word_table_is_smaller_than_the_tokenizer(
    model: Path, tiny_global: TinyModel
) -> None:
    """The embedding must hold every tokenizer id: the probe feeds the last one.
    From the odd-commands round (docs/input-rules.md lists each case)."""
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


# --- found by trying to break the API surface, tokenize and writing ---------------------------


def test_a_model_dir_name_too_long_is_a_model_error() -> None:
    """Path.is_dir() raises OSError for ENAMETOOLONG (and EACCES): it reached the API caller
    as a bare OSError, not a CnnfeatError.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    from cnnfeat import ModelError

    with pytest.raises(ModelError, match="File name too long") as caught:
        Embedder("m" * 5000)
    assert "\n" not in str(caught.value)
