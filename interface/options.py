"""Typer options generated from a dataclass's fields (training/config.py's `option` metadata),
so a command's flags, defaults, bounds and help are declared once, on the config.

`with_options(TrainConfig)` gives a command the signature Typer reads: one `--flag` per field
offered on the command line, after the command's own parameters; the command receives them
as keyword arguments, already checked, which `config_values` turns into the config's values.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cnnfeat.training.config import FLOAT32_MAX

F = TypeVar("F", bound=Callable[..., Any])


def with_options(config: type) -> Callable[[F], F]:
    """Decorate a command `f(own params..., **options)`: Typer sees one option per field."""

    def decorate(command: F) -> F:
        own = [
            p
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        hints = typing.get_type_hints(config)
        generated = [
            _parameter(f, hints[f.name])
            for f in dataclasses.fields(config)
            if f.metadata.get("cli", False)
        ]
        # Required options first: Python wants them before those with defaults.
        generated.sort(key=lambda p: p.default is not inspect.Parameter.empty)
        params = generated + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        # inspect.signature (and so Typer) reads __signature__ (PEP 362); mypy's function type
        # has no such attribute, though every function takes it.
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return command

    return decorate


def field_help(config: type, name: str) -> str:
    """The help text a config declares for one of its fields (for options other commands share)."""
    (field,) = [f for f in dataclasses.fields(config) if f.name == name]
    return str(field.metadata["help"])


def config_values(options: dict[str, Any]) -> dict[str, Any]:
    """The parsed options as config values: enums as their strings, paths as str."""
    values = {}
    for name, value in options.items():
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        values[name] = value
    return values


def _parameter(field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    meta = field.metadata
    kind: Any = _base(hint)
    optional = kind is not hint  # X | None
    help_text = meta["help"] or None
    settings: dict[str, Any] = {}
    if meta["choices"]:
        kind = _choices(meta["choices"])
    elif meta["path"]:
        kind = Path
    if kind is bool:  # Click shows "[default: no-multichannel]"; say on/off instead
        on_off = "on" if field.default else "off"
        text = (help_text or "").rstrip(".")
        if text.endswith(")"):  # "(Kim 2014)." -> "(Kim 2014; default: off)."
            help_text = f"{text[:-1]}; default: {on_off})."
        else:
            help_text = f"{text} (default: {on_off}).".lstrip(" ")
        settings["show_default"] = False
    if meta["min"] is not None:
        settings["min"] = meta["min"]
    if meta["max"] is not None:
        settings["max"] = meta["max"]
    if kind is float:
        settings["callback"] = finite
    annotation: Any = Annotated[
        (kind | None) if optional else kind,
        typer.Option(help=help_text, **settings),
    ]
    if field.default is dataclasses.MISSING:
        default: Any = inspect.Parameter.empty
    elif meta["choices"]:
        default = kind(field.default)
    else:
        default = field.default
    return inspect.Parameter(
        field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _choices(values: tuple[str, ...]) -> Any:
    """A str Enum of `values`: Typer shows it as <a|b|c> and refuses anything else."""
    return Enum("Choices", {value: value for value in values}, type=str)


def _base(hint: Any) -> Any:
    """`X` of `X | None`; else the hint itself."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def finite(value: float | None) -> float | None:
    if value is None:
        return value
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    if abs(value) > FLOAT32_MAX:
        raise typer.BadParameter(f"{value:g} is beyond float32's range (±3.4e38)")
    return value
