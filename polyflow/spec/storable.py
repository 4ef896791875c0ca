"""Whether a parsed value can be stored as it is.

Documents, run params and payloads end up in PostgreSQL's jsonb and text
columns, which refuse NUL characters, lone surrogates (what a `"\\ud800"`
escape in JSON or YAML makes) and non-finite floats (`.inf`, `.nan`, `1e400`).
Such values are refused where they come in, with their path, instead of
failing in the database. Deep nesting is refused too, before it exhausts a
stack somewhere further on.
"""

from __future__ import annotations

import math

MAX_DEPTH = 64


def unstorable_value(data: object) -> tuple[tuple, str] | None:
    """(path parts, message) of the first value that cannot be stored, if any."""
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:MAX_DEPTH], f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return path, problem
        elif isinstance(value, float) and not math.isfinite(value):
            return path, f"{value} is not a finite number"
        elif isinstance(value, dict):
            for key in value:
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    return path + (key,), f"key: {problem}"
            # Reversed onto the stack, so that the first problem in document order is the one found.
            stack.extend((path + (key if isinstance(key, str | int) else str(key),), item)
                         for key, item in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((path + (index,), value[index]) for index in reversed(range(len(value))))
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters (\\0) are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate characters (e.g. \\ud800) are not allowed"
    return None
