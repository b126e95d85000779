"""cnnfeat: the text-CNN utterance features of the emotion-in-conversation papers.

>>> import cnnfeat
>>> features = cnnfeat.Embedder().embed(["I can't believe it!"])   # (1, 100) float32

Files: `cnnfeat.embed_file(input_path, output_path, model=...)` (a features file, as `cnnfeat
embed` writes it) and `cnnfeat.embed_dialogues(input_path, model=...)` (one DialogueFeatures
per dialogue); both take the model explicitly, a model directory or an Embedder.
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
    "DialogueFeatures",
    "Embedder",
    "EmbedSummary",
    "InputError",
    "ModelError",
    "ModelSpec",
    "OutputError",
    "embed_dialogues",
    "embed_file",
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
    if name in ("embed_file", "embed_dialogues"):
        from cnnfeat import api

        return getattr(api, name)
    if name == "DialogueFeatures":
        from cnnfeat.runtime.dialogues import DialogueFeatures

        return DialogueFeatures
    if name == "EmbedSummary":
        from cnnfeat.runtime.pipeline import EmbedSummary

        return EmbedSummary
    raise AttributeError(name)
