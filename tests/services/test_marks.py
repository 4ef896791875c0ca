"""Marking op runs (Airflow's mark success / failed) and the times of every attempt, through the
services, with real ticks: the local backend running real commands, or the instant backend."""

import datetime as dt
import time

import pytest

from polyflow.backends.local import LocalBackend
from polyflow.exceptions import InvalidInput, Unprocessable
from polyflow.models import OperationRunStatus, PipelineRunStatus
from polyflow.scheduler.tick import tick
from polyflow.services.runs import MAX_MARK_REASON, mark_op_run, trigger_run
from polyflow.testing.backends import InstantBackend
from tests.scheduler.test_integration_local import at, settle, yaml_of


@pytest.fixture
def local(settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path / "home")}
    return LocalBackend(kill_grace=0.5)


def statuses(run):
    return dict(run.op_runs.filter(trial__isnull=True).values_list("name", "status"))


def test_mark_skipped_of_a_failed_op_unblocks_the_next_slot_held_by_depends_on_past(apply, local, tmp_path,
                                                                                     project):
    marker = tmp_path / "marker"
    pipeline = apply(yaml_of(
        "dop", "{kind: interval, frequency: 60, start_at: '2026-03-01T00:00:00Z', depends_on_past: true,"
               " max_active_runs: 2}",
        f"  - {{name: a, template: {{name: check}}, params: {{marker: '{marker}'}}}}\n"
        "  - {name: b, template: {name: ok}, dependencies: [a]}\n"))
    settle(at(0), local)
    first = pipeline.runs.get(schedule_at=at(0))
    assert (first.status, statuses(first)) == ("failed", {"a": "failed", "b": "upstream_failed"})
    settle(at(60), local)
    settle(at(61), local)
    second = pipeline.runs.get(schedule_at=at(60))
    assert second.op_runs.get(name="a").reason == "depends_on_past"

    marker.touch()  # the next slot's a can pass once it may start
    marked = mark_op_run(first.op_runs.get(name="a"), "skipped", reason="the input was known bad",
                         user=project.owner, now=at(62))
    assert (marked.status, marked.reason, marked.message) == ("skipped", "marked", "the input was known bad")
    row = OperationRunStatus.objects.filter(op_run=marked).last()
    assert (row.previous, row.status, row.reason, row.message, row.user) == (
        "failed", "skipped", "marked", "the input was known bad", project.owner)
    # b was upstream_failed because of a: worked out again, so the finished run is reopened.
    first.refresh_from_db()
    assert first.status == "created"
    assert first.op_runs.get(name="b").status == "created"

    settle(at(63), local)
    settle(at(64), local)
    first.refresh_from_db()
    second.refresh_from_db()
    # a skipped: b (all_succeeded) is skipped by its rule; the run succeeds (skipped counts).
    assert (first.status, statuses(first)) == ("succeeded", {"a": "skipped", "b": "skipped"})
    assert (second.status, statuses(second)) == ("succeeded", {"a": "succeeded", "b": "succeeded"})
    assert PipelineRunStatus.objects.filter(run=first, reason="marked", user=project.owner).exists()


def test_a_mark_of_a_running_op_stops_its_process_then_marks_it(apply, local, project):
    pipeline = apply(
        "version: 1\nkind: pipeline\nname: slow\nops:\n"
        "  - {name: a, template: {name: sleeper}}\n"
        "  - {name: b, template: {name: ok}, dependencies: [a]}\n"
        "templates:\n"
        "  - {kind: job, name: sleeper, container: {image: busybox, command: [sleep, '60']}}\n"
        "  - {kind: job, name: ok, container: {image: busybox, command: ['true']}}\n")
    run = trigger_run(pipeline)
    deadline = time.monotonic() + 20
    while run.op_runs.get(name="a").status != "running":
        assert time.monotonic() < deadline, "a never started"
        tick(at(0), local)
        time.sleep(0.05)
    a = run.op_runs.get(name="a")
    assert local.sync([a.handle])[a.handle].state == "running"

    marked = mark_op_run(a, "succeeded", user=project.owner, now=at(1))
    assert (marked.status, marked.message) == ("succeeded", "marked succeeded by alice")
    assert [(r.previous, r.status, r.reason) for r in marked.statuses.all()][-2:] == [
        ("running", "stopping", "marked"), ("stopping", "succeeded", "marked")]
    # Its process is asked to end: the backend reports the attempt over, stopped.
    deadline = time.monotonic() + 10
    while not (observation := local.sync([a.handle])[a.handle]).final:
        assert time.monotonic() < deadline, "the process was not stopped"
        time.sleep(0.05)
    assert observation.reason in ("stopped", "failed") and observation.exit_code != 0
    settle(at(2), local)
    run.refresh_from_db()
    assert (run.status, statuses(run)) == ("succeeded", {"a": "succeeded", "b": "succeeded"})
    assert run.op_runs.get(name="a").status == "succeeded"  # the stopped process's end changed nothing


