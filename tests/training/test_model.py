"""UtteranceCNN in PyTorch: shapes, and padding that never changes a row's features."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from cnnfeat.contract.batching import pad_batch  # noqa: E402
from cnnfeat.contract.spec import ModelSpec  # noqa: E402
from cnnfeat.training.model import UtteranceCNN  # noqa: E402

ATOL = 1e-5


def make_model(pool: str, seed: int = 0) -> UtteranceCNN:
    spec = ModelSpec(
        vocab_size=300,
        embedding_dim=12,
        pool=pool,
        max_len=40 if pool == "window" else 512,
        label_names=("a", "b", "c"),
    )
    torch.manual_seed(seed)
    return UtteranceCNN(spec).eval()


@pytest.fixture(scope="module", params=["global", "window"])
def model(request: pytest.FixtureRequest) -> UtteranceCNN:
    return make_model(request.param)


def row(n: int, seed: int) -> list[int]:
    return [int(i) for i in np.random.default_rng(seed).integers(2, 300, size=n)]


def features(model: UtteranceCNN, rows: list[list[int]]) -> np.ndarray:
    with torch.no_grad():
        return model.features(torch.from_numpy(pad_batch(rows, model.spec))).numpy()


def test_shapes_and_dtype(model: UtteranceCNN) -> None:
    ids = torch.from_numpy(pad_batch([row(7, 1), row(3, 2), []], model.spec))
    with torch.no_grad():
        feats, logits = model.features(ids), model(ids)
    assert feats.shape == (3, 100) and feats.dtype == torch.float32
    assert logits.shape == (3, 3)
    assert (feats >= 0).all()  # the features end in a ReLU
    assert model.fc.in_features == model.spec.pooled_dim


def test_eval_mode_is_deterministic(model: UtteranceCNN) -> None:
    rows = [row(9, 3), row(4, 4)]
    np.testing.assert_array_equal(features(model, rows), features(model, rows))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 13, 40])
def test_a_line_alone_or_beside_much_longer_lines(model: UtteranceCNN, n: int) -> None:
    line = row(n, seed=n)
    alone = features(model, [line])[0]
    longest = model.spec.max_len + 30  # cut to max_len by pad_batch
    batch = [row(longest, 100), line, row(200, 101), row(2, 102), row(77, 103)]
    together = features(model, batch)
    assert np.abs(together[1] - alone).max() <= ATOL
    assert np.abs(together[3] - features(model, [batch[3]])[0]).max() <= ATOL
    assert np.isfinite(together).all()


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 11])
def test_any_amount_of_explicit_padding(model: UtteranceCNN, n: int) -> None:
    line = row(n, seed=10 + n)
    reference = features(model, [line])[0]
    for width in (1, 2, 4, 5, 6, 17, 90, 512):
        if width < n:
            continue
        ids = torch.zeros((1, width), dtype=torch.int64)
        ids[0, :n] = torch.tensor(line, dtype=torch.int64)
        with torch.no_grad():
            got = model.features(ids).numpy()[0]
        assert np.abs(got - reference).max() <= ATOL, f"width {width}"


def test_short_and_empty_lines_are_defined(model: UtteranceCNN) -> None:
    # Documented: a line shorter than the widest filter reads as padded with [PAD] to that
    # width, so an empty line is the features of five [PAD]s; none of it depends on the batch.
    pad = model.spec.pad_id
    empty = features(model, [[]])[0]
    np.testing.assert_allclose(empty, features(model, [[pad] * 5])[0], atol=ATOL)
    assert np.isfinite(empty).all()
    short = [row(n, seed=20 + n) for n in (1, 2, 3, 4)]
    alone = np.stack([features(model, [r])[0] for r in short])
    assert np.abs(features(model, short + [[]] + [row(60, 9)])[:4] - alone).max() <= ATOL
    # Short lines are still told apart from each other and from the empty line.
    assert len({v.tobytes() for v in np.vstack([alone, empty[None]])}) == 5


def test_lines_longer_than_max_len_are_cut(model: UtteranceCNN) -> None:
    spec = model.spec
    long = row(spec.max_len + 25, seed=7)
    with torch.no_grad():
        raw = model.features(torch.tensor([long])).numpy()[0] if spec.pool == "window" else None
    cut = features(model, [long[: spec.max_len]])[0]
    np.testing.assert_allclose(features(model, [long])[0], cut, atol=ATOL)
    if raw is not None:  # window pooling also cuts ids handed to it directly
        np.testing.assert_allclose(raw, cut, atol=ATOL)


def test_features_are_not_degenerate(model: UtteranceCNN) -> None:
    # Guards the invariance tests above: they would pass trivially on all-zero features.
    feats = features(model, [row(n, seed=30 + n) for n in (0, 2, 5, 9, 30)])
    assert (feats > 0).mean() > 0.2
    assert len({v.tobytes() for v in feats}) == 5


def test_padding_would_change_global_maxima_without_the_mask() -> None:
    # Control: the [PAD] windows do produce different conv maxima, so the mask is what keeps
    # the global-pool features invariant (and the tests above can fail).
    model = make_model("global")
    line = torch.tensor([row(6, seed=40)])
    padded = torch.nn.functional.pad(line, (0, 60))
    with torch.no_grad():
        x, xp = (model.embedding(t).transpose(1, 2) for t in (line, padded))
        changed = any(
            not torch.equal(conv(x).amax(dim=2), conv(xp).amax(dim=2)) for conv in model.convs
        )
    assert changed


def test_dropout_only_in_training() -> None:
    model = make_model("global")
    ids = torch.from_numpy(pad_batch([row(20, 50)] * 2, model.spec))
    model.train()
    with torch.no_grad():
        a, b = model.features(ids), model.features(ids)
    model.eval()
    assert not torch.equal(a, b)


def test_feature_noise_reaches_the_classifier_only_in_training() -> None:
    model = make_model("global")
    model.dropout.p = 0.0  # so that any change comes from the noise
    ids = torch.from_numpy(pad_batch([row(20, 51)] * 2, model.spec))
    with torch.no_grad():
        clean = model.classifier(model.features(ids))
        model.train()
        noisy = model(ids, feature_noise=1.0)
        still = model(ids, feature_noise=0.0)
        model.eval()
        evaluated = model(ids, feature_noise=1.0)
    assert not torch.allclose(noisy, clean, atol=1e-3)
    assert not torch.equal(noisy[0], noisy[1])  # fresh noise for every row
    torch.testing.assert_close(still, clean)
    torch.testing.assert_close(evaluated, clean)
