"""Versions of a text (an action's, a pipeline's applied spec): which two a page compares, and
their unified diff (difflib)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class DiffLine:
    kind: str  # "add", "del", "hunk", "same"
    text: str


def diff_lines(old: str, new: str, old_label: str, new_label: str, context: int = 3) -> list[DiffLine]:
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm="",
                                     n=context):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        lines.append(DiffLine(kind, line))
    return lines


def pick_versions(versions: Sequence, version: str | None, base: str | None) -> tuple[object, object | None]:
    """Of `versions` (each with `.version`, newest first): the one shown (`version`, else the newest;
    an unknown number is the newest too) and the one it is compared to (`base`, else the one before
    it; None when there is none, or `base` names none)."""
    by_number = {str(item.version): item for item in versions}
    shown = by_number.get(str(version), versions[0]) if version else versions[0]
    if base:
        compared = by_number.get(str(base))
    else:
        compared = next((item for item in versions if item.version < shown.version), None)
    return shown, compared
