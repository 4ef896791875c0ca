"""The decision for a run a backend decides itself (scheduler/mirror.py), on plain data: hand-over,
following what the backend reports along the transition table, stops, the run's verdict."""

import datetime as dt

import pytest

from polyflow.backends.airflow_states import engine_run, task_observation
from polyflow.backends.base import LOST, RUNNING, SUCCEEDED, EngineRun
from polyflow.scheduler.decide import RunChange
from polyflow.scheduler.mirror import engine_of, mirror_run, path
from polyflow.statuses import OP_TRANSITIONS, OpStatus, RunStatus
from tests.scheduler.test_decide import NOW, op_spec, snapshot

RUN = "polyflow.p.abc/" + "0" * 32


def handle_of(handover):
    return RUN


def mirrored(run, engine, **more):
    return mirror_run(run, engine, NOW, backend="airflow", handle_of=handle_of, **more)


def handed(ops, statuses=None, **more):
    """A run whose op runs were handed over (each has its handle there)."""
    fields = {op.name: {"handle": f"{RUN}/{op.name}", "backend": "airflow", **more.pop(op.name, {})} for op in ops}
    return snapshot(ops, statuses, **fields, **more)


def airflow(state="running", **tasks):
    instances = [{"task_id": name, "state": value if isinstance(value, str) or value is None else value[0],
                  "try_number": 1 if isinstance(value, str) or value is None else value[1], "map_index": -1,
                  "start_date": "2026-01-01T11:59:00Z", "end_date": None}
                 for name, value in tasks.items()]
    return engine_run({"dag_run_id": "r", "state": state}, instances,
                      {(name, -1): {"loss": 0.5} for name, value in tasks.items() if value == "success"})


def moves(decision):
    by_pk = {op.pk: op.name for op in decision.run.ops.values()}
    return [(by_pk[c.pk], c.status) for c in decision.changes]


@pytest.mark.parametrize(("source", "target", "expected"), [
    (OpStatus.CREATED, OpStatus.SUCCEEDED, (OpStatus.SCHEDULED, OpStatus.SUCCEEDED)),
    (OpStatus.CREATED, OpStatus.RUNNING, (OpStatus.SCHEDULED, OpStatus.RUNNING)),
    (OpStatus.CREATED, OpStatus.UPSTREAM_FAILED, (OpStatus.UPSTREAM_FAILED,)),
    (OpStatus.RETRYING, OpStatus.SUCCEEDED, (OpStatus.SCHEDULED, OpStatus.SUCCEEDED)),
    (OpStatus.RUNNING, OpStatus.RETRYING, (OpStatus.RETRYING,)),
    (OpStatus.RUNNING, OpStatus.RUNNING, ()),
    (OpStatus.RUNNING, OpStatus.SKIPPED, None),
    (OpStatus.SUCCEEDED, OpStatus.FAILED, None),
])
def test_paths_follow_the_transition_table(source, target, expected):
    found = path(source, target)
    assert found == expected
    if found:
        for before, after in zip((source, *found), found, strict=False):
            assert before in OP_TRANSITIONS[after]


def test_a_new_run_is_handed_over_with_every_op_and_its_handles():
    run = snapshot([op_spec("a"), op_spec("b", "a")])
    decision = mirrored(run, None)
    assert decision.handover.ops == ("a", "b") and decision.handover_backend == "airflow"
    assert decision.handles == {1: f"{RUN}/a", 2: f"{RUN}/b"}
    assert decision.changes == [] and decision.run_changes == [] and decision.ready == []


def test_tasks_are_followed_through_every_status_between():
    run = handed([op_spec("a"), op_spec("b", "a"), op_spec("c", "a")])
    decision = mirrored(run, airflow(a="success", b="running", c=None))
    assert moves(decision) == [("a", OpStatus.SCHEDULED), ("a", OpStatus.RUNNING), ("a", OpStatus.SUCCEEDED),
                               ("b", OpStatus.SCHEDULED), ("b", OpStatus.RUNNING)]
    assert decision.changes[2].fields["outputs"] == {"loss": 0.5}
    assert decision.changes[1].fields["started_at"] == dt.datetime(2026, 1, 1, 11, 59, tzinfo=dt.UTC)
    assert decision.handover is None and decision.run_changes == []


def test_a_retry_there_is_a_retrying_op_run_on_its_next_attempt():
    run = handed([op_spec("a", max_retries=2)], {"a": OpStatus.RUNNING})
    decision = mirrored(run, airflow(a=("running", 2)))
    assert moves(decision) == [("a", OpStatus.RETRYING), ("a", OpStatus.SCHEDULED), ("a", OpStatus.RUNNING)]
    assert decision.changes[-1].fields["attempt"] == 2
    assert "attempt" not in decision.changes[0].fields  # the attempt that failed keeps its number


