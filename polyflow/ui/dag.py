"""A pipeline's DAG as SVG, laid out in pure Python (no Graphviz).

The layout is a small Sugiyama-style one, left to right:

1. **layers** by longest path from the sources, so every edge goes to a later
   layer; an edge that spans several layers gets a *dummy* point in each layer
   it crosses, so it runs between the nodes rather than through them;
2. **order** within layers by barycenters, sweeping down and up a few times and
   keeping the ordering with the fewest crossings;
3. **coordinates**: each layer is a column; in a column, nodes keep their order
   and their spacing and are pulled as close as they can get to the mean height
   of their neighbours (an isotonic regression, solved exactly by pooling
   adjacent violators), which keeps chains straight;
4. **edges** are orthogonal (horizontal, vertical, horizontal, with rounded
   corners) and end in an arrowhead; each node leaving a column turns in its own
   track of the gap after it, so edges from different nodes do not share a
   vertical segment.

Everything is deterministic: the same ops and edges always give the same SVG.
Each op is a ``<g class="op status-<status>" data-op="<name>" data-status="<status>">``
so pages can style it with CSS and tests (and scripts) can find and update it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

NODE_W = 188
NODE_H = 34
ROW_GAP = 14  # between two nodes of a column
DUMMY_H = 10  # the room an edge passing through a column takes
LAYER_GAP = 52  # between two columns: where edges turn
MARGIN = 16
LABEL_ROOM = NODE_W - 26 - 8  # pixels for a node's name; a longer name is cut, in full in its <title>
SWEEPS = 6
STRAIGHTEN_PASSES = 6
CORNER = 5
WRAP_ROWS = 16  # a layer of more ops than this (and no edge passing through) wraps into several columns
SUB_GAP = 28  # between the columns of a wrapped layer
# A long, flat drawing (a chain of 200 ops would be 48,000 px wide and 66 high) is cut into bands
# of at most BAND_WIDTH px, one under the other, read like lines of text; an edge from the end of a
# band goes down the gap after it, left along the gap between the bands and into the next one.
BAND_WIDTH = 1920
BANDS_WHEN_WIDER = 2 * BAND_WIDTH  # and no higher than FLAT_HEIGHT
FLAT_HEIGHT = 320
BAND_GAP = 40  # between two bands: where the edges that wrap run
WRAP_LEFT = 24  # room left of a band for the edges coming into it


@dataclass(frozen=True)
class Box:
    name: str
    layer: int
    order: int
    x: float
    y: float  # top
    dummy: bool = False
    column: int = 0  # in a wrapped layer: which of its columns
    last_column: bool = True

    @property
    def height(self) -> float:
        return DUMMY_H if self.dummy else NODE_H

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Edge:
    up: str
    down: str
    points: tuple[tuple[float, float], ...]  # the polyline: source port, corners, target port
    path: str  # SVG path data (the polyline with rounded corners)


@dataclass
class Layout:
    nodes: dict[str, Box]  # real ops only
    edges: list[Edge]
    layers: list[list[str]]  # real ops of each layer, top to bottom
    width: float
    height: float
    crossings: int = 0
    dummies: int = 0


def layout(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> Layout:
    """Lay out ops `names` (in a stable order, e.g. the plan's) with edges (upstream, downstream)."""
    names = list(dict.fromkeys(names))
    known = set(names)
    edge_list = list(dict.fromkeys((up, down) for up, down in edges if up in known and down in known and up != down))
    layer_of = _longest_path_layers(names, edge_list)

    # Chains of dummies for edges spanning several layers: every segment joins adjacent layers.
    segments: list[tuple[str, str]] = []
    chains: dict[tuple[str, str], list[str]] = {}
    dummy_layer: dict[str, int] = {}
    for up, down in edge_list:
        chain = [up]
        for layer in range(layer_of[up] + 1, layer_of[down]):
            dummy = f"\x00{up}\x00{down}\x00{layer}"
            dummy_layer[dummy] = layer
            chain.append(dummy)
        chain.append(down)
        chains[(up, down)] = chain
        segments.extend(zip(chain, chain[1:], strict=False))
    all_layer = {**layer_of, **dummy_layer}
    depth = max(all_layer.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for name in names:  # the given order first, then dummies in the order of their edges
        layers[layer_of[name]].append(name)
    for dummy, layer in dummy_layer.items():
        layers[layer].append(dummy)

    ups: dict[str, list[str]] = {node: [] for node in all_layer}
    downs: dict[str, list[str]] = {node: [] for node in all_layer}
    for up, down in segments:
        ups[down].append(up)
        downs[up].append(down)

    layers, crossings = _order(layers, ups, downs)
    # Wide layers wrap into columns of at most WRAP_ROWS rows (ops in reading order, top to bottom
    # then left to right); edges reach their ops through the gaps between rows.
    columns = [1 if len(layer) <= WRAP_ROWS or any(node in dummy_layer for node in layer)
               else -(-len(layer) // WRAP_ROWS) for layer in layers]
    ys, place = _coordinates(layers, ups, downs, dummy_layer, columns)
    xs, x = [], MARGIN
    for count in columns:
        xs.append(x)
        x += count * NODE_W + (count - 1) * SUB_GAP + LAYER_GAP
    rights = [left + count * NODE_W + (count - 1) * SUB_GAP for left, count in zip(xs, columns, strict=True)]

    strip = max((y + (DUMMY_H if node in dummy_layer else NODE_H) for node, y in ys.items()), default=0) + MARGIN
    bands = _bands(xs, rights, strip) if rights and rights[-1] + MARGIN > BANDS_WHEN_WIDER and strip <= FLAT_HEIGHT \
        else None
    if bands is not None:
        xs, rights = bands.xs, bands.rights
    boxes: dict[str, Box] = {}
    for index, layer in enumerate(layers):
        shift = bands.ys[index] if bands is not None else 0.0
        for order, node in enumerate(layer):
            column = place.get(node, 0)
            boxes[node] = Box(node, index, order, xs[index] + column * (NODE_W + SUB_GAP), ys[node] + shift,
                              node in dummy_layer, column, column == columns[index] - 1)
    routed = _route(edge_list, chains, boxes, layers, rights, bands)
    height = max((box.y + box.height for box in boxes.values()), default=0) + MARGIN
    # Banded, the edges leaving a band turn in the gap after its last layer: inside the drawing.
    width = (max(rights) + (LAYER_GAP if bands is not None else MARGIN)) if rights else 2 * MARGIN
    real_layers = [[node for node in layer if node not in dummy_layer] for layer in layers]
    return Layout({name: boxes[name] for name in names}, routed, real_layers, width, max(height, 2 * MARGIN),
                  crossings, len(dummy_layer))


@dataclass
class _Bands:
    xs: list[float]  # each layer's left, in its band
    rights: list[float]
    ys: list[float]  # each layer's shift down: its band's
    starts: dict[int, tuple[float, float]]  # layer that starts a band (not the first) -> (gap y above it, left x)


def _bands(xs: list[float], rights: list[float], strip: float) -> _Bands:
    """The layers cut into bands of at most BAND_WIDTH px, each band under the one before."""
    new_xs, new_rights, shifts, starts = [], [], [], {}
    band, origin = 0, xs[0] - MARGIN - WRAP_LEFT
    for index, (left, right) in enumerate(zip(xs, rights, strict=True)):
        if index and right - origin > BAND_WIDTH:
            band, origin = band + 1, left - MARGIN - WRAP_LEFT
            starts[index] = (band * (strip + BAND_GAP) - BAND_GAP / 2, MARGIN + WRAP_LEFT / 2)
        new_xs.append(left - origin)
        new_rights.append(right - origin)
        shifts.append(band * (strip + BAND_GAP))
    return _Bands(new_xs, new_rights, shifts, starts)


def _longest_path_layers(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, list[str]] = {name: [] for name in names}
    succs: dict[str, list[str]] = {name: [] for name in names}
    for up, down in edges:
        preds[down].append(up)
        succs[up].append(down)
    indegree = {name: len(preds[name]) for name in names}
    ready = [name for name in names if indegree[name] == 0]
    layer = dict.fromkeys(names, 0)
    seen = 0
    while ready:
        node = ready.pop(0)
        seen += 1
        for down in succs[node]:
            layer[down] = max(layer[down], layer[node] + 1)
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    if seen != len(names):
        raise ValueError("the graph has a cycle")
    return layer


def _order(layers: list[list[str]], ups, downs) -> tuple[list[list[str]], int]:
    """Barycenter sweeps; the ordering with the fewest crossings wins (ties: the earliest)."""
    best = [list(layer) for layer in layers]
    best_crossings = _crossings(best, downs)
    current = [list(layer) for layer in layers]
    for sweep in range(SWEEPS):
        if best_crossings == 0:
            break
        if sweep % 2 == 0:
            for index in range(1, len(current)):
                current[index] = _by_barycenter(current[index], current[index - 1], ups)
        else:
            for index in range(len(current) - 2, -1, -1):
                current[index] = _by_barycenter(current[index], current[index + 1], downs)
        crossings = _crossings(current, downs)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
    return best, best_crossings


def _by_barycenter(layer: list[str], fixed: list[str], neighbours) -> list[str]:
    position = {node: index for index, node in enumerate(fixed)}
    keyed = []
    for index, node in enumerate(layer):
        near = [position[other] for other in neighbours[node] if other in position]
        # A node without neighbours there keeps its place.
        keyed.append((sum(near) / len(near) if near else float(index), index, node))
    keyed.sort()
    return [node for _, _, node in keyed]


def _crossings(layers: list[list[str]], downs) -> int:
    """Edge crossings between adjacent layers: inversions of the targets' positions, with a Fenwick tree."""
    total = 0
    for upper, lower in zip(layers, layers[1:], strict=False):
        position = {node: index for index, node in enumerate(lower)}
        targets = [position[down] for node in upper for down in sorted(downs[node], key=position.__getitem__)]
        tree = [0] * (len(lower) + 1)
        for count, target in enumerate(targets):
            # Earlier edges (from nodes above, or from the same node to targets above) ending below `target` cross it.
            index, not_above = target + 1, 0
            while index > 0:
                not_above += tree[index]
                index -= index & -index
            total += count - not_above
            index = target + 1
            while index <= len(lower):
                tree[index] += 1
                index += index & -index
    return total


def _coordinates(layers, ups, downs, dummy_layer, columns) -> tuple[dict[str, float], dict[str, int]]:
    """Top y of every node, and the column of ops in wrapped layers.

    A column keeps its order and spacing, each node pulled towards its neighbours'
    mean height; a wrapped layer is a fixed grid that its neighbours are pulled to.
    """

    def height(node):
        return DUMMY_H if node in dummy_layer else NODE_H

    ys: dict[str, float] = {}
    place: dict[str, int] = {}
    for layer, count in zip(layers, columns, strict=True):
        rows = -(-len(layer) // count) if layer else 0
        y = MARGIN
        for index, node in enumerate(layer):
            if count > 1:
                place[node] = index // rows
                ys[node] = MARGIN + (index % rows) * (NODE_H + ROW_GAP)
            else:
                ys[node] = y
                y += height(node) + ROW_GAP

    def centre(node):
        return ys[node] + height(node) / 2

    for index in range(STRAIGHTEN_PASSES):
        order = range(1, len(layers)) if index % 2 == 0 else range(len(layers) - 2, -1, -1)
        for layer_index in order:
            layer = layers[layer_index]
            if columns[layer_index] > 1:
                continue
            wanted = []
            for node in layer:
                near = (ups if index % 2 == 0 else downs)[node] or ups[node] + downs[node]
                wanted.append(sum(centre(other) for other in near) / len(near) - height(node) / 2
                              if near else ys[node])
            for node, y in zip(layer, _spread(wanted, [height(node) + ROW_GAP for node in layer]), strict=True):
                ys[node] = y
    top = min(ys.values(), default=MARGIN)
    return {node: y - top + MARGIN for node, y in ys.items()}, place


def _spread(wanted: list[float], pitches: list[float]) -> list[float]:
    """Positions closest (least squares) to `wanted` with y[i+1] >= y[i] + pitches[i]: pool adjacent violators."""
    offsets = [0.0]
    for pitch in pitches[:-1]:
        offsets.append(offsets[-1] + pitch)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value in (w - o for w, o in zip(wanted, offsets, strict=True)):
        blocks.append([value, 1.0, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight, count = blocks.pop()
            previous = blocks[-1]
            total = previous[1] + weight
            previous[0] = (previous[0] * previous[1] + mean * weight) / total
            previous[1], previous[2] = total, previous[2] + count
    result = []
    for mean, _, count in blocks:
        result.extend([mean] * count)
    return [round(z + o, 1) for z, o in zip(result, offsets, strict=True)]


def _route(edge_list, chains, boxes: dict[str, Box], layers, rights, bands: _Bands | None = None) -> list[Edge]:
    # Each node that has edges leaving it turns in its own vertical track of the gap after its layer.
    has_down = {node for chain in chains.values() for node in chain[:-1]}
    track: dict[str, float] = {}
    for index, layer in enumerate(layers[:-1]):
        leaving = [node for node in layer if node in has_down]
        for rank, node in enumerate(leaving):
            # Tracks spread over the middle of the gap, leaving room for the arrowheads.
            track[node] = round(rights[index] + 12 + (LAYER_GAP - 28) * (rank + 1) / (len(leaving) + 1), 1)
    # Ports: the edges leaving (entering) a node are spread over its right (left) side, in the
    # order of where they go (come from), so that they do not cross there or meet in one point.
    out_ports: dict[str, list[tuple[float, int]]] = {}
    in_ports: dict[str, list[tuple[float, int]]] = {}
    for number, (up, down) in enumerate(edge_list):
        chain = chains[(up, down)]
        out_ports.setdefault(up, []).append((boxes[chain[1]].cy, number))
        in_ports.setdefault(down, []).append((boxes[chain[-2]].cy, number))
    start_y = _port_heights(out_ports, boxes)
    end_y = _port_heights(in_ports, boxes)
    routed = []
    for number, (up, down) in enumerate(edge_list):
        chain = chains[(up, down)]
        source, target = boxes[up], boxes[down]
        x, y = source.x + NODE_W, start_y[number]
        points = [(x, y)]
        if not source.last_column:
            # Out of a wrapped layer: down to the gap below the op's row, then right along it.
            x = source.x + NODE_W + SUB_GAP / 2
            y = source.y + NODE_H + ROW_GAP / 2
            points += [(x, points[-1][1]), (x, y)]
        for previous, node in zip(chain, chain[1:], strict=False):
            box = boxes[node]
            turn = track[previous]
            if bands is not None and box.layer in bands.starts:
                # Into the next band: down the gap after this one, left along the gap between the
                # bands, down beside the band's first layer; then on as within a band.
                channel, left = bands.starts[box.layer]
                points += [(turn, y), (turn, channel), (left, channel)]
                turn = left
            if node == down:
                if target.column:
                    # Into a wrapped layer: along the gap above the op's row, then down into its left side.
                    channel, x_in = target.y - ROW_GAP / 2, target.x - SUB_GAP / 2
                    points += [(turn, y), (turn, channel), (x_in, channel), (x_in, end_y[number])]
                else:
                    points += [(turn, y), (turn, end_y[number])]
                points.append((target.x, end_y[number]))
            else:  # a dummy: straight across its layer
                points += [(turn, y), (turn, box.cy), (box.x, box.cy), (box.x + NODE_W, box.cy)]
                y = box.cy
        points = _simplify(points)
        routed.append(Edge(up, down, tuple(points), _rounded_path(points)))
    return routed


def _simplify(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Without repeated points and points in the middle of a straight run."""
    result: list[tuple[float, float]] = []
    for point in ((round(x, 1), round(y, 1)) for x, y in points):
        if result and point == result[-1]:
            continue
        if len(result) >= 2:
            (x0, y0), (x1, y1) = result[-2], result[-1]
            if (x0 == x1 == point[0]) or (y0 == y1 == point[1]):
                result[-1] = point
                continue
        result.append(point)
    return result


def _port_heights(ports: dict[str, list[tuple[float, int]]], boxes: dict[str, Box]) -> dict[int, float]:
    heights = {}
    for node, edges in ports.items():
        box = boxes[node]
        edges.sort()
        spread = min(NODE_H - 12, 6 * (len(edges) - 1))
        for index, (_, number) in enumerate(edges):
            offset = 0 if len(edges) == 1 else spread * (index / (len(edges) - 1) - 0.5)
            heights[number] = round(box.cy + offset, 1)
    return heights


def _rounded_path(points: list[tuple[float, float]]) -> str:
    """An axis-aligned polyline as SVG path data, its corners rounded."""
    parts = [f"M{points[0][0]:g},{points[0][1]:g}"]
    for index in range(1, len(points) - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[index - 1], points[index], points[index + 1]
        radius = min(CORNER, abs(x1 - x0 + y1 - y0) / 2, abs(x2 - x1 + y2 - y1) / 2)
        before = (x1 - radius * _sign(x1 - x0), y1 - radius * _sign(y1 - y0))
        after = (x1 + radius * _sign(x2 - x1), y1 + radius * _sign(y2 - y1))
        parts.append(f"L{before[0]:g},{before[1]:g} Q{x1:g},{y1:g} {after[0]:g},{after[1]:g}")
    parts.append(f"L{points[-1][0]:g},{points[-1][1]:g}")
    return " ".join(parts)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


# Rough advance widths (px) of a 12px bold sans-serif (DejaVu Sans, the widest common default), to cut long names.
_NARROW, _WIDE = set("ijlt.,:;'|!"), set("mwMW")


def _text_width(text: str) -> float:
    return sum(4.2 if c in _NARROW else 11.5 if c in _WIDE else 9.2 if c.isupper() else 5.4 if c in "fr-_()[]"
               else 8.1 for c in text)


def _label(name: str, room: float = LABEL_ROOM) -> str:
    if _text_width(name) <= room:
        return name
    while name and _text_width(name + "\u2026") > room:
        name = name[:-1]
    return name + "\u2026"


@dataclass(frozen=True)
class NodeBadge:
    """A count drawn at the right end of a node: a matrix group's "3/9" trials done, and how
    many run (a second, blue pill); `title` says it in words in the node's tooltip."""

    text: str
    running: int = 0
    title: str = ""


BADGE_H = 18
BADGE_PAD = 6  # inside a pill, each side of its text
BADGE_SCALE = 10.5 / 12  # the pills' text is 10.5px: _text_width measures 12px


def _pill(text: str, right: float, classes: str) -> tuple[str, float]:
    """A pill whose right edge is at `right`: its SVG and its left edge."""
    width = round(_text_width(text) * BADGE_SCALE + 2 * BADGE_PAD, 1)
    left = right - width
    top = (NODE_H - BADGE_H) / 2
    return (f'<g class="{classes}"><rect x="{left:g}" y="{top:g}" width="{width:g}" height="{BADGE_H}"'
            f' rx="{BADGE_H / 2:g}"/><text x="{left + width / 2:g}" y="{top + 12.5:g}" text-anchor="middle">'
            f'{escape(text)}</text></g>', left)


def _badge(badge: NodeBadge) -> tuple[str, float]:
    """The badge's pills, right-aligned in the node: their SVG and the room they leave for the name."""
    right = NODE_W - 7
    parts = []
    if badge.running:
        running, right = _pill(f"\u25b8{badge.running}", right, "count running")
        parts.append(running)
        right -= 3
    done, right = _pill(badge.text, right, "count done")
    parts.insert(0, done)
    return f'<g class="trial-count">{"".join(parts)}</g>', right - 6 - 26


def render_svg(result: Layout, statuses: Mapping[str, str] | None = None, *,
               links: Mapping[str, str] | None = None, badges: Mapping[str, NodeBadge] | None = None,
               label: str = "DAG", id_prefix: str = "dag") -> SafeString:
    """The layout as an inline SVG element. `statuses` colours ops (CSS classes `status-<status>`);
    `links` makes ops links (e.g. to their row on the page); `badges` adds counts to ops."""
    statuses = statuses or {}
    links = links or {}
    badges = badges or {}
    arrow = f"{id_prefix}-arrow"
    out = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{result.width:g}" height="{result.height:g}"'
        f' viewBox="0 0 {result.width:g} {result.height:g}" role="img" aria-label="{escape(label)}">',
        f'<defs><marker id="{arrow}" class="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,1 L9,5 L0,9 z"/></marker></defs>',
        '<g class="edges">',
    ]
    for edge in result.edges:
        out.append(f'<path class="edge" data-from="{escape(edge.up)}" data-to="{escape(edge.down)}"'
                   f' d="{edge.path}" marker-end="url(#{arrow})"/>')
    out.append('</g><g class="nodes">')
    for name, box in result.nodes.items():
        status = statuses.get(name, "")
        classes = f"op status-{escape(status)}" if status else "op"
        status_attr = f' data-status="{escape(status)}"' if status else ""
        title = f"{name} \u2014 {status}" if status else name
        badge, room = ("", LABEL_ROOM)
        if name in badges:
            badge, room = _badge(badges[name])
            title += f" \u2014 {badges[name].title}" if badges[name].title else ""
        body = (f'<title>{escape(title)}</title>'
                f'<rect class="node" width="{NODE_W}" height="{NODE_H}" rx="7"/>'
                f'<circle class="state" cx="14" cy="{NODE_H / 2:g}" r="5"/>'
                f'<text class="name" x="26" y="{NODE_H / 2 + 4.5:g}">{escape(_label(name, room))}</text>{badge}')
        if name in links:
            body = f'<a href="{escape(links[name])}">{body}</a>'
        out.append(f'<g class="{classes}" data-op="{escape(name)}"{status_attr}'
                   f' transform="translate({box.x:g},{box.y:g})">{body}</g>')
    out.append("</g></svg>")
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


def plan_svg(plan, statuses: Mapping[str, str] | None = None, **kwargs) -> SafeString:
    """The DAG of a `Plan` (its ops in declaration order)."""
    return render_svg(layout([op.name for op in plan.ops], plan.edges), statuses, **kwargs)
