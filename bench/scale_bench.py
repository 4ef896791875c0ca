"""Scale of the production scheduler path: PostgreSQL, the Kubernetes backend, 1, 2 and 4 workers.

    .venv/bin/python bench/scale_bench.py [--workers 1,2,4] [--runs 200] [--ops 10] [--run-time 0.2]

What runs, per round (one round per worker count, each on a fresh database and
a fresh simulator, so no round sees another's runs or pods):

- a database `polyflow_scale_bench` on PostgreSQL (127.0.0.1:5432, user
  postgres; `--database-url` to change), copied from a migrated template made
  once; both are dropped at the end;
- the project's Kubernetes API simulator (`polyflow.testing.kube`) in this
  process, in `--no-exec` mode: pods run no command and succeed after
  `--run-time` seconds; the Kubernetes backend talks to it over HTTP through
  the official client, as it would to a cluster;
- a pipeline of `--ops` ops (layers of 1, 3, 1, 2, ... ops, each depending on
  every op of the layer before: fan-outs and fan-ins), `--runs` runs of it
  triggered through the services;
- N worker processes, each the loop of the production scheduler: wait on
  `backend.watch(timeout)` and advance the runs of what changed (the hand-off
  on completion, as a Celery worker's `advance_runs`), with a whole `tick()`
  at least every SAFETY_TICK seconds as the safety net (the beat's part), or a
  0.01 s sleep and ticks with `--wait sleep`; until every run is final or
  `--deadline` passes.
  They start ticking together (each sets Django up, then waits for "go").

Printed per round:

- op runs/s: op runs that reached a final status / wall time from "go" to the
  moment every run is final (this process polls the database every 50 ms);
- submitted: each worker's `TickReport.submitted` totals (pods it created);
- hand-off p50/p99/max: last upstream pod done -> downstream pod create, both
  times taken by the simulator on one clock (see `TimedSimulator`);
- whether every run succeeded, and duplicate creates (a create request for a
  pod name that was already created: Kubernetes answers 409).

Then, per round and worker, where the time went: the worker's CPU and the
simulator's, ticks, batches and passes, seconds in the backend's calls (sync,
its LISTs and the pods they returned, submits, log archiving), the errors the
ticks reported and the shapes of what the workers logged. `--setting KEY=VALUE`
passes a Polyflow setting to the workers (e.g. TICK_BATCH_SIZE=200) and
`--rounds-budget S` sets the scheduler's ROUNDS_BUDGET in them, to try
what-ifs without editing the scheduler.

Exits 1 when a run did not succeed in time, a pod was created twice, or a
worker failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/polyflow_scale_bench"
NAMESPACE = "polyflow"  # exists in the simulator from the start
PIPELINE = "scale"
LAYER_WIDTHS = (1, 3, 1, 2)  # repeated: a fan-out of 3, a fan-in, a fan-out of 2, a fan-in, ...


# -- the pipeline ---------------------------------------------------------------------------

def dag(n: int) -> list[tuple[str, list[str]]]:
    """n ops in layers of LAYER_WIDTHS (cycled); each op depends on every op of the layer before."""
    ops, previous, layer = [], [], 0
    while len(ops) < n:
        width = min(LAYER_WIDTHS[layer % len(LAYER_WIDTHS)], n - len(ops))
        current = [f"o{len(ops) + i}" for i in range(width)]
        ops += [(name, list(previous)) for name in current]
        previous, layer = current, layer + 1
    return ops


def pipeline_yaml(ops: list[tuple[str, list[str]]]) -> str:
    lines = [f"version: 1\nkind: pipeline\nname: {PIPELINE}\nops:"]
    for name, deps in ops:
        lines.append(f"  - {{name: {name}, template: {{name: t}}, dependencies: [{', '.join(deps)}]}}")
    lines.append("templates:\n  - {kind: job, name: t, container: {image: busybox, command: ['true']}}")
    return "\n".join(lines) + "\n"


# -- the database -----------------------------------------------------------------------------

class Databases:
    """The bench's database and the migrated template it is copied from before each round
    (copying a template takes a fraction of a second, migrating takes several)."""

    def __init__(self, url: str):
        self.url = url
        self.name = url.rsplit("/", 1)[1]
        self.template = f"{self.name}_template"
        self.admin_url = url.rsplit("/", 1)[0] + "/postgres"

    def _execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_template(self) -> None:
        """Migrate the bench database once (in this process), then keep a copy as the template."""
        from django.core.management import call_command
        from django.db import connections

        self.drop()
        self._execute(f'CREATE DATABASE "{self.name}"')
        call_command("migrate", verbosity=0)
        connections.close_all()  # CREATE DATABASE ... TEMPLATE needs the source unused
        self._execute(f'CREATE DATABASE "{self.template}" TEMPLATE "{self.name}"')

    def fresh(self) -> None:
        """The bench database as just migrated (Django reconnects by itself on next use)."""
        from django.db import connections

        connections.close_all()
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                      f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')

    def drop(self) -> None:
        from django.db import connections

        connections.close_all()
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                      f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


def setup_django(database_url: str, home: str, settings: dict[str, str]) -> dict[str, str]:
    """Configure this process as the workers are configured; return the workers' environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYFLOW_") and k != "DATABASE_URL"}
    env.update({
        "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings",
        "DATABASE_URL": database_url,
        "POLYFLOW_HOME": home,
        "POLYFLOW_SECRET_KEY": "scale-bench",
        "POLYFLOW_BACKEND": "kubernetes",
        "POLYFLOW_KUBE_NAMESPACE": NAMESPACE,
        **{f"POLYFLOW_{key}": value for key, value in settings.items()},
    })
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    return env