def test_airflows_verdict_ends_the_run_and_says_where_polyflow_would_differ():
    run = handed([op_spec("a"), op_spec("b", "a", trigger="all_done")], {"a": OpStatus.FAILED})
    decision = mirrored(run, airflow("success", a="failed", b="success"))
    assert moves(decision) == [("b", OpStatus.SCHEDULED), ("b", OpStatus.RUNNING), ("b", OpStatus.SUCCEEDED)]
    (change,) = decision.run_changes
    assert (change.status, change.reason) == (RunStatus.SUCCEEDED, "engine")
    assert "though op(s) a failed" in change.message


def test_every_op_final_waits_for_the_verdict():
    run = handed([op_spec("a")])
    assert mirrored(run, airflow("running", a="success")).run_changes == []
    assert mirrored(run, airflow("success", a="success")).run_changes == [RunChange(RunStatus.SUCCEEDED)]


def test_a_run_the_backend_lost_is_handed_over_again_and_a_refused_one_ends():
    run = handed([op_spec("a"), op_spec("b", "a")], {"a": OpStatus.SCHEDULED})
    decision = mirrored(run, EngineRun(LOST))
    assert decision.handover.ops == ("a", "b") and decision.handles == {}
    refused = handed([op_spec("a")], {"a": OpStatus.FAILED})
    decision = mirrored(refused, EngineRun(LOST))
    assert decision.handover is None and decision.run_changes == [RunChange(RunStatus.FAILED)]


def test_a_stopping_run_stops_the_dag_run_and_ends_when_it_has():
    run = handed([op_spec("a"), op_spec("b", "a")], {"a": OpStatus.RUNNING}, run_status=RunStatus.STOPPING)
    decision = mirrored(run, airflow(a="running"))
    assert decision.stop == [RUN] and decision.stop_on == {RUN: "airflow"}
    assert moves(decision) == [("a", OpStatus.STOPPING), ("b", OpStatus.STOPPED)]
    assert mirrored(run, airflow(a="running"), stop_sent={RUN}).stop == []
    stopping = handed([op_spec("a")], {"a": OpStatus.STOPPING}, run_status=RunStatus.STOPPING)
    decision = mirrored(stopping, airflow("failed", a="failed"))
    assert moves(decision) == [("a", OpStatus.STOPPED)] and decision.stop == []
    assert decision.run_changes == [RunChange(RunStatus.STOPPED)]


def test_the_run_timeout_is_polyflows_safety_net():
    run = handed([op_spec("a")], {"a": OpStatus.RUNNING}, timeout=60, started_at=NOW - dt.timedelta(seconds=61))
    decision = mirrored(run, airflow(a="running"))
    assert decision.run_changes[0] == RunChange(RunStatus.STOPPING, "timeout",
                                                "the run took longer than its timeout of 60 s")
    assert decision.stop == [RUN]


def test_invalid_outputs_fail_the_op_run_though_airflow_succeeded():
    run = handed([op_spec("a")])
    engine = engine_run({"state": "running"}, [{"task_id": "a", "state": "success", "try_number": 1}],
                        {("a", -1): {"accuracy": 1}})
    decision = mirrored(run, engine)
    assert (decision.changes[-1].status, decision.changes[-1].reason) == (OpStatus.FAILED, "invalid_outputs")
    assert "the task itself succeeded there" in decision.changes[-1].message


def test_a_task_airflow_skips_while_it_ran_is_failed_saying_so():
    run = handed([op_spec("a")], {"a": OpStatus.RUNNING})
    decision = mirrored(run, airflow("failed", a="skipped"))
    assert moves(decision) == [("a", OpStatus.FAILED)]
    assert decision.changes[0].message == "Airflow marked it skipped"


def test_a_search_is_refused_with_a_reason():
    from polyflow.spec.plan import MatrixSpec

    run = snapshot([op_spec("a", matrix=MatrixSpec(kind="grid"))])
    decision = mirrored(run, None)
    assert [(c.status, c.reason) for c in decision.changes] == [(OpStatus.FAILED, "not_carried")]
    assert "runs mappings only, not searches (a)" in decision.changes[0].message
    assert decision.handover is None and decision.run_changes == [RunChange(RunStatus.FAILED)]


