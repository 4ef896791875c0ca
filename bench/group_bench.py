"""A large random search through the scheduler: PostgreSQL, a backend that finishes each attempt at once.

    .venv/bin/python bench/group_bench.py [--trials 100,300,1000] [--concurrency 50] [--rounds-budget 0]

For each number of trials N, on a fresh copy of a migrated database (scale_bench's
`Databases`: `polyflow_group_bench` on 127.0.0.1:5432, user postgres, `--database-url` to
change; dropped at the end): a pipeline of one random search (`matrix: kind: random,
num_runs: N, concurrency: 50`, a uniform and a choice space, ranked by a metric) and one op
after it that reads `{{ ops.tune.best.params.lr }}`; one run of it triggered, then
`tick()` in this process, on the instant backend (an attempt succeeds as soon as it is
synced), until the run ends.

A tick advances a batch in rounds (sync, decide, write, submit) for as long as the backend
has news, up to the scheduler's ROUNDS_BUDGET; with the instant backend one tick would run
the whole search. `--rounds-budget 0` (the default here) makes every tick one round, as a
tick meets a search whose trials take longer than the beat: each tick then syncs the
trials that ended and submits as many new ones, so the ticks of a small search and of a
large one do the same work and their queries can be compared. `--rounds-budget 2` is the
scheduler's own.

Printed per N: wall time from trigger to the run's end, trials per second, ticks and
rounds, queries per tick (mean and most, counted with CaptureQueriesContext) and per
round, and the mean time of a tick. Figures only: nothing is asserted about them (the run must succeed with
every trial run once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale_bench import Databases  # noqa: E402 - the bench next to this one

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/polyflow_group_bench"


def search_yaml(trials: int, concurrency: int) -> str:
    # The templates of the scheduler's matrix tests: train (lr, depth -> accuracy) and use.
    from tests.scheduler.test_matrix import pipeline_yaml

    return pipeline_yaml(f"""\
  - name: tune
    template: {{name: train}}
    matrix:
      kind: random
      num_runs: {trials}
      seed: 7
      concurrency: {concurrency}
      params:
        lr: {{kind: uniform, value: [0.001, 0.1]}}
        depth: {{kind: choice, value: [2, 4, 8, 16]}}
      metric: {{name: accuracy, optimization: maximize}}
  - {{name: report, template: {{name: use}}, params: {{value: '{{{{ ops.tune.best.params.lr }}}}'}}}}
""")


@dataclass
class Result:
    trials: int
    wall: float
    ticks: int
    rounds: int
    queries: list[int]
    tick_seconds: list[float]


def search(trials: int, concurrency: int) -> Result:
    """One run of a search of `trials` trials, ticked until it ends."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from polyflow.models import OperationRun
    from polyflow.scheduler.tick import tick
    from polyflow.services.apply import apply_text
    from polyflow.services.projects import create_project
    from polyflow.services.runs import trigger_run
    from polyflow.statuses import RUN_FINAL
    from polyflow.testing.backends import InstantBackend
    from tests.scheduler.test_matrix import accuracy

    project = create_project(get_user_model().objects.create_user("bench"), "bench")
    pipeline = apply_text(project, search_yaml(trials, concurrency)).pipelines[0][0]
    backend = InstantBackend(outputs={"tune": accuracy})
    queries, tick_seconds, rounds = [], [], 0
    started = time.perf_counter()
    run = trigger_run(pipeline)
    while run.status not in RUN_FINAL:
        tick_started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            rounds += tick(backend=backend).passes
        tick_seconds.append(time.perf_counter() - tick_started)
        queries.append(len(captured))
        run.refresh_from_db(fields=["status"])
    wall = time.perf_counter() - started

    # The figures count only if the search really ran: every trial once, and the best fed on.
    group = OperationRun.objects.get(run=run, name="tune", trial__isnull=True)
    succeeded = OperationRun.objects.filter(run=run, name="tune", trial__isnull=False, status="succeeded").count()
    report = next(s for s in backend.submissions if s.op == "report")
    if (run.status, succeeded, backend.count("tune")) != ("succeeded", trials, trials) or (
            report.params["value"] != group.summary["best"]["params"]["lr"]):
        raise SystemExit(f"{trials} trials: run {run.status}, {succeeded} trials succeeded, "
                         f"{backend.count('tune')} submitted")
    return Result(trials, wall, len(queries), rounds, queries, tick_seconds)


HEADER = (f"{'trials':>7} {'wall s':>7} {'trials/s':>9} {'ticks':>6} {'rounds':>7} "
          f"{'q/tick':>7} {'q/tick max':>10} {'q/round':>8} {'ms/tick':>8}")


def row(result: Result) -> str:
    return (f"{result.trials:>7} {result.wall:>7.2f} {result.trials / result.wall:>9.0f} {result.ticks:>6} "
            f"{result.rounds:>7} {statistics.mean(result.queries):>7.1f} {max(result.queries):>10} "
            f"{sum(result.queries) / result.rounds:>8.1f} {statistics.mean(result.tick_seconds) * 1000:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", default="100,300,1000", help="sizes of the search, comma-separated")
    parser.add_argument("--concurrency", type=int, default=50, help="the matrix's concurrency")
    parser.add_argument("--rounds-budget", type=float, default=0.0,
                        help="the scheduler's ROUNDS_BUDGET in seconds (0: one round per tick; 2: its default)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.trials.split(",") if n.strip()]

    with tempfile.TemporaryDirectory(prefix="polyflow-group-") as home:
        os.environ.update({"DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings",
                           "DATABASE_URL": args.database_url, "POLYFLOW_HOME": home,
                           "POLYFLOW_SECRET_KEY": "group-bench", "POLYFLOW_MAX_TRIALS": str(max(sizes))})
        import django

        django.setup()
        import polyflow.scheduler.tick

        polyflow.scheduler.tick.ROUNDS_BUDGET = args.rounds_budget
        databases = Databases(args.database_url)
        databases.create_template()
        try:
            print(f"a random search, concurrency {args.concurrency}, instant backend, PostgreSQL; "
                  f"ROUNDS_BUDGET {args.rounds_budget} s")
            print(HEADER, flush=True)
            for n in sizes:
                databases.fresh()
                print(row(search(n, args.concurrency)), flush=True)
        finally:
            databases.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
