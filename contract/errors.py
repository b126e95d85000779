"""Typed errors. The CLI turns each into one line on stderr and exit code 1.

Library code raises these instead of printing, so the Python API and every host see the same
message; only `cnnfeat.cli` decides how it is shown. An error keeps its parts apart (what went
wrong, where, what to do); code that adds context makes a new error from them (`replace`),
never edits the text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

_E = TypeVar("_E", bound="CnnfeatError")


@dataclass(frozen=True)
class Hint:
    """Advice that names an option, kept apart from the message so that each caller names the
    option it really has (`cnnfeat embed` has --column, `cnnfeat train` --text-column).

    text: the advice, "{option}" where the option goes (it holds no other braces, and no data).
    setting: what the option sets, as the Python API names it ("column", "encoding_errors").
    without: the advice where no option sets it ("": none).
    """

    text: str
    setting: str
    without: str = ""

    def render(self, option: str | None) -> str:
        """The advice naming `option` (e.g. "--text-column"), or `without` for None."""
        return self.without if option is None else self.text.format(option=option)

    @property
    def default_option(self) -> str:
        """The option as `cnnfeat embed` spells it: --column, --encoding-errors."""
        return "--" + self.setting.replace("_", "-")


class CnnfeatError(Exception):
    """Base class: a problem the user can fix, described in one line.

    Fields (read-only; `replace` makes a changed copy):
        what: what went wrong ("" where the advice says it all).
        path: where: the file (str, as the user named it) or None; line: its 1-based line or None.
        advice: what to do: a str, a `Hint` (naming an option of the running command), or None.

    str(exc) is the line users see: "PATH:LINE: WHAT; ADVICE" ("PATH: " without a line, no
    prefix without a path; empty parts and their "; " left out), a Hint naming
    Hint.default_option; the CLI renders it with its command's own option (`text`).
    """

    def __init__(
        self,
        what: str,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        *,
        advice: str | Hint | None = None,
    ) -> None:
        self.what = what
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.advice = advice
        super().__init__(self.text(advice.default_option if isinstance(advice, Hint) else None))

    def text(self, option: str | None) -> str:
        """The whole line, a Hint's advice naming `option` (None: the command has no such
        option, so the Hint's `without`)."""
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        advice = self.advice.render(option) if isinstance(self.advice, Hint) else self.advice
        return where + "; ".join(part for part in (self.what, advice) if part)

    def replace(self: _E, **changes: Any) -> _E:
        """A copy of this error (same type) with some of `path`, `line`, `advice` changed: the
        way to add context to an error, never by editing its text."""
        fields = {"path": self.path, "line": self.line, "advice": self.advice, **changes}
        return type(self)(self.what, fields["path"], fields["line"], advice=fields["advice"])


class InputError(CnnfeatError):
    """Bad input data: `path` names the file and, where known, `line` the line."""


class ArgumentError(InputError, ValueError):
    """A wrong argument to the Python API (a ValueError too, as Python's own checks raise)."""


class ModelError(CnnfeatError):
    """The model directory is missing, damaged, or does not match its spec."""


class DeviceError(CnnfeatError):
    """The requested execution provider cannot really run here."""


class OutputError(CnnfeatError):
    """The output could not be written (unknown format, unwritable directory, disk full)."""
