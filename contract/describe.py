"""How messages name what they found, declared once for every layer: a JSON value's type, a
count with its noun, and the first line of another library's exception (onnxruntime's,
tokenizers', PyTorch's, Ray's and pyarrow's run on for pages)."""

from __future__ import annotations


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
