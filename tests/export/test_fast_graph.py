"""The exported graphs ("table", "matmul") against PyTorch's `UtteranceCNN.features`.

Parity ≤ 1e-5 for both pooling modes over batch sizes and lengths 0..6 and beyond, padding
invariance, lengths shorter than the widest filter fed to the graph unpadded, that the tables
really are folded at session creation (not stored in the file), and the fp16 variant.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
onnx = pytest.importorskip("onnx", reason="the [train] extra (onnx) is not installed")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from cnnfeat.contract.batching import pad_batch  # noqa: E402
from cnnfeat.contract.spec import ModelSpec  # noqa: E402
from cnnfeat.export.fast_graph import (  # noqa: E402
    GRAPHS,
    CnnWeights,
    build_model,
    flops_per_token,
    table_bytes,
)
from cnnfeat.export.onnx_export import TABLE_LIMIT, choose_graph  # noqa: E402
from cnnfeat.runtime.session import cuda_driver_problem, float16_graph, make_session  # noqa: E402
from cnnfeat.training.model import UtteranceCNN  # noqa: E402

ATOL = 1e-5
LENGTHS = (0, 1, 2, 3, 4, 5, 6, 9, 17)


def tiny_spec(pool: str) -> ModelSpec:
    return ModelSpec(
        vocab_size=202,
        embedding_dim=16,
        pool=pool,
        max_len=50 if pool == "window" else 64,
        label_names=("a", "b"),
    )


@pytest.fixture(scope="module", params=["global", "window"])
def net(request: pytest.FixtureRequest) -> UtteranceCNN:
    torch.manual_seed(0)
    model = UtteranceCNN(tiny_spec(request.param)).eval()
    with torch.no_grad():  # a non-zero [PAD] row: padding must not rely on it being zero
        model.embedding.weight[0].normal_()
    return model


def session(model: UtteranceCNN, graph: str) -> ort.InferenceSession:
    proto = build_model(
        CnnWeights.from_state_dict(model.state_dict(), model.spec), model.spec, graph
    )
    onnx.checker.check_model(proto, full_check=True)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def reference(model: UtteranceCNN, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.features(torch.from_numpy(ids)).numpy()


def rows_of(lengths, seed: int, vocab: int = 202) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.integers(2, vocab, size=n)] for n in lengths]


@pytest.mark.parametrize("graph", GRAPHS)
def test_parity_over_batches_and_lengths(net: UtteranceCNN, graph: str) -> None:
    run = session(net, graph)
    rng = np.random.default_rng(1)
    worst = 0.0
    for batch in (1, 2, 7, 33):
        for longest in (*LENGTHS, net.spec.max_len, net.spec.max_len + 5):
            sizes = [longest] + [int(n) for n in rng.integers(0, longest + 1, size=batch - 1)]
            ids = pad_batch(rows_of(sizes, seed=batch * 100 + longest), net.spec)
            got = run.run(None, {"input_ids": ids})[0]
            assert got.shape == (batch, 100) and got.dtype == np.float32
            worst = max(worst, float(np.abs(got - reference(net, ids)).max()))
    assert worst <= ATOL, worst


@pytest.mark.parametrize("graph", GRAPHS)
def test_unpadded_short_input(graph: str) -> None:
    """Global pooling: the graph itself pads input narrower than the widest filter, as PyTorch."""
    torch.manual_seed(3)
    model = UtteranceCNN(tiny_spec("global")).eval()
    run = session(model, graph)
    for width in range(1, 7):
        ids = np.zeros((4, width), dtype=np.int64)
        for i, row in enumerate(rows_of([width, width - 1, 1, 0], seed=width)):
            ids[i, : len(row)] = row
        got = run.run(None, {"input_ids": ids})[0]
        assert np.abs(got - reference(model, ids)).max() <= ATOL


@pytest.mark.parametrize("graph", GRAPHS)
def test_padding_invariance(net: UtteranceCNN, graph: str) -> None:
    run = session(net, graph)
    lines = rows_of([0, 1, 3, 4, 5, 6, 12], seed=7)
    longer = rows_of([40, 60, 200], seed=8)
    alone = np.stack([run.run(None, {"input_ids": pad_batch([r], net.spec)})[0][0] for r in lines])
    mixed = run.run(None, {"input_ids": pad_batch(longer + lines, net.spec)})[0][len(longer) :]
    assert np.abs(mixed - alone).max() <= ATOL
    assert len({row.tobytes() for row in alone}) == len(lines)  # the rows really differ


def test_tables_are_folded_when_the_session_starts(tmp_path) -> None:
    torch.manual_seed(0)
    model = UtteranceCNN(tiny_spec("global")).eval()
    spec = model.spec
    proto = build_model(CnnWeights.from_state_dict(model.state_dict(), spec), spec, "table")
    # The file holds the embedding (+ the sentinel's row and column) and the conv weights,
    # never a V x maps table.
    shapes = {tuple(t.dims) for t in proto.graph.initializer}
    assert (spec.vocab_size + 1, spec.embedding_dim + 1) in shapes
    assert (spec.vocab_size + 1, 150) not in shapes
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    tables = [t for t in optimized.graph.initializer if tuple(t.dims) == (spec.vocab_size + 1, 150)]
    assert len(tables) == max(spec.filter_sizes)
    assert "MatMul" not in {n.op_type for n in optimized.graph.node}
    assert table_bytes(spec) == sum(4 * np.prod(t.dims) for t in tables)


def test_float16_variant_is_close(tmp_path) -> None:
    torch.manual_seed(0)
    model = UtteranceCNN(tiny_spec("global")).eval()
    proto = build_model(CnnWeights.from_state_dict(model.state_dict(), model.spec), model.spec)
    path = tmp_path / "model.onnx"
    onnx.save_model(proto, str(path))
    half, _ = make_session(path, device="cpu", fp16=True)
    full, _ = make_session(path, device="cpu")
    ids = pad_batch(rows_of([0, 3, 9, 30], seed=2), model.spec)
    a = half.run(None, {"input_ids": ids})[0]
    b = full.run(None, {"input_ids": ids})[0]
    assert a.dtype == np.float32
    assert 0 < np.abs(a - b).max() <= 2e-2 * max(1.0, float(np.abs(b).max()))
    nodes = onnx.load_from_string(float16_graph(path)).graph.node
    to = [a.i for n in nodes if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    # One cast per table to float16, one back to float32 after their sum.
    assert to.count(onnx.TensorProto.FLOAT16) == max(model.spec.filter_sizes)
    assert to.count(onnx.TensorProto.FLOAT) == 1


def test_graph_choice_and_costs() -> None:
    small = tiny_spec("global")
    assert choose_graph(small) == "table"
    huge = ModelSpec(vocab_size=TABLE_LIMIT // (5 * 150 * 4) + 1, embedding_dim=300)
    assert table_bytes(huge) > TABLE_LIMIT and choose_graph(huge) == "matmul"
    d300 = ModelSpec(vocab_size=30000, embedding_dim=300)
    # The table graph's cost per step does not depend on the embedding width.
    assert flops_per_token(d300, "table") == flops_per_token(small, "table") == 5 * 150
    assert flops_per_token(d300, "conv") == 2 * 12 * 300 * 50


@pytest.mark.gpu
@pytest.mark.skipif(cuda_driver_problem() is not None, reason=f"no CUDA: {cuda_driver_problem()}")
def test_cuda_matches_cpu(tmp_path) -> None:
    from cnnfeat.runtime.model_dir import VerifiedModel

    torch.manual_seed(0)
    model = UtteranceCNN(tiny_spec("global")).eval()
    proto = build_model(CnnWeights.from_state_dict(model.state_dict(), model.spec), model.spec)
    path = tmp_path / "model.onnx"
    onnx.save_model(proto, str(path))
    gpu, provider = make_session(path, device="cuda")
    assert provider == "CUDAExecutionProvider"
    ids = pad_batch(rows_of([0, 3, 9, 30, 64], seed=4), model.spec)
    want = reference(model, ids)
    assert np.abs(gpu.run(None, {"input_ids": ids})[0] - want).max() <= 1e-4
    half, _ = make_session(path, device="cuda", fp16=True)
    assert np.abs(half.run(None, {"input_ids": ids})[0] - want).max() <= 2e-2
    # The I/O-binding path the Embedder runs on CUDA (VerifiedModel.run).
    bound = VerifiedModel(None, None, gpu, provider)  # type: ignore[arg-type]
    assert np.abs(bound.run(ids) - want).max() <= 1e-4
