"""Trigger rules and their resolution over a run's DAG (DESIGN section 5)."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from polyflow.scheduler.dag import READY, SKIP, UPSTREAM_FAILED, Decisions, Node, decide, resolve

S, F, U, K, X = "succeeded", "failed", "upstream_failed", "skipped", "stopped"
C, R, T, P = "created", "running", "retrying", "stopping"
RULES = ("all_succeeded", "all_failed", "all_done", "one_succeeded", "one_failed", "one_done", "none_failed")

DECISIONS = [
    # all_succeeded
    ("all_succeeded", False, [S, S], READY),
    ("all_succeeded", False, [S, R], None),
    ("all_succeeded", False, [S, F], UPSTREAM_FAILED),
    ("all_succeeded", False, [R, F], UPSTREAM_FAILED),  # decided as soon as one failed
    ("all_succeeded", False, [S, U], UPSTREAM_FAILED),
    ("all_succeeded", False, [S, X], UPSTREAM_FAILED),  # stopped counts as a failure
    ("all_succeeded", False, [S, K], SKIP),
    ("all_succeeded", False, [K, K], SKIP),
    ("all_succeeded", False, [K, R], None),
    ("all_succeeded", False, [K, F], UPSTREAM_FAILED),
    ("all_succeeded", True, [S, K], SKIP),
    ("all_succeeded", True, [F, K], SKIP),  # skip_on_upstream_skip is checked first
    ("all_succeeded", True, [K, R], SKIP),
    ("all_succeeded", True, [S, F], UPSTREAM_FAILED),
    # all_failed
    ("all_failed", False, [F, U], READY),
    ("all_failed", False, [F, X], READY),
    ("all_failed", False, [F, R], None),
    ("all_failed", False, [F, S], SKIP),
    ("all_failed", False, [F, K], SKIP),
    ("all_failed", False, [S, S], SKIP),
    ("all_failed", False, [S, R], None),  # skipped only once all are final
    ("all_failed", True, [F, K], SKIP),
    # all_done
    ("all_done", False, [S, F, K], READY),
    ("all_done", False, [U, X], READY),
    ("all_done", False, [S, R], None),
    ("all_done", False, [S, T], None),
    ("all_done", False, [C], None),
    ("all_done", True, [K, S], SKIP),
    # one_succeeded
    ("one_succeeded", False, [S, R], READY),
    ("one_succeeded", False, [F, S], READY),
    ("one_succeeded", False, [F, R], None),
    ("one_succeeded", False, [F, K], UPSTREAM_FAILED),
    ("one_succeeded", False, [K, K], UPSTREAM_FAILED),
    ("one_succeeded", False, [T, R], None),
    ("one_succeeded", True, [S, K], SKIP),
    # one_failed
    ("one_failed", False, [F, R], READY),
    ("one_failed", False, [X, R], READY),
    ("one_failed", False, [U, C], READY),
    ("one_failed", False, [S, R], None),
    ("one_failed", False, [S, K], SKIP),
    ("one_failed", False, [S, S], SKIP),
    ("one_failed", True, [F, K], SKIP),
    # one_done
    ("one_done", False, [S, R], READY),
    ("one_done", False, [K, R], READY),
    ("one_done", False, [F, C], READY),
    ("one_done", False, [X, P], READY),
    ("one_done", False, [R, C], None),
    ("one_done", False, [T, P], None),
    ("one_done", True, [K, R], SKIP),
    # none_failed
    ("none_failed", False, [S, K], READY),
    ("none_failed", False, [K, K], READY),
    ("none_failed", False, [S, R], None),
    ("none_failed", False, [F, R], UPSTREAM_FAILED),
    ("none_failed", False, [X, S], UPSTREAM_FAILED),
    ("none_failed", False, [U], UPSTREAM_FAILED),
    ("none_failed", True, [K, S], SKIP),
]


@pytest.mark.parametrize(("rule", "skip_flag", "upstream", "expected"), DECISIONS)
def test_decide(rule, skip_flag, upstream, expected):
    assert decide(Node(rule, skip_flag, tuple(f"u{i}" for i in range(len(upstream)))), upstream) == expected


@pytest.mark.parametrize("skip_flag", [False, True])
@pytest.mark.parametrize("rule", RULES)
def test_no_upstream_is_ready(rule, skip_flag):
    assert decide(Node(rule, skip_flag), []) == READY


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown trigger rule 'sometimes'"):
        decide(Node("sometimes", upstream=("a",)), [S])


def chain(*names, **overrides):
    """a -> b -> c ...; `overrides` maps a name to its Node keyword arguments."""
    return {name: Node(upstream=names[i - 1:i], **overrides.get(name, {})) for i, name in enumerate(names)}


def test_resolve_cascades_upstream_failed_down_a_chain_in_one_call():
    decisions = resolve(chain("a", "b", "c", "d"), {"a": F, "b": C, "c": C, "d": C})
    assert decisions == Decisions(upstream_failed=["b", "c", "d"])


def test_resolve_cascades_skips_down_a_chain_in_one_call():
    assert resolve(chain("a", "b", "c"), {"a": K, "b": C, "c": C}) == Decisions(skipped=["b", "c"])


def test_resolve_cascades_whatever_the_order_of_the_nodes():
    nodes = dict(reversed(chain("a", "b", "c", "d").items()))
    assert resolve(nodes, {"a": X, "b": C, "c": C, "d": C}) == Decisions(upstream_failed=["b", "c", "d"])


def test_resolve_does_not_cascade_ready_ops():
    # b is ready; c waits for b to run, d behind it too.
    nodes = chain("a", "b", "c", "d", b={"trigger": "one_failed"})
    assert resolve(nodes, {"a": F, "b": C, "c": C, "d": C}) == Decisions(ready=["b"])
    assert resolve(chain("a", "b"), {"a": C, "b": C}) == Decisions(ready=["a"])


def test_resolve_mixes_skips_and_ready():
    nodes = chain("a", "b", "c", "d", c={"trigger": "none_failed"})
    assert resolve(nodes, {"a": K, "b": C, "c": C, "d": C}) == Decisions(ready=["c"], skipped=["b"])


def test_resolve_only_decides_created_op_runs():
    nodes = chain("a", "b", "c")
    assert resolve(nodes, {"a": F, "b": R, "c": C}) == Decisions()
    assert not resolve(nodes, {"a": S, "b": S, "c": S})


def test_skip_on_upstream_skip_sees_skips_made_in_the_same_call():
    # x is skipped, so b (all_succeeded) is skipped in this call; c has a failed
    # upstream too but skip_on_upstream_skip is checked first, whatever the order
    # the nodes come in.
    nodes = {
        "c": Node("all_succeeded", True, ("a", "b")),
        "a": Node(),
        "b": Node(upstream=("x",)),
        "x": Node(),
    }
    statuses = {"a": F, "b": C, "c": C, "x": K}
    assert resolve(nodes, statuses) == Decisions(skipped=["b", "c"])
    assert resolve(dict(reversed(nodes.items())), statuses) == Decisions(skipped=["b", "c"])


def test_candidates_limit_the_first_round_and_skips_still_cascade():
    nodes = {"a": Node(), "b": Node(upstream=("a",)), "c": Node(upstream=("b",)), "z": Node()}
    statuses = {"a": K, "b": C, "c": C, "z": C}
    assert resolve(nodes, statuses, candidates=["b"]) == Decisions(skipped=["b", "c"])
    plain_children = {"a": ["b"], "b": ["c"]}  # a caller's own map, without ranks
    assert resolve(nodes, statuses, candidates=["b"], children=plain_children) == Decisions(skipped=["b", "c"])
    assert resolve(nodes, statuses) == Decisions(ready=["z"], skipped=["b", "c"])


def test_a_long_chain_of_skip_on_upstream_skip_ops_resolves_in_one_call():
    names = [f"op{i}" for i in range(3000)]
    nodes = chain(*names, **{name: {"skip_on_upstream_skip": True} for name in names})
    statuses = {name: C for name in names} | {"op0": K}
    # Deciding the last op first walks up 2,999 waiting upstreams: no recursion.
    assert resolve(dict(reversed(nodes.items())), statuses) == Decisions(skipped=names[1:])


# -- property: resolve against a brute-force fixpoint of DESIGN section 5 -----------------

FINAL = {S, F, U, K, X}
FAILURES = {F, U, X}  # a stopped upstream counts as a failure
OTHER = ["scheduled", "starting", R, T, P]


def reference_rule(rule: str, skip_flag: bool, upstream: list[str]) -> str:
    """DESIGN section 5 word for word; C when nothing can be decided yet."""
    if not upstream:
        return READY
    if skip_flag and K in upstream:
        return SKIP
    all_final = all(status in FINAL for status in upstream)
    succeeded = [status == S for status in upstream]
    failed = [status in FAILURES for status in upstream]
    if rule == "all_succeeded":
        if all(succeeded):
            return READY
        if any(failed):
            return UPSTREAM_FAILED
        if all_final:
            return SKIP
    elif rule == "all_failed":
        if all(failed):
            return READY
        if all_final:
            return SKIP
    elif rule == "all_done":
        if all_final:
            return READY
    elif rule == "one_succeeded":
        if any(succeeded):
            return READY
        if all_final:
            return UPSTREAM_FAILED
    elif rule == "one_failed":
        if any(failed):
            return READY
        if all_final:
            return SKIP
    elif rule == "one_done":
        if any(status in FINAL for status in upstream):
            return READY
    elif rule == "none_failed":
        if any(failed):
            return UPSTREAM_FAILED
        if all_final:
            return READY
    return C


def reference_resolve(nodes, statuses):
    """Recompute every waiting op's decision from its upstreams until nothing changes.

    A ready op keeps a non-final status ("ready"), so nothing below it moves.
    """
    waiting = [name for name in nodes if statuses[name] == C]
    current = dict(statuses)
    while True:
        following = dict(current)
        for name in waiting:
            node = nodes[name]
            following[name] = reference_rule(node.trigger, node.skip_on_upstream_skip,
                                             [current[up] for up in node.upstream])
        if following == current:
            break
        current = following
    return {
        outcome: {name for name in waiting if current[name] == outcome}
        for outcome in (READY, SKIP, UPSTREAM_FAILED)
    }


@st.composite
def runs(draw):
    count = draw(st.integers(1, 8))
    names = [f"op{i}" for i in range(count)]
    nodes = {}
    for i, name in enumerate(names):
        upstream = [up for up in names[:i] if draw(st.booleans())]
        nodes[name] = Node(draw(st.sampled_from(RULES)), draw(st.booleans()), tuple(upstream))
    # Mostly waiting and final statuses: those are what decisions turn on.
    status = st.sampled_from([C, C, C, C, *sorted(FINAL), K, F, *OTHER[:2]])
    statuses = {name: draw(status) for name in names}
    order = draw(st.permutations(names))  # declaration order need not be topological
    return {name: nodes[name] for name in order}, statuses


@settings(max_examples=300, deadline=None)
@given(runs())
@example((  # a skip_on_upstream_skip op listed before an upstream skipped in the same call
    {"c": Node("one_succeeded", True, ("a", "b")), "a": Node(), "b": Node(upstream=("x",)), "x": Node()},
    {"a": S, "b": C, "c": C, "x": K},
))
def test_resolve_agrees_with_the_reference(run):
    nodes, statuses = run
    decisions = resolve(nodes, statuses)
    got = {READY: decisions.ready, SKIP: decisions.skipped, UPSTREAM_FAILED: decisions.upstream_failed}
    for names in got.values():
        assert len(names) == len(set(names))
    assert {outcome: set(names) for outcome, names in got.items()} == reference_resolve(nodes, statuses)
