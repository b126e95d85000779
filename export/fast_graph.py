"""The exported graph, written op by op from the trained weights (numpy in, ONNX out).

Two ways to compute the same features as `UtteranceCNN.features` (parity ≤ 1e-5):

- "table": the embedding is frozen at inference, so the first layer folds into it. For filter
  offset j, `T_j = E @ W_j` (V × all maps) gives every word's contribution at that offset, and
  a window's response is a sum of K gathered rows instead of a K·D-wide dot product: K·maps
  additions per step instead of 2·(3+4+5)·D·maps FLOPs, whatever D is. The tables are *not*
  stored: the file holds E and the conv weights, and each `T_j` is one `MatMul` of two
  initializers, which onnxruntime's constant folding computes once when the session is
  created. The file stays as small as the plain export and every host runs the same graph;
  the price is K·(V+1)·maps·4 bytes of session memory (93 MB for the shipped model,
  V = 30,871) and about half a second at start.
- "matmul": the three convolutions as one product: gather embeddings, lay K shifted copies side
  by side (B, L, K·D) and multiply by the stacked filters (K·D × maps; shorter filters
  zero-filled). The convolutions' FLOPs (+25% zeros) in one large GEMM; memory is just E.

Exact masking for global pooling (windows that reach past the utterance must not count): the
table graph rewrites every position at or past the utterance's length (at least the widest
filter, as in PyTorch) to a sentinel id V whose table rows are MASKED (-1e30) for every map that
would read it, so such windows never win the max; the matmul graph uses an explicit (batch,
time, map) mask. The conv bias, equal at every step, is added after the max (max(x + b) =
max(x) + b exactly: rounding is monotonic). Both graphs accept any sequence length ≥ 1
(shorter input is padded inside the graph as PyTorch pads it); the runtime still pads batches
to ≥ max(filter_sizes), the host rule in contract/batching.py, which costs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cnnfeat.contract.layout import INPUT_NAME, OPSET, OUTPUT_NAME
from cnnfeat.contract.spec import ModelSpec

GRAPHS = ("table", "matmul")
# A masked window's response: far below any real one, and finite (see _table_maps).
MASKED = -1e30


@dataclass(frozen=True)
class CnnWeights:
    """The inference weights of an UtteranceCNN as float32 numpy arrays."""

    embedding: np.ndarray  # (V, D)
    conv_weights: tuple[np.ndarray, ...]  # (maps, D, k) per filter size, PyTorch Conv1d layout
    conv_biases: tuple[np.ndarray, ...]  # (maps,)
    fc_weight: np.ndarray  # (feature_dim, pooled_dim)
    fc_bias: np.ndarray  # (feature_dim,)

    @classmethod
    def from_state_dict(cls, state: dict, spec: ModelSpec) -> CnnWeights:
        def f32(name: str) -> np.ndarray:
            value = state[name]
            value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
            return np.ascontiguousarray(value, dtype=np.float32)

        n = len(spec.filter_sizes)
        return cls(
            embedding=f32("embedding.weight"),
            conv_weights=tuple(f32(f"convs.{i}.weight") for i in range(n)),
            conv_biases=tuple(f32(f"convs.{i}.bias") for i in range(n)),
            fc_weight=f32("fc.weight"),
            fc_bias=f32("fc.bias"),
        )


def table_bytes(spec: ModelSpec) -> int:
    """Memory the folded tables of the "table" graph take in a session."""
    maps = spec.feature_maps * len(spec.filter_sizes)
    return max(spec.filter_sizes) * (spec.vocab_size + 1) * maps * 4


def flops_per_token(spec: ModelSpec, graph: str) -> int:
    """Multiply-adds ×2 (or adds) per time step of the first layer, the part that differs."""
    maps = spec.feature_maps * len(spec.filter_sizes)
    if graph == "table":
        return max(spec.filter_sizes) * maps  # K gathered rows summed
    if graph == "matmul":
        return 2 * max(spec.filter_sizes) * spec.embedding_dim * maps
    if graph == "conv":
        return 2 * sum(spec.filter_sizes) * spec.embedding_dim * spec.feature_maps
    raise ValueError(f"unknown graph {graph!r}")


def build_model(weights: CnnWeights, spec: ModelSpec, graph: str = "table") -> onnx.ModelProto:
    """The feature graph as an ONNX model: int64 `input_ids` (batch, seq) -> float32 features."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    g = _Builder()
    ids = INPUT_NAME
    width = max(spec.filter_sizes)
    if spec.fixed_len is None:
        steps, lenp = _global_prelude(g, ids, spec)
        pads = _pads(g, ids, steps, width - 1)
    else:
        steps, lenp = g.const("steps", np.array(spec.fixed_len, np.int64)), None
        pads = g.const("pads", np.array([0, 0, 0, width - 1], np.int64))
    # Right-pad with [PAD] to steps + K - 1 positions: every output step sees a full window.
    padded = g.op("Pad", ids, pads, g.const("pad_id", np.array(spec.pad_id, np.int64)))

    if graph == "table":
        maps = _table_maps(g, weights, spec, padded, steps, lenp)
    else:
        maps = _matmul_maps(g, weights, spec, padded, steps, lenp)

    # The conv bias is the same at every step, so it is added after the max: max(x + b) is
    # max(x) + b exactly (rounding is monotonic), on (batch, maps) instead of every step.
    bias = np.concatenate(weights.conv_biases)
    fc_weight = weights.fc_weight
    if spec.pool == "global":
        pooled = g.op("ReduceMax", maps, g.const("time_axis", [1]), keepdims=0)
        pooled = g.op("Relu", g.op("Add", pooled, g.init("conv_bias", bias)))
    else:
        pooled, fc_weight = _window_pool(g, maps, spec, fc_weight, bias)
    fc = g.op(
        "Gemm", pooled, g.init("fc_weight", fc_weight), g.init("fc_bias", weights.fc_bias), transB=1
    )
    g.op("Relu", fc, name=OUTPUT_NAME)

    seq = spec.fixed_len if spec.fixed_len is not None else "seq"
    graph_proto = helper.make_graph(
        g.nodes,
        f"cnnfeat_{graph}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT64, ["batch", seq])],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, TensorProto.FLOAT, ["batch", spec.feature_dim]
            )
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph_proto, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cnnfeat"
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.14 and onnxruntime-web
    return model