def test_a_mark_of_a_succeeded_op_as_failed_makes_its_finished_run_failed(chain, project):
    backend = InstantBackend()
    run = trigger_run(chain)
    for second in range(3):
        tick(at(second), backend)
    run.refresh_from_db()
    assert run.status == "succeeded"
    side = run.op_runs.get(name="side")
    finished_at = side.finished_at
    mark_op_run(side, "failed", reason="wrong numbers", user=project.owner, now=at(10))
    run.refresh_from_db()
    side.refresh_from_db()
    assert (run.status, run.reason, side.status) == ("failed", "marked", "failed")
    assert side.finished_at == finished_at  # a re-mark keeps when the attempt ended


def test_a_mark_of_a_failed_op_as_succeeded_runs_what_waited_on_it(chain, project):
    backend = InstantBackend(fail={"a": 1})
    run = trigger_run(chain)
    for second in range(3):
        tick(at(second), backend)
    run.refresh_from_db()
    assert (run.status, statuses(run)) == ("failed", {"a": "failed", "b": "upstream_failed",
                                                      "c": "upstream_failed", "side": "succeeded"})
    mark_op_run(run.op_runs.get(name="a"), "succeeded", user=project.owner, now=at(5))
    for second in range(6, 9):
        tick(at(second), backend)
    run.refresh_from_db()
    assert (run.status, statuses(run)) == ("succeeded", {"a": "succeeded", "b": "succeeded", "c": "succeeded",
                                                         "side": "succeeded"})
    assert backend.count("a") == 1  # a itself did not run again


def test_mark_refuses_other_statuses_long_reasons_and_trials(chain):
    run = trigger_run(chain)
    a = run.op_runs.get(name="a")
    with pytest.raises(InvalidInput, match="marks: failed, skipped, succeeded"):
        mark_op_run(a, "running")
    with pytest.raises(InvalidInput, match="at most 1000 characters"):
        mark_op_run(a, "skipped", reason="x" * (MAX_MARK_REASON + 1))
    a.trial = 0
    with pytest.raises(Unprocessable, match="mark its op 'a'"):
        mark_op_run(a, "skipped")


def test_every_attempt_has_the_op_runs_own_times(apply, local, tmp_path):
    from polyflow.api.serializers.runs import OpRunSerializer

    counter = tmp_path / "attempts"
    pipeline = apply(
        "version: 1\nkind: pipeline\nname: flaky\nops:\n"
        "  - {name: a, template: {name: t}, max_retries: 1, retry_delay: 30}\n"
        "templates:\n  - kind: job\n    name: t\n    container:\n      image: busybox\n"
        f"      command: [sh, -c, 'sleep 0.2; echo x >> {counter}; test $(wc -l < {counter}) -ge 2']\n")
    run = trigger_run(pipeline)
    settle(at(0), local)
    first = run.op_runs.get()
    assert first.status == "retrying" and first.started_at and first.finished_at
    settle(at(30), local)
    op_run = run.op_runs.get()
    assert (op_run.status, op_run.attempt) == ("succeeded", 2)
    data = OpRunSerializer(op_run).data
    past, current = data["attempts"]
    assert past["attempt"] == 1 and past["status"] == "failed" and past["reason"] == first.reason
    assert dt.datetime.fromisoformat(past["started_at"]) == first.started_at
    assert dt.datetime.fromisoformat(past["finished_at"]) == first.finished_at
    assert current["attempt"] == 2 and current["status"] == "succeeded"
    assert dt.datetime.fromisoformat(current["started_at"]) == op_run.started_at
    assert dt.datetime.fromisoformat(current["finished_at"]) == op_run.finished_at
    # The process's own times (about 0.2 s), not the simulated ticks' (30 s apart) of the history rows.
    assert 0.15 < past["duration"] < 5 and 0.15 < current["duration"] < 5
    assert data["duration"] == current["duration"]
    assert past["started_at"] != op_run.statuses.get(attempt=1, status="running").created_at


def test_a_mark_of_a_group_marks_the_group_and_stops_its_unfinished_trials(apply, project):
    from tests.scheduler.test_matrix import pipeline_yaml

    pipeline = apply(pipeline_yaml("""\
  - name: tune
    template: {name: train}
    matrix: {kind: mapping, concurrency: 1, values: [{lr: 0.1}, {lr: 0.2}, {lr: 0.3}]}
  - {name: after, template: {name: use}, params: {value: 1}, dependencies: [tune]}
"""))
    backend = InstantBackend(hold={"tune[1]"})
    run = trigger_run(pipeline)
    for second in range(4):
        tick(at(second), backend)
    trials = dict(run.op_runs.filter(trial__isnull=False).values_list("trial", "status"))
    assert trials == {0: "succeeded", 1: "running", 2: "created"}
    group = run.op_runs.get(name="tune", trial__isnull=True)
    marked = mark_op_run(group, "succeeded", reason="enough trials", user=project.owner, now=at(5))
    assert (marked.status, marked.message) == ("succeeded", "enough trials")
    trials = {t.trial: (t.status, t.reason) for t in run.op_runs.filter(trial__isnull=False)}
    assert trials == {0: ("succeeded", ""), 1: ("stopped", "marked"), 2: ("stopped", "marked")}
    # (That its attempt is ended on its backend: the local backend's test above.)
    for second in range(6, 9):
        tick(at(second), backend)
    run.refresh_from_db()
    assert (run.status, statuses(run)) == ("succeeded", {"tune": "succeeded", "after": "succeeded"})
