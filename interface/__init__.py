"""cnnfeat: the text-CNN utterance features of the emotion-in-conversation papers.

>>> import cnnfeat
>>> features = cnnfeat.Embedder().embed(["I can't believe it!"])   # (1, 100) float32
"""

from cnnfeat.contract import __version__
from cnnfeat.contract.errors import (
    ArgumentError,
    CnnfeatError,
    DeviceError,
    InputError,
    ModelError,
    OutputError,
)

__all__ = [
    "__version__",
    "ArgumentError",
    "CnnfeatError",
    "DeviceError",
    "Embedder",
    "InputError",
    "ModelError",
    "ModelSpec",
    "OutputError",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    # Embedder pulls in onnxruntime; import it on first use so `import cnnfeat` stays cheap
    # (and ModelSpec too: the `cnnfeat` program handles Ctrl-C only once this package is in).
    if name == "Embedder":
        from cnnfeat.runtime.embedder import Embedder

        return Embedder
    if name == "ModelSpec":
        from cnnfeat.contract.spec import ModelSpec

        return ModelSpec
    raise AttributeError(name)
