"""The training-recipe pieces (training/recipe.py) and that the CLI's defaults are TrainConfig's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from cnnfeat.training import recipe  # noqa: E402
from cnnfeat.training.train import TrainConfig  # noqa: E402


def test_drop_words_turns_only_real_tokens_into_unk() -> None:
    ids = torch.tensor([[5, 6, 7, 8] * 500 + [0] * 1000])
    out = recipe.drop_words(
        ids, 0.25, unk_id=1, pad_id=0, generator=torch.Generator().manual_seed(0)
    )
    real = ids != 0
    assert torch.equal(out[~real], ids[~real])  # padding stays padding
    changed = out[real] != ids[real]
    assert torch.all(out[real][changed] == 1)
    assert 0.2 < changed.float().mean().item() < 0.3
    assert recipe.drop_words(ids, 0.0, 1, 0, torch.Generator()) is ids


def test_max_norm_caps_each_class_row() -> None:
    layer = torch.nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4, 0, 0], [0.1, 0, 0, 0], [0, 0, 6, 8]]))
    recipe.apply_max_norm(layer, 3.0)
    norms = layer.weight.norm(dim=1)
    assert torch.allclose(norms, torch.tensor([3.0, 0.1, 3.0]), atol=1e-5)
    assert torch.allclose(layer.weight[0], torch.tensor([1.8, 2.4, 0, 0]), atol=1e-5)


def test_class_weights_power() -> None:
    y = np.array([0] * 6 + [1] * 2 + [2] * 1)
    full = recipe.class_weights(y, 3, 1.0).numpy()
    assert np.allclose(full, [9 / 18, 9 / 6, 9 / 3])
    assert np.allclose(recipe.class_weights(y, 3, 0.5).numpy(), np.sqrt(full))
    assert np.allclose(recipe.class_weights(y, 3, 0.0).numpy(), 1.0)


def test_weight_decay_spares_the_word_vectors() -> None:
    from cnnfeat.contract.spec import ModelSpec
    from cnnfeat.training.model import UtteranceCNN

    model = UtteranceCNN(ModelSpec(vocab_size=10, embedding_dim=4, label_names=("a", "b")))
    optimizer = recipe.make_optimizer(model, 1e-3, 0.01)
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decay[id(model.embedding.weight)] == 0.0
    assert decay[id(model.fc.weight)] == 0.01
    assert isinstance(recipe.make_optimizer(model, 1e-3, 0.0), torch.optim.Adam)


def test_cli_defaults_are_the_train_config_defaults() -> None:
    """`cnnfeat train`'s flags and TrainConfig (used by release.py) must not drift apart."""
    from typer.main import get_command

    from cnnfeat.cli import app

    params = {p.name: p.default for p in get_command(app).commands["train"].params}  # type: ignore[attr-defined]
    checked = 0
    for field in dataclasses.fields(TrainConfig):
        if field.name in params and field.default is not dataclasses.MISSING:
            default = params[field.name]
            default = getattr(default, "value", default)  # enums
            assert default == field.default, field.name
            checked += 1
    assert checked >= 20
