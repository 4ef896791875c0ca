"""A run's failure is that run's (DESIGN section 8), on PostgreSQL: bad outputs, bad
stored data and database errors stop only the run they belong to."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from polyflow.api.serializers.runs import RunSerializer
from polyflow.backends.base import FAILED, Observation
from polyflow.backends.local import LocalBackend
from polyflow.models import OperationRun, PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.events import fire_event
from polyflow.services.registry import apply_owner_text
from polyflow.services.runs import trigger_run
from polyflow.testing.backends import InstantBackend

from .test_integration_local import settle
from .test_tick import scheduler_queries

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def pipeline_yaml(name: str, ops: str, command: str = "['true']", head: str = "") -> str:
    return f"""\
version: 1
kind: pipeline
name: {name}
{head}ops:
{ops}templates:
  - kind: job
    name: t
    outputs: [{{name: note, type: str, is_optional: true}}, {{name: loss, type: float, is_optional: true}}]
    container: {{image: busybox, command: {command}}}
"""


CHAIN = "  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, dependencies: [a]}\n"
OTHER_CHAIN = "  - {name: x, template: {name: t}}\n  - {name: y, template: {name: t}, dependencies: [x]}\n"


def statuses(run):
    return dict(run.op_runs.values_list("name", "status"))


@pytest.mark.parametrize(("published", "named"), [
    ('{"note": "a\\u0000b"}', "output 'note': NUL characters (\\0) are not allowed"),
    ('{"loss": NaN}', "NaN is not a JSON number"),
])
def test_unstorable_outputs_fail_only_their_op_while_another_pipeline_succeeds(apply, published, named):
    bad = trigger_run(apply(pipeline_yaml("bad", CHAIN)))
    good = trigger_run(apply(pipeline_yaml("good", OTHER_CHAIN)))
    backend = InstantBackend(outputs={"a": published, "x": '{"note": "fine", "loss": 0.25}'})
    report = tick(at(0), backend)
    bad.refresh_from_db()
    good.refresh_from_db()
    a = bad.op_runs.get(name="a")
    assert (a.status, a.reason) == ("failed", "invalid_outputs")
    assert named in a.message
    assert (bad.status, statuses(bad)) == ("failed", {"a": "failed", "b": "upstream_failed"})
    assert (good.status, statuses(good)) == ("succeeded", {"x": "succeeded", "y": "succeeded"})
    assert good.op_runs.get(name="x").outputs == {"note": "fine", "loss": 0.25}
    assert report.errors == []


@pytest.mark.parametrize(("script", "named"), [
    (r"""printf '{"note": "a\\u0000b"}' > "$POLYFLOW_OUTPUTS_FILE" """, "NUL characters"),
    (r"""printf '{"loss": NaN}' > "$POLYFLOW_OUTPUTS_FILE" """, "NaN is not a JSON number"),
])
def test_unstorable_outputs_of_real_processes_fail_only_their_op(apply, settings, tmp_path, script, named):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path)}
    local = LocalBackend(kill_grace=0.5)
    publish = tmp_path / "publish.sh"
    publish.write_text(script)
    bad = trigger_run(apply(pipeline_yaml("bad", CHAIN, command=f"[sh, '{publish}']")))
    good = trigger_run(apply(pipeline_yaml("good", CHAIN)))
    settle(at(0), local)
    bad.refresh_from_db()
    good.refresh_from_db()
    a = bad.op_runs.get(name="a")
    assert (a.status, a.reason) == ("failed", "invalid_outputs"), a.message
    assert named in a.message
    assert bad.status == "failed" and good.status == "succeeded"


class _HugeExitCode(InstantBackend):
    """A backend reporting an exit code no integer column holds: the database refuses the write."""

    broken = True

    def _observe(self, key):
        if self.broken and key.startswith("broken-"):
            return Observation(FAILED, exit_code=2**40, reason="failed", message="from a broken backend")
        return super()._observe(key)


def test_a_run_whose_write_fails_is_rolled_back_alone_and_its_error_shown(apply):
    broken = trigger_run(apply(pipeline_yaml("broken", CHAIN)))
    healthy = trigger_run(apply(pipeline_yaml("healthy", CHAIN)))
    backend = _HugeExitCode()
    for second in range(3):
        report = tick(at(second), backend)
    broken.refresh_from_db()
    healthy.refresh_from_db()
    assert healthy.status == "succeeded"
    assert broken.status == "running" and statuses(broken)["a"] == "scheduled"
    assert "could not write this run's changes" in broken.scheduler_error
    assert "out of range" in broken.scheduler_error
    assert broken.scheduler_error_at is not None
    assert any(line.startswith(f"run {broken.pk}: ") for line in report.errors)
    # The run advances again once the cause is gone, and the error is cleared.
    backend.broken = False
    tick(at(10), backend)
    broken.refresh_from_db()
    assert (broken.status, broken.scheduler_error, broken.scheduler_error_at) == ("succeeded", "", None)


def test_a_run_whose_stored_plan_cannot_be_read_does_not_stop_the_others(apply):
    corrupt = trigger_run(apply(pipeline_yaml("corrupt", CHAIN)))
    fine = trigger_run(apply(pipeline_yaml("fine", CHAIN)))
    PipelineRun.objects.filter(pk=corrupt.pk).update(plan={"ops": "not a list"})
    tick(at(0), InstantBackend())
    corrupt.refresh_from_db()
    fine.refresh_from_db()
    assert fine.status == "succeeded"
    assert corrupt.status == "running"
    assert corrupt.scheduler_error.startswith("its stored plan cannot be read")
    # Where users look: the API's run (the dashboard and `polyflow runs show` read the same fields).
    shown = RunSerializer(corrupt).data
    assert shown["scheduler_error"] == corrupt.scheduler_error and shown["scheduler_error_at"]


def test_dict_and_list_of_dict_params_and_defaults_run(apply, project):
    pipeline = apply("""\