def _global_prelude(g: _Builder, ids: str, spec: ModelSpec) -> tuple[str, str]:
    """(steps, lenp): output time steps max(seq, K) and each row's length, at least K."""
    width = g.const("width", np.array(max(spec.filter_sizes), np.int64))
    seq = g.op("Gather", g.op("Shape", ids), g.const("one", np.array(1, np.int64)), axis=0)
    steps = g.op("Max", seq, width, name="steps")
    real = g.op("Not", g.op("Equal", ids, g.const("pad", np.array(spec.pad_id, np.int64))))
    count = g.op(
        "ReduceSum", g.op("Cast", real, to=TensorProto.INT64), g.const("axis1", [1]), keepdims=1
    )
    return steps, g.op("Max", count, width, name="lenp")  # (batch, 1)


def _pads(g: _Builder, ids: str, steps: str, tail: int) -> str:
    """Pad amounts (Pad's layout: begins, then ends) that make the ids `steps + tail` long."""
    seq = g.op("Gather", g.op("Shape", ids), g.const("one_", np.array(1, np.int64)), axis=0)
    extra = g.op("Add", g.op("Sub", steps, seq), g.const("tail", np.array(tail, np.int64)))
    return g.op(
        "Concat",
        g.const("no_pad", np.zeros(3, np.int64)),
        g.op("Unsqueeze", extra, g.const("axis0", [0])),
        axis=0,
    )


def _offsets(weights: CnnWeights, spec: ModelSpec) -> list[np.ndarray]:
    """W_j (D, maps_total) for j in 0..K-1: column block f is filter f's slice at offset j."""
    blocks = []
    for j in range(max(spec.filter_sizes)):
        cols = [
            w[:, :, j].T if j < w.shape[2] else np.zeros((w.shape[1], w.shape[0]), np.float32)
            for w in weights.conv_weights
        ]
        blocks.append(np.ascontiguousarray(np.concatenate(cols, axis=1)))
    return blocks


def _map_width(spec: ModelSpec) -> np.ndarray:
    return np.repeat(np.array(spec.filter_sizes, np.int64), spec.feature_maps)