def prepare_runs(n_runs: int, ops: list[tuple[str, list[str]]]) -> None:
    """A project, the pipeline and n_runs manual runs (created: the first tick starts them)."""
    from django.contrib.auth import get_user_model

    from polyflow.services.apply import apply_text
    from polyflow.services.projects import create_project
    from polyflow.services.runs import trigger_run

    owner = get_user_model().objects.create_user("bench")
    project = create_project(owner, "bench")
    pipeline = apply_text(project, pipeline_yaml(ops)).pipelines[0][0]
    for _ in range(n_runs):
        trigger_run(pipeline)


def active_runs() -> int:
    from polyflow.models import PipelineRun
    from polyflow.statuses import RUN_FINAL

    return PipelineRun.objects.exclude(status__in=RUN_FINAL).count()


# -- the simulator --------------------------------------------------------------------------

def timed_simulator(run_time: float):
    """A `--no-exec` KubeSimulator that also notes when each pod ended, by wall clock.

    Why: the pod's own times (creationTimestamp, terminated.finishedAt) are whole
    seconds, as Kubernetes writes them, and the database's status times are the
    tick's `now` (when the tick began, not when it wrote), so neither measures a
    sub-second hand-off. The simulator's record of requests has each create's
    arrival time (time.time()); `_commit` is where every pod change is stored, so
    the first change to Succeeded/Failed is the pod's end on the same clock.
    """
    from polyflow.testing.kube import KubeSimulator

    class TimedSimulator(KubeSimulator):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.ended: dict[str, float] = {}

        def _commit(self, runtime, event_type):
            super()._commit(runtime, event_type)
            if runtime.pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                self.ended.setdefault(runtime.name, time.time())

    return TimedSimulator(port=0, execute=False, run_time=run_time)


# -- the workers ------------------------------------------------------------------------------

# Seconds: a whole tick at least this often in each worker. The beat's part: in production
# one beat ticks every TICK_INTERVAL (5 s) for all the workers.
SAFETY_TICK = 5.0


def worker_main(deadline: float, wait: str, watch_timeout: float, rounds_budget: float | None) -> int:
    """One worker process: set up, say "ready", wait for "go", loop tick/wait, print a JSON summary."""
    import django

    django.setup()
    from django.db import connections

    from polyflow.backends import get_backend
    from polyflow.scheduler import tick as tick_module
    from polyflow.scheduler.tick import advance, tick

    if rounds_budget is not None:  # an experiment: how long a batch may keep advancing
        tick_module.ROUNDS_BUDGET = rounds_budget

    backend = get_backend()  # one backend for the loop's life: its watch keeps a cursor
    spent = time_backend_calls(backend)
    use_watch = wait == "watch" and hasattr(backend, "watch")
    if use_watch:
        backend.watch(0)  # listening from now on, as the scheduler loop does
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1  # the bench went away before the start: tick nothing
    summary = {"pid": os.getpid(), "watch": use_watch, "ticks": 0, "submitted": 0, "finished": Counter(),
               "batches": 0, "passes": 0, "tick_s": 0.0, "wait_s": 0.0, "woken": 0, "errors": Counter(),
               "crashes": 0}
    stop_at = time.monotonic() + deadline
    changed: list[str] = []
    last_tick = float("-inf")
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            if changed and time.monotonic() - last_tick < SAFETY_TICK:
                # As a Celery worker hands off: only the runs of what the watch saw change.
                report = advance(backend=backend, start=False, handles=changed)
            else:
                last_tick = time.monotonic()
                report = tick(backend=backend)
        except Exception as error:  # noqa: BLE001 - as the scheduler loop: log, reconnect, go on
            summary["crashes"] += 1
            summary["errors"][f"tick failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"] += 1
            connections.close_all()
            report = None
        summary["tick_s"] += time.perf_counter() - started
        summary["ticks"] += 1
        if report is not None:
            add_report(summary, report)
        if not active_runs():
            break
        started = time.perf_counter()
        if use_watch:
            changed = backend.watch(watch_timeout)
            summary["woken"] += bool(changed)
        else:
            time.sleep(0.01)
        summary["wait_s"] += time.perf_counter() - started
    connections.close_all()
    summary["calls"] = spent
    summary["cpu_s"] = time.process_time()  # this worker's CPU: busy, or waiting on others?
    print(json.dumps(summary), flush=True)
    return 0


