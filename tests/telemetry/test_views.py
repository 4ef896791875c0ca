"""`/metrics` over real HTTP while a run goes on, and `/readyz`."""

import datetime as dt
import json
import textwrap

import pytest
import requests
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from polyflow.models import SchedulerHeartbeat
from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run
from polyflow.telemetry import heartbeat
from polyflow.testing.backends import InstantBackend
from tests.conftest import clean_environ, run_python
from tests.telemetry.test_logs import CHAIN


def scrape(url: str) -> dict[tuple, float]:
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(figures, name: str, **labels) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def live(transactional_db, live_server, recorded):
    heartbeat.reset()
    return live_server.url


def test_the_counters_move_while_a_run_goes_on(live, apply):
    backend = InstantBackend(hold=["a"])
    run = trigger_run(apply(CHAIN))
    before = scrape(live)

    tick(backend=backend)
    during = scrape(live)
    assert value(during, "polyflow_tick_duration_seconds_count", kind="tick") == \
        value(before, "polyflow_tick_duration_seconds_count", kind="tick") + 1
    assert value(during, "polyflow_tick_duration_seconds_sum", kind="tick") > \
        value(before, "polyflow_tick_duration_seconds_sum", kind="tick")
    assert value(during, "polyflow_op_runs_submitted_total") == value(before, "polyflow_op_runs_submitted_total") + 1
    assert value(during, "polyflow_tick_batch_size_count") >= value(before, "polyflow_tick_batch_size_count") + 1
    pipeline = {"project": "alice/ml", "pipeline": "chain"}
    assert value(during, "polyflow_runs", **pipeline, status="running") == 1
    assert value(during, "polyflow_op_runs", **pipeline, status="running") == 1
    assert value(during, "polyflow_op_runs", **pipeline, status="created") == 1
    assert value(during, "polyflow_scheduler_workers") >= 1
    assert value(during, "polyflow_database_up") == 1

    backend.release("a")
    tick(backend=backend)
    after = scrape(live)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert value(after, "polyflow_op_runs", **pipeline, status="succeeded") == 2
    assert value(after, "polyflow_op_runs", **pipeline, status="running") == 0
    assert value(after, "polyflow_runs", **pipeline, status="succeeded") == 1
    assert value(after, "polyflow_op_runs_finished_total", status="succeeded") == \
        value(during, "polyflow_op_runs_finished_total", status="succeeded") + 2
    assert value(after, "polyflow_runs_finished_total", status="succeeded") == \
        value(during, "polyflow_runs_finished_total", status="succeeded") + 1
    # From each attempt's end (the backend's time) to its run advanced: a's (b handed over), b's (the run's end).
    assert value(after, "polyflow_handoff_latency_seconds_count", backend="instant") == \
        value(during, "polyflow_handoff_latency_seconds_count", backend="instant") + 2
    assert 0 <= value(after, "polyflow_handoff_latency_seconds_sum", backend="instant") - \
        value(during, "polyflow_handoff_latency_seconds_sum", backend="instant") < 5


def test_openmetrics_when_asked(live):
    response = requests.get(f"{live}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_ready_after_a_tick(live):
    tick(backend=InstantBackend())
    response = requests.get(f"{live}/readyz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok",
                                                             "checks": {"database": "ok", "scheduler": "ok"}})
    assert "no-cache" in response.headers["Cache-Control"]


def test_not_ready_before_any_tick(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {
        "database": "ok", "scheduler": "no scheduler process has ticked yet"}}


def test_not_ready_when_the_last_tick_is_older_than_three_intervals(client, db, settings):
    settings.POLYFLOW = {**settings.POLYFLOW, "TICK_INTERVAL": 5}
    old = timezone.now() - dt.timedelta(seconds=16)
    SchedulerHeartbeat.objects.create(worker="w:1", host="w", pid=1, started_at=old, ticked_at=old)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["scheduler"].startswith("no tick for 16 s (last at ")
    assert response.json()["checks"]["scheduler"].endswith("more than 3 TICK_INTERVALs (15 s)")
    SchedulerHeartbeat.objects.update(ticked_at=timezone.now() - dt.timedelta(seconds=14))
    assert client.get("/readyz").status_code == 200


# A process of its own, on a database that does not answer: a port nothing listens on.
UNREACHABLE = textwrap.dedent("""
    import json, socket
    import django
    from django.test import Client
    probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
    import os
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/polyflow"
    django.setup()
    client = Client(HTTP_HOST="localhost")
    ready = client.get("/readyz")
    metrics = client.get("/metrics")
    print(json.dumps({"status": ready.status_code, "body": ready.json(), "metrics": metrics.status_code,
                      "up": [line for line in metrics.content.decode().splitlines()
                             if line.startswith("polyflow_database_up")]}))
""")


def test_not_ready_when_the_database_does_not_answer(tmp_path):
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow"),
           "DJANGO_SETTINGS_MODULE": "polyflow.standalone.settings"}
    result = run_python("-c", UNREACHABLE, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["checks"]["database"].startswith("unavailable: ")
    assert "Connection refused" in answer["body"]["checks"]["database"] or "connect" in \
        answer["body"]["checks"]["database"]
    assert answer["body"]["checks"]["scheduler"] == "unknown (no database)"
    # The process's own metrics are still served, with the database said to be down.
    assert (answer["metrics"], answer["up"]) == (200, ["polyflow_database_up 0.0"])
