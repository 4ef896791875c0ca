"""One run's bad store data never stops another: a garbage manifest, a missing one and a
store that is down each fail that op with reason `artifacts` and a message naming what and
where, while another run in the same tick goes on (the scheduler with a scripted backend)."""

import json

from polyflow.artifacts.store import Store
from polyflow.artifacts.transfer import Push, push_all
from polyflow.scheduler.tick import tick
from polyflow.services.runs import trigger_run
from polyflow.testing.backends import InstantBackend

from .conftest import StoreConfig, free_port

WRITER = """
version: 1
kind: pipeline
name: {name}
ops:
  - {{name: write, template: {{name: write}}}}
  - {{name: read, template: {{name: read}}, params: {{model: '{{{{ ops.write.outputs.model }}}}'}}}}
templates:
  - kind: job
    name: write
    outputs: [{{name: model, type: path}}, {{name: score, type: float}}]
    container: {{image: busybox, command: ['true']}}
  - kind: job
    name: read
    inputs: [{{name: model, type: path}}]
    container: {{image: busybox, command: ['true']}}
"""
PLAIN = """
version: 1
kind: pipeline
name: plain
ops: [{name: a, template: {name: t}}]
templates: [{kind: job, name: t, container: {image: busybox, command: ['true']}}]
"""


def use_store(settings, config: StoreConfig):
    settings.POLYFLOW = {**settings.POLYFLOW, **config.settings}


def submission_of(backend, op, run):
    return next(s for s in backend.submissions if s.op == op and s.run_uuid == str(run.uuid))


def test_a_garbage_manifest_fails_that_op_and_the_other_run_goes_on(settings, apply, file_store, tmp_path):
    use_store(settings, file_store)
    bad, good = apply(WRITER.format(name="bad")), apply(WRITER.format(name="good"))
    backend = InstantBackend(outputs={"write": {"score": 0.5}}, hold={"write"})
    bad_run, good_run = trigger_run(bad), trigger_run(good)
    tick(backend=backend)
    store = Store(file_store.url)
    store.write_bytes(submission_of(backend, "write", bad_run).manifest_uri, b"\x00not json{")
    written = submission_of(backend, "write", good_run)
    (tmp_path / "model").write_bytes(b"weights")
    push_all(store, [Push("model", str(tmp_path / "model"), written.artifact_outputs["model"].uri)],
             written.manifest_uri, report=lambda line: None)
    backend.release("write")
    tick(backend=backend)
    failed = bad_run.op_runs.get(name="write")
    assert (failed.status, failed.reason) == ("failed", "artifacts")
    assert "the artifact manifest" in failed.message and "cannot be read" in failed.message
    assert submission_of(backend, "write", bad_run).manifest_uri in failed.message
    tick(backend=backend)
    good_run.refresh_from_db()
    assert good_run.status == "succeeded"
    read = submission_of(backend, "read", good_run)
    assert read.artifact_inputs["model"].uri == written.artifact_outputs["model"].uri
    assert read.params["model"] == written.artifact_outputs["model"].uri
    assert good_run.op_runs.get(name="write").outputs == {"score": 0.5, "model": read.params["model"]}


def test_a_missing_manifest_says_what_was_not_uploaded(settings, apply, file_store):
    use_store(settings, file_store)
    run = trigger_run(apply(WRITER.format(name="nothing")))
    backend = InstantBackend()
    tick(backend=backend)
    tick(backend=backend)
    op = run.op_runs.get(name="write")
    assert (op.status, op.reason) == ("failed", "artifacts")
    assert op.message.startswith("no artifact manifest at ") and "path outputs (model) were not uploaded" in op.message
    assert run.op_runs.get(name="read").status == "upstream_failed"


def test_a_store_that_is_down_fails_the_op_with_its_reason_and_others_go_on(settings, apply, moto_server):
    down = StoreConfig("s3://polyflow-tests/down", {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}})
    use_store(settings, down)
    writer, plain = trigger_run(apply(WRITER.format(name="downstore"))), trigger_run(apply(PLAIN))
    backend = InstantBackend()
    for _ in range(3):
        tick(backend=backend)
    op = writer.op_runs.get(name="write")
    assert (op.status, op.reason) == ("failed", "artifacts")
    assert "cannot read the artifacts of this attempt from the artifact store" in op.message
    assert down.options["endpoint_url"] in op.message
    plain.refresh_from_db()
    assert plain.status == "succeeded"
    assert json.dumps(op.message)  # a plain message, no traceback
    assert "Traceback" not in op.message