def mapping_run(group_status, trials=(), **more):
    from polyflow.scheduler.snapshot import OpState
    from polyflow.spec.plan import MatrixSpec

    matrix = MatrixSpec(kind="mapping", values=({"d": {"x": 1}}, {"d": {"x": 2}}))
    run = handed([op_spec("each", matrix=matrix), op_spec("after", "each")], {"each": group_status}, **more)
    run.trials["each"] = [OpState(10 + index, "each", status, 1, handle, "airflow" if handle else "", "", "",
                                  None, None, trial=index) for index, (status, handle) in enumerate(trials)]
    return run


def mapped(state="running", **by_index):
    instances = [{"task_id": "each", "state": value, "try_number": 1, "map_index": int(index[1:])}
                 for index, value in by_index.items()]
    outputs = {("each", int(index[1:])): {"loss": int(index[1:]) / 10} for index, value in by_index.items()
               if value == "success"}
    return engine_run({"state": state}, instances, outputs)


def test_a_mapping_starts_when_airflow_expands_it_and_its_trials_follow_their_instances():
    decision = mirrored(mapping_run(OpStatus.CREATED), mapped(i0="running", i1=None))
    assert [op.name for op in decision.expand] == ["each"] and decision.changes == []
    # Made (by expansion.py, in the tick), the trials are given their handles, then follow.
    run = mapping_run(OpStatus.RUNNING, [(OpStatus.CREATED, ""), (OpStatus.CREATED, "")])
    decision = mirrored(run, mapped(i0="running", i1=None))
    assert decision.handles == {10: f"{RUN}/each/0", 11: f"{RUN}/each/1"}
    run = mapping_run(OpStatus.RUNNING, [(OpStatus.CREATED, f"{RUN}/each/0"), (OpStatus.RUNNING, f"{RUN}/each/1")])
    decision = mirrored(run, mapped(i0="success", i1="running"))
    assert [(c.pk, c.status) for c in decision.changes] == [(10, OpStatus.SCHEDULED), (10, OpStatus.SUCCEEDED)]


def test_a_mapping_ends_with_its_trials_its_outputs_lists_over_them():
    run = mapping_run(OpStatus.RUNNING, [(OpStatus.SUCCEEDED, f"{RUN}/each/0"), (OpStatus.RUNNING, f"{RUN}/each/1")])
    decision = mirrored(run, mapped(i0="success", i1="success"))
    group = decision.changes[-1]
    assert (group.pk, group.status) == (1, OpStatus.SUCCEEDED)
    assert group.fields["outputs"] == {"loss": [0.0, 0.1]}
    assert group.fields["summary"]["counts"] == {OpStatus.SUCCEEDED: 2}
    failed = mapping_run(OpStatus.RUNNING, [(OpStatus.SUCCEEDED, f"{RUN}/each/0"), (OpStatus.RUNNING, f"{RUN}/each/1")])
    decision = mirrored(failed, mapped(i0="success", i1="failed"))
    assert decision.changes[-1].status == OpStatus.FAILED  # a mapping succeeds only when every item did


def test_an_empty_mapping_airflow_skipped_is_skipped():
    decision = mirrored(mapping_run(OpStatus.CREATED), airflow("running", each="skipped"))
    assert moves(decision) == [("each", OpStatus.SKIPPED)]


def test_the_engine_of_a_run():
    engines = {"airflow"}
    assert engine_of(snapshot([op_spec("a")]), "airflow", engines) == "airflow"
    assert engine_of(snapshot([op_spec("a")]), "", engines) == ""
    local = snapshot([op_spec("a")], a={"backend": "local", "handle": "h"})
    assert engine_of(local, "airflow", engines) == ""  # a run started elsewhere stays there
    assert engine_of(handed([op_spec("a")]), "", engines) == "airflow"


def test_task_states_and_unknown_ones():
    assert task_observation({"state": "up_for_retry", "try_number": 1}).status == OpStatus.RETRYING
    assert task_observation({"state": "queued", "try_number": 0}).attempt is None
    odd = task_observation({"state": "sensing"})
    assert odd.status == OpStatus.CREATED and "does not know: 'sensing'" in odd.message
    assert engine_run(None, ()).state == LOST
    seen = engine_run({"state": "running"}, [{"task_id": "a", "state": "running", "map_index": -1,
                                              "start_date": "2026-01-01T12:00:00+00:00"},
                                             {"task_id": "m", "state": "success", "map_index": 3}])
    assert seen.state == RUNNING and list(seen.tasks) == ["a"]
    assert seen.tasks["a"].started_at == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert engine_run({"state": "success"}, ()).state == SUCCEEDED
