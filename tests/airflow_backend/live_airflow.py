"""A real Airflow 3 running as services, for the tests of Polyflow's Airflow backend.

`LiveAirflow` starts `airflow api-server` (on a free loopback port), `airflow scheduler` and
`airflow dag-processor` (no triggerer: nothing here defers) with a home of their own: SQLite
(Airflow 3's LocalExecutor accepts it), no examples, the DAGs folder `<home>/dags` rescanned
every second (a new or changed file is seen in ~1 s), and the simple auth manager with one
real user and password (a JWT from `POST /auth/token`, no all-admins). Each service is a
process group of its own logging to `<home>/services/<name>.log`; `stop()` ends the groups and
whatever the tasks started in sessions of their own.

    with LiveAirflow(Path("/tmp/af")) as airflow:   # outside pytest (from the repository root)
        print(airflow.url, airflow.username, airflow.password)

or the session fixture `live_airflow` (one Airflow per pytest process).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.export.airflow_support import airflow_environ, airflow_venv

VERSION = "3.3.2"
SERVICES = ("api-server", "scheduler", "dag-processor")
START_TIMEOUT = 180  # seconds; measured 8-15 s on two cores (timings: where they go)

# How each service is started: its modules imported (PRELOADS, comma-separated) before the
# database exists, then, once the file argv[1] does, its `airflow` command, in the same process.
PRELOAD = """
import os, sys, time
marker, modules, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
for module in filter(None, modules.split(",")):
    try:
        __import__(module)
    except Exception as error:  # the command imports it again, and fails saying why
        print(f"preloading {module} failed: {error!r}", file=sys.stderr, flush=True)
while not os.path.exists(marker):
    time.sleep(0.05)
sys.argv = ["airflow", *argv]
from airflow.__main__ import main
sys.exit(main())
"""
PRELOADS = {
    # The app `airflow api-server` serves (uvicorn imports "airflow.api_fastapi.main:app"), built
    # once, while the database is made: ~8 s of CPU, the longest of the three starts. Preloading the
    # other two as well measured no faster on two cores (they compete with the migration).
    "api-server": "airflow.cli.cli_parser,airflow.api_fastapi.main",
    "scheduler": "",
    "dag-processor": "",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_time(pid: int) -> str | None:
    """The start time of a live process (field 22 of /proc/PID/stat), to tell it from a reuse of its
    pid; None once it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else fields[19]


