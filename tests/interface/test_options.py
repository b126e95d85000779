"""`cnnfeat train`'s options come from TrainConfig's fields (interface/options.py): names,
defaults, bounds, choices and help are declared once, on the config."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from helpers import invoke
from typer.main import get_command
from typer.testing import CliRunner

from cnnfeat.cli import PlainHelp, app
from cnnfeat.contract.spec import DEFAULT_MAX_LEN
from cnnfeat.options import config_values, with_options
from cnnfeat.training.config import TrainConfig, option


def _help(command_app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(command_app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # one line: wrapping does not matter


def test_train_help_shows_every_train_config_default() -> None:
    text = _help(app, "train")
    options = {p.name for p in get_command(app).commands["train"].params}  # type: ignore[attr-defined]
    for field in dataclasses.fields(TrainConfig):
        if not field.metadata["cli"]:
            assert field.name not in options, field.name
            continue
        assert field.name in options, field.name
        default = field.default
        if default is dataclasses.MISSING or default is None:
            continue
        if isinstance(default, bool):
            shown = f"default: {'on' if default else 'off'})"
        else:
            shown = f"[default: {default}"
        assert shown in text, (field.name, shown)
    assert (
        f"(default {DEFAULT_MAX_LEN['global']} global, {DEFAULT_MAX_LEN['window']} window)" in text
    )


@dataclass(frozen=True)
class _Changed(TrainConfig):
    """TrainConfig with other defaults and bounds: the command must follow them."""

    epochs: int = option(7, min=2, max=9)
    multichannel: bool = option(True, "Two copies.")
    pool: str = option("window", choices=("global", "window"))


def _changed_app(seen: list[dict[str, Any]]) -> typer.Typer:
    changed = typer.Typer()

    @changed.command(cls=PlainHelp)
    @with_options(_Changed)
    def run(**options: Any) -> None:
        seen.append(config_values(options))

    return changed


def test_a_changed_default_changes_help_and_parsing() -> None:
    seen: list[dict[str, Any]] = []
    changed = _changed_app(seen)
    text = _help(changed)
    assert "[default: 7; 2<=x<=9]" in text
    assert "Two copies (default: on)." in text
    assert re.search(r"--pool \[?<?global\|window>?\]? .*\[default: window\]", text)
    result = CliRunner().invoke(changed, ["--train", "t.csv", "--out", "o"])
    assert result.exit_code == 0, result.output
    config = _Changed(**seen[0])
    assert (config.epochs, config.multichannel, config.pool) == (7, True, "window")
    assert (config.train, config.out) == ("t.csv", "o")  # str, as the config declares
    for bad in (["--epochs", "10"], ["--pool", "diagonal"], ["--lr", "inf"], ["--lr", "1e39"]):
        result = CliRunner().invoke(changed, ["--train", "t", "--out", "o", *bad])
        assert result.exit_code == 2, (bad, result.output)


# --- one line, typed errors, files kept safe --------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", str(2**32), "99999999999999999999"])
def test_train_seed_out_of_range_is_a_usage_error(tmp_path: Path, seed: str) -> None:
    """Found: `--seed -1` trained up to seeding, then said `internal error: ValueError`.
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    from helpers import invoke

    result = invoke(
        "train", "--train", tmp_path / "absent.csv", "--out", tmp_path / "run", "--seed", seed
    )
    assert result.exit_code == 2, result.output
    assert "--seed" in result.output and "internal error" not in result.output


# --- absurd option values are usage errors ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["embed", "x.txt", "--threads", "99999999999"],
        ["embed", "x.txt", "--batch-size", "10000000000000"],
        ["train", "--train", "x.csv", "--out", "r", "--lr", "nan"],
        ["train", "--train", "x.csv", "--out", "r", "--batch-size", "99999999999"],
        ["train", "--train", "x.csv", "--out", "r", "--max-len", "99999999999"],
        ["export", "r", "--out", "m", "--atol", "inf"],
        ["embed-dataset", "x", "-o", "y", "--workers", "99999999999"],
    ],
)
def test_absurd_option_values_are_usage_errors(args: list[str]) -> None:
    """From the round on the API's input and the program's files and first moment."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
