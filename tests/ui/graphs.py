"""Generated DAGs for the layout's tests and bench/dashboard_bench.py (no Django needed)."""

from __future__ import annotations

import random


def random_dag(count: int, seed_value: int = 7, max_parents: int = 3, span: int = 12) -> tuple[list[str], list]:
    """`count` ops named op-0... in topological order; each takes up to `max_parents` of the `span` ops before it."""
    rng = random.Random(seed_value)
    names = [f"op-{index}" for index in range(count)]
    edges = []
    for index in range(1, count):
        parents = rng.sample(range(max(0, index - span), index), k=min(index, rng.randint(1, max_parents)))
        edges.extend((names[parent], names[index]) for parent in sorted(parents))
    return names, edges
