import datetime as dt

from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run

DIAMOND = """\
version: 1
kind: pipeline
name: diamond
ops:
  - {name: a, template: {name: t}}
  - {name: b, template: {name: t}, dependencies: [a], params: {n: '{{ ops.a.outputs.x }}'}}
  - {name: c, template: {name: t}, dependencies: [a]}
  - {name: d, template: {name: t}, dependencies: [b, c]}
templates:
  - kind: job
    name: t
    inputs: [{name: n, type: int, default: 1}]
    outputs: [{name: x, type: int}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_diamond_runs_to_success_in_one_tick(apply, backend, django_assert_max_num_queries):
    backend.outputs["a"] = {"x": 7}
    run = trigger_run(apply(DIAMOND))
    report = tick(NOW, backend)
    run.refresh_from_db()
    assert run.status == "succeeded", report.lines()
    assert [s.op for s in backend.submissions] == ["a", "b", "c", "d"]
    assert backend.submissions[1].params == {"n": 7}
    assert dict(run.op_runs.values_list("name", "status")) == dict.fromkeys("abcd", "succeeded")
