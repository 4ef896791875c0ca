"""Scheduler throughput on PostgreSQL with a backend that finishes each op at once.

    python bench/scheduler_bench.py [--database-url postgres://postgres@127.0.0.1:5432/polyflow_bench]

Creates (and afterwards drops) its own database. For each shape it triggers
runs, ticks until they end and prints: op runs finished per second, queries
per tick and per round (a tick repeats rounds of sync, decide and submit while
ops finish), and the delay from an op finishing to its downstream
op being submitted (median and 99th percentile).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def chain(n):
    return [(f"o{i}", [f"o{i - 1}"] if i else []) for i in range(n)]


def fan(n):
    middle = [(f"m{i}", ["root"]) for i in range(n - 2)]
    return [("root", [])] + middle + [("sink", [name for name, _ in middle])]


def tree(n):
    return [(f"o{i}", [f"o{(i - 1) // 2}"] if i else []) for i in range(n)]


def pipeline_yaml(name, ops):
    lines = [f"version: 1\nkind: pipeline\nname: {name}\nops:"]
    for op, deps in ops:
        lines.append(f"  - {{name: {op}, template: {{name: t}}, dependencies: [{', '.join(deps)}]}}")
    lines.append("templates:\n  - {kind: job, name: t, container: {image: 'python:3.11', command: ['true']}}")
    return "\n".join(lines) + "\n"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run_shape(label, pipelines, project):
    from django.db import connection

    from polyflow.models import OperationRun, PipelineRun
    from polyflow.scheduler.tick import tick
    from polyflow.services.apply import apply_text
    from polyflow.services.runs import trigger_run
    from polyflow.testing.backends import InstantBackend

    backend = InstantBackend()
    runs, edges = [], []
    for name, ops in pipelines:
        pipeline = apply_text(project, pipeline_yaml(name, ops)).pipelines[0][0]
        runs.append(trigger_run(pipeline))
        edges.extend((name, up, op) for op, deps in ops for up in deps)
    total = sum(len(ops) for _, ops in pipelines)
    queries = []

    def count(execute, sql, params, many, context):
        queries[-1] += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    ticks = rounds = 0
    while PipelineRun.objects.filter(pk__in=[r.pk for r in runs], status__in=["created", "running"]).exists():
        queries.append(0)
        with connection.execute_wrapper(count):
            rounds += tick(backend=backend).passes
        ticks += 1
    elapsed = time.perf_counter() - started
    finished = OperationRun.objects.filter(run__in=runs, status="succeeded").count()
    assert finished == total, f"{label}: {finished} of {total} op runs succeeded"
    run_of = {r.pipeline.name: r for r in runs}
    key = {}
    for s in backend.submissions:
        key[(s.pipeline, s.op)] = s.key
    delays = [
        (backend.submitted_clock[key[(name, op)]] - backend.finished_clock[key[(name, up)]]) * 1000
        for name, up, op in edges
        # the hand-off of an op is from its last upstream to finish
        if backend.finished_clock[key[(name, up)]] == max(
            backend.finished_clock[key[(name, u)]] for n, u, o in edges if n == name and o == op)
    ]
    del run_of
    print(f"{label:<28} {total:>6} {elapsed:>8.2f} {total / elapsed:>10.0f} {ticks:>6} "
          f"{statistics.mean(queries):>8.1f} {sum(queries) / rounds:>8.1f} "
          f"{statistics.median(delays) if delays else float('nan'):>9.2f} {percentile(delays, 0.99):>9.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/polyflow_bench")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("POLYFLOW_SECRET_KEY", "bench")
    os.environ["DJANGO_SETTINGS_MODULE"] = "polyflow.standalone.settings"
    import django
    import psycopg

    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from polyflow.services.projects import create_project

        call_command("migrate", verbosity=0)
        owner = get_user_model().objects.create_user("bench")
        project = create_project(owner, "bench")
        print(f"{'shape':<28} {'ops':>6} {'seconds':>8} {'op runs/s':>10} {'ticks':>6} "
              f"{'q/tick':>8} {'q/round':>8} {'p50 ms':>9} {'p99 ms':>9}")
        run_shape("chain of 1,000", [("chain", chain(1000))], project)
        run_shape("fan-out/fan-in of 1,000", [("fan", fan(1000))], project)
        run_shape("binary tree of 1,000", [("tree", tree(1000))], project)
        run_shape("100 pipelines of 10 ops", [(f"p{i}", tree(10)) for i in range(100)], project)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
