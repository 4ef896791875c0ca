"""How long the dashboard takes to lay out and draw a pipeline's DAG (polyflow/ui/dag.py).

    python bench/dashboard_bench.py [--ops 200] [--repeat 5]

For a few shapes of `--ops` ops it prints the best time of `--repeat` layouts plus
SVG renders, the number of layers, dummy points (edges crossing layers), edge
crossings left and the drawing's size. Pure Python: no database, no Graphviz.
The aim is well under a second for 200 ops; tests check the layout's structure,
this prints its speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polyflow.ui.dag import layout, render_svg  # noqa: E402
from tests.ui.graphs import random_dag  # noqa: E402


def chain(n):
    names = [f"op-{i}" for i in range(n)]
    return names, list(zip(names, names[1:], strict=False))


def fan(n):
    middle = [f"m-{i}" for i in range(n - 2)]
    return ["root", *middle, "sink"], [("root", m) for m in middle] + [(m, "sink") for m in middle]


def layered(n, width=10):
    """`n` ops in layers of `width`, each op depending on two ops of the layer before."""
    names = [f"op-{i}" for i in range(n)]
    edges = []
    for i in range(width, n):
        base = (i // width - 1) * width
        edges += [(names[base + (i * 7) % width], names[i]), (names[base + (i * 3 + 1) % width], names[i])]
    return names, sorted(set(edges), key=edges.index)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    shapes = {
        "random (1-3 parents among the 12 before)": random_dag(args.ops),
        "layered (10 wide, 2 parents)": layered(args.ops),
        "chain": chain(args.ops),
        f"fan (1 -> {args.ops - 2} -> 1)": fan(args.ops),
    }
    print(f"{'shape':44} {'ops':>4} {'edges':>5} {'layers':>6} {'dummies':>7} {'crossings':>9}"
          f" {'size (px)':>13} {'best (ms)':>9}")
    for name, (names, edges) in shapes.items():
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = layout(names, edges)
            svg = render_svg(result)
            best = min(best, time.perf_counter() - start)
        size = f"{result.width:.0f}x{result.height:.0f}"
        print(f"{name:44} {len(names):>4} {len(edges):>5} {len(result.layers):>6} {result.dummies:>7}"
              f" {result.crossings:>9} {size:>13} {best * 1000:>9.1f}   ({len(svg) // 1024} KiB of SVG)")


if __name__ == "__main__":
    main()
