"""The pipeline spec language: parse, validate and compile documents into plans.

Pure: nothing here touches the database. Typical use::

    raws, errors = read_files(paths)
    compilation = check(raws)   # raises SpecValidationError with every error

The names below are loaded on first use (PEP 562). polyflow.matrix and the
scheduler import leaf modules such as polyflow.spec.plan and
polyflow.spec.types, and the compiler imports polyflow.matrix: importing the
compiler here, eagerly, would make `import polyflow.matrix` circular (and load
marshmallow and YAML for a module that needs neither).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "check": "checking",
    "Compilation": "compiler", "Document": "compiler", "Registry": "compiler", "compile_documents": "compiler",
    "SpecError": "errors", "SpecValidationError": "errors",
    "gc_paused": "gcpause",
    "RawDocument": "loader", "parse_yaml": "loader", "read_file": "loader", "read_files": "loader",
    "validate_all": "loader", "validate_raw": "loader",
    "ActionRef": "plan", "ActionSpec": "plan", "EventSpec": "plan", "OpSpec": "plan", "Plan": "plan",
    "ScheduleSpec": "plan", "TemplateSpec": "plan",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from .checking import check
    from .compiler import Compilation, Document, Registry, compile_documents
    from .errors import SpecError, SpecValidationError
    from .gcpause import gc_paused
    from .loader import RawDocument, parse_yaml, read_file, read_files, validate_all, validate_raw
    from .plan import ActionRef, ActionSpec, EventSpec, OpSpec, Plan, ScheduleSpec, TemplateSpec

__all__ = [
    "ActionRef", "ActionSpec", "Compilation", "Document", "EventSpec", "OpSpec", "Plan",
    "RawDocument", "Registry", "ScheduleSpec", "SpecError", "SpecValidationError",
    "TemplateSpec", "check", "compile_documents", "gc_paused", "parse_yaml", "read_file", "read_files",
    "validate_all", "validate_raw",
]
