"""Spec errors: where in which document something is wrong, and what."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

PathPart = str | int


def format_path(parts: Iterable[PathPart]) -> str:
    """Render path parts as `ops[1].dependencies[0]` (odd keys are quoted)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def describe(value: object, limit: int = 40) -> str:
    """A short, exact rendering of a user's value for error messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    if len(text) <= limit:
        return text
    closing = text[-1] if text[-1] in "'\"" else ""  # a string's quote, kept
    return text[: limit - 3 - len(closing)] + "..." + closing


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` when a choice is close to the misspelled word."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def choices_text(choices: Iterable[str], limit: int = 20) -> str:
    """The valid choices, shortened for long lists (a pipeline of 10,000 ops)."""
    items = list(choices)
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"
    return ", ".join(items) or "none"


@dataclass(frozen=True, order=True)
class SpecError:
    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.path, self.message) if part)


class SpecValidationError(Exception):
    """Every error found in a set of documents, reported together."""

    def __init__(self, errors: Sequence[SpecError]):
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def flatten_messages(messages: object, prefix: tuple[PathPart, ...] = ()) -> list[tuple[tuple, str]]:
    """Turn marshmallow's nested error dict into (path parts, message) pairs.

    `_schema` errors belong to the object that holds them, so they take the
    parent's path.
    """
    if isinstance(messages, Mapping):
        pairs = []
        for key, value in messages.items():
            part = () if key == "_schema" else (key if isinstance(key, int) else str(key),)
            pairs.extend(flatten_messages(value, prefix + part))
        return pairs
    if isinstance(messages, list | tuple):
        pairs = []
        for item in messages:
            pairs.extend(flatten_messages(item, prefix))
        return pairs
    return [(prefix, _OUR_WORDS.get(str(messages), str(messages)))]


def document_position(data: object, parts: Sequence[PathPart]) -> tuple[int, ...]:
    """Where a path points in the user's document, to report errors top to bottom."""
    position = []
    for part in parts:
        if isinstance(data, Mapping):
            keys = [str(key) for key in data]
            index = keys.index(part) if part in keys else len(keys)
            position.append(index)
            data = data.get(part) if index < len(keys) else None
        elif isinstance(data, list | tuple) and isinstance(part, int):
            position.append(part)
            data = data[part] if part < len(data) else None
        else:
            position.append(0)
            data = None
    return tuple(position)


# marshmallow's own messages for the checks it makes before our fields run.
_OUR_WORDS = {
    "Missing data for required field.": "required field is missing",
    "Field may not be null.": "must not be null",
}
