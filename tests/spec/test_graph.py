"""Topological order and cycles, alone and through the compiler (polyflow.spec.graph)."""

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from polyflow.spec import RawDocument, SpecValidationError, check
from polyflow.spec.graph import CycleError, topological_order


@pytest.mark.parametrize(
    "nodes, edges, order",
    [
        ([], [], ()),
        (["a"], [], ("a",)),
        (["c", "a", "b"], [], ("c", "a", "b")),  # no edges: declaration order
        (["a", "b", "c"], [("a", "b")], ("a", "b", "c")),  # already in order: kept
        (["a", "b", "c"], [("a", "c"), ("b", "c")], ("a", "b", "c")),
        (["c", "b", "a"], [("a", "b"), ("b", "c")], ("a", "b", "c")),
        (["b", "a"], [("a", "b")], ("a", "b")),
        # Of the ops ready at each step, the first declared comes next.
        (["x", "y", "z", "w"], [("w", "x")], ("y", "z", "w", "x")),
        (["a", "b", "c", "d"], [("a", "d"), ("c", "b")], ("a", "c", "b", "d")),
        # A diamond.
        (["end", "left", "right", "start"],
         [("start", "left"), ("start", "right"), ("left", "end"), ("right", "end")],
         ("start", "left", "right", "end")),
    ],
)
def test_topological_order(nodes, edges, order):
    assert topological_order(nodes, edges) == order
    assert topological_order(nodes, list(reversed(edges))) == order  # edge order does not matter


@pytest.mark.parametrize(
    "nodes, edges, cycle",
    [
        (["a"], [("a", "a")], ("a", "a")),
        (["a", "b"], [("a", "b"), ("b", "a")], ("a", "b", "a")),
        (["b", "a"], [("a", "b"), ("b", "a")], ("b", "a", "b")),  # starts at the first declared
        (["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")], ("a", "b", "c", "a")),
        (["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")], ("b", "c", "d", "b")),
        # Downstream of a cycle, ops are blocked but not part of the cycle.
        (["x", "a", "b", "y"], [("a", "b"), ("b", "a"), ("b", "y"), ("x", "a")], ("a", "b", "a")),
        # Two cycles: exactly one is named.
        (["a", "b", "c", "d"], [("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")], ("a", "b", "a")),
        # Two cycles through one node.
        (["a", "b", "c"], [("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")], ("a", "b", "a")),
    ],
)
def test_cycles(nodes, edges, cycle):
    with pytest.raises(CycleError) as caught:
        topological_order(nodes, edges)
    assert caught.value.cycle == cycle
    assert str(caught.value) == " -> ".join(cycle)
    assert is_closed_cycle(caught.value.cycle, set(edges))


# --- Reference implementations, deliberately naive -------------------------------------


def is_acyclic(count: int, edges: set[tuple[int, int]]) -> bool:
    """Remove nodes without upstream until none is left (acyclic) or none can go."""
    left = set(range(count))
    while left:
        sources = {node for node in left if not any(up in left for up, down in edges if down == node)}
        if not sources:
            return False
        left -= sources
    return True


def is_closed_cycle(cycle, edges) -> bool:
    """A simple cycle: closed, no node twice, and each step an edge."""
    return (
        len(cycle) >= 2
        and cycle[0] == cycle[-1]
        and len(set(cycle[:-1])) == len(cycle) - 1
        and all((up, down) in edges for up, down in zip(cycle, cycle[1:], strict=False))
    )


# --- Random graphs through the public API ---------------------------------------------


def op_name(index: int) -> str:
    return f"op-{index}"


def pipeline_document(count: int, edges: set[tuple[int, int]]) -> dict:
    """A pipeline whose op i depends on every j with an edge (j, i), in index order."""
    return {
        "version": 1,
        "kind": "pipeline",
        "name": "random",
        "ops": [
            {
                "name": op_name(node),
                "template": {"name": "t"},
                **(
                    {"dependencies": [op_name(up) for up in sorted(up for up, down in edges if down == node)]}
                    if any(down == node for _, down in edges)
                    else {}
                ),
            }
            for node in range(count)
        ],
        "templates": [{"kind": "job", "name": "t", "container": {"image": "python:3.11"}}],
    }


