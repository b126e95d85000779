"""ModelSpec, the contract of training, export and the runtime: JSON round trip and checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cnnfeat.contract.errors import ModelError
from cnnfeat.contract.spec import FORMAT_VERSION, ModelSpec

SPECS = [
    ModelSpec(vocab_size=400_002, embedding_dim=50),
    ModelSpec(
        vocab_size=1234,
        embedding_dim=300,
        filter_sizes=(2, 3, 4, 5),
        feature_maps=100,
        pool="window",
        max_len=40,
        feature_dim=64,
        lowercase=False,
        label_names=("neutral", "joy", "anger"),
        dropout=0.3,
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=["defaults", "everything-set"])
def test_json_round_trip(spec: ModelSpec) -> None:
    text = spec.to_json()
    again = ModelSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    # Plain JSON types only, so any host (Node, C, the browser) can read it.
    assert json.loads(text) == spec.to_dict()
    assert isinstance(json.loads(text)["filter_sizes"], list)


def test_json_lists_become_tuples_and_the_spec_is_hashable() -> None:
    spec = ModelSpec.from_json(
        json.dumps({"vocab_size": 10, "embedding_dim": 4, "label_names": ["a", "b"]})
    )
    assert spec.filter_sizes == (3, 4, 5)
    assert spec.label_names == ("a", "b")
    assert hash(spec) == hash(ModelSpec(vocab_size=10, embedding_dim=4, label_names=("a", "b")))


def test_defaults_are_the_papers_network() -> None:
    spec = ModelSpec(vocab_size=10, embedding_dim=50)
    assert spec.filter_sizes == (3, 4, 5)
    assert spec.feature_maps == 50
    assert spec.feature_dim == 100
    assert (spec.pad_id, spec.unk_id) == (0, 1)
    assert spec.format_version == FORMAT_VERSION
    assert spec.min_len == 5
    assert spec.fixed_len is None
    assert spec.pooled_dim == 150
    assert ModelSpec(vocab_size=10, embedding_dim=50, pool="window", max_len=50).fixed_len == 50


def test_frozen() -> None:
    spec = SPECS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.pool = "window"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.vocab_size = 3  # type: ignore[misc]


def test_unknown_field_is_refused() -> None:
    d = SPECS[0].to_dict() | {"attention_heads": 8}
    with pytest.raises(ModelError, match="unknown fields.*attention_heads"):
        ModelSpec.from_dict(d)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 99, "1", None])
def test_newer_or_malformed_format_version_is_refused(version: object) -> None:
    d = SPECS[0].to_dict() | {"format_version": version}
    with pytest.raises(ModelError, match="format_version must be an integer|newer cnnfeat"):
        ModelSpec.from_dict(d)


def test_missing_format_version_means_the_current_one() -> None:
    d = SPECS[0].to_dict()
    del d["format_version"]
    assert ModelSpec.from_dict(d) == SPECS[0]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"pool": "average"}, "pool must be one of"),
        ({"pool": "Global"}, "pool must be one of"),
        ({"filter_sizes": []}, "filter_sizes"),
        ({"filter_sizes": [0, 3]}, "filter_sizes"),
        ({"vocab_size": 1}, "positive"),
        ({"embedding_dim": 0}, "positive"),
        ({"feature_maps": 0}, "positive"),
        ({"feature_dim": 0}, "feature_dim"),
        ({"pool": "window", "max_len": 50, "pool_window": 0}, "pool_window"),
        ({"max_len": 4}, "shorter than the widest filter"),
        ({"pool": "window", "max_len": 5}, "too short for window pooling"),
        # Bounds at their edges: dropout 1.0 zeroes every feature in training; an id equal to
        # vocab_size has no row in the embedding.
        ({"dropout": 1.0}, "dropout must be in"),
        ({"dropout": -0.1}, "dropout must be in"),
        ({"pad_id": 400_002}, "pad_id and unk_id"),
        ({"unk_id": 400_002}, "pad_id and unk_id"),
        ({"unk_id": -1}, "pad_id and unk_id"),
    ],
)
def test_invalid_values_are_model_errors(change: dict, match: str) -> None:
    d = SPECS[0].to_dict() | change
    with pytest.raises(ModelError, match=match):
        ModelSpec.from_dict(d)
    with pytest.raises(ModelError, match=match):
        ModelSpec.from_json(json.dumps(d))


def test_values_just_inside_the_bounds_are_accepted() -> None:
    d = SPECS[0].to_dict() | {"dropout": 0.0, "pad_id": 400_001, "unk_id": 0}
    assert ModelSpec.from_dict(d).pad_id == 400_001


def test_incomplete_spec() -> None:
    with pytest.raises(ModelError, match="incomplete"):
        ModelSpec.from_dict({"vocab_size": 10})


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "null", '"spec"'])
def test_not_a_json_object(text: str) -> None:
    with pytest.raises(ModelError):
        ModelSpec.from_json(text)


def test_max_len_defaults_per_pool() -> None:
    """The default max_len is the pool's (DEFAULT_MAX_LEN, on the spec): ModelSpec(pool="window")
    used to get the global 512 while `cnnfeat train --pool window` got 50."""
    from cnnfeat.contract.spec import DEFAULT_MAX_LEN

    assert DEFAULT_MAX_LEN == {"global": 512, "window": 50}
    assert ModelSpec(vocab_size=10, embedding_dim=4).max_len == 512
    assert ModelSpec(vocab_size=10, embedding_dim=4, pool="window").max_len == 50
    assert ModelSpec(vocab_size=10, embedding_dim=4, pool="window", max_len=60).max_len == 60
    spec = ModelSpec.from_dict({"vocab_size": 10, "embedding_dim": 4, "pool": "window"})
    assert spec.max_len == 50 and spec.to_dict()["max_len"] == 50  # recorded, never a default
    with pytest.raises(ModelError, match="max_len must be an integer, got None"):
        ModelSpec.from_dict({"vocab_size": 10, "embedding_dim": 4, "max_len": None})
    with pytest.raises(ModelError, match="pool must be one of"):
        ModelSpec(vocab_size=10, embedding_dim=4, pool="median")
