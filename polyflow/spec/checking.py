"""Validating and compiling raw documents in one call: what every command and service uses."""

from __future__ import annotations

from collections.abc import Sequence

from .compiler import DEFAULT_MAX_TRIALS, Compilation, Registry, compile_documents
from .errors import SpecError, SpecValidationError
from .gcpause import gc_paused
from .loader import RawDocument, validate_all


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