def compile_graph(count: int, edges: set[tuple[int, int]]):
    """The plan, or the errors, of a pipeline built from a graph."""
    raw = RawDocument("random.yaml", pipeline_document(count, edges))
    try:
        return check([raw]).pipelines[0], None
    except SpecValidationError as error:
        return None, error.errors


@st.composite
def graphs(draw, self_edges: bool = False):
    """(count, edges): 1 to 30 nodes and a random set of edges between them."""
    count = draw(st.integers(min_value=1, max_value=30))
    node = st.integers(min_value=0, max_value=count - 1)
    size = draw(st.integers(min_value=0, max_value=3 * count))
    edges = set(draw(st.lists(st.tuples(node, node), min_size=size, max_size=size)))
    if self_edges:
        return count, edges
    edges = {(up, down) for up, down in edges if up != down}
    if draw(st.booleans()):
        # Point every edge forwards: an acyclic graph, however dense.
        edges = {(min(edge), max(edge)) for edge in edges}
    return count, edges


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(graphs())
@example((3, {(0, 1), (1, 2)}))
@example((4, {(0, 1), (1, 2), (2, 3), (3, 1)}))
def test_the_compiler_accepts_exactly_the_acyclic_graphs(graph):
    count, edges = graph
    plan, errors = compile_graph(count, edges)
    named = {(op_name(up), op_name(down)) for up, down in edges}
    acyclic = is_acyclic(count, edges)
    event("acyclic" if acyclic else "cyclic")
    if acyclic:
        assert errors is None
        assert sorted(plan.order) == sorted(op_name(node) for node in range(count))
        position = {name: index for index, name in enumerate(plan.order)}
        assert all(position[up] < position[down] for up, down in named)
        assert set(plan.edges) == named
    else:
        assert plan is None
        assert len(errors) == 1
        error = errors[0]
        assert (error.source, error.path) == ("random.yaml", "ops")
        assert error.message.startswith("dependency cycle: ")
        cycle = error.message.removeprefix("dependency cycle: ").split(" -> ")
        assert is_closed_cycle(cycle, named), cycle


@SETTINGS
@given(graphs(self_edges=True).filter(lambda graph: any(up == down for up, down in graph[1])))
@example((3, {(0, 1), (1, 0), (2, 2)}))
def test_self_dependencies_are_reported_where_they_are(graph):
    count, edges = graph
    document = pipeline_document(count, edges)
    expected = [
        (f"ops[{index}].dependencies[{position}]", f"op '{op['name']}' cannot depend on itself")
        for index, op in enumerate(document["ops"])
        for position, name in enumerate(op.get("dependencies", ()))
        if name == op["name"]
    ]
    plan, errors = compile_graph(count, edges)
    assert plan is None
    # Cycles among the other ops are only looked for once the dependencies are sound.
    assert [(error.path, error.message) for error in errors] == expected


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_topological_order_agrees_with_the_reference(graph):
    count, edges = graph
    nodes = [op_name(node) for node in range(count)]
    named = [(op_name(up), op_name(down)) for up, down in sorted(edges)]
    if is_acyclic(count, edges):
        order = topological_order(nodes, named)
        assert sorted(order) == sorted(nodes)
        assert all(order.index(up) < order.index(down) for up, down in named)
        # Declaration order wins ties: no op could have gone earlier than it did.
        for index, node in enumerate(order):
            earlier = [n for n in nodes if n not in order[:index] and nodes.index(n) < nodes.index(node)]
            blocked = {down for up, down in named if up not in order[:index]}
            assert all(n in blocked for n in earlier), (node, earlier)
    else:
        with pytest.raises(CycleError) as caught:
            topological_order(nodes, named)
        assert is_closed_cycle(caught.value.cycle, set(named))
