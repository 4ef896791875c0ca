"""Polyflow's trigger rules as Argo `depends` and `when` expressions (pure).

Argo knows five ends of a DAG task: Succeeded, Failed, Errored, Skipped (its
`when` was false) and Omitted (its `depends` was false). Polyflow's op runs end
succeeded, failed (or stopped), skipped or upstream_failed, and the rules of
DESIGN section 5 (`polyflow/scheduler/dag.py`) tell skipped from
upstream_failed: `one_failed` fires on an upstream_failed upstream, not on a
skipped one. So each op is written so that Argo's end tells Polyflow's:

- upstream_failed is Omitted: `depends` is false exactly when the rule says
  upstream_failed;
- skipped is Skipped: `when` is false exactly when the rule says skipped;
- failed is Failed or Errored, succeeded is Succeeded.

Upstreams are then read back the same way: "failed" is
`U.Failed || U.Errored || U.Omitted`, "skipped" is `U.Skipped`. Argo decides a
task once all its dependencies have ended, so the `one_*` rules fire then, not
at the first upstream that allows them (the outcome is the same).

A search matrix op (grid, random) succeeded when one trial did: it is read
with `.AnySucceeded` / `.AllFailed`. Conditions are simplified with what each
upstream can end as (a chain of all_succeeded ops is never skipped), so the
common case reads `depends: prepare.Succeeded` and has no `when`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

S, F, K = "succeeded", "failed", "skipped"  # what a downstream tells apart (failed: failed-like)
READY, SKIP, UPSTREAM_FAILED = "ready", "skip", "upstream_failed"
RULES = ("all_succeeded", "all_failed", "all_done", "one_succeeded", "one_failed", "one_done", "none_failed")
# Past this many upstreams the possible ends are not enumerated: every end is taken as possible.
_ENUMERATE_UP_TO = 8


def decide(rule: str, skip_on_upstream_skip: bool, ends: Sequence[str]) -> str:
    """What Polyflow decides once every upstream has ended (polyflow.scheduler.dag.decide)."""
    if not ends:
        return READY
    if skip_on_upstream_skip and K in ends:
        return SKIP
    succeeded, failed = ends.count(S), ends.count(F)
    total = len(ends)
    if rule == "all_succeeded":
        return READY if succeeded == total else UPSTREAM_FAILED if failed else SKIP
    if rule == "all_failed":
        return READY if failed == total else SKIP
    if rule in ("all_done", "one_done"):
        return READY
    if rule == "one_succeeded":
        return READY if succeeded else UPSTREAM_FAILED
    if rule == "one_failed":
        return READY if failed else SKIP
    if rule == "none_failed":
        return UPSTREAM_FAILED if failed else READY
    raise ValueError(f"unknown trigger rule {rule!r}")


def possible_ends(rule: str, skip_on_upstream_skip: bool, upstream_ends: Sequence[frozenset[str]]) -> frozenset[str]:
    """The ends an op may have, given those its upstreams may have (an op that runs may fail)."""
    if len(upstream_ends) > _ENUMERATE_UP_TO:
        return frozenset({S, F, K})
    ends: set[str] = set()
    for combination in itertools.product(*upstream_ends):
        outcome = decide(rule, skip_on_upstream_skip, combination)
        ends |= {S, F} if outcome == READY else {K} if outcome == SKIP else {F}
    return frozenset(ends)


@dataclass(frozen=True)
class Upstream:
    task: str  # its Argo task name
    ends: frozenset[str]  # what it may end as
    search: bool = False  # a grid or random matrix: succeeded when one trial did


@dataclass(frozen=True)
class Condition:
    depends: str
    when: str | None  # None: the task runs whenever `depends` holds


TRUE, FALSE = "true", "false"


def _and(parts: Sequence[str]) -> str:
    if FALSE in parts:
        return FALSE
    parts = list(dict.fromkeys(part for part in parts if part != TRUE))
    if not parts:
        return TRUE
    return " && ".join(f"({part})" if " || " in part and not _wrapped(part) else part for part in parts)


def _or(parts: Sequence[str]) -> str:
    if TRUE in parts:
        return TRUE
    flat: list[str] = []
    for part in parts:
        if part == FALSE:
            continue
        inner = part[1:-1] if _wrapped(part) else None
        # An or inside an or needs no parentheses of its own.
        flat.extend(inner.split(" || ") if inner is not None and _is_plain_or(inner) else [part])
    parts = list(dict.fromkeys(flat))
    if not parts:
        return FALSE
    return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"


def _is_plain_or(text: str) -> bool:
    return "(" not in text and "&&" not in text


def _wrapped(text: str) -> bool:
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and index < len(text) - 1:
            return False
    return True


class _Syntax:
    """One way to write "upstream U ended as E": Argo's `depends` or a `when` over statuses."""

    def __init__(self, kind: str):
        self.kind = kind

    def atom(self, upstream: Upstream, end: str) -> str:
        name = upstream.task
        if self.kind == "depends":
            if end == S:
                return f"{name}.AnySucceeded" if upstream.search else f"{name}.Succeeded"
            if end == F:
                failed = [f"{name}.AllFailed"] if upstream.search else [f"{name}.Failed", f"{name}.Errored"]
                return _or([*failed, f"{name}.Omitted"])
            return f"{name}.Skipped"
        if upstream.search and end != K:
            # A status is the whole group's: "Failed" when any trial failed, which is no
            # failure of a search. Only depends can say AnySucceeded.
            raise ValueError(f"a skip rule over the search matrix op {name!r}: Argo's when cannot tell "
                             "whether one of its trials succeeded")
        status = f"{{{{tasks.{name}.status}}}}"
        if end == S:
            return f"{status} == Succeeded"
        if end == F:
            return _or([f"{status} == Failed", f"{status} == Error", f"{status} == Omitted"])
        return f"{status} == Skipped"

    def ended_in(self, upstream: Upstream, ends: set[str]) -> str:
        """U ended as one of `ends`."""
        if upstream.ends <= ends:
            return TRUE
        return _or([self.atom(upstream, end) for end in sorted(upstream.ends & ends)])

    def all_in(self, upstreams: Sequence[Upstream], ends: set[str]) -> str:
        return _and([self.ended_in(up, ends) for up in upstreams])

    def any_is(self, upstreams: Sequence[Upstream], end: str) -> str:
        return _or([self.ended_in(up, {end}) for up in upstreams])


