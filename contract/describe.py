"""How messages name what they found, declared once for every layer: a JSON value's type, a
count with its noun, what stands where a file should be, and the first line of another
library's exception (onnxruntime's, tokenizers', PyTorch's, Ray's and pyarrow's run on for
pages)."""

from __future__ import annotations

import os
import stat


def json_type(value: object) -> str:
    """The JSON type of a parsed value, as a message says it: "null", "a boolean", "a number",
    "a string", "an array" or "an object" (anything else `json.loads` cannot give)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: "1 dialogue", "3 dialogues", "0 rows"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def first_line(exc: BaseException) -> str:
    """The first non-blank line of `exc`'s message; its type's name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


MISSING = "is missing"  # what `not_a_file` says of a path where nothing stands


def not_a_file(path: os.PathLike | str) -> str | None:
    """None when `path` is a regular file (through symbolic links); else what stands there, as
    a message says it: MISSING, "is a directory, not a file", "is not a regular file" (a FIFO,
    a device, a symbolic link loop). Compare with MISSING, never with other words."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is not a regular file" if os.path.islink(path) else MISSING
    except OSError:  # a symbolic link loop, a name too long
        return "is not a regular file"
    if stat.S_ISREG(mode):
        return None
    return "is a directory, not a file" if stat.S_ISDIR(mode) else "is not a regular file"
