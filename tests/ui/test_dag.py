"""The DAG's pure-Python layout and its SVG: structure only (bench/dashboard_bench.py times it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from polyflow.ui import dag
from polyflow.ui.dag import NODE_H, NODE_W, ROW_GAP, NodeBadge, layout, render_svg

from .graphs import random_dag

SVG = "{http://www.w3.org/2000/svg}"

GRAPHS = {
    "single": (["a"], []),
    "diamond": (["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]),
    "long edges": (["a", "b", "c", "d", "e"], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("a", "e"),
                                               ("e", "d")]),
    "two components": (["a", "b", "x", "y"], [("a", "b"), ("x", "y")]),
    "random 60": random_dag(60, seed_value=3),
    "random 200": random_dag(200),
    "fan 80": (["root", *[f"m{i}" for i in range(80)], "sink"],
               [("root", f"m{i}") for i in range(80)] + [(f"m{i}", "sink") for i in range(80)]),
    "fan": (["root", *[f"m{i}" for i in range(30)], "sink"],
            [("root", f"m{i}") for i in range(30)] + [(f"m{i}", "sink") for i in range(30)]),
}


def layer_of(result):
    return {name: box.layer for name, box in result.nodes.items()}


@pytest.mark.parametrize("graph", GRAPHS)
def test_layers_follow_the_edges_by_longest_path(graph):
    names, edges = GRAPHS[graph]
    result = layout(names, edges)
    layers = layer_of(result)
    assert set(layers) == set(names)
    for up, down in edges:
        assert layers[up] < layers[down]
    # Longest path: a source is in layer 0, anything else right after its deepest upstream.
    for name in names:
        ups = [up for up, down in edges if down == name]
        assert layers[name] == (max(layers[up] for up in ups) + 1 if ups else 0)
    assert [sorted(layer) for layer in result.layers] == [
        sorted(name for name in names if layers[name] == index) for index in range(len(result.layers))]


@pytest.mark.parametrize("graph", GRAPHS)
def test_nodes_do_not_overlap(graph):
    names, edges = GRAPHS[graph]
    result = layout(names, edges)
    boxes = sorted(result.nodes.values(), key=lambda box: (box.x, box.y))
    for index, box in enumerate(boxes):
        assert box.x >= 0 and box.y >= 0
        assert box.x + NODE_W <= result.width and box.y + NODE_H <= result.height
        for other in boxes[index + 1:]:
            apart_x = box.x + NODE_W <= other.x or other.x + NODE_W <= box.x
            apart_y = box.y + NODE_H + ROW_GAP <= other.y + 0.01 or other.y + NODE_H + ROW_GAP <= box.y + 0.01
            assert apart_x or apart_y, (box, other)
    # Each layer keeps its order: top to bottom (then left to right when it wraps).
    for layer in result.layers:
        places = [(result.nodes[name].x, result.nodes[name].y) for name in layer]
        assert places == sorted(places)


@pytest.mark.parametrize("graph", GRAPHS)
def test_edges_go_from_right_side_to_left_side_and_only_forwards(graph):
    names, edges = GRAPHS[graph]
    result = layout(names, edges)
    assert [(edge.up, edge.down) for edge in result.edges] == edges
    for edge in result.edges:
        source, target = result.nodes[edge.up], result.nodes[edge.down]
        (x0, y0), (x1, y1) = edge.points[0], edge.points[-1]
        assert x0 == source.x + NODE_W and source.y <= y0 <= source.y + NODE_H
        assert x1 == target.x and target.y <= y1 <= target.y + NODE_H
        xs = [x for x, _ in edge.points]
        assert xs == sorted(xs)
        # Axis-aligned segments that pass between the ops, never through one.
        for (xa, ya), (xb, yb) in zip(edge.points, edge.points[1:], strict=False):
            assert xa == xb or ya == yb
            for box in result.nodes.values():
                inside_x = min(xa, xb) < box.x + NODE_W - 0.5 and max(xa, xb) > box.x + 0.5
                inside_y = min(ya, yb) < box.y + NODE_H - 0.5 and max(ya, yb) > box.y + 0.5
                assert not (inside_x and inside_y), (edge.up, edge.down, (xa, ya), (xb, yb), box.name)
        assert edge.path.startswith(f"M{x0:g},{y0:g}") and edge.path.endswith(f"L{x1:g},{y1:g}")


def test_wide_layers_wrap_into_columns():
    names, edges = GRAPHS["fan"]
    result = layout(names, edges)
    middle = [result.nodes[f"m{i}"] for i in range(30)]
    assert {box.column for box in middle} == {0, 1}
    assert max(box.y for box in middle) < min(box.y for box in middle) + dag.WRAP_ROWS * (NODE_H + ROW_GAP)
    assert result.nodes["sink"].x > max(box.x for box in middle) + NODE_W
    wide = layout(*GRAPHS["random 200"])
    assert all(box.column == 0 for box in wide.nodes.values())  # layers with edges passing through never wrap


@pytest.mark.parametrize("graph", GRAPHS)
def test_the_layout_is_deterministic(graph):
    names, edges = GRAPHS[graph]
    first, second = layout(names, edges), layout(list(names), list(edges))
    assert first.nodes == second.nodes and first.edges == second.edges
    assert render_svg(first, {names[0]: "running"}) == render_svg(second, {names[0]: "running"})


def test_barycenter_ordering_removes_avoidable_crossings():
    # Declared in the order that crosses: a-d and b-c.
    result = layout(["a", "b", "c", "d"], [("a", "d"), ("b", "c")])
    assert result.crossings == 0
    order = {name: box.order for name, box in result.nodes.items()}
    assert (order["a"] < order["b"]) == (order["d"] < order["c"])
    big = layout(*GRAPHS["random 200"])
    # Far fewer crossings than the declaration order gives.
    naive = dag._crossings(*_declared_layers(*GRAPHS["random 200"]))
    assert big.crossings < naive / 2


def _declared_layers(names, edges):
    layers = dag._longest_path_layers(list(names), list(edges))
    result = [[] for _ in range(max(layers.values()) + 1)]
    downs = {name: [] for name in names}
    # Dummies as the layout makes them, in declaration order.
    for up, down in edges:
        chain = [up] + [f"{up}>{down}@{layer}" for layer in range(layers[up] + 1, layers[down])] + [down]
        for node, layer in zip(chain[1:-1], range(layers[up] + 1, layers[down]), strict=True):
            result[layer].append(node)
            downs[node] = []
        for a, b in zip(chain, chain[1:], strict=False):
            downs[a].append(b)
    for name in names:
        result[layers[name]].insert(0, name)
    return result, downs


def test_a_chain_is_a_straight_line():
    names = [f"s{i}" for i in range(8)]
    result = layout(names, list(zip(names, names[1:], strict=False)))
    assert len({box.y for box in result.nodes.values()}) == 1
    assert all(len(edge.points) == 2 for edge in result.edges)


def test_cycles_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        layout(["a", "b"], [("a", "b"), ("b", "a")])


def test_unknown_names_and_self_loops_are_ignored():
    result = layout(["a", "b"], [("a", "b"), ("a", "zzz"), ("b", "b"), ("a", "b")])
    assert [(edge.up, edge.down) for edge in result.edges] == [("a", "b")]


def test_svg_structure():
    names, edges = GRAPHS["diamond"]
    statuses = {"a": "succeeded", "b": "failed", "c": "running"}
    svg = render_svg(layout(names, edges), statuses, links={"a": "#op-a"}, label="DAG <of> x")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("class") == "dag" and root.get("aria-label") == "DAG <of> x"
    ops = root.findall(f".//{SVG}g[@data-op]")
    assert [(g.get("data-op"), g.get("class"), g.get("data-status")) for g in ops] == [
        ("a", "op status-succeeded", "succeeded"), ("b", "op status-failed", "failed"),
        ("c", "op status-running", "running"), ("d", "op", None)]
    for g in ops:
        assert "".join(g.itertext()).endswith(g.get("data-op"))  # the name, shown
    assert ops[0].find(f"{SVG}a").get("href") == "#op-a"
    paths = root.findall(f".//{SVG}path[@class='edge']")
    assert [(p.get("data-from"), p.get("data-to")) for p in paths] == edges
    assert all(p.get("marker-end") == "url(#dag-arrow)" for p in paths)
    assert root.find(f".//{SVG}marker").get("id") == "dag-arrow"


def test_svg_escapes_and_shortens_names():
    long = "a-" + "very-" * 10 + "long-name"
    svg = render_svg(layout(["x<y", long], [("x<y", long)]))
    root = ET.fromstring(svg)  # well-formed
    texts = [g.find(f"{SVG}text").text for g in root.findall(f".//{SVG}g[@data-op]")]
    assert texts[0] == "x<y"
    assert texts[1].endswith("\u2026") and long.startswith(texts[1][:-1])
    assert root.findall(f".//{SVG}g[@data-op]")[1].find(f"{SVG}title").text == long


def test_a_badge_counts_a_groups_trials_beside_its_name():
    name = "tune-the-learning-rate"
    badges = {name: NodeBadge("7/9", 2, "7 of 9 trials done, 2 running"), "b": NodeBadge("0/3")}
    root = ET.fromstring(render_svg(layout([name, "b", "c"], []), {name: "running"}, badges=badges))
    tune, b, c = root.findall(f".//{SVG}g[@data-op]")
    pills = tune.findall(f".//{SVG}g[@class='trial-count']/{SVG}g")
    assert [(pill.get("class"), pill.find(f"{SVG}text").text) for pill in pills] == [
        ("count done", "7/9"), ("count running", "\u25b82")]
    rects = [pill.find(f"{SVG}rect") for pill in pills]
    lefts = [float(rect.get("x")) for rect in rects]
    rights = [left + float(rect.get("width")) for left, rect in zip(lefts, rects, strict=True)]
    assert rights[0] < lefts[1] and rights[1] <= NODE_W  # side by side, inside the node
    assert tune.find(f"{SVG}title").text == f"{name} \u2014 running \u2014 7 of 9 trials done, 2 running"
    # The name makes room for the pills: cut shorter than without them.
    label = tune.find(f"{SVG}text").text
    assert label.endswith("\u2026") and name.startswith(label[:-1])
    assert render_svg(layout([name], [])).count(name) == 3  # no badge: the whole name fits (and data-op, title)
    assert [pill.get("class") for pill in b.findall(f".//{SVG}g[@class='trial-count']/{SVG}g")] == ["count done"]
    assert c.find(f".//{SVG}g[@class='trial-count']") is None


def test_a_200_op_graph_stays_within_bounds():
    names, edges = GRAPHS["random 200"]
    result = layout(names, edges)
    assert len(result.nodes) == 200 and len(result.edges) == len(edges)
    assert result.height < 2000  # columns stay short; the drawing scrolls sideways
    root = ET.fromstring(render_svg(result))
    assert len(root.findall(f".//{SVG}g[@data-op]")) == 200


def test_a_200_op_chain_is_cut_into_bands_read_like_lines():
    names = [f"op-{i}" for i in range(200)]
    edges = list(zip(names, names[1:], strict=False))
    result = layout(names, edges)
    assert result.width <= dag.BAND_WIDTH + dag.LAYER_GAP  # not 48,000 px: readable at its own size
    boxes = [result.nodes[name] for name in names]
    rows = sorted({box.y for box in boxes})
    per_band = sum(box.y == rows[0] for box in boxes)
    assert per_band >= 6 and len(rows) == -(-200 // per_band)
    for box, after in zip(boxes, boxes[1:], strict=False):
        # Reading order: to the right in the same band, or at the left of the next band down.
        assert (after.y == box.y and after.x > box.x + NODE_W) or (after.y > box.y + NODE_H and after.x < box.x)
    for box in boxes:
        assert box.x >= 0 and box.x + NODE_W <= result.width and box.y + NODE_H <= result.height
    for edge in result.edges:
        source, target = result.nodes[edge.up], result.nodes[edge.down]
        (x0, y0), (x1, y1) = edge.points[0], edge.points[-1]
        assert (x0, x1) == (source.x + NODE_W, target.x)
        assert source.y <= y0 <= source.y + NODE_H and target.y <= y1 <= target.y + NODE_H
        for (xa, ya), (xb, yb) in zip(edge.points, edge.points[1:], strict=False):
            assert xa == xb or ya == yb
            assert 0 <= min(xa, xb) and max(xa, xb) <= result.width and max(ya, yb) <= result.height
            for box in boxes:
                inside_x = min(xa, xb) < box.x + NODE_W - 0.5 and max(xa, xb) > box.x + 0.5
                inside_y = min(ya, yb) < box.y + NODE_H - 0.5 and max(ya, yb) > box.y + 0.5
                assert not (inside_x and inside_y), (edge.up, edge.down, box.name)
        if target.y == source.y:
            assert len(edge.points) == 2  # a straight line within a band
        else:  # wraps: right, down between the bands, left, down, right into the op
            assert [round(y) for _, y in edge.points] == sorted(round(y) for _, y in edge.points)
    # A deep graph that is not flat keeps one band (it scrolls sideways, and zooms).
    assert all(box.y < 2000 for box in layout(*GRAPHS["random 200"]).nodes.values())
