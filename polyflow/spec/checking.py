"""Validating and compiling raw documents in one call: what every command and service uses."""

from __future__ import annotations

from collections.abc import Sequence

from .compiler import Compilation, Registry, compile_documents
from .errors import SpecError, SpecValidationError, format_path
from .gcpause import gc_paused
from .limits import DEFAULT_LIMITS, Limits, over_limit
from .loader import RawDocument, validate_all
from .storable import unstorable_value


def check(
    raws: Sequence[RawDocument],
    registry: Registry | None = None,
    require_registry: bool = False,
    earlier_errors: Sequence[SpecError] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Compilation:
    """Validate and compile raw documents; every error of every document at once.

    Cross-document checks run on the documents that passed their schema, so a
    schema error in one document does not hide the errors of the others.
    `limits` bound nesting, strings, ops and trials (POLYFLOW['MAX_NESTING'], ...).
    """
    # First, and alone: what could not be stored (NUL, lone surrogates, inf) or is over a
    # limit is refused by `validate` exactly as by `apply`, before anything else reads it.
    refused = [error for raw in raws if (error := _refusal(raw, limits))]
    if refused:
        raise SpecValidationError(list(earlier_errors) + refused)
    with gc_paused():
        documents, errors = validate_all(raws)
        errors = list(earlier_errors) + errors
        try:
            compilation = compile_documents(documents, registry, require_registry, max_trials=limits.trials)
        except SpecValidationError as error:
            errors.extend(error.errors)
            compilation = None
    if errors:
        raise SpecValidationError(errors)
    return compilation


def _refusal(raw: RawDocument, limits: Limits) -> SpecError | None:
    # Ops are counted first: every later walk and check costs per op.
    ops = raw.data.get("ops") if isinstance(raw.data, dict) and raw.data.get("kind") == "pipeline" else None
    if isinstance(ops, list) and len(ops) > limits.ops:
        return SpecError(raw.source, "ops", over_limit(f"{len(ops):,} ops", limits.ops, "MAX_OPS"))
    problem = unstorable_value(raw.data, limits.nesting, limits.string_length)
    if problem:
        return SpecError(raw.source, format_path(problem[0]), problem[1])
    return None
