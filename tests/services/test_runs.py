"""Trigger, stop and retry through the services, on PostgreSQL."""

import pytest

from polyflow.exceptions import Conflict, InvalidInput
from polyflow.models import OperationRun, PipelineRun
from polyflow.services.pipelines import delete_pipeline, set_paused
from polyflow.services.runs import retry_op_run, retry_run, stop_op_run, stop_run, trigger_run
from polyflow.services.transitions import transition
from polyflow.statuses import OpStatus, RunStatus


def statuses(run):
    return dict(run.op_runs.values_list("name", "status"))


def move(run, name, *path):
    op_run = run.op_runs.get(name=name)
    for status in path:
        assert transition(op_run, status), f"{name} could not move to {status}"


def finish(run, failed=()):
    """Drive the chain to an end the way the scheduler would."""
    transition(run, RunStatus.RUNNING)
    for name in ("a", "side"):
        move(run, name, OpStatus.SCHEDULED, OpStatus.RUNNING, OpStatus.FAILED if name in failed else OpStatus.SUCCEEDED)
    if "a" in failed:
        transition(list(run.op_runs.filter(name__in=["b", "c"]).values_list("pk", flat=True)),
                   OpStatus.UPSTREAM_FAILED, model=OperationRun)
    else:
        for name in ("b", "c"):
            move(run, name, OpStatus.SCHEDULED, OpStatus.RUNNING, OpStatus.SUCCEEDED)
    transition(run, RunStatus.FAILED if failed else RunStatus.SUCCEEDED)
    run.refresh_from_db()


def test_trigger_creates_one_op_run_per_op_in_order(chain):
    run = trigger_run(chain, params={"b": {"n": 5}})
    assert list(run.op_runs.order_by("id").values_list("name", "status", "attempt")) == [
        ("a", "created", 1), ("b", "created", 1), ("c", "created", 1), ("side", "created", 1)]
    assert run.op_runs.get(name="b").params == {"n": 5}
    assert run.op_runs.get(name="a").params == {"n": 1}
    assert run.plan == chain.plan and run.status == "created"


@pytest.mark.parametrize(
    "params, errors",
    [
        ({"x": {}}, [("params.x", "unknown op 'x' (ops: a, b, c, side)")]),
        ({"a": {"m": 1}}, [("params.a.m", "unknown input 'm' of template 't' (inputs: n)")]),
        ({"a": {"n": "5"}}, [("params.a.n", "expected an integer (type int), got '5'")]),
        ({"a": {"n": "{{ globals.attempt }}"}},
         [("params.a.n", "expressions ('{{ ... }}') are only allowed in the pipeline's documents")]),
        ({"a": 3}, [("params.a", "expected a mapping of input names to values, got 3")]),
        ([1], [("params", "expected a mapping, got a list")]),
    ],
)
def test_trigger_params_are_checked_like_the_spec(chain, params, errors):
    with pytest.raises(InvalidInput) as raised:
        trigger_run(chain, params=params)
    assert [(e["path"], e["message"]) for e in raised.value.errors] == errors
    assert not PipelineRun.objects.exists()


def test_stop_stops_pending_ops_and_waits_for_submitted_ones(chain):
    run = trigger_run(chain)
    transition(run, RunStatus.RUNNING)
    move(run, "a", OpStatus.SCHEDULED, OpStatus.RUNNING)
    run = stop_run(run)
    assert run.status == "stopping"
    assert statuses(run) == {"a": "stopping", "b": "stopped", "c": "stopped", "side": "stopped"}
    with pytest.raises(Conflict):
        delete_pipeline(chain)


def test_stop_of_a_run_with_nothing_submitted_is_immediate(chain):
    run = stop_run(trigger_run(chain))
    assert run.status == "stopped" and run.finished_at is not None
    with pytest.raises(Conflict, match="already stopped"):
        stop_run(run)


def test_retry_brings_back_failures_and_their_downstream(chain):
    run = trigger_run(chain)
    finish(run, failed=("a",))
    assert statuses(run) == {"a": "failed", "b": "upstream_failed", "c": "upstream_failed", "side": "succeeded"}
    run = retry_run(run)
    assert run.status == "created"
    assert statuses(run) == {"a": "created", "b": "created", "c": "created", "side": "succeeded"}
    assert run.op_runs.get(name="a").attempt == 2
    assert list(run.statuses.values_list("status", flat=True)) == ["created", "running", "failed", "created"]


def test_retry_refuses_active_and_fully_successful_runs(chain):
    run = trigger_run(chain)
    with pytest.raises(Conflict, match="only a finished run"):
        retry_run(run)
    finish(run)
    with pytest.raises(Conflict, match="no failed"):
        retry_run(run)


def test_retry_one_op_reopens_it_and_what_depends_on_it(chain):
    run = trigger_run(chain)
    finish(run)
    op_run = retry_op_run(run, "b")
    assert (op_run.status, op_run.attempt) == ("created", 2)
    assert statuses(run) == {"a": "succeeded", "b": "created", "c": "created", "side": "succeeded"}
    run.refresh_from_db()
    assert run.status == "created"


def test_stop_one_op(chain):
    run = trigger_run(chain)
    assert stop_op_run(run, "c").status == "stopped"
    with pytest.raises(Conflict):
        stop_op_run(run, "c")


def test_pause_resume_and_delete(chain):
    assert set_paused(chain, True).is_paused
    assert not set_paused(chain, False).is_paused
    run = trigger_run(chain)
    stop_run(run)
    delete_pipeline(chain)
    assert not OperationRun.objects.exists()
