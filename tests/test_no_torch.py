"""The runtime never imports torch: `import cnnfeat`, every contract and runtime module,
Embedder, `embed`.

Checked in a fresh interpreter (this one has torch loaded by other tests), twice: once as is, so
an optional `try: import torch` anywhere would show up in sys.modules, and once with a meta-path
finder that makes any torch import raise, so an unconditional import fails loudly.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import has_module

from cnnfeat.runtime.model_dir import default_model_dir

SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys
    from pathlib import Path

    model_dir, work, block = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "block"

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"the runtime imported {name}")
            return None

    if block:
        sys.meta_path.insert(0, NoTorch())

    def torch_loaded():
        return sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))

    import cnnfeat
    import cnnfeat.contract, cnnfeat.runtime
    for package in (cnnfeat.contract, cnnfeat.runtime):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(package.__name__ + "." + module.name)
    assert torch_loaded() == [], torch_loaded()

    embedder = cnnfeat.Embedder(model_dir, device="cpu")
    assert embedder.embed(["I can't believe it!", ""]).shape == (2, embedder.dim)

    from typer.testing import CliRunner
    from cnnfeat.cli import app

    text = work / "in.txt"
    text.write_text("Oh my God!\\n\\nHow you doin'?\\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["embed", str(text), "--model", str(model_dir), "-q",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (work / "in.npy").is_file()
    result = CliRunner().invoke(app, ["info", str(model_dir)])
    assert result.exit_code == 0, result.output

    assert torch_loaded() == [], torch_loaded()
    if block:
        # Controls: the blocker really blocks, so the checks above could have failed.
        for name in ("torch", "cnnfeat.training.model", "cnnfeat.export.onnx_export"):
            try:
                importlib.import_module(name)
            except ImportError:
                pass
            else:
                raise SystemExit(f"the torch blocker let {name} through")
        result = CliRunner().invoke(app, ["train", "--train", str(text), "--out", str(work)])
        assert result.exit_code == 1 and "'.[train]'" in result.output, result.output
    print("NO TORCH OK")
    """
)


@pytest.fixture(scope="module")
def runtime_model(request: pytest.FixtureRequest) -> Path:
    """A model directory: the tiny exported one where torch can build it, else the shipped one."""
    if has_module("torch") and has_module("onnx"):
        return request.getfixturevalue("tiny_global").model_dir
    shipped = default_model_dir()
    if (shipped / "model.onnx").is_file():
        return shipped
    pytest.skip("no model directory to embed with (no torch to build one, no shipped model)")


@pytest.mark.parametrize("mode", ["observe", "block"])
def test_runtime_never_imports_torch(runtime_model: Path, tmp_path: Path, mode: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(runtime_model), str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "NO TORCH OK" in run.stdout


def test_python_dash_m_embed_without_torch(runtime_model: Path, tmp_path: Path) -> None:
    # The real entry point, in a fresh interpreter, with torch made unimportable.
    (tmp_path / "in.txt").write_text("hello there\n", encoding="utf-8")
    code = textwrap.dedent(
        """
        import importlib.abc, runpy, sys
        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError(name)
        sys.meta_path.insert(0, NoTorch())
        sys.argv = ["cnnfeat", *sys.argv[1:]]
        try:
            runpy.run_module("cnnfeat", run_name="__main__")
        finally:
            assert "torch" not in sys.modules
        """
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "embed",
            str(tmp_path / "in.txt"),
            "--model",
            str(runtime_model),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "embedded 1 row in " in run.stderr
    assert (tmp_path / "in.npy").is_file()
