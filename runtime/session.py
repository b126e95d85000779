"""The one place an onnxruntime session is made.

Providers are asked for explicitly and then checked: onnxruntime-gpu *lists* CUDA on machines
where CUDA cannot start and quietly runs on the CPU instead (fastembed's lesson), so what counts
is `session.get_providers()` after creation, never `get_available_providers()`.

Settings chosen by measurement (bench/throughput.py, docs/performance.md):
- full graph optimisation: constant folding is what turns the "table" graph's
  MatMul(embedding, conv weights) into its lookup tables, once, at session creation;
- memory arena on (fresh buffers per run cost page faults: ~1.5-2x slower), memory patterns off
  (they are cached per input shape, and every batch width is a new shape); the runtime bounds
  batches by tokens, so the arena's high-water mark is bounded too;
- one intra-op thread by default and thread-pool spinning off: the tokenizer runs beside
  inference, and extra or spinning threads steal its cores;
- after creation, freed heap memory (the folding's temporaries) is handed back to the system.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import onnxruntime as ort

from cnnfeat.contract.describe import first_line
from cnnfeat.contract.errors import DeviceError, ModelError

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def cuda_driver_problem() -> str | None:
    """Why CUDA cannot run here, or None when a driver is present (cheap, no session)."""
    if CUDA not in ort.get_available_providers():
        return f"this onnxruntime build ({ort.__version__}) has no CUDA execution provider"
    try:
        ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
    except OSError:
        return "no NVIDIA driver found (libcuda could not be loaded)"
    return None


def session_options(threads: int | None = None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by us
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    # One thread unless asked: the table graph's small ops ran faster on one thread than on
    # two, and the tokenizer, working beside inference, uses the other cores.
    options.intra_op_num_threads = threads or 1
    return options


def make_session(
    model_path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    fp16: bool = False,
) -> tuple[ort.InferenceSession, str]:
    """Create a session and return it with the provider that is really active.

    fp16: run the lookup tables and pooling in float16 (the "table" graph only; differences
    of about 1e-3 against float32, so a choice, never the default). Rewriting the graph needs
    the `onnx` package.
    """
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}", advice=f"use one of {', '.join(DEVICES)}")
    problem = cuda_driver_problem() if device != "cpu" else "not asked for"
    if device == "cuda" and problem:
        raise DeviceError(f"--device cuda: {problem}", advice="use --device cpu or auto")
    want_cuda = problem is None
    providers: list = [CPU]
    if want_cuda:
        # Grow the GPU arena by what is asked, not by powers of two: batch shapes vary.
        providers = [(CUDA, {"arena_extend_strategy": "kSameAsRequested"}), CPU]
    source: str | bytes = str(model_path)
    if fp16:
        source = float16_graph(Path(model_path))
    try:
        session = ort.InferenceSession(source, session_options(threads), providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        first = first_line(exc)
        raise ModelError(
            f"{model_path}: onnxruntime cannot load this model ({first})",
            advice="copy the model directory again or re-run `cnnfeat export`",
        ) from None
    _release_freed_memory()
    active = session.get_providers()[0]
    if device == "cuda" and active != CUDA:
        raise DeviceError(
            "--device cuda: the CUDA execution provider did not start (onnxruntime fell back to "
            "the CPU; check the CUDA and cuDNN libraries that onnxruntime-gpu needs)"
        )
    return session, active


def float16_graph(model_path: Path) -> bytes:
    """The "table" graph with float16 tables and sums; pooling and the 100-d layer stay fp32.

    Casts go on the constant table inputs of the Gathers (constant folding then stores the
    tables in float16, half the memory) and after their Sum.
    """
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise DeviceError(
            "--fp16 rewrites the graph and needs the onnx package: pip install onnx"
        ) from None
    try:
        model = onnx.load(str(model_path))
    except Exception as exc:
        raise ModelError(f"{model_path}: not an ONNX model ({exc})") from None
    graph = model.graph
    old = [onnx.NodeProto.FromString(n.SerializeToString()) for n in graph.node]
    sums = [n for n in old if n.op_type == "Sum" and list(n.output) == ["conv_maps"]]
    if not sums:
        raise DeviceError(
            f"--fp16 needs a model exported with the 'table' graph; {model_path} "
            "has another graph (re-export it with this cnnfeat)"
        )
    tables = set(sums[0].input)  # outputs of the Gathers that read the tables
    nodes = []
    for node in old:
        if node.op_type == "Gather" and node.output[0] in tables:
            half = node.input[0] + "_fp16"
            nodes.append(helper.make_node("Cast", [node.input[0]], [half], to=TensorProto.FLOAT16))
            node.input[0] = half
        nodes.append(node)
        if node.op_type == "Sum" and list(node.output) == ["conv_maps"]:
            node.output[0] = "conv_maps_fp16"
            nodes.append(
                helper.make_node("Cast", ["conv_maps_fp16"], ["conv_maps"], to=TensorProto.FLOAT)
            )
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def _release_freed_memory() -> None:
    """Give the folding's freed temporaries back to the OS (glibc keeps them otherwise)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl or no glibc: nothing to do
            pass
