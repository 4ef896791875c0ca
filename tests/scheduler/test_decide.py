"""The pure decision of one run (scheduler/decide.py) and the hold rules, on plain data."""

import datetime as dt

import pytest

from polyflow.backends.base import FAILED, RUNNING, SUCCEEDED, Observation
from polyflow.scheduler.decide import OpChange, RunChange, build_submission, decide_run, run_outcome
from polyflow.scheduler.holds import DependsOnPast, Paused, RetryPeriod
from polyflow.scheduler.snapshot import Graph, OpState, RunSnapshot
from polyflow.spec.plan import ContainerSpec, IOSpec, OpSpec, Plan, TemplateSpec, freeze
from polyflow.statuses import OpStatus, RunStatus

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
TEMPLATE = TemplateSpec("job", "t", inputs=(IOSpec("d", "dict", is_optional=True),),
                        outputs=(IOSpec("loss", "float", is_optional=True),),
                        container=ContainerSpec(image="busybox", command=("true",)))


def op_spec(name, *deps, **more):
    return OpSpec(name, "t", None, TEMPLATE, dependencies=tuple(deps), **more)


def snapshot(ops, statuses=None, *, run_status=RunStatus.RUNNING, paused=False, timeout=None, started_at=None,
             schedule_at=None, previous=None, concurrency=None, **op_fields):
    plan = Plan("p", tuple(ops), tuple(op.name for op in ops), timeout=timeout, concurrency=concurrency)
    statuses = statuses or {}
    states = {}
    for index, op in enumerate(ops):
        fields = {"attempt": 1, "handle": "", "backend": "", "reason": "", "message": "", "started_at": None,
                  "retry_at": None, **op_fields.get(op.name, {})}
        states[op.name] = OpState(index + 1, op.name, statuses.get(op.name, OpStatus.CREATED), **fields)
    return RunSnapshot(1, "0" * 32, run_status, "", "", started_at, schedule_at, 1, "1", paused, plan,
                       Graph.of(plan), states, previous=previous)


def names(decision, ops):
    by_pk = {op.pk: op.name for op in decision.run.ops.values()}
    return [by_pk[op.pk] for op in ops]


def test_roots_are_ready_and_the_run_is_not_final():
    decision = decide_run(snapshot([op_spec("a"), op_spec("b", "a")]), {}, NOW)
    assert names(decision, decision.ready) == ["a"]
    assert decision.changes == [] and decision.run_changes == []


def test_a_finished_attempt_readies_its_downstream_in_the_same_decision():
    run = snapshot([op_spec("a"), op_spec("b", "a")], {"a": OpStatus.RUNNING}, a={"handle": "h-a"})
    decision = decide_run(run, {"h-a": Observation(SUCCEEDED, exit_code=0, outputs='{"loss": 0.1}')}, NOW,
                          first=False)
    assert [(c.pk, c.status) for c in decision.changes] == [(1, OpStatus.SUCCEEDED)]
    assert decision.changes[0].fields["outputs"] == {"loss": 0.1}
    assert names(decision, decision.ready) == ["b"]


@pytest.mark.parametrize(("published", "named"), [
    ('{"loss": NaN}', "NaN is not a JSON number"),
    ('{"loss": Infinity}', "Infinity is not a JSON number"),
    ('{"note": "a\\u0000b"}', "output 'note': NUL characters"),
    ({"loss": float("nan")}, "output 'loss': nan is not a finite number"),
    ("x" * (1024 * 1024 + 1), "more than the limit"),
    ('{"accuracy": 1}', "undeclared output 'accuracy'"),
])
def test_outputs_that_cannot_be_stored_fail_the_op_with_invalid_outputs(published, named):
    run = snapshot([op_spec("a"), op_spec("b", "a")], {"a": OpStatus.RUNNING}, a={"handle": "h-a"})
    decision = decide_run(run, {"h-a": Observation(SUCCEEDED, exit_code=0, outputs=published)}, NOW)
    (change,) = [c for c in decision.changes if c.pk == 1]
    assert (change.status, change.reason) == (OpStatus.FAILED, "invalid_outputs")
    assert named in change.message
    assert [(c.pk, c.status) for c in decision.changes[1:]] == [(2, OpStatus.UPSTREAM_FAILED)]
    assert decision.run_changes == [RunChange(RunStatus.FAILED)]


def test_run_outcome_is_shared_by_the_tick_and_the_stop_service():
    assert run_outcome(RunStatus.RUNNING, "", ["succeeded", "skipped"]) == RunStatus.SUCCEEDED
    assert run_outcome(RunStatus.RUNNING, "", ["succeeded", "stopped"]) == RunStatus.FAILED
    assert run_outcome(RunStatus.RUNNING, "", ["succeeded", "running"]) is None
    assert run_outcome(RunStatus.STOPPING, "stopped", ["stopped", "succeeded"]) == RunStatus.STOPPED
    assert run_outcome(RunStatus.STOPPING, "timeout", ["stopped"]) == RunStatus.FAILED


