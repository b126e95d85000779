"""`cnnfeat export` on tiny random models: graph contract, parity, padding, a forced failure."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, _file, invoke, one_error_line, tiny_line

from cnnfeat.runtime.embedder import Embedder

pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
onnx = pytest.importorskip("onnx", reason="the [train] extra (onnx) is not installed")

import torch  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cnnfeat.cli import app  # noqa: E402
from cnnfeat.contract.batching import pad_batch  # noqa: E402
from cnnfeat.contract.spec import ModelSpec  # noqa: E402
from cnnfeat.export import onnx_export  # noqa: E402
from cnnfeat.export.onnx_export import ParityError, validate  # noqa: E402
from cnnfeat.runtime.model_dir import load_model, load_model_dir, sha256_file  # noqa: E402
from cnnfeat.runtime.session import make_session  # noqa: E402

ATOL = 1e-5


def random_rows(spec: ModelSpec, sizes: list[int], seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.integers(2, spec.vocab_size, size=n)] for n in sizes]


def torch_features(tiny: TinyModel, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return tiny.torch_model().features(torch.from_numpy(ids)).numpy()


def test_model_dir_contents_and_card(tiny: TinyModel) -> None:
    names = {p.name for p in tiny.model_dir.iterdir()}
    assert {"cnnfeat.json", "model.onnx", "tokenizer.json", "conformance.json"} <= names
    assert not [n for n in names if n.startswith(".") or n.endswith((".part", ".tmp"))]
    card = json.loads((tiny.model_dir / "cnnfeat.json").read_text())
    assert ModelSpec.from_dict(card["spec"]) == tiny.spec
    assert card["vectors"] == {"source": "test"}
    assert (card["input"], card["output"]) == ("input_ids", "features")
    for name in ("model.onnx", "tokenizer.json"):
        assert card["sha256"][name] == sha256_file(tiny.model_dir / name)
    assert (tiny.model_dir / "tokenizer.json").read_bytes() == (
        tiny.run_dir / "tokenizer.json"
    ).read_bytes()
    proto = onnx.load(str(tiny.model_dir / "model.onnx"))
    assert card["export"]["opset"] == max(o.version for o in proto.opset_import if not o.domain)
    assert 0.0 <= card["export"]["parity_max_abs_diff"] <= ATOL
    # validate's grid: every batch size x every length (window pooling has just one length).
    lengths = 1 if tiny.pool == "window" else len(onnx_export.LENGTHS)
    assert card["export"]["parity_cases"] == len(onnx_export.BATCH_SIZES) * lengths
    assert load_model_dir(tiny.model_dir).spec == tiny.spec


def test_onnx_metadata_holds_the_spec(tiny: TinyModel) -> None:
    proto = onnx.load(str(tiny.model_dir / "model.onnx"))
    props = {p.key: p.value for p in proto.metadata_props}
    assert ModelSpec.from_json(props["cnnfeat.spec"]) == tiny.spec
    assert props["cnnfeat.format_version"] == str(tiny.spec.format_version)
    assert proto.producer_name == "cnnfeat"
    assert not list(tiny.model_dir.glob("*.data"))  # one self-contained file
    onnx.checker.check_model(proto, full_check=True)


def test_graph_inputs_outputs_and_dynamic_axes(tiny: TinyModel) -> None:
    session, provider = make_session(tiny.model_dir / "model.onnx", device="cpu")
    assert provider == "CPUExecutionProvider"
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type) == ("input_ids", "tensor(int64)")
    assert (out.name, out.type) == ("features", "tensor(float)")
    assert isinstance(inp.shape[0], str) and isinstance(out.shape[0], str)  # dynamic batch
    assert out.shape[1] == 100
    if tiny.pool == "window":
        assert inp.shape[1] == 50
    else:
        assert isinstance(inp.shape[1], str)  # dynamic sequence length


def test_dynamic_batch_and_sequence(tiny: TinyModel) -> None:
    spec = tiny.spec
    session, _ = make_session(tiny.model_dir / "model.onnx", device="cpu")
    widths = [spec.max_len] if spec.fixed_len else [5, 6, 33, 300, spec.max_len]
    for batch in (1, 2, 7, 130):
        for width in widths:
            ids = pad_batch(random_rows(spec, [width] * batch, seed=batch * 1000 + width), spec)
            assert ids.shape == (batch, width)
            got = session.run(["features"], {"input_ids": ids})[0]
            assert got.shape == (batch, 100) and got.dtype == np.float32
            assert np.abs(got - torch_features(tiny, ids)).max() <= ATOL


def test_parity_on_mixed_lengths(tiny: TinyModel) -> None:
    spec = tiny.spec
    session, _ = make_session(tiny.model_dir / "model.onnx", device="cpu")
    rng = np.random.default_rng(5)
    worst = 0.0
    for longest in (0, 1, 4, 5, 9, 64, 400, 600):
        sizes = [longest] + [int(n) for n in rng.integers(0, longest + 1, size=9)]
        ids = pad_batch(random_rows(spec, sizes, seed=longest), spec)
        got = session.run(["features"], {"input_ids": ids})[0]
        worst = max(worst, float(np.abs(got - torch_features(tiny, ids)).max()))
        assert (got > 0).any()  # not a vacuous comparison of zeros
    assert worst <= ATOL
    print(f"{tiny.pool}: max |onnx - torch| = {worst:.3g}")


def test_onnx_padding_invariance_through_the_embedder(tiny: TinyModel) -> None:
    embedder = Embedder(tiny.model_dir, device="cpu", batch_size=64)
    lines = ["", "w1", "w1 w2 w3", "w4 w5 w6 w7", tiny_line(5, 3), tiny_line(12, 9)]
    longer = [tiny_line(n, start=n) for n in (80, 300, 700)]
    alone = np.stack([embedder.embed([line])[0] for line in lines])
    together = embedder.embed(longer + lines + longer)[len(longer) : len(longer) + len(lines)]
    worst = float(np.abs(together - alone).max())
    assert worst <= ATOL
    assert len({v.tobytes() for v in alone}) == len(lines)  # lines really differ
    print(f"{tiny.pool}: ONNX padding invariance, max diff {worst:.3g}")


def test_embedder_matches_torch_features(tiny: TinyModel) -> None:
    embedder = Embedder(tiny.model_dir, device="cpu")
    lines = ["W3 w9, w12!", "", "w199 unknownword w0", tiny_line(600)]
    got = embedder.embed(lines)
    for i, ids in enumerate(embedder.tokenize(lines)):
        want = torch_features(tiny, pad_batch([ids], tiny.spec))[0]
        assert np.abs(got[i] - want).max() <= ATOL


@pytest.mark.parametrize("graph", ["matmul", "conv"])
def test_other_graph_kinds(tiny: TinyModel, graph: str, tmp_path: Path) -> None:
    # The default export is checked by every test above; the alternatives must hold up too.
    if graph not in getattr(onnx_export, "GRAPHS", ()):
        pytest.skip(f"this exporter has no {graph!r} graph")
    report = onnx_export.export_model(tiny.run_dir, tmp_path / "m", graph=graph)
    assert report.max_abs_diff <= ATOL
    card = json.loads((tmp_path / "m" / "cnnfeat.json").read_text())
    assert card["export"]["graph"] == graph
    embedder = Embedder(tmp_path / "m", device="cpu")
    lines = ["", "w1", "w1 w2 w3 w4", tiny_line(9, 1)]
    alone = np.stack([embedder.embed([line])[0] for line in lines])
    together = embedder.embed(lines + [tiny_line(400, 2)])[: len(lines)]
    assert np.abs(together - alone).max() <= ATOL
    for i, ids in enumerate(embedder.tokenize(lines)):
        want = torch_features(tiny, pad_batch([ids], tiny.spec))[0]
        assert np.abs(alone[i] - want).max() <= ATOL


# --- forced parity failure -------------------------------------------------------------------


def _off_by(reference, amount: float):
    return lambda ids: reference(ids) + amount


def test_validate_passes_the_real_reference_and_rejects_an_offset(tiny: TinyModel) -> None:
    model = load_model(tiny.model_dir, device="cpu")
    reference = onnx_export._torch_reference(tiny.torch_model())
    diff, cases = validate(model, reference)
    assert 0.0 <= diff <= ATOL and cases > 0
    with pytest.raises(ParityError, match=r"differ by 0\.001"):
        validate(model, _off_by(reference, 1e-3))
    # The tolerance is what decides: the same offset passes a looser one.
    assert validate(model, _off_by(reference, 1e-3), atol=2e-3)[0] < 2e-3


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}"))


def _break_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnx_export._torch_reference
    monkeypatch.setattr(onnx_export, "_torch_reference", lambda m: _off_by(real(m), 1e-3))


def test_export_parity_failure_writes_nothing(
    tiny_window: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_reference(monkeypatch)
    out = tmp_path / "models" / "broken"
    with pytest.raises(ParityError, match="differ by"):
        onnx_export.export_model(tiny_window.run_dir, out)
    assert not out.exists()
    assert list((tmp_path / "models").iterdir()) == []  # no staging directory either

    # An existing model directory survives a failed re-export untouched.
    shutil.copytree(tiny_window.model_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ParityError):
        onnx_export.export_model(tiny_window.run_dir, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(out.parent, out.name) == []


def test_cli_export_parity_failure_exits_1_with_one_line(
    tiny_window: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_reference(monkeypatch)
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["export", str(tiny_window.run_dir), "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnnfeat: error: ")
    assert "differ by 0.001" in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() and _leftovers(tmp_path, out.name) == []


def test_cli_export_of_a_directory_without_checkpoint(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "checkpoint.pt" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


# --- odd arguments and damaged directories: one line naming the user's path, nothing touched


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def run(tiny_global: TinyModel, tmp_path: Path) -> Path:
    """A private copy of the tiny run directory, free to break."""
    return Path(shutil.copytree(tiny_global.run_dir, tmp_path / "run"))


# --- export --out: only a new, empty or model directory ------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda tmp, run: run, "would replace the run directory"),
        (lambda tmp, run: tmp, "would replace the run directory"),  # the parent of the run
        (lambda tmp, run: _folder(tmp / "mine", {"notes.txt": b"my notes"}), "is not empty"),
        (lambda tmp, run: _file(tmp / "model"), "is a file, not a directory"),
        (
            lambda tmp, run: _folder(tmp / "m", {"cnnfeat.json": b"{}", "x.csv": b"1"}),
            "also holds x.csv, which cnnfeat did not write",
        ),
    ],
)
def test_export_refuses_to_replace_what_it_did_not_write(
    run: Path, tmp_path: Path, make, match: str
) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    out = make(tmp_path, run)
    before = tree(tmp_path)
    line = one_error_line(invoke("export", run, "--out", out))
    assert match in line and str(out) in line
    assert tree(tmp_path) == before  # untouched, nothing added beside it


def test_export_dot_inside_an_unrelated_folder(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    folder = _folder(tmp_path / "work", {"data.csv": b"a,b\n"})
    monkeypatch.chdir(folder)
    line = one_error_line(invoke("export", run, "--out", "."))
    assert "is not empty and is not a cnnfeat model directory" in line
    assert tree(folder) == {"data.csv": b"a,b\n"}


@pytest.mark.slow
def test_export_replaces_a_model_directory_and_fills_an_empty_one(
    run: Path, tmp_path: Path, tiny_global: TinyModel
) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    old = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "old"))
    (old / "cnnfeat.json").write_text((old / "cnnfeat.json").read_text().replace("{", "{ ", 1))
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (old, empty):
        result = invoke("export", run, "--out", out)
        assert result.exit_code == 0, result.output
        assert tree(out) == tree(tiny_global.model_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "old", "run"]


@pytest.mark.slow
def test_export_again_over_a_model_directory_with_its_report(run: Path, tmp_path: Path) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    # Export copies the run's report.html into the model directory; exporting again over that
    # directory is replacing what cnnfeat wrote, not touching a stranger's file.
    (run / "report.html").write_text("<p>report</p>", encoding="utf-8")
    out = tmp_path / "model"
    for _ in range(2):
        result = invoke("export", run, "--out", out)
        assert result.exit_code == 0, result.output
    assert (out / "report.html").read_text(encoding="utf-8") == "<p>report</p>"


# --- damaged run directories -----------------------------------------------------------------


NOT_A_CHECKPOINT = (
    "not a readable PyTorch checkpoint (truncated, or not a PyTorch file); "
    "the run directory is damaged: train again or copy it again"
)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("metrics.json", b"{not json", "metrics.json: not valid JSON"),
        ("metrics.json", b"[1, 2]", "metrics.json: not a cnnfeat metrics file"),
        ("metrics.json", b'{"config": "x"}', "field 'config' has the wrong type"),
        ("metrics.json", b'{"config": {"command": 5}}', "'config.command' is not a string"),
        ("checkpoint.pt", b"this is text, not a checkpoint", NOT_A_CHECKPOINT),
        pytest.param("checkpoint.pt", lambda data: data[:683], NOT_A_CHECKPOINT, id="cut-683"),
        # cut short past ~4.3 KB torch raised OSError(22), read as "cannot read: Invalid
        # argument" with no advice
        pytest.param(
            "checkpoint.pt", lambda data: data[: len(data) // 2], NOT_A_CHECKPOINT, id="cut-half"
        ),
        ("tokenizer.json", b'{"x": 1}', "tokenizer.json: not a tokenizers file"),
    ],
)
def test_damaged_run_directory_is_one_line(
    run: Path, tmp_path: Path, name: str, content: bytes | Callable[[bytes], bytes], match: str
) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    path = run / name
    if callable(content):
        assert len(path.read_bytes()) > 8000  # long enough for the second cut to pass 4.3 KB
        content = content(path.read_bytes())
    path.write_bytes(content)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert f"{path}: " in line and match in line and "internal error" not in line
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("name", ["checkpoint.pt", "tokenizer.json", "metrics.json"])
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_directory_in_place_of_a_run_file(run: Path, tmp_path: Path, name: str, kind) -> None:
    """A directory named checkpoint.pt was "no checkpoint.pt here: is this a cnnfeat train run
    directory?"; one named tokenizer.json was "missing"; a FIFO as metrics.json made export
    wait for ever."""
    (run / name).unlink(missing_ok=True)
    if kind == "directory":
        (run / name).mkdir()
    else:
        os.mkfifo(run / name)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    said = "is a directory, not a file" if kind == "directory" else "is not a regular file"
    assert f"{name} {said}" in line, line
    assert not (tmp_path / "model").exists()


def test_a_checkpoint_that_cannot_be_read_is_not_called_damaged(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error (I/O, permission) is the disk's, not damage: said as such, no advice to
    train again. Torch's own OSErrors (a zip cut short) are damage (the test above)."""
    real = Path.open

    def failing(self: Path, *args, **kwargs):
        if self.name == "checkpoint.pt":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert line == f"cnnfeat: error: {run / 'checkpoint.pt'}: cannot read: Input/output error"


