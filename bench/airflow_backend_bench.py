"""What Polyflow's Airflow backend adds to a run that a real Airflow 3 executes.

    python bench/airflow_backend_bench.py [--repeat 2] [--tick-interval 1]

Starts a real Airflow 3.3.2 (api-server, scheduler, dag-processor; LocalExecutor, SQLite;
the tests' `LiveAirflow`, from the venv `.ci/airflow-venv` makes) and runs three pipelines
with `polyflow run FILE --backend airflow` (AIRFLOW_EXECUTOR=local) on a fresh embedded
SQLite: a chain of 10 ops running `true`, a fan-out of 30, and examples/quickstart.yaml.
Printed per pipeline, best of --repeat:

- `polyflow run`: the command's wall time (process start to exit: apply, hand-over, the run,
  the summary);
- Airflow's DAG run: from its start_date to its end_date, as Airflow recorded it;
- hand-over: from the Polyflow run's start to the DAG run's start_date (the DAG file written,
  parsed by Airflow's DAG processor, the DAG run triggered and queued);
- mirror lag: from the DAG run's end_date to the Polyflow run's end (what Polyflow's ticks add
  to see the end and write it).

The same plan and params map to one DAG, so a repeat skips the parse: its hand-over shows
what a run of an already parsed DAG costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.airflow_backend.live_airflow import LiveAirflow  # noqa: E402

SHAPES = {
    "chain-10": [(f"o{i}", [f"o{i - 1}"] if i else []) for i in range(10)],
    "fanout-30": [("root", [])] + [(f"t{i:02d}", ["root"]) for i in range(29)],
}


def shape_yaml(name: str, ops) -> str:
    lines = ["version: 1", "kind: pipeline", f"name: {name}", "ops:"]
    for op, deps in ops:
        lines.append(f"  - {{name: {op}, template: {{name: t}}, dependencies: [{', '.join(deps)}]}}")
    lines += ["templates:", "  - {kind: job, name: t, container: {image: busybox, command: ['true']}}"]
    return "\n".join(lines) + "\n"


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def run_once(airflow: LiveAirflow, spec: Path, home: Path, tick: int) -> dict:
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}  # the embedded SQLite
    env.update({"POLYFLOW_HOME": str(home), "POLYFLOW_BACKEND": "airflow",
           "POLYFLOW_AIRFLOW_URL": airflow.url, "POLYFLOW_AIRFLOW_USERNAME": airflow.username,
           "POLYFLOW_AIRFLOW_PASSWORD": airflow.password, "POLYFLOW_AIRFLOW_DAGS_FOLDER": str(airflow.dags_folder),
           "POLYFLOW_AIRFLOW_EXECUTOR": "local", "POLYFLOW_TICK_INTERVAL": str(tick)})
    began = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("polyflow")), "run", str(spec)], env=env,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"polyflow run {spec} failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
                         f"\n{done.stderr[-2000:]}")
    with sqlite3.connect(home / "polyflow.sqlite3") as db:
        pk, uuid, started, finished = db.execute("SELECT id, uuid, started_at, finished_at FROM polyflow_pipelinerun "
                                                 "ORDER BY id DESC LIMIT 1").fetchone()
        handle = db.execute("SELECT handle FROM polyflow_operationrun WHERE run_id = ? AND handle != '' LIMIT 1",
                            (pk,)).fetchone()[0]
    dag_id, run_id = handle.split("/")[:2]
    request = urllib.request.Request(f"{airflow.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}",
                                     headers={"Authorization": f"Bearer {airflow.token()}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        dag_run = json.loads(response.read())
    polyflow_start, polyflow_end = (when(v).replace(tzinfo=dt.UTC) if when(v).tzinfo is None else when(v)
                                    for v in (started, finished))
    airflow_start, airflow_end = when(dag_run["start_date"]), when(dag_run["end_date"])
    return {"wall": wall, "airflow": (airflow_end - airflow_start).total_seconds(),
            "handover": (airflow_start - polyflow_start).total_seconds(),
            "lag": (polyflow_end - airflow_end).total_seconds(), "uuid": str(uuid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tick-interval", type=int, default=1, help="POLYFLOW_TICK_INTERVAL (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polyflow-airflow-bench-") as scratch:
        scratch = Path(scratch)
        specs = {}
        for name, ops in SHAPES.items():
            specs[name] = scratch / f"{name}.yaml"
            specs[name].write_text(shape_yaml(name, ops))
        specs["quickstart"] = ROOT / "examples" / "quickstart.yaml"
        with LiveAirflow(scratch / "airflow") as airflow:
            print(f"Airflow {airflow.version} at {airflow.url}, started in {airflow.started_in:.1f} s "
                  f"(LocalExecutor, SQLite); polyflow run --backend airflow, tick interval {args.tick_interval} s")
            print(f"{'pipeline':<12} {'try':>3} {'polyflow run':>13} {'Airflow DAG run':>16} {'hand-over':>10} "
                  f"{'mirror lag':>11}")
            for name, spec in specs.items():
                home = scratch / f"home-{name}"
                for attempt in range(1, args.repeat + 1):
                    figures = run_once(airflow, spec, home, args.tick_interval)
                    print(f"{name:<12} {attempt:>3} {figures['wall']:>12.2f}s {figures['airflow']:>15.2f}s "
                          f"{figures['handover']:>9.2f}s {figures['lag']:>10.2f}s", flush=True)


if __name__ == "__main__":
    main()