def test_a_run_past_its_timeout_stops_every_op_and_asks_the_backend_to_end_attempts():
    run = snapshot([op_spec("a"), op_spec("b", "a")], {"a": OpStatus.RUNNING}, timeout=60,
                   started_at=NOW - dt.timedelta(seconds=61), a={"handle": "h-a"})
    decision = decide_run(run, {"h-a": Observation(RUNNING)}, NOW)
    assert decision.run_changes == [RunChange(RunStatus.STOPPING, "timeout",
                                              "the run took longer than its timeout of 60 s")]
    assert [(c.pk, c.status) for c in decision.changes] == [(1, OpStatus.STOPPING), (2, OpStatus.STOPPED)]
    assert decision.stop == ["h-a"] and decision.ready == []


def test_the_timed_out_run_ends_failed_with_its_own_message_once_all_is_stopped():
    run = snapshot([op_spec("a")], {"a": OpStatus.STOPPING}, run_status=RunStatus.STOPPING, a={"handle": "h"})
    run.reason, run.message = "timeout", "the run took longer than its timeout of 5 s"
    decision = decide_run(run, {"h": Observation(FAILED, exit_code=143)}, NOW)
    assert decision.run_changes == [RunChange(RunStatus.FAILED, "timeout", run.message)]


def test_a_stopping_op_run_that_never_reached_a_backend_stops_at_once():
    run = snapshot([op_spec("a")], {"a": OpStatus.STOPPING}, run_status=RunStatus.STOPPING)
    decision = decide_run(run, {}, NOW)
    assert [(c.pk, c.status) for c in decision.changes] == [(1, OpStatus.STOPPED)]
    assert decision.run_changes == [RunChange(RunStatus.STOPPED)]


def test_stop_is_sent_once_per_tick():
    run = snapshot([op_spec("a")], {"a": OpStatus.STOPPING}, run_status=RunStatus.STOPPING, a={"handle": "h"})
    assert decide_run(run, {}, NOW).stop == ["h"]
    assert decide_run(run, {}, NOW, first=False, stop_sent={"h"}).stop == []


def test_a_failed_attempt_with_a_delay_waits_and_without_one_goes_again_at_once():
    delayed = snapshot([op_spec("a", max_retries=1, retry_delay=30)], {"a": OpStatus.RUNNING},
                       a={"handle": "h"})
    decision = decide_run(delayed, {"h": Observation(FAILED, exit_code=1)}, NOW)
    assert [c.status for c in decision.changes] == [OpStatus.RETRYING] and decision.ready == []
    at_once = snapshot([op_spec("a", max_retries=1, retry_delay=0)], {"a": OpStatus.RUNNING}, a={"handle": "h"})
    decision = decide_run(at_once, {"h": Observation(FAILED, exit_code=1)}, NOW)
    assert names(decision, decision.ready) == ["a"]
    assert decision.ready[0].status == OpStatus.RETRYING  # so that it is submitted as attempt 2


def test_holds_give_a_reason_and_a_message():
    op = OpState(1, "a", OpStatus.RETRYING, 1, "", "", "", "", None, NOW + dt.timedelta(seconds=5))
    run = snapshot([op_spec("a", depends_on_past=True)], paused=True, schedule_at=NOW,
                   previous={"a": OpStatus.FAILED})
    assert RetryPeriod().check(run, op, NOW).reason == "retry_period"
    assert Paused().check(run, op, NOW).message == "the pipeline is paused"
    past = DependsOnPast().check(run, run.ops["a"], NOW)
    assert (past.reason, past.message) == ("depends_on_past",
                                           "waiting for op 'a' of the previous slot's run (failed)")
    assert DependsOnPast().check(snapshot([op_spec("a", depends_on_past=True)]), run.ops["a"], NOW) is None


def test_held_op_runs_are_held_not_ready():
    decision = decide_run(snapshot([op_spec("a"), op_spec("b")], paused=True), {}, NOW)
    assert decision.ready == [] and {h.reason for h in decision.holds.values()} == {"paused"}


def test_scheduled_op_runs_never_handed_over_are_sent_again_on_the_first_decision_only():
    run = snapshot([op_spec("a")], {"a": OpStatus.SCHEDULED})
    decision = decide_run(run, {}, NOW)
    assert names(decision, decision.resend) == ["a"]
    assert decide_run(run, {}, NOW, first=False).resend == []


def test_dict_params_from_the_plan_reach_the_submission_as_plain_json():
    run = snapshot([op_spec("a")])
    params = freeze({"d": {"k": "v", "rows": [{"x": 1}]}})
    submission = build_submission(run, run.ops["a"], 1, params, {})
    assert submission.params == {"d": {"k": "v", "rows": [{"x": 1}]}}
    assert type(submission.params["d"]) is dict and type(submission.params["d"]["rows"][0]) is dict


def test_changes_carry_their_fields():
    change = OpChange(1, OpStatus.SKIPPED, "trigger_rule")
    assert change.fields == {} and change.message == ""
