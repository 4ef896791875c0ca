"""Concurrency limits (pure): which ready op runs may be submitted now.

Three limits apply together: the pipeline's `concurrency` (op runs of one run
at once), each op's `concurrency` (runs of that op across the pipeline's runs)
and `POLYFLOW["MAX_CONCURRENCY"]` (everything; 0 is no limit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    key: object  # what the caller identifies the op run by
    run: object
    pipeline: object
    op: str
    run_limit: int | None
    op_limit: int | None


def admit(candidates: Sequence[Candidate], running_per_run: Mapping, running_per_op: Mapping,
          running_total: int, global_limit: int) -> tuple[list, dict]:
    """(admitted keys, {held key: reason}); candidates are taken in the order given."""
    per_run, per_op = Counter(running_per_run), Counter(running_per_op)
    total = running_total
    admitted, held = [], {}
    for c in candidates:
        if global_limit and total >= global_limit:
            held[c.key] = f"waiting: {global_limit} op runs are running (MAX_CONCURRENCY)"
        elif c.run_limit is not None and per_run[c.run] >= c.run_limit:
            held[c.key] = f"waiting: the pipeline's concurrency of {c.run_limit} is reached in this run"
        elif c.op_limit is not None and per_op[(c.pipeline, c.op)] >= c.op_limit:
            held[c.key] = f"waiting: op {c.op!r} has concurrency {c.op_limit} across runs"
        else:
            admitted.append(c.key)
            total += 1
            per_run[c.run] += 1
            per_op[(c.pipeline, c.op)] += 1
    return admitted, held
