"""Wall times of `polyflow run` against Airflow on the same machine.

    python bench/airflow_compare.py [--airflow] [--airflow-venv /tmp/airflow-venv]
                                    [--postgres postgres://postgres@127.0.0.1:5432]

Two pipelines of ops that run `true`: a chain of 10 ops, and a fan-out of 100
ops (one op, then 99 that depend on it). Polyflow runs each with
`polyflow run` and the local backend, on the embedded SQLite of a fresh
POLYFLOW_HOME and, when PostgreSQL is reachable, on a database of its own
(`polyflow_bench`, created and dropped here). Printed per pipeline: the run's
own duration (first op started to last op ended, as recorded) and the wall
time of the whole command (process start to exit: Django set-up, applying the
file, the run, the summary).

With --airflow, the same two DAGs (BashOperator `true`) run on Apache Airflow
2.10 with its LocalExecutor and its scheduler, on PostgreSQL (database
`airflow_bench`, created and dropped here; the LocalExecutor cannot use
SQLite). Airflow is installed into a virtual environment outside the
repository (--airflow-venv, default /tmp/airflow-venv, reused when it is
there) with plain pip: `apache-airflow[postgres]==2.10.*` without Airflow's
constraints file, which lives on GitHub and cannot be fetched here. Airflow
keeps its defaults (parallelism 32, 16 running tasks per DAG). Printed per
DAG: the DAG run's own duration (start_date to end_date) and the time from
triggering it (`airflow dags trigger`) to seeing it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "chain-10": [(f"o{i}", [f"o{i - 1}"] if i else []) for i in range(10)],
    "fanout-100": [("root", [])] + [(f"t{i:02d}", ["root"]) for i in range(99)],
}
LABELS = {"chain-10": "chain of 10 ops", "fanout-100": "fan-out of 100 ops"}
AIRFLOW_SPEC = "apache-airflow[postgres]==2.10.*"
AIRFLOW_DB = "airflow_bench"
POLYFLOW_DB = "polyflow_bench"
DAG_TIMEOUT = 900  # seconds


def pipeline_yaml(name: str, ops) -> str:
    lines = [f"version: 1\nkind: pipeline\nname: {name}\nops:"]
    for op, deps in ops:
        lines.append(f"  - {{name: {op}, template: {{name: t}}, dependencies: [{', '.join(deps)}]}}")
    lines.append("templates:\n  - {kind: job, name: t, container: {image: busybox, command: ['true']}}")
    return "\n".join(lines) + "\n"


def dag_file(name: str, ops) -> str:
    edges = "\n".join(f"tasks[{up!r}] >> tasks[{op!r}]" for op, deps in ops for up in deps)
    return textwrap.dedent(f"""\
        import pendulum
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG({name!r}, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
                 catchup=False, is_paused_upon_creation=False) as dag:
            tasks = {{op: BashOperator(task_id=op, bash_command="true") for op in {[op for op, _ in ops]!r}}}
        """) + edges + "\n"


# -- PostgreSQL ---------------------------------------------------------------------


def postgres_available(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(f"{url}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def recreate_database(url: str, name: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{url}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            connection.execute(f'CREATE DATABASE "{name}"')


# -- Polyflow -----------------------------------------------------------------------


def polyflow_env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("POLYFLOW_") and name not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env["POLYFLOW_HOME"] = str(home)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def polyflow(args, env, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "polyflow.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise SystemExit(f"polyflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def bench_polyflow(workdir: Path, database_url: str | None) -> dict[str, tuple[float, float]]:
    """{shape: (run seconds, command seconds)}."""
    import datetime as dt

    home = workdir / ("polyflow-postgres" if database_url else "polyflow-sqlite")
    env = polyflow_env(home, database_url)
    polyflow(["manage", "migrate", "--no-input"], env)  # not part of the timing
    results = {}
    for shape, ops in SHAPES.items():
        path = workdir / f"{shape}.yaml"
        path.write_text(pipeline_yaml(shape, ops))
        started = time.monotonic()
        result = polyflow(["run", str(path)], env)
        command = time.monotonic() - started
        uuid = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("run "))
        run = json.loads(polyflow(["runs", "show", uuid, "-o", "json"], env).stdout)
        assert run["status"] == "succeeded", run
        begin = min(dt.datetime.fromisoformat(o["started_at"]) for o in run["op_runs"])
        end = max(dt.datetime.fromisoformat(o["finished_at"]) for o in run["op_runs"])
        results[shape] = ((end - begin).total_seconds(), command)
    return results


# -- Airflow ------------------------------------------------------------------------


def python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        raise SystemExit("Airflow 2.10 is benchmarked on Python 3.11: no python3.11 found")
    return found


def ensure_airflow(venv: Path) -> Path:
    airflow = venv / "bin" / "airflow"
    if airflow.exists():
        return airflow
    print(f"installing {AIRFLOW_SPEC} into {venv} (a few minutes)...", flush=True)
    subprocess.run([python311(), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    result = subprocess.run(pip + [AIRFLOW_SPEC], capture_output=True, text=True)
    if result.returncode != 0 or not airflow.exists():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise SystemExit(f"Airflow could not be installed (pip exited {result.returncode}):\n{tail}")
    return airflow


def bench_airflow(workdir: Path, venv: Path, postgres: str) -> tuple[str, dict[str, tuple[float, float]]]:
    """(Airflow's version, {shape: (DAG run seconds, trigger-to-finished seconds)})."""
    import psycopg

    airflow = ensure_airflow(venv)
    home = workdir / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for shape, ops in SHAPES.items():
        (dags / f"{shape.replace('-', '_')}.py").write_text(dag_file(shape, ops))
    user_host = postgres.split("://", 1)[1]
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{user_host}/{AIRFLOW_DB}",
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
           "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "True"}
    version = subprocess.run([str(airflow), "version"], env=env, capture_output=True, text=True).stdout.strip()
    recreate_database(postgres, AIRFLOW_DB)
    scheduler = None
    try:
        subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True)
        log = open(home / "scheduler.log", "w")  # noqa: SIM115 - closed with the scheduler
        scheduler = subprocess.Popen([str(airflow), "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        results = {}
        with psycopg.connect(f"{postgres}/{AIRFLOW_DB}", autocommit=True) as db:
            wait_for(lambda: db.execute("SELECT count(*) FROM dag WHERE dag_id = ANY(%s) AND NOT is_paused",
                                        [list(SHAPES)]).fetchone()[0] == len(SHAPES),
                     "the scheduler to parse the DAGs", 300)
            for shape in SHAPES:
                started = time.monotonic()
                subprocess.run([str(airflow), "dags", "trigger", shape], env=env, check=True, capture_output=True)

                def finished(shape=shape):
                    return db.execute("SELECT state, start_date, end_date FROM dag_run WHERE dag_id = %s",
                                      [shape]).fetchone()

                wait_for(lambda: (finished() or ("",))[0] in ("success", "failed"), f"DAG {shape}", DAG_TIMEOUT)
                took = time.monotonic() - started
                state, start, end = finished()
                assert state == "success", (shape, state)
                results[shape] = ((end - start).total_seconds(), took)
        return version, results
    finally:
        if scheduler is not None:
            os.killpg(scheduler.pid, signal.SIGTERM)
            try:
                scheduler.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(scheduler.pid, signal.SIGKILL)
        recreate_database(postgres, AIRFLOW_DB, drop_only=True)


def wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.5)


# -- report -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airflow", action="store_true", help="also run the DAGs on Airflow 2.10")
    parser.add_argument("--airflow-venv", type=Path, default=Path("/tmp/airflow-venv"))
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="a PostgreSQL server, without a database name")
    args = parser.parse_args()
    postgres = args.postgres.rstrip("/")

    columns: list[tuple[str, str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="polyflow-vs-airflow-") as tmp:
        workdir = Path(tmp)
        columns.append(("polyflow, SQLite", "run / command", bench_polyflow(workdir, None)))
        if postgres_available(postgres):
            recreate_database(postgres, POLYFLOW_DB)
            try:
                results = bench_polyflow(workdir, f"{postgres}/{POLYFLOW_DB}")
            finally:
                recreate_database(postgres, POLYFLOW_DB, drop_only=True)
            columns.append(("polyflow, PostgreSQL", "run / command", results))
        else:
            print(f"PostgreSQL at {postgres} is not reachable: Polyflow on SQLite only, and no Airflow")
        if args.airflow and postgres_available(postgres):
            version, results = bench_airflow(workdir, args.airflow_venv, postgres)
            columns.append((f"airflow {version}, LocalExecutor", "dag run / trigger to done", results))

    print(f"\nops run `true`; seconds; {os.cpu_count()} CPUs")
    header = f"{'':20}" + "".join(f"{name:>34}" for name, _, _ in columns)
    print(header)
    print(f"{'':20}" + "".join(f"{unit:>34}" for _, unit, _ in columns))
    for shape in SHAPES:
        cells = "".join(f"{f'{results[shape][0]:.1f} / {results[shape][1]:.1f}':>34}" for _, _, results in columns)
        print(f"{LABELS[shape]:20}{cells}")


if __name__ == "__main__":
    main()
