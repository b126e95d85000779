"""`cnnfeat.Embedder`: input order, batching, and refusing model directories that don't add up."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from helpers import SETTINGS, TEXT, TinyModel, oracle_lines, read_file, tiny_line
from hypothesis import example, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat.contract.errors import ArgumentError, DeviceError, ModelError
from cnnfeat.contract.tokenizer import build_tokenizer
from cnnfeat.runtime.model_dir import default_model_dir, sha256_file
from cnnfeat.runtime.session import cuda_driver_problem

ATOL = 1e-5

LINES = [
    tiny_line(40, 1),
    "",
    "w3",
    tiny_line(7, 2),
    "W5 w6, w7!",
    tiny_line(130, 3),
    "   ",
    "w8 w9",
    tiny_line(5, 4),
    "unknown words only",
    tiny_line(7, 2),  # a repeat
]


def copy_model(tiny: TinyModel, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny.model_dir, tmp_path / "model"))


def rewrite_card(model_dir: Path, **changes) -> None:
    path = model_dir / "cnnfeat.json"
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


def test_public_api(tiny: TinyModel) -> None:
    embedder = cnnfeat.Embedder(tiny.model_dir, device="cpu")
    out = embedder.embed(["w1 w2", "w3"])
    assert out.shape == (2, 100) and out.dtype == np.float32
    assert embedder.dim == 100
    assert embedder.spec == tiny.spec
    assert embedder.provider == "CPUExecutionProvider"
    assert embedder.embed([]).shape == (0, 100)


def test_order_restored_and_batching_does_not_matter(tiny: TinyModel) -> None:
    one_by_one = np.stack(
        [cnnfeat.Embedder(tiny.model_dir, device="cpu").embed([line])[0] for line in LINES]
    )
    for batch_size in (1, 2, 3, 256):
        embedder = cnnfeat.Embedder(tiny.model_dir, device="cpu", batch_size=batch_size)
        got = embedder.embed(LINES)
        assert np.abs(got - one_by_one).max() <= ATOL, batch_size
        # Reversed input gives reversed rows: rows follow the input, not the sorted order.
        assert np.abs(embedder.embed(LINES[::-1]) - got[::-1]).max() <= ATOL
    np.testing.assert_array_equal(one_by_one[3], one_by_one[10])
    np.testing.assert_array_equal(one_by_one[1], one_by_one[6])  # "" and "   "
    assert len({row.tobytes() for row in one_by_one}) == len(LINES) - 2  # nothing else collides


def test_empty_lines_give_the_same_row(tiny: TinyModel) -> None:
    out = cnnfeat.Embedder(tiny.model_dir, device="cpu").embed(["", "   ", "\t", tiny_line(9)])
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    assert np.isfinite(out).all()


def test_truncation_follows_the_spec(tiny: TinyModel) -> None:
    embedder = cnnfeat.Embedder(tiny.model_dir, device="cpu")
    assert max(len(r) for r in embedder.tokenize([tiny_line(2000)])) == tiny.spec.max_len
    words = tiny_line(tiny.spec.max_len + 40).split()
    full, cut = embedder.embed([" ".join(words), " ".join(words[: tiny.spec.max_len])])
    assert np.abs(full - cut).max() <= ATOL


def test_bad_batch_size(tiny_global: TinyModel) -> None:
    with pytest.raises(ValueError):
        cnnfeat.Embedder(tiny_global.model_dir, batch_size=0)


def test_devices(tiny_global: TinyModel) -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        cnnfeat.Embedder(tiny_global.model_dir, device="tpu")
    problem = cuda_driver_problem()
    auto = cnnfeat.Embedder(tiny_global.model_dir, device="auto")
    if problem is None:
        pytest.skip("CUDA is usable here; the no-CUDA error path cannot be exercised")
    assert auto.provider == "CPUExecutionProvider"
    # Asking for CUDA where it cannot start is an error that says why, never a quiet CPU run.
    with pytest.raises(DeviceError, match="--device cuda: ") as info:
        cnnfeat.Embedder(tiny_global.model_dir, device="cuda")
    assert problem in str(info.value)


# --- refusing broken model directories -------------------------------------------------------


def test_tokenizer_from_another_model(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = copy_model(tiny_global, tmp_path)
    other = build_tokenizer([f"x{i}" for i in range(50)], True, 512)
    other.save(str(model / "tokenizer.json"))
    # Caught by the checksum first...
    with pytest.raises(ModelError, match=r"tokenizer\.json .*sha256"):
        cnnfeat.Embedder(model, device="cpu")
    # ...and by the vocabulary size even when someone "fixes" the checksum too.
    card = json.loads((model / "cnnfeat.json").read_text())
    sha = card["sha256"] | {"tokenizer.json": sha256_file(model / "tokenizer.json")}
    rewrite_card(model, sha256=sha)
    with pytest.raises(ModelError, match="another model"):
        cnnfeat.Embedder(model, device="cpu")


def test_tokenizer_of_the_other_pool_mode_with_same_vocab_loads(
    tiny_global: TinyModel, tiny_window: TinyModel, tmp_path: Path
) -> None:
    # Control for the test above: the same words (same size) are accepted; truncation is reset
    # from the spec, so the window model's tokenizer.json cut at 50 does not leak into global.
    assert tiny_window.spec.vocab_size == tiny_global.spec.vocab_size
    model = copy_model(tiny_global, tmp_path)
    shutil.copyfile(tiny_window.model_dir / "tokenizer.json", model / "tokenizer.json")
    card = json.loads((model / "cnnfeat.json").read_text())
    rewrite_card(
        model, sha256=card["sha256"] | {"tokenizer.json": sha256_file(model / "tokenizer.json")}
    )
    swapped = cnnfeat.Embedder(model, device="cpu")
    assert swapped.tokenizer.truncation["max_length"] == 512
    long_line = tiny_line(130, 3)
    assert len(swapped.tokenize([long_line])[0]) > 50
    original = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    np.testing.assert_array_equal(swapped.embed([long_line]), original.embed([long_line]))


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_sha_mismatch(tiny_global: TinyModel, tmp_path: Path, name: str) -> None:
    model = copy_model(tiny_global, tmp_path)
    data = bytearray((model / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (model / name).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=rf"{re.escape(name)} .*sha256"):
        cnnfeat.Embedder(model, device="cpu")


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "cnnfeat.json"])
def test_missing_file(tiny_global: TinyModel, tmp_path: Path, name: str) -> None:
    model = copy_model(tiny_global, tmp_path)
    (model / name).unlink()
    with pytest.raises(ModelError, match=f"{name} is missing"):
        cnnfeat.Embedder(model, device="cpu")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        cnnfeat.Embedder(tmp_path / "nowhere", device="cpu")


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"format_version": 1}', "'spec'"),
        ("[]", "'spec'"),
    ],
)
def test_damaged_card(tiny_global: TinyModel, tmp_path: Path, card: str, match: str) -> None:
    model = copy_model(tiny_global, tmp_path)
    (model / "cnnfeat.json").write_text(card)
    with pytest.raises(ModelError, match=match):
        cnnfeat.Embedder(model, device="cpu")


def test_card_without_checksums(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = copy_model(tiny_global, tmp_path)
    rewrite_card(model, sha256={})
    with pytest.raises(ModelError, match="records no sha256"):
        cnnfeat.Embedder(model, device="cpu")


def test_spec_that_does_not_fit_the_graph(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = copy_model(tiny_global, tmp_path)
    card = json.loads((model / "cnnfeat.json").read_text())
    rewrite_card(model, spec=card["spec"] | {"feature_dim": 64})
    with pytest.raises(ModelError, match="does not match its spec"):
        cnnfeat.Embedder(model, device="cpu")


def test_newer_format_is_refused(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = copy_model(tiny_global, tmp_path)
    card = json.loads((model / "cnnfeat.json").read_text())
    rewrite_card(model, spec=card["spec"] | {"format_version": 99})
    with pytest.raises(ModelError, match="newer.*upgrade"):
        cnnfeat.Embedder(model, device="cpu")


def test_onnx_file_that_is_not_a_model(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = copy_model(tiny_global, tmp_path)
    (model / "model.onnx").write_bytes(b"definitely not protobuf")
    card = json.loads((model / "cnnfeat.json").read_text())
    rewrite_card(model, sha256=card["sha256"] | {"model.onnx": sha256_file(model / "model.onnx")})
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        cnnfeat.Embedder(model, device="cpu")


# --- the shipped default model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Path:
    path = default_model_dir()
    if not (path / "model.onnx").is_file():
        pytest.skip(f"no shipped default model at {path} yet")
    return path


def test_shipped_model_loads_by_default(shipped: Path) -> None:
    embedder = cnnfeat.Embedder(device="cpu")
    assert embedder.model_dir.path == shipped
    out = embedder.embed(["Oh my God!", "", "I can\u2019t believe it\u2026"])
    assert out.shape == (3, 100) and out.dtype == np.float32
    assert np.isfinite(out).all() and (out > 0).any()
    assert embedder.spec.feature_dim == 100
    assert set(embedder.spec.label_names) == {
        "anger",
        "disgust",
        "fear",
        "joy",
        "neutral",
        "sadness",
        "surprise",
    }


def test_shipped_model_size(shipped: Path) -> None:
    total = sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file())
    assert total <= 16 * 2**20, f"{total / 2**20:.1f} MiB"


def test_shipped_model_card(shipped: Path) -> None:
    card = json.loads((shipped / "cnnfeat.json").read_text())
    test_f1 = card["metrics"]["test"]["weighted_f1"]
    assert 0.0 < test_f1 <= 1.0
    command = card["training"]["command"]  # the exact command that rebuilds this run
    assert command.startswith("cnnfeat train ") and "--seed" in command, command
    seeds = card.get("seeds")
    if seeds is None:
        pytest.skip("the card has no 5-seed summary ('seeds') yet")
    # Five runs' test weighted-F1, their mean and std; the median run on dev is the one shipped.
    runs = seeds["runs"]
    assert len(runs) == 5
    scores = [run["test_weighted_f1"] for run in runs]
    assert seeds["test_weighted_f1_mean"] == pytest.approx(statistics.mean(scores))
    assert seeds["test_weighted_f1_std"] == pytest.approx(statistics.stdev(scores))
    median_on_dev = sorted(runs, key=lambda run: run["dev_weighted_f1"])[2]
    assert median_on_dev["seed"] == seeds["shipped_seed"]
    shipped_run = next(run for run in runs if run["seed"] == seeds["shipped_seed"])
    assert shipped_run["test_weighted_f1"] == pytest.approx(test_f1)


def test_pickles_as_its_directory_and_options_across_a_spawn_pool(tiny_global: TinyModel) -> None:
    """An Embedder sent to a `multiprocessing` spawn pool loads its model again there and gives
    the parent's features bit for bit. (Before, pickling raised onnxruntime's own TypeError.)"""
    import multiprocessing
    import pickle

    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu", batch_size=3, threads=1)
    lines = [tiny_line(n, n) for n in range(1, 40)] + ["", "unknown words only"]
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy.model_dir.path.samefile(tiny_global.model_dir)
    assert (copy._batch_size, copy.provider) == (3, "CPUExecutionProvider")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        # Embedder.embed goes by reference; the instance by __reduce__
        remote = pool.apply(cnnfeat.Embedder.embed, (embedder, lines))
    np.testing.assert_array_equal(remote, embedder.embed(lines))
    assert remote.dtype == np.float32 and remote.shape == (len(lines), 100)


def test_the_shipped_model_pickles_as_no_path() -> None:
    """The shipped model travels as None, so the other side loads its own installed copy."""
    import pickle

    embedder = cnnfeat.Embedder(device="cpu")
    assert embedder.__reduce__()[1][0] is None
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy.model_dir.path == embedder.model_dir.path
    np.testing.assert_array_equal(copy.embed(["Oh my God!"]), embedder.embed(["Oh my God!"]))


# --- property tests (hypothesis): arbitrary text -----------------------------------------


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu", batch_size=4)


@settings(max_examples=300, **SETTINGS)
@given(TEXT)
@example("")
@example("\ufeff\r\n\x00\u2028")
def test_any_text_embeds_one_finite_nonnegative_row_per_line(embedder, text: str) -> None:
    lines = read_file(text.encode("utf-8"))
    assert lines == [b.decode() for b in oracle_lines(text.encode("utf-8"))]
    features = embedder.embed(lines)
    assert features.shape == (len(lines), 100) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()
    ids = embedder.tokenize(lines)
    assert all(0 < i < embedder.spec.vocab_size for row in ids for i in row)  # never [PAD]=0


@settings(max_examples=100, **SETTINGS)
@given(st.lists(TEXT, max_size=20))
def test_any_lines_embed_in_order(embedder, lines: list[str]) -> None:
    # Each line alone gives the same row as in a batch: nothing leaks between lines.
    together = embedder.embed(lines)
    alone = np.array([embedder.embed([line])[0] for line in lines]).reshape(-1, 100)
    assert np.abs(together - alone).max(initial=0) <= 1e-5


# --- one line, typed errors, files kept safe --------------------------------------------------


@pytest.mark.parametrize("model_dir", [5, b"model", ["model"]])
def test_embedder_model_dir_of_a_wrong_type(model_dir: object) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    with pytest.raises(ArgumentError, match="model_dir must be a path"):
        cnnfeat.Embedder(model_dir)  # type: ignore[arg-type]


def test_embedder_accepts_a_path_like(tiny_global: TinyModel) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    assert cnnfeat.Embedder(Path(tiny_global.model_dir), device="cpu").dim == 100


# --- numeric arguments are checked at construction ----------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 2.5}, "batch_size must be an integer from 1 to"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"max_tokens": 10**12}, "max_tokens"),
        ({"threads": 99999999999}, "threads must be an integer from 1 to 1024"),
        ({"threads": 1.0}, "threads"),
        ({"fp16": "yes"}, "fp16 must be True or False"),
    ],
)
def test_numeric_arguments_are_checked_at_construction(
    tiny_global: TinyModel, kwargs: dict, match: str
) -> None:
    """From the round on the API's input and the program's files and first moment."""
    with pytest.raises(ArgumentError, match=match):
        cnnfeat.Embedder(tiny_global.model_dir, **kwargs)
    assert issubclass(ArgumentError, cnnfeat.InputError) and issubclass(ArgumentError, ValueError)
