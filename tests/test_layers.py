"""Imports point one way: each folder may import only the layers below it (pyproject.toml).

    contract  <-  runtime  <-  distributed
                  runtime  <-  training  <-  export
    interface (the root package `cnnfeat`: API and CLI) may import them all

Read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# folder -> (its import name, the cnnfeat layers it may import besides itself)
LAYERS = {
    "contract": ("cnnfeat.contract", set()),
    "runtime": ("cnnfeat.runtime", {"contract"}),
    "distributed": ("cnnfeat.distributed", {"contract", "runtime"}),
    "training": ("cnnfeat.training", {"contract", "runtime"}),
    "export": ("cnnfeat.export", {"contract", "runtime", "training"}),
    "interface": ("cnnfeat", {"contract", "runtime", "distributed", "training", "export"}),
}
# Modules of the root package (folder interface/) are cnnfeat.<name>.
ROOT_MODULES = {p.stem for p in (REPO / "interface").glob("*.py")} - {"__init__", "__main__"}


def layer_of(module: str) -> str | None:
    """The folder a `cnnfeat...` module lives in, or None for anything outside cnnfeat."""
    parts = module.split(".")
    if parts[0] != "cnnfeat":
        return None
    if len(parts) == 1 or parts[1] in ROOT_MODULES:
        return "interface"
    for folder, (name, _) in LAYERS.items():
        if name.split(".")[1:2] == parts[1:2]:
            return folder
    if parts[1] == "models":
        return "contract"  # package data only
    raise AssertionError(f"no layer for {module}")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            found.append((node.lineno, node.module or ""))
    return found


def test_layer_of_names_the_folders() -> None:
    assert layer_of("cnnfeat") == "interface"
    assert layer_of("cnnfeat.cli") == "interface"
    assert layer_of("cnnfeat.contract.spec") == "contract"
    assert layer_of("cnnfeat.training.train") == "training"
    assert layer_of("numpy") is None


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_imports_point_one_way(folder: str) -> None:
    allowed = LAYERS[folder][1] | {folder}
    wrong = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            layer = layer_of(module)
            if layer is not None and layer not in allowed:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert wrong == []


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    # The check itself must be able to fail: an upward import is reported.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from cnnfeat.training.train import train\n", encoding="utf-8")
    ((line, module),) = imported_modules(bad)
    assert (line, layer_of(module)) == (2, "training")
    assert layer_of(module) not in LAYERS["runtime"][1] | {"runtime"}
