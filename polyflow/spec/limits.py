"""How much one spec text may cost to read: the bounds that keep hostile input cheap.

Each bound is a POLYFLOW setting of the same name (docs/security.md). The spec
language itself reads no settings: callers build a Limits from theirs
(`limits_from`) and hand it to `parse_yaml`, `read_file` and `check`, so that
`polyflow validate` (which loads no Django settings) and `apply` refuse exactly
the same texts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    spec_bytes: int = 3_145_728  # MAX_SPEC_BYTES: a spec text's size
    documents: int = 1000  # MAX_DOCUMENTS: documents in one text
    expanded_nodes: int = 1_000_000  # MAX_EXPANDED_NODES: nodes once aliases are expanded
    nesting: int = 64  # MAX_NESTING: levels of lists and mappings
    string_length: int = 65_536  # MAX_STRING_LENGTH: characters of one string
    ops: int = 10_000  # MAX_OPS: ops of one pipeline
    trials: int = 1000  # MAX_TRIALS: trials of one matrix op

    @staticmethod
    def setting_of(field: str) -> str:
        return _SETTINGS[field]


_SETTINGS = {"spec_bytes": "MAX_SPEC_BYTES", "documents": "MAX_DOCUMENTS", "expanded_nodes": "MAX_EXPANDED_NODES",
             "nesting": "MAX_NESTING", "string_length": "MAX_STRING_LENGTH", "ops": "MAX_OPS",
             "trials": "MAX_TRIALS"}
assert set(_SETTINGS) == {field.name for field in fields(Limits)}

DEFAULT_LIMITS = Limits()


def limits_from(setting: Callable[[str], int]) -> Limits:
    """The limits that `setting(name)` gives, e.g. `lambda name: getattr(polyflow_settings, name)`."""
    return Limits(**{field: setting(name) for field, name in _SETTINGS.items()})


def over_limit(what: str, limit: int, setting: str, unit: str = "") -> str:
    """The one wording of every refusal: what and how much ("the file is 5,000,000 bytes"),
    the limit and the setting that raises it."""
    return f"{what}, more than the limit of {limit:,}{' ' + unit if unit else ''} (POLYFLOW['{setting}']): refused"
