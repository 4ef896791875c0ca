"""A group's status from its trials' (DESIGN section 9)."""

from __future__ import annotations

from collections.abc import Sequence

from ..spec.plan import MatrixSpec
from ..statuses import OP_FINAL, OpStatus


def group_status(matrix: MatrixSpec, statuses: Sequence[str]) -> str | None:
    """None while any trial is not final. A search succeeds when any trial succeeded
    (trials stopped early or failed do not matter then); a mapping only when every item
    did (a skipped item is no success). No trial at all (an empty mapping) is a success:
    nothing ran and nothing failed."""
    if any(status not in OP_FINAL for status in statuses):
        return None
    if not statuses:
        return OpStatus.SUCCEEDED
    succeeded = [status == OpStatus.SUCCEEDED for status in statuses]
    ok = any(succeeded) if matrix.is_search else all(succeeded)
    return OpStatus.SUCCEEDED if ok else OpStatus.FAILED
