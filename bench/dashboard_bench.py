"""How long the dashboard takes to lay out and draw a pipeline's DAG (polyflow/ui/dag.py),
and to render its run pages on the server.

    python bench/dashboard_bench.py [--ops 200] [--repeat 5] [--trials 1000] [--no-pages]
                                    [--database-url postgres://postgres@127.0.0.1:5432/polyflow_dashboard_bench]

For a few shapes of `--ops` ops it prints the best time of `--repeat` layouts plus
SVG renders, the number of layers, dummy points (edges crossing layers), edge
crossings left and the drawing's size. Pure Python: no database, no Graphviz.
The aim is well under a second for 200 ops; tests check the layout's structure,
this prints its speed.

Then, on a fresh migrated PostgreSQL database (scale_bench's `Databases`; dropped at the
end), the run page (`ui/{owner}/{project}/runs/{uuid}/`) of two finished runs, rendered
through Django's test client (URL resolution, middleware, the page's queries, templates)
by a signed-in owner: a run of a 200-op pipeline (the random shape above: one op run per
op, each with its status history) and a run of a `--trials` grid search (one matrix op of
1,000 trials, each with a metric series of 20 points, between two ops). Printed for each:
the best and median server-side time of `--repeat` renders, the page's size and its
queries, and whether the targets (issue 14: under 200 ms, under 1 MB) are met by the best
time. A run of a 200-op chain is drawn too (its DAG cut into bands, as lines of text). Past
40 ops, or for a group of more than 100 trials, an op's body is not drawn with the page but
fetched when its row is opened (`ui/.../runs/{uuid}/ops/{op}/`): those fragments are timed
too, a group's with the first and the last page of its trials table (100 trials a page; its
charts draw every trial).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scale_bench, beside this one

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


DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/polyflow_dashboard_bench"
TARGET_SECONDS, TARGET_BYTES = 0.2, 1024 * 1024  # issue 14: under 200 ms server-side, under 1 MB
TEMPLATES = """\
templates:
  - kind: job
    name: step
    inputs: [{name: lr, type: float, default: 0.1}]
    outputs: [{name: accuracy, type: float}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""


def wide_yaml(names, edges) -> str:
    parents: dict[str, list[str]] = {name: [] for name in names}
    for up, down in edges:
        parents[down].append(up)
    ops = "".join(f"  - {{name: {name}, template: {{name: step}}, dependencies: [{', '.join(parents[name])}]}}\n"
                  for name in names)
    return f"version: 1\nkind: pipeline\nname: wide\nops:\n{ops}{TEMPLATES}"


def grid_yaml(trials: int) -> str:
    depths = max(1, trials // 100)
    lrs = ", ".join(f"{0.001 * (i + 1):.3f}" for i in range(trials // depths))
    return f"""\
version: 1
kind: pipeline
name: grid
ops:
  - {{name: prepare, template: {{name: step}}}}
  - name: tune
    template: {{name: train}}
    dependencies: [prepare]
    matrix:
      kind: grid
      concurrency: 200
      params:
        lr: {{kind: choice, value: [{lrs}]}}
        depth: {{kind: choice, value: [{", ".join(str(d + 1) for d in range(depths))}]}}
      metric: {{name: accuracy, optimization: maximize}}
  - {{name: report, template: {{name: step}}, dependencies: [tune]}}
{TEMPLATES}  - kind: job
    name: train
    inputs: [{{name: lr, type: float}}, {{name: depth, type: int}}]
    outputs: [{{name: accuracy, type: float}}]
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
"""


def finished_run(project, text: str, outputs):
    """A run of the pipeline of `text`, ticked on the instant backend until it ended."""
    from polyflow.scheduler.tick import tick
    from polyflow.services.apply import apply_text
    from polyflow.services.runs import trigger_run
    from polyflow.statuses import RUN_FINAL
    from polyflow.testing.backends import InstantBackend

    pipeline = apply_text(project, text).pipelines[0][0]
    backend = InstantBackend(outputs=outputs)
    run = trigger_run(pipeline)
    for _ in range(10_000):
        tick(backend=backend)
        run.refresh_from_db(fields=["status"])
        if run.status in RUN_FINAL:
            return run
    raise SystemExit(f"run of {pipeline.name} did not end: {run.status}")


def report_series(run, points: int = 20) -> int:
    """Every trial of the run's group reports a metric series of `points` points (what its charts draw)."""
    from polyflow.models import MetricPoint, OperationRun

    trials = list(OperationRun.objects.filter(run=run, trial__isnull=False).only("pk", "attempt", "outputs"))
    MetricPoint.objects.bulk_create([
        MetricPoint(op_run_id=trial.pk, attempt=trial.attempt, step=step, name="accuracy",
                    value=trial.outputs.get("accuracy", 0.5) * (1 - 0.8 ** step))
        for trial in trials for step in range(1, points + 1)], batch_size=5000)
    return len(trials)


def render(client, url: str, repeat: int):
    import statistics

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, size, queries = [], 0, 0
    for _ in range(repeat + 1):  # the first warms the caches (templates, imports)
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            body = response.content
            times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
        size, queries = len(body), len(captured)
    times = times[1:]
    return min(times), statistics.median(times), size, queries


def pages(args) -> None:
    import os
    import tempfile

    from scale_bench import Databases

    with tempfile.TemporaryDirectory(prefix="polyflow-dashboard-") as home:
        os.environ.update({"DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings",
                           "DATABASE_URL": args.database_url, "POLYFLOW_HOME": home,
                           "POLYFLOW_SECRET_KEY": "dashboard-bench", "POLYFLOW_MAX_TRIALS": str(args.trials)})
        import django

        django.setup()
        from django.conf import settings

        from polyflow.selectors.groups import TRIALS_SHOWN
        from polyflow.ui.panels import TRIALS_PER_PAGE

        settings.ALLOWED_HOSTS = ["*"]
        databases = Databases(args.database_url)
        databases.create_template()
        try:
            databases.fresh()
            from django.contrib.auth import get_user_model
            from django.test import Client

            from polyflow.services.projects import create_project

            user = get_user_model().objects.create_user("bench", password="bench")
            project = create_project(user, "bench")
            names, edges = random_dag(args.ops)
            wide = finished_run(project, wide_yaml(names, edges), {})
            chain_names, chain_edges = chain(args.ops)
            long_chain = finished_run(project, wide_yaml(chain_names, chain_edges).replace("name: wide", "name: chain"),
                                      {})
            grid = finished_run(project, grid_yaml(args.trials),
                                {"tune": lambda s: {"accuracy": round(0.5 + s.params["lr"], 4)}})
            trials = report_series(grid)
            client = Client()
            client.force_login(user)
            print()
            print(f"run pages, server-side (Django's test client, PostgreSQL), best and median of {args.repeat}; "
                  "targets: under 200 ms, under 1 MB")
            print(f"{'run':48} {'best (ms)':>9} {'median':>7} {'size (KiB)':>10} {'queries':>7}  targets")
            last_page = -(-min(trials, TRIALS_SHOWN) // TRIALS_PER_PAGE)
            pages = ((f"{len(names)} ops (random shape), {wide.status}", f"runs/{wide.uuid}/"),
                     (f"{len(chain_names)} ops in a chain (cut into bands), {long_chain.status}",
                      f"runs/{long_chain.uuid}/"),
                     (f"a grid of {trials} trials (20 points each)", f"runs/{grid.uuid}/"),
                     (f"  its group's body, opened (charts, trials 1-{TRIALS_PER_PAGE})",
                      f"runs/{grid.uuid}/ops/tune/"),
                     (f"  the same, trials page {last_page} of {last_page}",
                      f"runs/{grid.uuid}/ops/tune/?trials={last_page}"),
                     (f"  an op's body of the {len(names)}-op run", f"runs/{wide.uuid}/ops/{names[len(names) // 2]}/"))
            for label, path in pages:
                best, median, size, queries = render(client, f"/ui/bench/bench/{path}", args.repeat)
                met = "met" if best < TARGET_SECONDS and size < TARGET_BYTES else "MISSED"
                print(f"{label:48} {best * 1000:>9.1f} {median * 1000:>7.1f} {size / 1024:>10.0f} {queries:>7}  {met}")
        finally:
            databases.drop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--trials", type=int, default=1000, help="trials of the grid search's run page")
    parser.add_argument("--no-pages", action="store_true", help="only the layout (no database)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
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
    if not args.no_pages:
        pages(args)


if __name__ == "__main__":
    main()
