"""A retried op runs again even when an earlier result could serve it (the scheduler with a
scripted backend: every submission is counted)."""

from polyflow.scheduler.tick import tick
from polyflow.services.runs import mark_op_run, retry_run, trigger_run
from polyflow.testing.backends import InstantBackend

PIPELINE = """
version: 1
kind: pipeline
name: cached-chain
cache: true
ops:
  - {name: a, template: {name: t}, params: {n: 1}}
  - {name: b, template: {name: t}, params: {n: '{{ ops.a.outputs.n }}'}}
templates:
  - kind: job
    name: t
    inputs: [{name: n, type: int}]
    outputs: [{name: n, type: int}]
    container: {image: busybox, command: ['true']}
"""


def settle(backend, run):
    for _ in range(10):
        tick(backend=backend)
        run.refresh_from_db()
        if run.status in ("succeeded", "failed"):
            return run
    raise AssertionError(run.status)


def test_a_retried_op_is_submitted_again(apply):
    pipeline = apply(PIPELINE)
    backend = InstantBackend(outputs={"a": {"n": 2}, "b": {"n": 3}})
    assert settle(backend, trigger_run(pipeline)).status == "succeeded"
    assert len(backend.submissions) == 2
    second = settle(backend, trigger_run(pipeline))
    assert {op.name: op.reason for op in second.op_runs.all()} == {"a": "cached", "b": "cached"}
    assert len(backend.submissions) == 2  # nothing submitted for the cached run
    mark_op_run(second.op_runs.get(name="b"), "failed", reason="bad model")
    retry_run(second)
    settle(backend, second)
    b = second.op_runs.get(name="b")
    assert (b.status, b.attempt, b.reason) == ("succeeded", 2, "")
    assert [s.op for s in backend.submissions[2:]] == ["b"]