version: 1
kind: pipeline
name: dicts
ops:
  - {name: a, template: {name: t}, params: {d: {k: v, n: 1}}}
  - {name: b, template: {name: t}}
templates:
  - kind: job
    name: t
    inputs:
      - {name: d, type: dict, default: {k: default}}
      - {name: rows, type: list, default: [{x: 1}, {x: 2}]}
    container: {image: busybox, command: ['true']}
""")
    backend = InstantBackend()
    run = trigger_run(pipeline, params={"b": {"d": {"from": "trigger"}}})
    tick(at(0), backend)
    run.refresh_from_db()
    assert run.status == "succeeded"
    params = {s.op: dict(s.params) for s in backend.submissions}
    assert params["a"]["d"] == {"k": "v", "n": 1}
    assert params["b"]["d"] == {"from": "trigger"}
    assert params["a"]["rows"] == [{"x": 1}, {"x": 2}]
    # An event's runs too.
    event = "version: 1\nkind: event\nname: go\ninputs: [{name: d, type: dict, default: {e: 1}}]\n"
    apply_owner_text(project.owner, event)
    template = ("  - {kind: job, name: u, inputs: [{name: d, type: dict, is_optional: true}],"
                " container: {image: busybox, command: ['true']}}\n")
    ops = "  - {name: a, template: {name: u}}\n"
    subscribed = apply(pipeline_yaml("subscriber", ops, head="events: [{name: go}]\n") + template)
    (event_run,) = fire_event(project.owner, "go", {})
    assert event_run.pipeline_id == subscribed.pk
    assert event_run.op_runs.get().params["d"] == {"e": 1}


def _queries_of_two_ticks(apply, n: int, name: str) -> tuple[int, int]:
    ops = "".join(f"  - {{name: o{i}, template: {{name: t}}}}\n" for i in range(n))
    pipeline = apply(pipeline_yaml(name, ops, head="concurrency: 1\n"))
    backend = InstantBackend(hold={f"o{i}" for i in range(n)})
    trigger_run(pipeline)
    counts = []
    for second in range(2):
        with CaptureQueriesContext(connection) as queries:
            report = tick(at(second), backend)
        counts.append(scheduler_queries(queries))
        assert report.held == n - 1
    assert OperationRun.objects.filter(run__pipeline=pipeline, reason="concurrency").count() == n - 1
    PipelineRun.objects.filter(pipeline=pipeline).update(status="succeeded")
    return tuple(counts)


def test_queries_per_tick_are_the_same_for_5_and_60_held_ops(apply):
    assert _queries_of_two_ticks(apply, 5, "small") == _queries_of_two_ticks(apply, 60, "large")
