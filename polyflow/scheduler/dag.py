"""Which waiting op runs of a run are ready, skipped or upstream_failed (pure).

Trigger rules follow DESIGN section 5. A `stopped` upstream counts as a
failure: the work it stood for did not happen.
"""

from __future__ import annotations

import heapq
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..statuses import OpStatus

SUCCEEDED, SKIPPED = OpStatus.SUCCEEDED, OpStatus.SKIPPED
FAILED_LIKE = frozenset({OpStatus.FAILED, OpStatus.UPSTREAM_FAILED, OpStatus.STOPPED})
FINAL = FAILED_LIKE | {SUCCEEDED, SKIPPED}
WAITING = OpStatus.CREATED

READY, SKIP, UPSTREAM_FAILED = "ready", "skipped", "upstream_failed"


@dataclass(frozen=True)
class Node:
    trigger: str = "all_succeeded"
    skip_on_upstream_skip: bool = False
    upstream: tuple[str, ...] = ()


@dataclass
class Decisions:
    ready: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    upstream_failed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ready or self.skipped or self.upstream_failed)


def decide(node: Node, upstream_statuses: Sequence[str]) -> str | None:
    """READY, SKIP, UPSTREAM_FAILED, or None to keep waiting."""
    if not upstream_statuses:
        return READY
    if node.skip_on_upstream_skip and SKIPPED in upstream_statuses:
        return SKIP
    total = len(upstream_statuses)
    succeeded = sum(status == SUCCEEDED for status in upstream_statuses)
    failed = sum(status in FAILED_LIKE for status in upstream_statuses)
    skipped = sum(status == SKIPPED for status in upstream_statuses)
    done = succeeded + failed + skipped == total
    rule = node.trigger
    if rule == "all_succeeded":
        if succeeded == total:
            return READY
        if failed:
            return UPSTREAM_FAILED
        return SKIP if done else None
    if rule == "all_failed":
        if failed == total:
            return READY
        return SKIP if done else None
    if rule == "all_done":
        return READY if done else None
    if rule == "one_succeeded":
        if succeeded:
            return READY
        return UPSTREAM_FAILED if done else None
    if rule == "one_failed":
        if failed:
            return READY
        return SKIP if done else None
    if rule == "one_done":
        return READY if succeeded + failed + skipped else None
    if rule == "none_failed":
        if failed:
            return UPSTREAM_FAILED
        return READY if done else None
    raise ValueError(f"unknown trigger rule {rule!r}")


def resolve(nodes: Mapping[str, Node], statuses: Mapping[str, str],
            candidates: Iterable[str] | None = None,
            children: Mapping[str, Sequence[str]] | None = None) -> Decisions:
    """Decide every waiting op run whose upstreams allow a decision.

    Skips and upstream failures cascade in the same call: an op skipped here
    makes its own downstream decidable at once, so a run never waits a tick per
    level of a failed branch. Ready ops are not cascaded: they still have to run.

    `candidates` limits the first round to those ops (the downstream of what just
    finished), so a long chain costs one step per op, not one scan of the DAG.

    Ops are decided upstream first (by rank, whatever the order of `nodes`), so
    each decision sees what this call decided above it: an upstream skipped in
    the same call counts for `skip_on_upstream_skip`.
    """
    # Decisions are written over the caller's statuses, not into them (and
    # without copying a large run's statuses for every call).
    statuses = ChainMap({}, statuses)
    decisions = Decisions()
    if children is None:
        children = downstream_of(nodes)
    rank = getattr(children, "rank", None)
    if rank is None:
        rank = _ranks(nodes, children)
    last = len(rank)  # ops on a cycle have no rank: a valid plan has none
    pool = nodes if candidates is None else candidates
    pending = [(rank.get(name, last), name) for name in dict.fromkeys(pool) if statuses.get(name) == WAITING]
    heapq.heapify(pending)
    while pending:
        _, name = heapq.heappop(pending)
        if statuses.get(name) != WAITING:
            continue
        node = nodes[name]
        outcome = decide(node, [statuses[up] for up in node.upstream])
        if outcome == READY:
            decisions.ready.append(name)
            statuses[name] = "ready"
        elif outcome in (SKIP, UPSTREAM_FAILED):
            (decisions.skipped if outcome == SKIP else decisions.upstream_failed).append(name)
            statuses[name] = SKIPPED if outcome == SKIP else OpStatus.UPSTREAM_FAILED
            for child in children.get(name, ()):
                if statuses.get(child) == WAITING:
                    heapq.heappush(pending, (rank.get(child, last), child))
    return decisions


class Downstream(dict):
    """Op name -> the ops right below it, with `rank`: a topological index of every op."""

    rank: dict[str, int]


def downstream_of(nodes: Mapping[str, Node]) -> Downstream:
    children = Downstream()
    for name, node in nodes.items():
        for up in node.upstream:
            children.setdefault(up, []).append(name)
    children.rank = _ranks(nodes, children)
    return children


def _ranks(nodes: Mapping[str, Node], children: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each op's place in a topological order (Kahn's algorithm: iterative, long chains are fine)."""
    blocking = {name: len({up for up in node.upstream if up in nodes}) for name, node in nodes.items()}
    order = [name for name, count in blocking.items() if count == 0]
    for name in order:  # grows while it is walked
        for child in dict.fromkeys(children.get(name, ())):
            if child in blocking:
                blocking[child] -= 1
                if blocking[child] == 0:
                    order.append(child)
    return {name: index for index, name in enumerate(order)}
