"""Typed errors. The CLI turns each into one line on stderr and exit code 1.

Library code raises these instead of printing, so the Python API and every host see the same
message; only `cnnfeat.cli` decides how it is shown.
"""

from __future__ import annotations


class CnnfeatError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class InputError(CnnfeatError):
    """Bad input data: the message names the file and, where known, the line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ArgumentError(InputError, ValueError):
    """A wrong argument to the Python API (a ValueError too, as Python's own checks raise)."""


class ModelError(CnnfeatError):
    """The model directory is missing, damaged, or does not match its spec."""


class DeviceError(CnnfeatError):
    """The requested execution provider cannot really run here."""


class OutputError(CnnfeatError):
    """The output could not be written (unknown format, unwritable directory, disk full)."""