def _table_maps(g, weights, spec, padded, steps, lenp) -> str:
    width = max(spec.filter_sizes)
    vocab = spec.vocab_size
    embedding = weights.embedding
    if lenp is not None:
        # Sentinel id `vocab` at every position at/after the row's length.
        positions = g.op(
            "Range",
            g.const("zero", np.array(0, np.int64)),
            g.op("Add", steps, g.const("tail_", np.array(width - 1, np.int64))),
            g.const("step1", np.array(1, np.int64)),
        )
        beyond = g.op("GreaterOrEqual", g.op("Unsqueeze", positions, g.const("ax0", [0])), lenp)
        padded = g.op("Where", beyond, g.const("sentinel", np.array(vocab, np.int64)), padded)
        # E gets a last row, the sentinel's, and a last column that only the sentinel has; the
        # matching row of W_j is MASKED for the maps that read offset j, so the sentinel's table
        # row is MASKED there and 0 elsewhere. Finite, not -inf: 0 x -inf would be NaN for
        # every real word. Stored widened (V+D+1 more numbers), so that constant folding is
        # one MatMul per table with no E- or table-sized temporaries: a chain of folded nodes
        # (MatMul, then Concat) doubled the memory peak at session start.
        widened = np.zeros((vocab + 1, spec.embedding_dim + 1), np.float32)
        widened[:vocab, :-1] = embedding
        widened[vocab, -1] = 1.0
        embedding = widened
    embedding = g.init("embedding", embedding)
    reach = _map_width(spec)
    gathered = []
    for j, w_j in enumerate(_offsets(weights, spec)):
        if lenp is not None:
            penalty = np.where(j < reach, MASKED, 0.0).astype(np.float32)[None, :]
            w_j = np.concatenate([w_j, penalty])
        table = g.op("MatMul", embedding, g.init(f"conv_offset{j}", w_j))
        start = g.const(f"start{j}", [j])
        end = g.op(
            "Unsqueeze",
            g.op("Add", steps, g.const(f"j{j}", np.array(j, np.int64))),
            g.const(f"ax{j}", [0]),
        )
        window = g.op("Slice", padded, start, end, g.const(f"sl_axis{j}", [1]))
        gathered.append(g.op("Gather", table, window, axis=0))
    return g.op("Sum", *gathered, name="conv_maps")  # (batch, steps, maps_total)


def _matmul_maps(g, weights, spec, padded, steps, lenp) -> str:
    width = max(spec.filter_sizes)
    x = g.op("Gather", g.init("embedding", weights.embedding), padded, axis=0)  # (B, P, D)
    shifted = []
    for j in range(width):
        end = g.op(
            "Unsqueeze",
            g.op("Add", steps, g.const(f"j{j}", np.array(j, np.int64))),
            g.const(f"ax{j}", [0]),
        )
        shifted.append(g.op("Slice", x, g.const(f"start{j}", [j]), end, g.const(f"a{j}", [1])))
    stacked = g.op("Concat", *shifted, axis=2)  # (B, steps, K*D)
    filters = np.concatenate(_offsets(weights, spec), axis=0)  # (K*D, maps_total)
    maps = g.op("MatMul", stacked, g.init("conv_stacked", filters))
    if lenp is None:
        return maps
    # Window t of a width-k filter counts while t + k <= length.
    t = g.op(
        "Range",
        g.const("zero", np.array(0, np.int64)),
        steps,
        g.const("step1", np.array(1, np.int64)),
    )
    t = g.op("Unsqueeze", t, g.const("ax01", [0, 2]))  # (1, steps, 1)
    ends = g.op("Add", t, g.const("reach", _map_width(spec)[None, None, :]))
    valid = g.op("LessOrEqual", ends, g.op("Unsqueeze", lenp, g.const("ax2", [2])))
    return g.op("Where", valid, maps, g.const("neg_inf", np.array(-np.inf, np.float32)))


def _window_pool(g, maps, spec, fc_weight, bias) -> tuple[str, np.ndarray]:
    """Max-pool width w per filter, ReLU, flatten; fc columns reordered to (step, map) order."""
    w, maps_n, length = spec.pool_window, spec.feature_maps, spec.max_len
    pieces, order, offset = [], [], 0
    for f, k in enumerate(spec.filter_sizes):
        steps = (length - k + 1) // w
        part = g.op(
            "Slice",
            maps,
            g.const(f"ws{f}", [0, f * maps_n]),
            g.const(f"we{f}", [steps * w, (f + 1) * maps_n]),
            g.const(f"wa{f}", [1, 2]),
        )
        part = g.op("Reshape", part, g.const(f"wr{f}", [-1, steps, w, maps_n]))
        part = g.op("ReduceMax", part, g.const(f"wm{f}", [2]), keepdims=0)
        part = g.op("Add", part, g.init(f"conv_bias{f}", bias[f * maps_n : (f + 1) * maps_n]))
        pieces.append(g.op("Reshape", part, g.const(f"wf{f}", [-1, steps * maps_n])))
        # PyTorch flattens (map, step); we flatten (step, map).
        order.append(offset + np.arange(maps_n * steps).reshape(maps_n, steps).T.reshape(-1))
        offset += maps_n * steps
    pooled = g.op("Relu", g.op("Concat", *pieces, axis=1))
    return pooled, np.ascontiguousarray(fc_weight[:, np.concatenate(order)])


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._names: set[str] = set()

    def op(self, op_type: str, *inputs: str, name: str | None = None, **attrs) -> str:
        self._count += 1
        out = name or f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def init(self, name: str, value: np.ndarray) -> str:
        if name in self._names:  # small constants are named for reading, not for lookup
            name = f"{name}_{len(self._names)}"
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def const(self, name: str, value) -> str:
        value = np.asarray(value, dtype=np.int64) if isinstance(value, list) else value
        return self.init(name, value)
