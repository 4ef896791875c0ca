"""The scheduler's production rules (DESIGN section 8) on the Kubernetes API simulator,
through the official client, on PostgreSQL: one run's bad outputs stay that run's, and
no API request waits for a tick that is talking to a slow API server."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from polyflow.statuses import RUN_FINAL

PIPELINE = """\
version: 1
kind: pipeline
name: {name}
ops:
  - {{name: a, template: {{name: t}}}}
  - {{name: b, template: {{name: t}}, dependencies: [a]}}
templates:
  - kind: job
    name: t
    outputs: [{{name: loss, type: float, is_optional: true}}]
    container: {{image: busybox, command: ['true']}}
"""


def settle(backend, runs, deadline=30.0):
    end = time.monotonic() + deadline
    while True:
        tick(backend=backend)
        pending = PipelineRun.objects.filter(pk__in=[r.pk for r in runs]).exclude(status__in=RUN_FINAL)
        if not pending.exists():
            return
        if time.monotonic() > end:
            raise AssertionError(f"runs still active after {deadline} s: {list(pending.values('status'))}")
        time.sleep(0.05)


def test_a_diverged_loss_fails_only_its_op_while_another_pipeline_succeeds(project, sim, backend):
    """A pod whose termination message is `{"loss": NaN}` (Python's json takes it; jsonb does not)."""
    bad = trigger_run(apply_text(project, PIPELINE.format(name="diverged")).pipelines[0][0])
    good = trigger_run(apply_text(project, PIPELINE.format(name="healthy")).pipelines[0][0])
    sim.inject("outcome", name="diverged-a-*", result="succeed", message='{"loss": NaN}')
    sim.inject("outcome", name="healthy-a-*", result="succeed", message='{"loss": 0.25}')
    settle(backend, [bad, good])
    bad.refresh_from_db()
    good.refresh_from_db()
    a = bad.op_runs.get(name="a")
    assert (a.status, a.reason) == ("failed", "invalid_outputs")
    assert "NaN is not a JSON number" in a.message
    assert bad.op_runs.get(name="b").status == "upstream_failed"
    assert good.status == "succeeded"
    assert good.op_runs.get(name="a").outputs == {"loss": 0.25}
    assert bad.scheduler_error == "" and good.scheduler_error == ""


@pytest.mark.django_db(transaction=True)
def test_a_stop_request_answers_at_once_while_a_tick_waits_for_slow_pod_creates(live_server, kube_settings, sim):
    owner = get_user_model().objects.create_user("alice", password="pw")
    token = Token.objects.create(user=owner).key
    project = create_project(owner, "ml")
    pipeline = apply_text(project, PIPELINE.format(name="slow")).pipelines[0][0]
    submitting, other = trigger_run(pipeline), trigger_run(pipeline)
    headers = {"Authorization": f"Token {token}"}
    # A first request pays for the server's imports and connection: not what is measured.
    assert requests.get(f"{live_server.url}/api/v1/alice/ml/runs/{other.uuid}/", headers=headers,
                        timeout=30).status_code == 200
    sim.inject("delay", verbs=["create"], delay=2.0)
    backend = KubernetesBackend(backoff=0.01, request_timeout=10)
    def tick_and_close():
        try:
            tick(backend=backend)
        finally:
            connection.close()

    worker = threading.Thread(target=tick_and_close)
    worker.start()
    try:
        # Wait until the tick has recorded both attempts and is talking to the API server.
        end = time.monotonic() + 10
        while not (PipelineRun.objects.get(pk=other.pk).op_runs.filter(status="scheduled").exists()):
            assert time.monotonic() < end, "the tick recorded no attempt"
            time.sleep(0.01)
        started = time.perf_counter()
        response = requests.post(f"{live_server.url}/api/v1/alice/ml/runs/{other.uuid}/stop/", headers=headers,
                                 timeout=30)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert worker.is_alive(), "the tick was over before the request: nothing was measured"
    finally:
        worker.join(timeout=60)
    assert elapsed < 0.5, f"the stop request took {elapsed:.2f} s behind the tick"
    assert response.json()["status"] in ("stopping", "stopped")
    # The stopped run's pod, created by the tick after the request, is stopped too.
    settle(backend, [submitting, other], deadline=60)
    other.refresh_from_db()
    assert other.status == "stopped"