def _descendants(roots: set[int]) -> dict[int, str]:
    """Every live process below `roots` (pid -> start time), including those in other sessions."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and (started := _start_time(child)):
                found[child] = started
                todo.append(child)
    return found


class LiveAirflow:
    """A real Airflow's services; `start()` returns once the API answers and the scheduler and the
    DAG processor heartbeat. Attributes: url, username, password, home, dags_folder, runs_dir
    (POLYFLOW_AIRFLOW_RUNS of the tasks), environ (the services' environment), log_paths."""

    def __init__(self, home: Path, version: str = VERSION, venv: Path | None = None,
                 username: str = "polyflow", password: str | None = None, **config: str):
        self.home = Path(home)
        self.version = version
        self.venv = Path(venv) if venv else None
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.dags_folder = self.home / "dags"
        self.runs_dir = self.home / "runs"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config  # more AIRFLOW__SECTION__KEY=value for the services
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_paths = {name: self.home / "services" / f"{name}.log" for name in ("migrate", *SERVICES)}
        self.started_in: float | None = None  # seconds start() took
        self.timings: dict[str, float] = {}  # seconds from start() to each step (migrated, api, scheduler...)
        self.environ: dict[str, str] = {}

    # -- start ----------------------------------------------------------------------------------

    def _environ(self) -> dict[str, str]:
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}))
        return airflow_environ(
            self.home,
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{self.username}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),  # one for every service
            # A new file in the folder is parsed within ~1-2 s (the defaults, 5 and 300 s: minutes).
            AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL="1",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="1",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="5",  # a known file: parsed again every 5 s
            # A changed file's new DAG version is written at most this often (default 30 s).
            AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL="1",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL="300",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),  # the scheduler's serve-logs (8793)
            POLYFLOW_AIRFLOW_RUNS=str(self.runs_dir),
            **self.config,
        )

    def start(self, timeout: float = START_TIMEOUT) -> LiveAirflow:
        began = time.monotonic()
        if self.venv is None:
            self.venv = airflow_venv(self.version)  # finds it complete, or installs it
        for folder in (self.dags_folder, self.runs_dir, self.home / "services"):
            folder.mkdir(parents=True, exist_ok=True)
        self.environ = self._environ()
        migrated = self.home / "services" / "migrated"
        try:
            # The services start while the database is made (a fresh SQLite: ~4 s) and run their
            # command once it is; the API server builds its app meanwhile (PRELOADS).
            self._spawn("migrate", [str(self.venv / "bin" / "airflow"), "db", "migrate"])
            for name in SERVICES:
                self._spawn(name, [str(self.venv / "bin" / "python"), "-c", PRELOAD, str(migrated),
                                   PRELOADS[name], name])
            try:
                code = self.processes["migrate"].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"airflow db migrate did not end in {timeout:.0f} s:\n{self.logs()}") from None
            if code != 0:
                raise RuntimeError(f"airflow db migrate failed (exit {code}):\n{self.logs()}")
            self.timings["migrated"] = time.monotonic() - began
            migrated.touch()
            self._wait_until_ready(began, began + timeout - time.monotonic())
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _spawn(self, name: str, command: list[str]) -> None:
        """`command` in a process group (and session) of its own, its output in its log."""
        with open(self.log_paths[name], "wb") as log:
            self.processes[name] = subprocess.Popen(
                command, env=self.environ, cwd=self.home, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def health(self) -> dict | None:
        """GET /api/v2/monitor/health (needs no token), or None while the API does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def _wait_until_ready(self, began: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        health = None
        while True:
            exited = {name: self.processes[name].returncode for name in SERVICES
                      if self.processes[name].poll() is not None}
            if exited:
                raise RuntimeError(f"Airflow services exited while starting {exited}:\n{self.logs()}")
            health = self.health() or health
            for part, status in (health or {}).items():
                if (status or {}).get("status") == "healthy":
                    self.timings.setdefault(part, time.monotonic() - began)
            if health and all((health.get(part) or {}).get("status") == "healthy"
                              for part in ("metadatabase", "scheduler", "dag_processor")):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow at {self.url} not ready in {timeout:.0f} s "
                                   f"(last health: {health}):\n{self.logs()}")
            time.sleep(0.25)

    # -- use --------------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for `Authorization: Bearer <token>` (POST /auth/token)."""
        request = urllib.request.Request(
            f"{self.url}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": self.username, "password": self.password}).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["access_token"]

    def logs(self, lines: int = 40) -> str:
        """The last `lines` lines of each service's log, under a header naming it."""
        parts = []
        for name, path in self.log_paths.items():
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                state = self.processes[name].poll() if name in self.processes else None
                status = "" if name not in self.processes else (
                    " (running)" if state is None else f" (exited {state})")
                parts.append(f"--- {name}{status}: {path}\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- stop -------------------------------------------------------------------------------------

    def stop(self, grace: float = 3) -> None:
        """SIGTERM to each service's process group, SIGKILL to what is left after `grace` seconds,
        including processes the tasks started in sessions of their own (BashOperator's setsid).
        (Idle, the DAG processor ends in 0.5 s, the scheduler in 1.7, the API server in 3.2: its
        uvicorn is done in 0.2 s, the rest is its interpreter's exit; nothing of the home is kept.)"""
        started = {name: process for name, process in self.processes.items() if process.poll() is None}
        below = _descendants({process.pid for process in started.values()})
        for process in started.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in started.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for pid, started_at in below.items():
            if _start_time(pid) == started_at:  # still that process, not a reuse of its pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while any(_start_time(pid) == started_at for pid, started_at in below.items()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.processes = {name: process for name, process in self.processes.items() if process.poll() is None}

    def __enter__(self) -> LiveAirflow:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="module")
def live_airflow(tmp_path_factory):
    """A started LiveAirflow for the tests of one file, stopped after them, failed or not: its services
    (a scheduler loop, a DAG processor rescanning every second) would otherwise take CPU from every test
    the same xdist worker runs later."""
    airflow = LiveAirflow(tmp_path_factory.mktemp("live-airflow"))
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()


if __name__ == "__main__":  # python -m tests.airflow_backend.live_airflow [HOME]: start, print, wait for Ctrl-C
    import sys
    import tempfile

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM stops the services too
    with LiveAirflow(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="live-airflow-"))) as af:
        print(f"Airflow {af.version} at {af.url} (user {af.username}, password {af.password}) "
              f"home {af.home}, started in {af.started_in:.1f} s {af.timings}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
