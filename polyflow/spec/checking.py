"""Validating and compiling raw documents in one call: what every command and service uses."""

from __future__ import annotations

from collections.abc import Sequence

from .compiler import DEFAULT_MAX_TRIALS, Compilation, Registry, compile_documents
from .errors import SpecError, SpecValidationError, format_path
from .gcpause import gc_paused
from .loader import RawDocument, validate_all
from .storable import unstorable_value


def check(
    raws: Sequence[RawDocument],
    registry: Registry | None = None,
    require_registry: bool = False,
    earlier_errors: Sequence[SpecError] = (),
    max_trials: int = DEFAULT_MAX_TRIALS,
) -> Compilation:
    """Validate and compile raw documents; every error of every document at once.

    Cross-document checks run on the documents that passed their schema, so a
    schema error in one document does not hide the errors of the others.
    `max_trials` bounds the trials of a matrix (POLYFLOW['MAX_TRIALS']).
    """
    # First, and alone: what could not be stored (NUL, lone surrogates, inf, deep nesting) is
    # refused by `validate` exactly as by `apply`, before anything else reads it.
    unstorable = [SpecError(raw.source, format_path(problem[0]), problem[1])
                  for raw in raws if (problem := unstorable_value(raw.data))]
    if unstorable:
        raise SpecValidationError(list(earlier_errors) + unstorable)
    with gc_paused():
        documents, errors = validate_all(raws)
        errors = list(earlier_errors) + errors
        try:
            compilation = compile_documents(documents, registry, require_registry, max_trials=max_trials)
        except SpecValidationError as error:
            errors.extend(error.errors)
            compilation = None
    if errors:
        raise SpecValidationError(errors)
    return compilation