def time_backend_calls(backend) -> dict[str, list]:
    """Wrap the backend's talks to the API server to see where a tick's time goes:
    {what: [calls, seconds]}, plus the pods the LISTs returned. The scheduler is
    not changed: these are attributes of this one backend object."""
    spent: dict[str, list] = {}

    def timed(what, method, count=None):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            finally:
                entry = spent.setdefault(what, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started
            if count is not None:
                spent.setdefault(count, [0, 0.0])[0] += len(result[0])
            return result
        return wrapper

    client = getattr(backend, "client", None)
    for owner, name, what, count in ((backend, "sync", "sync", None), (backend, "submit", "submit", None),
                                     (client, "list_pods_at", "list", "listed pods"),
                                     (getattr(backend, "archive", None), "archive", "archive log", None)):
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, timed(what, getattr(owner, name), count))
    return spent


def add_report(summary: dict, report) -> None:
    summary["submitted"] += report.submitted
    summary["finished"].update(report.finished)
    summary["batches"] += report.batches
    summary["passes"] += report.passes
    # Errors name runs and attempts: keep the first line's shape, counted.
    summary["errors"].update(error.splitlines()[0][:200] for error in report.errors)


@dataclass
class Worker:
    process: subprocess.Popen
    stderr_path: Path
    summary: dict = field(default_factory=dict)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""


def start_workers(n: int, env: dict[str, str], args, workdir: Path) -> list[Worker]:
    """Start n workers and wait until each has set up Django and its backend."""
    workers = []
    for i in range(n):
        stderr_path = workdir / f"worker-{n}-{i}.stderr"
        command = [sys.executable, __file__, "--worker", "--deadline", str(args.deadline), "--wait", args.wait,
                   "--watch-timeout", str(args.watch_timeout)]
        if args.rounds_budget is not None:
            command += ["--rounds-budget", str(args.rounds_budget)]
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True)
        workers.append(Worker(process, stderr_path))
    for worker in workers:
        line = worker.process.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"a worker did not start ({line!r}):\n{worker.stderr()}")
    return workers


def go(workers: list[Worker]) -> None:
    for worker in workers:
        worker.process.stdin.write("go\n")
        worker.process.stdin.flush()


def wait_until_final(workers: list[Worker], deadline: float) -> float | None:
    """Poll the database until every run is final: the wall-clock time of that, else None."""
    stop_at = time.monotonic() + deadline
    while time.monotonic() < stop_at:
        if not active_runs():
            return time.time()
        if all(w.process.poll() is not None for w in workers):
            return None if active_runs() else time.time()
        time.sleep(0.05)
    return None


def collect(workers: list[Worker], grace: float = 30.0) -> None:
    for worker in workers:
        try:
            out, _ = worker.process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            out, _ = worker.process.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        worker.summary = json.loads(lines[-1]) if lines else {}


# -- the figures ----------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); nan for no values."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]


def pod_creates(sim) -> tuple[dict[str, float], Counter]:
    """Each pod's first create request time, and how many create requests each name had."""
    first, count = {}, Counter()
    for request in sim.requests:
        if request["verb"] == "create" and request["name"]:
            count[request["name"]] += 1
            first.setdefault(request["name"], request["time"])
    return first, count