def test_checkpoint_with_a_bad_spec(run: Path, tmp_path: Path) -> None:
    """From the odd-commands round (docs/input-rules.md lists each case)."""
    import torch

    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    saved["spec"]["max_len"] = 512.0
    torch.save(saved, run / "checkpoint.pt")
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert "max_len must be an integer, got 512.0" in line


def _drop_fc_bias(state: dict) -> None:
    del state["fc.bias"]


def _shrink_fc_weight(state: dict) -> None:
    state["fc.weight"] = torch.zeros(3, 3)


def _add_an_integer_key(state: dict) -> None:
    state[1] = torch.zeros(1)


def _text_for_weights(state: dict) -> None:
    for name in state:
        state[name] = "x"


def _integer_fc_bias(state: dict) -> None:
    state["fc.bias"] = state["fc.bias"].to(torch.int64)


def _nan_in_the_classifier(state: dict) -> None:
    state["classifier.weight"][0, 0] = float("nan")


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_drop_fc_bias, "its weights do not fit its spec: fc.bias missing; "),
        (_integer_fc_bias, "fc.bias holds torch.int64 values, not floats; "),  # was cast, exit 0
        (_nan_in_the_classifier, "classifier.weight holds NaN or infinity; "),  # was exported
        (_shrink_fc_weight, "fc.weight has shape (3, 3) where the spec needs (100, "),
        (_add_an_integer_key, "its weights do not fit its spec: unexpected weight 1; "),
        (_text_for_weights, "embedding.weight holds a str instead of a tensor, "),
    ],
)
def test_checkpoint_weights_that_do_not_fit_are_named(
    run: Path, tmp_path: Path, damage: Callable[[dict], None], match: str
) -> None:
    """Said "its weights do not fit its spec (Error(s) in loading state_dict for
    UtteranceCNN:)", naming nothing; an integer key was `internal error: AttributeError: 'int'
    object has no attribute 'startswith'`. Found by breaking `cnnfeat export` on purpose."""
    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    damage(saved["state_dict"])
    torch.save(saved, run / "checkpoint.pt")
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    assert line.startswith(f"cnnfeat: error: {run / 'checkpoint.pt'}: ") and match in line, line
    assert line.endswith("; the run directory is damaged: train again or copy it again")
    assert not (tmp_path / "model").exists()


