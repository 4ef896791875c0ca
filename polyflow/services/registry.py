"""Applying documents that belong to an owner rather than to a project: action
versions and events (the API's {owner}/actions/ and {owner}/events/).

It reuses apply.py's validation and storage; pipelines are refused here since
they need a project.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from ..exceptions import Conflict, InvalidSpec, Unprocessable
from ..spec import RawDocument, SpecValidationError, check
from .apply import (
    ApplyResult,
    DatabaseRegistry,
    _content,
    _store_action,
    _store_event,
    parse_body,
    raw_for,
    spec_limits,
)

OWNER_KINDS = ("action", "event")


def apply_owner_text(owner, text: str, **kwargs) -> ApplyResult:
    raws = parse_body(text, kwargs.pop("source", "body"))
    contents = {raws[0].source: text} if len(raws) == 1 else {}
    return apply_owner_documents(owner, raws, contents=contents, **kwargs)


def apply_owner_documents(
    owner,
    raws: list[RawDocument],
    *,
    user=None,
    expect_kind: str | None = None,
    contents: dict[str, str] | None = None,
) -> ApplyResult:
    """Validate action and event documents and store them in the owner's registry.

    `expect_kind` restricts the body to a single document of that kind.
    """
    kinds = [raw.data.get("kind") if isinstance(raw.data, dict) else None for raw in raws]
    if expect_kind is not None and kinds != [expect_kind]:
        raise Unprocessable(f"expected one {expect_kind} document, got {len(raws)} document(s)"
                            f" of kind {', '.join(map(str, kinds))}")
    if any(kind not in OWNER_KINDS for kind in kinds):
        raise Unprocessable(f"only {' and '.join(OWNER_KINDS)} documents belong to an owner;"
                           " pipelines are applied to a project")
    try:
        compilation = check(raws, registry=DatabaseRegistry(owner), require_registry=True, limits=spec_limits())
    except SpecValidationError as error:
        raise InvalidSpec.from_spec_errors(error.errors) from None
    contents = contents or {}
    result = ApplyResult()
    try:
        with transaction.atomic():
            for spec in compilation.actions:
                content = _content(raw_for(raws, "action", spec.name), contents)
                result.actions.append(_store_action(owner, spec, content, user))
            for spec in compilation.events:
                content = _content(raw_for(raws, "event", spec.name), contents)
                result.events.append(_store_event(owner, spec, content))
    except IntegrityError:
        raise Conflict("another request changed the same objects at the same time; try again") from None
    return result
