"""runtime/session.py without a GPU: what the session really runs on decides, and the thread
count reaches onnxruntime.

Found by breaking the lines on purpose (issue 13, hollow tests): deleting the check that CUDA
really started, or ignoring `threads`, left every other test green on a machine without CUDA.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
from helpers import TinyModel

from cnnfeat.contract.errors import DeviceError
from cnnfeat.runtime import session as session_module
from cnnfeat.runtime.session import CPU, make_session


def test_cuda_listed_but_falling_back_to_the_cpu_is_an_error(
    tiny_global: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime-gpu lists CUDA where it cannot start and quietly runs on the CPU; asking for
    CUDA must then fail, and "auto" must report the CPU it really got."""
    real = ort.InferenceSession

    def cpu_only(source, options=None, providers=None, **kwargs):
        return real(source, options, providers=[CPU])  # what a failed CUDA start leaves

    monkeypatch.setattr(session_module, "cuda_driver_problem", lambda: None)
    monkeypatch.setattr(session_module.ort, "InferenceSession", cpu_only)
    path = tiny_global.model_dir / "model.onnx"
    with pytest.raises(DeviceError, match="the CUDA execution provider did not start"):
        make_session(path, device="cuda")
    _, provider = make_session(path, device="auto")
    assert provider == CPU


@pytest.mark.parametrize(("threads", "expected"), [(None, 1), (3, 3)])
def test_threads_reach_the_session(tiny_global: TinyModel, threads, expected: int) -> None:
    session, _ = make_session(tiny_global.model_dir / "model.onnx", "cpu", threads)
    assert session.get_session_options().intra_op_num_threads == expected