# --- helpers ----------------------------------------------------------------------------------


def _folder(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


# --- one line, typed errors, files kept safe --------------------------------------------------


def _a_file(d: Path) -> str:
    (d / "notes.txt").write_text("x")
    return "notes.txt"


def _a_folder(d: Path) -> str:
    (d / "mine").mkdir()
    (d / "mine" / "a").write_text("x")
    return "mine"


def _a_dangling_link(d: Path) -> str:
    (d / "link").symlink_to(d / "nowhere")
    return "link"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_a_file, "is a file, not a directory"),
        (_a_folder, "is not empty and is not a cnnfeat model directory"),
        (_a_dangling_link, "is a broken symbolic link"),
    ],
)
def test_export_names_out_as_the_user_gave_it(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, match: str
) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    from helpers import invoke, one_error_line

    given = make(tmp_path)
    monkeypatch.chdir(tmp_path)
    line = one_error_line(invoke("export", tiny_global.run_dir, "--out", given))
    assert line.startswith(f"cnnfeat: error: {given} {match}"), line


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ('{"dev": {"accuracy": "x"}}', "field 'dev.accuracy' has the wrong type"),
        ('{"test": {"macro_f1": true}}', "field 'test.macro_f1' has the wrong type"),
        ('{"vectors": {"source": 5}}', "field 'vectors.source' has the wrong type"),
        (None, "metrics.json is a directory, not a file"),  # was silently skipped
    ],
)
def test_export_names_a_damaged_metrics_file_not_a_staging_path(
    tiny_global: TinyModel, tmp_path: Path, metrics: str | None, match: str
) -> None:
    """Found: a score of the wrong type in metrics.json was caught only in the staged card, and
    the message named `.model.staging-PID-XXXX/cnnfeat.json`.
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    import shutil

    from helpers import invoke, one_error_line

    run = Path(shutil.copytree(tiny_global.run_dir, tmp_path / "run"))
    (run / "metrics.json").unlink(missing_ok=True)
    if metrics is None:
        (run / "metrics.json").mkdir()
    else:
        (run / "metrics.json").write_text(metrics)
    line = one_error_line(invoke("export", run, "--out", tmp_path / "model"))
    where = run if metrics is None else run / "metrics.json"
    assert line.startswith(f"cnnfeat: error: {where}: ") and match in line, line
    assert "staging" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- found by trying to break the API surface, tokenize and writing ---------------------------


def test_export_keeps_a_file_added_to_its_out_while_it_runs(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    import shutil

    from cnnfeat import OutputError
    from cnnfeat.export import onnx_export

    out = tmp_path / "model"
    shutil.copytree(tiny_global.model_dir, out)
    real = onnx_export._export_onnx

    def export_then_user_writes(*args, **kwargs):
        real(*args, **kwargs)
        (out / "notes.txt").write_text("mine")

    monkeypatch.setattr(onnx_export, "_export_onnx", export_then_user_writes)
    with pytest.raises(OutputError, match="notes.txt"):
        onnx_export.export_model(tiny_global.run_dir, out)
    assert (out / "notes.txt").read_text() == "mine"
