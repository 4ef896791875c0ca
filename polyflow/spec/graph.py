"""Topological order and cycle detection for a DAG of named nodes (pure)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence


class CycleError(ValueError):
    def __init__(self, cycle: Sequence[str]):
        self.cycle = tuple(cycle)
        super().__init__(" -> ".join(self.cycle))


def topological_order(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """Kahn's algorithm; ties keep declaration order so plans are deterministic.

    Of the nodes whose upstreams are all ordered, the first declared comes next,
    so a declaration order that already respects the edges is kept as it is.
    `edges` are (upstream, downstream) pairs over `nodes`. Raises CycleError
    naming the nodes of one cycle, closed (`a -> b -> a`).
    """
    position = {node: index for index, node in enumerate(nodes)}
    edges = list(edges)
    if len(position) == len(nodes) and all(position[upstream] < position[node] for upstream, node in edges):
        # Every edge points forward: the loop below would keep the declaration order (each
        # node is ready, and the first declared, once the nodes before it are ordered).
        return tuple(nodes)
    downstream: dict[str, list[str]] = {node: [] for node in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for upstream, node in edges:
        downstream[upstream].append(node)
        indegree[node] += 1
    ready = [position[node] for node in nodes if indegree[node] == 0]  # sorted: a heap
    order = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for child in downstream[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) < len(nodes):
        raise CycleError(_one_cycle({n for n, d in indegree.items() if d > 0}, downstream))
    return tuple(order)


def _one_cycle(blocked: set[str], downstream: dict[str, list[str]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order.

    Each of them still has an unordered upstream, so walking upstream from any
    of them never leaves the set and must come back to a node it has seen.
    """
    position = {node: index for index, node in enumerate(downstream)}
    upstream: dict[str, str] = {}
    for node in sorted(blocked, key=position.__getitem__):
        for child in downstream[node]:
            if child in blocked:
                upstream.setdefault(child, node)
    node = min(blocked, key=position.__getitem__)
    seen: dict[str, int] = {}
    path: list[str] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = upstream[node]
    cycle = path[seen[node]:][::-1]
    # Start at the first declared op so the message is stable.
    first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
    cycle = cycle[first:] + cycle[:first]
    return cycle + [cycle[0]]
