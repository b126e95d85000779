"""Typed errors. The CLI turns each into one line on stderr and exit code 1.

Library code raises these instead of printing, so the Python API and every host see the same
message; only `cnnfeat.cli` decides how it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass


class CnnfeatError(Exception):
    """Base class: a problem the user can fix, described in one line."""


@dataclass(frozen=True)
class Hint:
    """Advice that names an option, kept apart from the message so that each caller names the
    option it really has (`cnnfeat embed` has --column, `cnnfeat train` --text-column).

    text: the advice, "{option}" where the option goes (it holds no other braces, and no data).
    setting: what the option sets, as the Python API names it ("column", "encoding_errors").
    without: what to say instead where no option sets it ("": nothing).
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


class InputError(CnnfeatError):
    """Bad input data: the message names the file and, where known, the line; `hint`, if any,
    follows it (in str(), naming Hint.default_option; the CLI names its command's own)."""

    def __init__(
        self,
        message: str,
        path: str | None = None,
        line: int | None = None,
        hint: Hint | None = None,
    ):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        self.where, self.message, self.hint = where, message, hint
        super().__init__(self.text(hint.default_option if hint is not None else None))
        self.path = path
        self.line = line

    def text(self, option: str | None) -> str:
        """The whole line, the hint naming `option` (None: the command has no such option)."""
        return self.where + self.message + ("" if self.hint is None else self.hint.render(option))


class ArgumentError(InputError, ValueError):
    """A wrong argument to the Python API (a ValueError too, as Python's own checks raise)."""


class ModelError(CnnfeatError):
    """The model directory is missing, damaged, or does not match its spec."""


class DeviceError(CnnfeatError):
    """The requested execution provider cannot really run here."""


class OutputError(CnnfeatError):
    """The output could not be written (unknown format, unwritable directory, disk full)."""
