"""Which waiting op runs of a run are ready, skipped or upstream_failed (pure).

Trigger rules follow DESIGN section 5. A `stopped` upstream counts as a
failure: the work it stood for did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SUCCEEDED, SKIPPED = "succeeded", "skipped"
FAILED_LIKE = frozenset({"failed", "upstream_failed", "stopped"})
FINAL = FAILED_LIKE | {SUCCEEDED, SKIPPED}
WAITING = "created"

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

    The result does not depend on the order of `nodes`. Only an op with
    `skip_on_upstream_skip` could decide differently once a waiting upstream is
    skipped later in the same call, so its waiting upstreams are settled first.
    """
    statuses = dict(statuses)
    decisions = Decisions()
    if children is None:
        children = downstream_of(nodes)

    def settle(name: str) -> list[str]:
        """Decide one waiting op; the ops to look at next when it was skipped or upstream_failed."""
        node = nodes[name]
        outcome = decide(node, [statuses[up] for up in node.upstream])
        if outcome == READY:
            decisions.ready.append(name)
            statuses[name] = "ready"
        elif outcome in (SKIP, UPSTREAM_FAILED):
            (decisions.skipped if outcome == SKIP else decisions.upstream_failed).append(name)
            statuses[name] = SKIPPED if outcome == SKIP else "upstream_failed"
            return list(children.get(name, ()))
        return []

    pool = nodes if candidates is None else candidates
    pending = [name for name in pool if statuses.get(name) == WAITING]
    while pending:
        next_round = []
        for name in pending:
            if statuses.get(name) != WAITING:
                continue
            if nodes[name].skip_on_upstream_skip:
                for up in _waiting_ancestors(name, nodes, statuses):
                    next_round.extend(settle(up))
            next_round.extend(settle(name))
        pending = next_round
    return decisions


def _waiting_ancestors(name: str, nodes: Mapping[str, Node], statuses: Mapping[str, str]) -> list[str]:
    """The waiting upstreams of `name`, transitively, each after its own (iterative: chains are long)."""
    order, seen = [], {name}
    stack = [(name, iter(nodes[name].upstream))]
    while stack:
        current, ups = stack[-1]
        for up in ups:
            if up not in seen and up in nodes and statuses.get(up) == WAITING:
                seen.add(up)
                stack.append((up, iter(nodes[up].upstream)))
                break
        else:
            stack.pop()
            if current != name:
                order.append(current)
    return order


def downstream_of(nodes: Mapping[str, Node]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for name, node in nodes.items():
        for up in node.upstream:
            children.setdefault(up, []).append(name)
    return children
