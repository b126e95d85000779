"""The one place an onnxruntime session is made.

Providers are asked for explicitly and then checked: onnxruntime-gpu *lists* CUDA on machines
where CUDA cannot start and quietly runs on the CPU instead (fastembed's lesson), so what counts
is `session.get_providers()` after creation, never `get_available_providers()`.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import onnxruntime as ort

from cnnfeat.runtime.errors import DeviceError, ModelError

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


def make_session(
    model_path: str | Path, device: str = "auto", threads: int | None = None
) -> tuple[ort.InferenceSession, str]:
    """Create a session and return it with the provider that is really active."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by us
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1

    want_cuda = device == "cuda" or (device == "auto" and cuda_driver_problem() is None)
    if device == "cuda" and (problem := cuda_driver_problem()):
        raise DeviceError(f"--device cuda: {problem}; use --device cpu or auto")
    providers = [CUDA, CPU] if want_cuda else [CPU]
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path}: onnxruntime cannot load this model ({first})") from None
    active = session.get_providers()[0]
    if device == "cuda" and active != CUDA:
        raise DeviceError(
            "--device cuda: the CUDA execution provider did not start (onnxruntime fell back to "
            "the CPU; check the CUDA and cuDNN libraries that onnxruntime-gpu needs)"
        )
    return session, active