def handoffs(ops: list[tuple[str, list[str]]], sim) -> tuple[list[float], int, list[float]]:
    """Hand-off delays in seconds: last upstream pod ended -> downstream pod created (simulator
    clock); how many op runs had all their upstream pods ended but no pod of their own at the end
    (a hand-off that never happened); and, for comparison, pod ended -> the scheduler's
    'succeeded' record (database time: the tick's `now`)."""
    from polyflow.models import OperationRun, OperationRunStatus

    created, _ = pod_creates(sim)
    deps = dict(ops)
    handle = {(run, name): h for run, name, h in OperationRun.objects.values_list("run_id", "name", "handle")}
    delays, never = [], 0
    for (run, name), pod in handle.items():
        ups = [handle.get((run, up)) for up in deps[name]]
        if not ups or not all(up in sim.ended for up in ups):
            continue
        if pod in created:
            delays.append(created[pod] - max(sim.ended[up] for up in ups))
        else:
            never += 1
    recorded = OperationRunStatus.objects.filter(status="succeeded").values_list("op_run__handle", "created_at")
    noticed = [at.timestamp() - sim.ended[h] for h, at in recorded if h in sim.ended]
    return delays, never, noticed


@dataclass
class Round:
    workers: int
    runs: Counter
    op_runs: int
    wall: float | None
    submitted: list[int]
    delays: list[float]
    never: int
    noticed: list[float]
    duplicates: int
    pods: int
    requests: Counter
    sim_cpu: tuple[float, float]  # (CPU seconds, wall seconds) of the simulator's process
    summaries: list[dict]
    stderr: list[str]

    @property
    def ok(self) -> bool:
        return (self.wall is not None and set(self.runs) == {"succeeded"} and not self.duplicates
                and all(s and not s.get("crashes") for s in self.summaries))