DEPENDS, WHEN = _Syntax("depends"), _Syntax("when")


def condition(rule: str, skip_on_upstream_skip: bool, upstreams: Sequence[Upstream]) -> Condition:
    """`depends` (false: upstream_failed, Omitted) and `when` (false: skipped, Skipped).

    Raises ValueError for what Argo cannot say (a skip decided by a search matrix op's success).
    """
    if rule not in RULES:
        raise ValueError(f"unknown trigger rule {rule!r}")
    sos = skip_on_upstream_skip
    skipped_up = DEPENDS.any_is(upstreams, K) if sos else FALSE
    if rule in ("all_succeeded", "none_failed"):
        depends = _or([DEPENDS.all_in(upstreams, {S, K}), skipped_up])
    elif rule == "one_succeeded":
        depends = _or([DEPENDS.any_is(upstreams, S), skipped_up])
    else:
        depends = FALSE  # never upstream_failed: wait for every upstream's end, whatever it is
    if depends == FALSE and rule in ("all_succeeded", "none_failed", "one_succeeded"):
        raise ValueError("its upstreams can never end so that it runs or is skipped: it is always upstream_failed")
    if depends in (TRUE, FALSE):
        depends = _and([_or([DEPENDS.atom(up, end) for end in sorted(up.ends)]) for up in upstreams])
    if rule in ("all_succeeded", "none_failed") and not (sos and any(K in up.ends for up in upstreams)):
        # depends holds only when no upstream failed: the when reads the ends left.
        upstreams = [Upstream(up.task, up.ends & {S, K}, up.search) for up in upstreams]
    no_skipped_up = WHEN.all_in(upstreams, {S, F}) if sos else TRUE
    if rule == "all_succeeded":
        when = WHEN.all_in(upstreams, {S})
    elif rule == "all_failed":
        when = WHEN.all_in(upstreams, {F})
    elif rule in ("all_done", "one_done"):
        when = no_skipped_up
    elif rule == "one_succeeded":
        when = _and([WHEN.any_is(upstreams, S), no_skipped_up]) if sos else TRUE
    elif rule == "one_failed":
        when = _and([WHEN.any_is(upstreams, F), no_skipped_up])
    else:  # none_failed: depends rules out every failure
        when = WHEN.all_in(upstreams, {S}) if sos else TRUE
    return Condition(depends, None if when == TRUE else when)


def plan_conditions(order: Sequence[str], nodes: Mapping[str, tuple[str, bool, Sequence[str], bool]]
                    ) -> dict[str, Condition | None]:
    """Each op's condition, upstream first. `nodes`: op -> (rule, skip_on_upstream_skip,
    upstream ops, is a search). None for an op without upstreams."""
    ends: dict[str, frozenset[str]] = {}
    result: dict[str, Condition | None] = {}
    for name in order:
        rule, skip_on_skip, upstream_names, _ = nodes[name]
        upstreams = [Upstream(up, ends[up], nodes[up][3]) for up in upstream_names]
        ends[name] = possible_ends(rule, skip_on_skip, [up.ends for up in upstreams]) if upstreams \
            else frozenset({S, F})
        result[name] = condition(rule, skip_on_skip, upstreams) if upstreams else None
    return result
