"""Metrics on the Kubernetes backend, over HTTP against the API simulator: pods' logs read with
`timestamps` and `sinceSeconds` from a cursor, while they run and once more when they ended."""

from __future__ import annotations

import time

import pytest

from polyflow.backends.kube_logs import parse_time, timestamped_lines
from polyflow.models import MetricPoint, OperationRun
from polyflow.scheduler.metrics import collect_metrics
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run

from .conftest import NAMESPACE
from .support import plan_of, submission_for

TWO_STEPS = ('echo "polyflow:metrics {\\"step\\": 1, \\"loss\\": 0.5}"; sleep 1; '
             'echo "polyflow:metrics {\\"step\\": 2, \\"loss\\": 0.25}"')
PIPELINE = f"""\
version: 1
kind: pipeline
name: tracked
ops:
  - name: train
    template: {{name: train}}
templates:
  - kind: experiment
    name: train
    container: {{image: busybox, command: [sh, -c, '{TWO_STEPS}']}}
"""


def wait_for(condition, timeout=15.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


def log_reads(sim, since=0):
    return [r for r in sim.requests if r["verb"] == "log" and r["seq"] > since]


def test_read_metrics_from_a_cursor_over_http(backend, sim):
    job = submission_for(plan_of(PIPELINE), "train")
    backend.submit(job)
    wait_for(lambda: "loss" in (sim.log(job.key, NAMESPACE) if sim.pod(job.key, NAMESPACE) else ""),
             what="the first line")
    # A log that cannot be read at this moment (a loaded machine) is left out, and asked for again.
    answer: dict = {}
    wait_for(lambda: answer.update(backend.read_metrics({job.key: ""})) or job.key in answer, what="a read")
    lines, cursor = answer[job.key]
    assert lines == ['polyflow:metrics {"step": 1, "loss": 0.5}']
    assert parse_time(cursor) and abs(parse_time(cursor) / 1e9 - time.time()) < 30
    first = log_reads(sim)[-1]
    assert first["query"]["timestamps"] == "true" and "sinceSeconds" not in first["query"]
    assert backend.read_metrics({job.key: cursor}) == {job.key: ([], cursor)}  # nothing twice
    seen = sim.requests[-1]["seq"]
    sim.wait_for_pod(job.key, NAMESPACE)
    lines, last = backend.read_metrics({job.key: cursor})[job.key]
    assert lines == ['polyflow:metrics {"step": 2, "loss": 0.25}'] and parse_time(last) > parse_time(cursor)
    (read,) = log_reads(sim, seen)
    assert 1 <= int(read["query"]["sinceSeconds"]) <= 10  # from a little before the cursor, not the start
    assert backend.read_metrics({job.key: last}) == {job.key: ([], last)}


def test_pods_that_cannot_be_read_are_skipped(backend, sim):
    running = submission_for(plan_of(PIPELINE), "train")
    backend.submit(running)
    wait_for(lambda: sim.pod(running.key, NAMESPACE)["status"]["phase"] == "Running", what="the pod's start")
    sim.inject("error", status=500, count=1, verbs=["log"], path=f"/{running.key}/log$")
    # One request per pod; an error is that pod's alone; a pod that does not exist is no error.
    answer = backend.read_metrics({"not-there-1": "", running.key: "", "Not A Pod": ""})
    assert answer == {}
    assert len(log_reads(sim)) == 2
    assert running.key in backend.read_metrics({running.key: ""})


def test_an_api_server_that_does_not_answer_is_not_asked_for_every_pod(kube_settings):
    from polyflow.backends.kubernetes import KubernetesBackend

    backend = KubernetesBackend(host="http://127.0.0.1:9", backoff=0.01, request_timeout=1)
    started = time.monotonic()
    assert backend.read_metrics({f"pod-{i}": "" for i in range(20)}) == {}
    assert time.monotonic() - started < 5


def test_timestamped_lines_after_a_time_and_cut_answers():
    data = (b"2024-05-01T10:00:00.1Z polyflow:metrics {\"a\": 1}\n"
            b"2024-05-01T10:00:00.2Z b\r\n"
            b"no time here\n"
            b"2024-05-01T10:00:00.3Z c")
    after = parse_time("2024-05-01T10:00:00.1Z")
    assert timestamped_lines(data, None, cut=False) == (['polyflow:metrics {"a": 1}', "b", "c"],
                                                         "2024-05-01T10:00:00.3Z")
    assert timestamped_lines(data, after, cut=False) == (["b", "c"], "2024-05-01T10:00:00.3Z")
    # Cut at limitBytes: the last line is only part of one, left for the next read.
    assert timestamped_lines(data, after, cut=True) == (["b"], "2024-05-01T10:00:00.2Z")
    assert timestamped_lines(b"", after, cut=False) == ([], None)


@pytest.fixture
def pipeline(project, kube_settings):
    return apply_text(project, PIPELINE).pipelines[0][0]


def test_a_run_on_kubernetes_reports_its_metrics(pipeline, backend, sim, django_assert_num_queries):
    run = trigger_run(pipeline)
    tick(backend=backend)
    op_run = OperationRun.objects.get(run=run, name="train")
    assert op_run.handle
    wait_for(lambda: "loss" in (sim.log(op_run.handle, NAMESPACE) if sim.pod(op_run.handle, NAMESPACE) else ""),
             what="the first line")
    assert collect_metrics(lambda name: backend, [run.pk]) == 1  # step 1: step 2 comes a second later
    op_run.refresh_from_db()
    assert op_run.metrics == {"step": 1, "loss": 0.5}
    attempt, _, cursor = op_run.metrics_cursor.partition(":")
    assert attempt == "1" and parse_time(cursor)

    sim.wait_for_pod(op_run.handle, NAMESPACE)
    # Before its end is decided: the rest of the log, in a fixed number of queries.
    with django_assert_num_queries(5):  # the op runs; a savepoint, the points, the op runs, release
        assert collect_metrics(lambda name: backend, [run.pk], ended=[op_run.handle], only=True) == 1
    op_run.refresh_from_db()
    assert op_run.metrics == {"step": 2, "loss": 0.25}
    tick(backend=backend)
    wait_for(lambda: tick(backend=backend) and OperationRun.objects.get(pk=op_run.pk).status == "succeeded",
             what="the op's end")
    reads = len(log_reads(sim))
    assert collect_metrics(lambda name: backend, [run.pk]) == 0  # once more after the end: nothing new
    assert collect_metrics(lambda name: backend, [run.pk]) == 0  # then not read any more
    assert len(log_reads(sim)) == reads + 1
    op_run.refresh_from_db()
    assert op_run.metrics_cursor.startswith("!1:")
    assert list(MetricPoint.objects.filter(op_run=op_run).order_by("step").values_list("step", "name", "value")) == [
        (1, "loss", 0.5), (2, "loss", 0.25)]
