"""The single transition function: conditional, recorded, idempotent."""

import pytest

from polyflow.models import OperationRun, OperationRunStatus, PipelineRunStatus
from polyflow.services.runs import trigger_run
from polyflow.services.transitions import transition
from polyflow.statuses import OP_TRANSITIONS, OpStatus, RunStatus


@pytest.fixture
def run(chain):
    return trigger_run(chain)


def op(run, name):
    return run.op_runs.get(name=name)


def test_a_new_run_records_its_initial_status(run):
    assert list(PipelineRunStatus.objects.filter(run=run).values_list("previous", "status")) == [("", "created")]
    assert OperationRunStatus.objects.filter(op_run__run=run, status="created").count() == 4


def test_allowed_transition_moves_and_records(run):
    a = op(run, "a")
    assert transition(a, OpStatus.SCHEDULED, reason="submitted") == [a.pk]
    a.refresh_from_db()
    assert (a.status, a.reason) == ("scheduled", "submitted")
    assert list(a.statuses.values_list("previous", "status", "reason"))[-1] == ("created", "scheduled", "submitted")


def test_disallowed_transition_changes_nothing(run):
    a = op(run, "a")
    assert transition(a, OpStatus.SUCCEEDED) == []  # created cannot jump to succeeded
    a.refresh_from_db()
    assert a.status == "created"
    assert a.statuses.count() == 1


def test_doing_it_twice_moves_once(run):
    a = op(run, "a")
    assert transition(a, OpStatus.SCHEDULED) == [a.pk]
    assert transition(a, OpStatus.SCHEDULED) == []
    assert a.statuses.filter(status="scheduled").count() == 1


def test_final_statuses_are_never_overwritten(run):
    a = op(run, "a")
    transition(a, OpStatus.SCHEDULED)
    transition(a, OpStatus.RUNNING)
    transition(a, OpStatus.SUCCEEDED)
    for status in OpStatus:
        if status != OpStatus.CREATED:
            assert transition(a, status) == []
    a.refresh_from_db()
    assert a.status == "succeeded" and a.finished_at is not None and a.started_at is not None


def test_only_an_explicit_retry_reopens_and_it_starts_a_new_attempt(run):
    a = op(run, "a")
    for status in (OpStatus.SCHEDULED, OpStatus.RUNNING):
        transition(a, status)
    transition(a, OpStatus.FAILED, updates={"exit_code": 3, "outputs": {"x": 1}})
    assert transition(a, OpStatus.CREATED) == []
    assert transition(a, OpStatus.CREATED, explicit_retry=True, reason="retry") == [a.pk]
    a.refresh_from_db()
    assert (a.status, a.attempt, a.exit_code, a.outputs, a.started_at, a.finished_at) == (
        "created", 2, None, {}, None, None)
    assert list(a.statuses.values_list("status", "attempt")) == [
        ("created", 1), ("scheduled", 1), ("running", 1), ("failed", 1), ("created", 2)]


def test_bulk_transition_moves_only_the_rows_that_may_move(run):
    a, b = op(run, "a"), op(run, "b")
    transition(a, OpStatus.SCHEDULED)
    moved = transition([a.pk, b.pk], OpStatus.RUNNING, model=OperationRun)
    assert moved == [a.pk]
    assert OperationRun.objects.get(pk=b.pk).status == "created"


def test_run_transitions(run):
    assert transition(run, RunStatus.SUCCEEDED) == []
    assert transition(run, RunStatus.RUNNING) == [run.pk]
    run.refresh_from_db()
    assert run.started_at is not None


def test_every_op_status_is_reachable_and_has_sources():
    reachable = {status for status, sources in OP_TRANSITIONS.items() if sources}
    assert reachable == set(OpStatus) - {OpStatus.CREATED}
