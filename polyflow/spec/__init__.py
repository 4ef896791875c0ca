"""The pipeline spec language: parse, validate and compile documents into plans.

Pure: nothing here touches the database. Typical use::

    raws, errors = read_files(paths)
    compilation = check(raws)   # raises SpecValidationError with every error
"""

from __future__ import annotations

from collections.abc import Sequence

from .compiler import Compilation, Document, Registry, compile_documents
from .errors import SpecError, SpecValidationError
from .gcpause import gc_paused
from .loader import RawDocument, parse_yaml, read_file, read_files, validate_all, validate_raw
from .plan import ActionRef, ActionSpec, EventSpec, OpSpec, Plan, ScheduleSpec, TemplateSpec


def check(
    raws: Sequence[RawDocument],
    registry: Registry | None = None,
    require_registry: bool = False,
    earlier_errors: Sequence[SpecError] = (),
) -> Compilation:
    """Validate and compile raw documents; every error of every document at once.

    Cross-document checks run on the documents that passed their schema, so a
    schema error in one document does not hide the errors of the others.
    """
    with gc_paused():
        documents, errors = validate_all(raws)
        errors = list(earlier_errors) + errors
        try:
            compilation = compile_documents(documents, registry, require_registry)
        except SpecValidationError as error:
            errors.extend(error.errors)
            compilation = None
    if errors:
        raise SpecValidationError(errors)
    return compilation


__all__ = [
    "ActionRef", "ActionSpec", "Compilation", "Document", "EventSpec", "OpSpec", "Plan",
    "RawDocument", "Registry", "ScheduleSpec", "SpecError", "SpecValidationError",
    "TemplateSpec", "check", "compile_documents", "parse_yaml", "read_file", "read_files",
    "validate_all", "validate_raw",
]