def run_round(n: int, args, env: dict[str, str], databases: Databases, workdir: Path) -> Round:
    from polyflow.models import OperationRun, PipelineRun
    from polyflow.statuses import OP_FINAL

    ops = dag(args.ops)
    databases.fresh()
    prepare_runs(args.runs, ops)
    sim = timed_simulator(args.run_time).start()
    try:
        env = {**env, "POLYFLOW_KUBE_HOST": sim.url}
        workers = start_workers(n, env, args, workdir)
        try:
            began, cpu = time.time(), time.process_time()
            go(workers)
            ended = wait_until_final(workers, args.deadline)
            # This process is the simulator (its HTTP and pod threads) plus a cheap poll.
            sim_cpu = (time.process_time() - cpu, time.time() - began)
        finally:
            collect(workers)
        delays, never, noticed = handoffs(ops, sim)
        _, creates = pod_creates(sim)
        requests = Counter(r["verb"] for r in sim.requests)
    finally:
        sim.stop()
    return Round(
        workers=n,
        runs=Counter(PipelineRun.objects.values_list("status", flat=True)),
        op_runs=OperationRun.objects.filter(status__in=OP_FINAL).count(),
        wall=None if ended is None else ended - began,
        submitted=[w.summary.get("submitted", -1) for w in workers],
        delays=delays, never=never, noticed=noticed,
        duplicates=sum(c - 1 for c in creates.values()), pods=len(creates),
        requests=requests, sim_cpu=sim_cpu,
        summaries=[w.summary for w in workers],
        stderr=[w.stderr() for w in workers],
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


HEADER = (f"{'workers':>7} {'runs ok':>9} {'op runs':>7} {'wall s':>7} {'op runs/s':>9} {'hand-off ms p50':>15} "
          f"{'p99':>6} {'max':>6} {'dup':>4}  submitted per worker")


def row(r: Round) -> str:
    wall = f"{r.wall:.1f}" if r.wall is not None else "-"
    rate = f"{r.op_runs / r.wall:.1f}" if r.wall else "-"
    ok = f"{r.runs.get('succeeded', 0)}/{sum(r.runs.values())}"
    return (f"{r.workers:>7} {ok:>9} {r.op_runs:>7} {wall:>7} {rate:>9} {ms(percentile(r.delays, 0.5)):>15} "
            f"{ms(percentile(r.delays, 0.99)):>6} {ms(max(r.delays, default=float('nan'))):>6} "
            f"{r.duplicates:>4}  {' / '.join(map(str, r.submitted))}")


def details(r: Round) -> list[str]:
    """What helps explain a row: where the workers spent their time, what they reported."""
    lines = [f"  {r.workers} worker(s): runs {dict(r.runs)}, {r.pods} pods, "
             f"requests {dict(sorted(r.requests.items()))}; "
             f"simulator CPU {r.sim_cpu[0]:.0f} s in {r.sim_cpu[1]:.0f} s; "
             f"{r.never} op runs ready (upstream pods ended) but never created; "
             f"pod end -> 'succeeded' recorded (database time) p50 {ms(percentile(r.noticed, 0.5))} ms, "
             f"min {ms(min(r.noticed, default=float('nan')))} ms"]
    for i, s in enumerate(r.summaries):
        if not s:
            lines.append(f"    worker {i}: no summary (killed or crashed)")
            continue
        lines.append(f"    worker {i}: CPU {s.get('cpu_s', 0):.0f} s, "
                     f"{s['ticks']} ticks ({s['tick_s']:.1f} s ticking, {s['wait_s']:.1f} s "
                     f"waiting, woken by the watch {s['woken']}x), {s['batches']} batches, {s['passes']} passes, "
                     f"{s['submitted']} submitted, finished {dict(s['finished'])}")
        calls = ", ".join(f"{what} {n}x {seconds:.1f} s" if seconds else f"{what} {n}"
                          for what, (n, seconds) in s.get("calls", {}).items())
        lines.append(f"      backend: {calls}")
        for message, count in Counter(s["errors"]).most_common(5):
            lines.append(f"      {count}x {message}")
    for i, text in enumerate(r.stderr):
        for message, count in stderr_kinds(text).most_common(4):
            lines.append(f"      worker {i} stderr {count}x: {message}")
    return lines


def stderr_kinds(text: str) -> Counter:
    """Log lines by their shape (numbers and pod names blanked), so a flood reads as one line."""
    shapes = Counter()
    for line in text.splitlines():
        if line.strip() and not line.startswith((" ", "Traceback")):
            shape = re.sub(r"scale-o\d+-[0-9a-f]+-\d+", "<pod>", line)
            shapes[re.sub(r"\d+(\.\d+)?", "N", shape)[:220]] += 1
    return shapes


# -- main -------------------------------------------------------------------------------------

def code_version() -> str:
    """A short hash of polyflow/**/*.py as on disk: the tree may change under a long bench
    (others edit it), so each figure says which code it measured."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted((ROOT / "polyflow").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one round each (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=200, help="runs per round (default 200)")
    parser.add_argument("--ops", type=int, default=10, help="ops per run (default 10)")
    parser.add_argument("--run-time", type=float, default=0.2, help="seconds a pod runs (default 0.2)")
    parser.add_argument("--deadline", type=float, default=300, help="seconds a round may take (default 300)")
    parser.add_argument("--wait", choices=("watch", "sleep"), default="watch",
                        help="between ticks: backend.watch(--watch-timeout) when it exists (default), "
                             "or sleep 0.01 s")
    parser.add_argument("--watch-timeout", type=float, default=0.5,
                        help="longest wait in watch, as the scheduler loop's WAKE_INTERVAL (default 0.5)")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a Polyflow setting for the workers, e.g. TICK_BATCH_SIZE=20 (repeatable)")
    parser.add_argument("--rounds-budget", type=float, default=None,
                        help="experiment: the workers' polyflow.scheduler.tick.ROUNDS_BUDGET (seconds a batch "
                             "keeps advancing; default the scheduler's own)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.deadline, args.wait, args.watch_timeout, args.rounds_budget)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    settings = dict(item.split("=", 1) for item in args.setting)
    with tempfile.TemporaryDirectory(prefix="polyflow-scale-") as workdir:
        env = setup_django(args.database_url, os.path.join(workdir, "home"), settings)
        databases = Databases(args.database_url)
        databases.create_template()
        rounds = []
        try:
            print(f"{args.runs} runs of {args.ops} ops (layers {[len(layer) for layer in layers(dag(args.ops))]}), "
                  f"pods run {args.run_time} s, workers wait by {args.wait}; settings {settings or 'default'}"
                  + (f", ROUNDS_BUDGET {args.rounds_budget} s" if args.rounds_budget is not None else ""))
            print(HEADER, flush=True)
            version = code_version()
            for n in counts:
                result = run_round(n, args, env, databases, Path(workdir))
                rounds.append(result)
                print(row(result), flush=True)
            changed = code_version()
            print(f"\ncode {version}" + (f" (changed to {changed} during the bench: figures may mix versions)"
                                          if changed != version else " (unchanged during the bench)"))
            for result in rounds:
                print("\n".join(details(result)))
        finally:
            databases.drop()
    failed = [r.workers for r in rounds if not r.ok]
    if failed:
        print(f"FAILED: rounds with {failed} worker(s): a run did not succeed in time, a pod was created twice, "
              f"or a worker failed")
    return 1 if failed else 0


def layers(ops: list[tuple[str, list[str]]]) -> list[list[str]]:
    """The ops grouped by their dependencies (one group per layer of `dag`)."""
    groups: dict[tuple, list[str]] = {}
    for name, deps in ops:
        groups.setdefault(tuple(deps), []).append(name)
    return list(groups.values())


if __name__ == "__main__":
    sys.exit(main())
