"""depends_on_past (DESIGN section 4), pure: which ready ops must wait for the previous slot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..statuses import OpStatus

PAST_OK = frozenset({OpStatus.SUCCEEDED, OpStatus.SKIPPED})


def held_by_past(ready: Iterable[str], depends_on_past: Mapping[str, bool],
                 previous: Mapping[str, str] | None) -> dict[str, str]:
    """Op name -> why it waits, for the ready ops that the previous run holds back.

    `previous` is the op statuses of the run of the previous slot, or None when
    there is none (the first slot, or a manual or event run): then nothing waits.
    An op absent from the previous run is not held.
    """
    if previous is None:
        return {}
    held = {}
    for name in ready:
        if depends_on_past.get(name) and name in previous and previous[name] not in PAST_OK:
            held[name] = f"waiting for op {name!r} of the previous slot's run ({previous[name]})"
    return held
