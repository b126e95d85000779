"""release.py builds its configs from TrainConfig alone, and writes commands that rebuild them."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from cnnfeat.contract.layout import CARD_FILE  # noqa: E402
from cnnfeat.export.release import release_config  # noqa: E402
from cnnfeat.options import config_values  # noqa: E402
from cnnfeat.runtime.model_dir import default_model_dir  # noqa: E402
from cnnfeat.training.config import RECIPE_FIELDS, TrainConfig  # noqa: E402

DATA = Path("../shared/data/meld")


def test_release_configs_are_train_config_defaults_but_data_and_seed() -> None:
    config = release_config(DATA, Path("runs/release/seed-3"), 3)
    own = {"train", "dev", "test", "out", "seed", "command"}
    defaults = TrainConfig(train="t", out="o")
    differ = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if getattr(config, f.name) != getattr(defaults, f.name)
    }
    assert differ <= own
    assert (config.seed, config.dev) == (3, str(DATA / "dev_sent_emo.csv"))
    assert len(RECIPE_FIELDS) >= 15 and "ema_decay" in RECIPE_FIELDS


def test_release_command_parses_back_to_the_same_config() -> None:
    """Every flag release writes is one `cnnfeat train` takes, with the config's value."""
    from typer.main import get_command

    from cnnfeat.cli import app

    config = release_config(DATA, Path("runs/release/seed-2"), 2)
    args = shlex.split(config.command)
    assert args[:2] == ["cnnfeat", "train"]
    command = get_command(app).commands["train"]  # type: ignore[attr-defined]
    ctx = command.make_context("train", args[2:])
    parsed = config_values({k: v for k, v in ctx.params.items() if k != "quiet"})
    assert TrainConfig(**parsed, command=config.command) == config
    for name in RECIPE_FIELDS:  # written out, not left to defaults that may change
        flag = name.replace("_", "-")
        assert f"--{flag}" in args or f"--no-{flag}" in args, name


def test_shipped_model_command_is_what_release_writes() -> None:
    """The shipped card's command (release.py of the time) is rebuilt flag for flag."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    shipped = card["training"]["command"]
    seed = card["seeds"]["shipped_seed"]
    config = release_config(DATA, Path(f"runs/release/seed-{seed}"), seed)
    assert config.command == shipped
