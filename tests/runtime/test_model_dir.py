"""runtime/model_dir.py's `load_model`: the one loader of a model directory (the Embedder,
export's validation and conformance load through it). Each of its checks has its own test,
through the Embedder and the CLI, in tests/test_embedder.py and tests/test_model_dir_errors.py;
here, what it returns."""

from __future__ import annotations

import numpy as np
from conftest import TinyModel

from cnnfeat.contract.batching import pad_batch
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
