"""Hand-off cost: what Polyflow adds between two ops of a chain, against a shell.

    python bench/handoff_bench.py [--ops 10] [--runs 3]

Local part: a chain of `--ops` ops running `true`, through the real `polyflow
run` (a subprocess, local backend, embedded SQLite in a fresh POLYFLOW_HOME in
a temporary directory), `--runs` times in the same home (the first also
migrates the database and starts the runner server: its op gaps are measured
all the same, only the first op pays for that). Per-op overhead: the gap from
an op's `finished_at` to the next op's `started_at`, as recorded in the
database (`polyflow runs show --json`), i.e. noticing the end, ticking and
starting the next process. Baseline: the same processes started back to back
by a shell (`sh -c '/bin/true; /bin/true; ...'`), and by Python's subprocess.run.

Celery part: the quickstart (examples/quickstart.yaml) run to success under a
real Celery worker and its beat on Redis (`TICK_INTERVAL` 5 by default,
PostgreSQL, the local backend), next to the same pipeline through `polyflow
run`: each run's time from created to finished. The run is triggered as a
request would (with a broker, it is handed to a worker at once) and every op's
end is handed off by the worker following the local backend, so the beat is
only the safety net. Needs PostgreSQL and Redis on 127.0.0.1 (`--no-celery`
leaves it out).

Each part is a function returning plain numbers (`local_chain`, `shell_chain`,
`local_quickstart`, `celery_quickstart`), printed by `main`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Variables that would point the CLI at another database, project or home.
_OURS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL")


def chain_yaml(n: int, name: str = "handoff") -> str:
    lines = [f"version: 1\nkind: pipeline\nname: {name}\nops:"]
    for i in range(n):
        deps = f", dependencies: [o{i - 1}]" if i else ""
        lines.append(f"  - {{name: o{i}, template: {{name: t}}{deps}}}")
    lines.append("templates:\n  - {kind: job, name: t, container: {image: busybox, command: ['true']}}")
    return "\n".join(lines) + "\n"


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYFLOW_") and k not in _OURS}
    env.update(HOME=str(home / "home"), POLYFLOW_HOME=str(home / "polyflow"))
    return env


def _polyflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "polyflow.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"polyflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def _parse_time(value: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(value).timestamp()


def gaps_of(op_runs: list[dict], n: int) -> list[float]:
    """Seconds from each op's end to the next op's start, in chain order (pure)."""
    by_name = {o["name"]: o for o in op_runs}
    ordered = [by_name[f"o{i}"] for i in range(n)]
    return [_parse_time(b["started_at"]) - _parse_time(a["finished_at"])
            for a, b in itertools.pairwise(ordered)]


def _stop_runner_server(home: Path) -> None:
    """The runner server of the home outlives `polyflow run` (it exits when idle): end it now."""
    try:
        pid = json.loads((home / "polyflow" / "runs" / ".runner.lock").read_text())["pid"]
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


def local_chain(n: int = 10, runs: int = 1) -> dict:
    """`polyflow run` of a chain of n `true` ops, `runs` times in one fresh home."""
    home = Path(tempfile.mkdtemp(prefix="polyflow-handoff-"))
    try:
        env = _clean_env(home)
        spec = home / "chain.yaml"
        spec.write_text(chain_yaml(n))
        results = []
        for _ in range(runs):
            started = time.perf_counter()
            out = _polyflow("run", str(spec), env=env).stdout
            wall = time.perf_counter() - started
            uuid = re.search(r"^run ([0-9a-f-]{36}) of ", out, re.M).group(1)
            run = json.loads(_polyflow("runs", "show", uuid, "-o", "json", env=env).stdout)
            ops = {o["name"]: o for o in run["op_runs"]}
            span = _parse_time(ops[f"o{n - 1}"]["finished_at"]) - _parse_time(ops["o0"]["started_at"])
            results.append({"wall": wall, "span": span, "gaps": gaps_of(run["op_runs"], n),
                            "status": run["status"]})
        return {"n": n, "runs": results}
    finally:
        _stop_runner_server(home)
        shutil.rmtree(home, ignore_errors=True)


def shell_chain(n: int = 10, repeat: int = 5) -> dict:
    """The same n processes back to back: by one `sh`, and by subprocess.run; the best of `repeat`."""
    true = shutil.which("true") or "/bin/true"
    script = "; ".join([true] * n)  # by path: `true` alone is a builtin of sh, no process
    shell, python = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(["sh", "-c", script], check=True)
        shell.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(n):
            subprocess.run([true], check=True)
        python.append(time.perf_counter() - started)
    return {"n": n, "sh": min(shell), "subprocess": min(python)}


QUICKSTART = ROOT / "examples" / "quickstart.yaml"
BENCH_DB = "polyflow_handoff_bench"
BENCH_BROKER = "redis://127.0.0.1:6379/8"  # a database number of its own, flushed before and after

# Run in a subprocess with the Celery deployment's environment: apply the quickstart,
# trigger a run (a request: with a broker, the run is handed to a worker at once), and
# wait for it to end. Prints the run's times as JSON.
_TRIGGER = """
import json, sys, time
import django
django.setup()
import polyflow.standalone.celery  # the deployment's Celery app, with its broker, as a host has
from django.contrib.auth import get_user_model
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
owner = get_user_model().objects.create_user("bench")
pipeline = apply_text(create_project(owner, "bench"), open(sys.argv[1]).read()).pipelines[0][0]
run = trigger_run(pipeline)
deadline = time.monotonic() + 120
while run.status not in ("succeeded", "failed", "stopped") and time.monotonic() < deadline:
    time.sleep(0.05)
    run.refresh_from_db()
