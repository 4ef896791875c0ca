"""Whether a parsed value can be stored as it is.

Documents, run params and payloads end up in PostgreSQL's jsonb and text
columns, which refuse NUL characters, lone surrogates (what a `"\\ud800"`
escape in JSON or YAML makes) and non-finite floats (`.inf`, `.nan`, `1e400`).
Such values are refused where they come in, with their path, instead of
failing in the database. Deep nesting and, where a caller bounds them, very
long strings are refused too, before they cost more further on (a stack
exhausted, a description copied into every run's plan).
"""

from __future__ import annotations

import math

MAX_DEPTH = 64  # POLYFLOW['MAX_NESTING']'s default


def unstorable_value(data: object, max_depth: int = MAX_DEPTH,
                     max_string: int | None = None) -> tuple[tuple, str] | None:
    """(path parts, message) of the first value that cannot be stored, if any.

    `max_depth` and `max_string` are POLYFLOW['MAX_NESTING'] and ['MAX_STRING_LENGTH']
    where the value comes from a user; None leaves strings unbounded."""
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > max_depth:
            return path[:max_depth], f"nested more than {max_depth} levels deep (POLYFLOW['MAX_NESTING']): refused"
        if isinstance(value, str):
            problem = _text_problem(value, max_string)
            if problem:
                return path, problem
        elif isinstance(value, float) and not math.isfinite(value):
            return path, f"{value} is not a finite number"
        elif isinstance(value, dict):
            for key in value:
                problem = _text_problem(key, max_string) if isinstance(key, str) else None
                if problem:
                    # A refused key may be huge: the message names its start.
                    return path + (key if len(key) <= 60 else key[:57] + "...",), f"key: {problem}"
            # Reversed onto the stack, so that the first problem in document order is the one found.
            stack.extend((path + (key if isinstance(key, str | int) else str(key),), item)
                         for key, item in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((path + (index,), value[index]) for index in reversed(range(len(value))))
    return None


def _text_problem(text: str, max_string: int | None) -> str | None:
    if max_string is not None and len(text) > max_string:
        return (f"a string of {len(text):,} characters, more than the limit of {max_string:,} "
                f"(POLYFLOW['MAX_STRING_LENGTH']): refused")
    if "\x00" in text:
        return "NUL characters (\\0) are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate characters (e.g. \\ud800) are not allowed"
    return None
