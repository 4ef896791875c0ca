"""`polyflow server`: the real command in a subprocess on the embedded SQLite of a
fresh POLYFLOW_HOME, with no broker: the API answers, and a run triggered over
HTTP is carried to success by the scheduler loop of the same process."""

import re
import signal
import time
from pathlib import Path

import pytest
import requests

from polyflow.backends.base import RUNNING, SUCCEEDED, Backend, Observation
from polyflow.cli.server import SchedulerLoop
from tests.backends.support import stop_runner_servers
from tests.conftest import ROOT, clean_environ, run_python
from tests.processes import Server, wait_for_run

QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()
DEADLINE = 60


def polyflow(*args, env):
    result = run_python("-m", "polyflow.cli", *args, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def env(tmp_path):
    yield {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    stop_runner_servers(tmp_path / "polyflow" / "runs")


@pytest.fixture
def server(env):
    started = Server(env)
    yield started
    if started.process.poll() is None:
        started.stop()


def api_session(env) -> requests.Session:
    polyflow("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
             env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    token = re.match(r"Generated token (\w+) for user alice", polyflow("manage", "drf_create_token", "alice",
                                                                      env=env)).group(1)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def test_the_server_answers_and_runs_a_triggered_pipeline_without_a_broker(server, env):
    banner = server.banner
    assert f"database:  SQLite at {env['POLYFLOW_HOME']}/polyflow.sqlite3" in banner
    assert "migrations applied now" in banner
    assert "scheduler: in this process" in banner
    assert "polyflow manage drf_create_token alice" in banner

    health = requests.get(f"{server.url}/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["Server"] == "polyflow"
    assert requests.get(f"{server.url}/api/v1/alice/projects/", timeout=10).status_code == 401

    api = api_session(env)
    base = f"{server.url}/api/v1/alice"
    assert api.post(f"{base}/projects/", json={"name": "ml"}, timeout=10).status_code == 201
    created = api.post(f"{base}/ml/pipelines/", data=QUICKSTART.encode(), timeout=10,
                       headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    started = time.monotonic()
    triggered = api.post(f"{base}/ml/pipelines/quickstart/runs/", timeout=10,
                         json={"params": {"train-fast": {"lr": 0.4}}})
    assert triggered.status_code == 201, triggered.text
    uuid = triggered.json()["uuid"]

    run = wait_for_run(api, f"{base}/ml/runs/{uuid}/", lambda run: run["status"] in ("succeeded", "failed"))
    took = time.monotonic() - started
    assert run["status"] == "succeeded", run
    statuses = {o["name"]: o["status"] for o in run["op_runs"]}
    assert statuses.pop("notify") == "skipped"
    assert set(statuses.values()) == {"succeeded"}
    assert took < 30, f"{took:.1f} s: the loop should tick every 0.5 s while a run is active"
    logs = api.get(f"{base}/ml/runs/{uuid}/ops/select-best/logs/", timeout=10)
    assert logs.status_code == 200 and "best model: " in logs.text

    code, stderr = server.stop(signal.SIGTERM)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "polyflow.server: tick: " in stderr  # what the loop did is logged
    assert "stopping the scheduler" in stderr


def test_static_files_of_the_admin_and_the_api_docs_are_served(server):
    for path in ("/admin/login/", "/api/v1/docs/", "/static/admin/css/base.css",
                 "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"):
        response = requests.get(server.url + path, timeout=10)
        assert response.status_code == 200, path
    assert requests.get(server.url + "/static/nope.css", timeout=10).status_code == 404
    code, stderr = server.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in stderr, stderr


def test_no_scheduler_serves_only(env):
    server = Server(env, "--no-scheduler")
    try:
        assert "scheduler: off (--no-scheduler)" in server.banner
        api = api_session(env)
        base = f"{server.url}/api/v1/alice"
        api.post(f"{base}/projects/", json={"name": "ml"}, timeout=10)
        pipeline = QUICKSTART
        assert api.post(f"{base}/ml/pipelines/", data=pipeline.encode(), timeout=10,
                        headers={"Content-Type": "application/yaml"}).status_code == 201
        uuid = api.post(f"{base}/ml/pipelines/quickstart/runs/", json={}, timeout=10).json()["uuid"]
        time.sleep(2)
        assert api.get(f"{base}/ml/runs/{uuid}/", timeout=10).json()["status"] == "created"
        # Any scheduler does it instead, e.g. one tick.
        assert "1 started" in polyflow("tick", env=env)
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr


def test_a_busy_port_is_one_line(env, server):
    port = server.url.rsplit(":", 1)[1]
    result = run_python("-m", "polyflow.cli", "server", "--port", port, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr


def test_a_fresh_home_is_migrated_first(env, tmp_path):
    server = Server(env, "--no-scheduler")
    server.stop()
    assert (Path(env["POLYFLOW_HOME"]) / "polyflow.sqlite3").is_file()
    assert "No planned migration operations." in polyflow("manage", "migrate", "--plan", env=env)


class ReportingBackend(Backend):
    """A backend whose one attempt runs until its watch reports a change (on the third
    call), then is seen succeeded; records when each watch call returned."""

    name = "reporting"
    KEY = "pipe-op-1234abcd-1"

    def __init__(self, loop):
        self.loop = loop
        self.returned = []
        self.closed = False

    def submit(self, submission):
        return submission.key

    def sync(self, handles):
        state = SUCCEEDED if any(keys for _, keys in self.returned) else RUNNING
        return {handle: Observation(state, exit_code=0 if state == SUCCEEDED else None) for handle in handles}

    def stop(self, handles):
        pass

    def logs(self, handle, tail=None):
        return []

    def watch(self, timeout):
        calls = len(self.returned) + 1
        if calls == 3:
            keys = [self.KEY]
        else:
            time.sleep(min(timeout, 0.05))
            keys = []
        if calls >= 8:
            self.loop.stop()
        self.returned.append((time.monotonic(), keys))
        return keys

    def close(self):
        self.closed = True


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_loop_advances_a_run_when_the_backend_reports_a_change():
    from django.contrib.auth import get_user_model

    from polyflow.models import OperationRun, PipelineRun
    from polyflow.services.apply import apply_text
    from polyflow.services.projects import create_project
    from polyflow.services.runs import trigger_run

    project = create_project(get_user_model().objects.create_user("alice"), "ml")
    pipeline = apply_text(project, "version: 1\nkind: pipeline\nname: pipe\nops:\n  - {name: op, template: {name: t}}\n"
                                   "templates:\n  - {kind: job, name: t, container: {image: busybox, command: [x]}}\n"
                          ).pipelines[0][0]
    run = trigger_run(pipeline)
    PipelineRun.objects.filter(pk=run.pk).update(status="running")
    run.op_runs.update(status="running", handle=ReportingBackend.KEY, backend=ReportingBackend.name)
    loop = SchedulerLoop(wake=10)  # no polling for active runs: the first tick, then only the change
    backend = loop.backend = ReportingBackend(loop)
    loop.start()
    loop.join(10)
    assert not loop.is_alive()
    changed_at = next(at for at, keys in backend.returned if keys)
    op_run = OperationRun.objects.get(run=run)
    assert op_run.status == "succeeded"
    # Advanced at once, not at the next tick (TICK_INTERVAL, 5 s, away).
    assert 0 <= op_run.finished_at.timestamp() - (time.time() - (time.monotonic() - changed_at)) < 0.5
    assert PipelineRun.objects.get(pk=run.pk).status == "succeeded"
    assert backend.returned[0][1] == []  # listening before the first tick
    assert backend.closed