print(json.dumps({"status": run.status, "created_at": run.created_at.isoformat(),
                  "finished_at": run.finished_at.isoformat() if run.finished_at else None}))
"""


def local_quickstart() -> dict:
    """`polyflow run examples/quickstart.yaml` in a fresh home: the run's time from created to finished."""
    home = Path(tempfile.mkdtemp(prefix="polyflow-quickstart-"))
    try:
        env = _clean_env(home)
        _polyflow("run", str(QUICKSTART), env=env)  # the first also migrates and starts the runner server
        out = _polyflow("run", str(QUICKSTART), env=env).stdout
        uuid = re.search(r"^run ([0-9a-f-]{36}) of ", out, re.M).group(1)
        run = json.loads(_polyflow("runs", "show", uuid, "-o", "json", env=env).stdout)
        return {"status": run["status"], "seconds": _parse_time(run["finished_at"]) - _parse_time(run["created_at"])}
    finally:
        _stop_runner_server(home)
        shutil.rmtree(home, ignore_errors=True)


def celery_quickstart(tick_interval: int = 5) -> dict:
    """The quickstart under a real Celery worker and its beat on Redis (PostgreSQL, local backend)."""
    home = Path(tempfile.mkdtemp(prefix="polyflow-celery-"))
    pg = ["-h", "127.0.0.1", "-U", "postgres"]
    env = {**_clean_env(home), "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
           "CELERY_BROKER_URL": BENCH_BROKER, "POLYFLOW_TICK_INTERVAL": str(tick_interval),
           "POLYFLOW_SECRET_KEY": "handoff-bench-not-secret", "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings"}
    subprocess.run(["dropdb", "--if-exists", "--force", *pg, BENCH_DB], check=True)
    subprocess.run(["createdb", *pg, BENCH_DB], check=True)
    subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], check=True, capture_output=True)
    worker = None
    log_path = home / "worker.log"
    try:
        _polyflow("manage", "migrate", "--no-input", env=env)
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "polyflow.standalone", "worker", "--beat", "--pool=solo",
                 "--loglevel=INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while "following local for finished attempts" not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the Celery worker did not get ready:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        result = subprocess.run([sys.executable, "-c", _TRIGGER, str(QUICKSTART)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise SystemExit(f"triggering the quickstart failed:\n{result.stderr}")
        run = json.loads(result.stdout.strip().splitlines()[-1])
        seconds = (_parse_time(run["finished_at"]) - _parse_time(run["created_at"])) if run["finished_at"] else None
        return {"status": run["status"], "seconds": seconds, "tick_interval": tick_interval}
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        _stop_runner_server(home)
        subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], capture_output=True)
        subprocess.run(["dropdb", "--if-exists", "--force", *pg, BENCH_DB])
        shutil.rmtree(home, ignore_errors=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=10, help="ops in the chain (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the chain in one home (default 3)")
    parser.add_argument("--tick-interval", type=int, default=5, help="the Celery beat's period (default 5 s)")
    parser.add_argument("--no-celery", action="store_true", help="leave out the Celery part (needs PostgreSQL, Redis)")
    args = parser.parse_args(argv)
    n = args.ops

    baseline = shell_chain(n)
    per_process = baseline["sh"] / n
    print(f"shell: {n} processes back to back in {_ms(baseline['sh'])} by sh ({_ms(per_process)} each), "
          f"{_ms(baseline['subprocess'])} by subprocess.run")

    local = local_chain(n, args.runs)
    all_gaps = []
    for i, run in enumerate(local["runs"], 1):
        gaps = run["gaps"]
        all_gaps += gaps
        print(f"polyflow run #{i} ({run['status']}): {_ms(run['wall'])} for the command, chain "
              f"{_ms(run['span'])} from the first op's start to the last op's end; gaps median "
              f"{_ms(statistics.median(gaps))}, min {_ms(min(gaps))}, max {_ms(max(gaps))}")
    median = statistics.median(all_gaps)
    print(f"per-op overhead (local backend): median {_ms(median)} over {len(all_gaps)} hand-offs "
          f"(p90 {_ms(sorted(all_gaps)[int(0.9 * (len(all_gaps) - 1))])}); "
          f"{median / per_process:.1f}x the cost of a process started by sh")
    spans = [run["span"] for run in local["runs"]]
    print(f"chain of {n}: {_ms(statistics.median(spans))} (median of runs) against {_ms(baseline['sh'])} by sh: "
          f"{statistics.median(spans) / baseline['sh']:.1f}x")
    if args.no_celery:
        return 0
    alone = local_quickstart()
    celery = celery_quickstart(args.tick_interval)
    print(f"quickstart, created to finished: polyflow run {alone['seconds']:.2f} s ({alone['status']}); "
          f"Celery worker and beat on Redis (TICK_INTERVAL {celery['tick_interval']}) "
          + (f"{celery['seconds']:.2f} s ({celery['status']}): {celery['seconds'] / alone['seconds']:.2f}x"
             if celery["seconds"] is not None else f"did not finish ({celery['status']})"))
    return 0 if celery["status"] == "succeeded" and alone["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
