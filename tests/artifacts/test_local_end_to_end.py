"""Path outputs and inputs end to end on the local backend, on a file:// store and on S3
(moto's server): op 1 writes a file and a directory, op 2 downloads and reads them."""

import pytest

from polyflow.artifacts.store import Store
from polyflow.backends.local import LocalBackend
from polyflow.models import Artifact
from polyflow.services.runs import trigger_run

from .support import pipeline_yaml, settle


@pytest.fixture
def local(settings, tmp_path, any_store):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path), **any_store.settings}
    backend = LocalBackend(kill_grace=0.5)
    yield backend
    backend.close()


def test_an_op_reads_what_its_upstream_wrote(apply, local, any_store, project):
    pipeline = apply(pipeline_yaml(size=3000))
    run = trigger_run(pipeline)
    settle(local, [run])
    run.refresh_from_db()
    ops = {op.name: op for op in run.op_runs.all()}
    assert run.status == "succeeded", [(o.name, o.status, o.message) for o in ops.values()]
    make, use = ops["make"], ops["use"]
    prefix = f"{any_store.url}/{project.pk}/{run.uuid}/make"
    assert make.outputs == {"rows": 2, "model": f"{prefix}/model", "data": f"{prefix}/data"}
    assert use.outputs == {"model_bytes": 3000, "files": ["a.csv", "part/deep/b.csv"], "where": f"{prefix}/model"}
    artifacts = {a.name: a for a in Artifact.objects.filter(op_run=make)}
    assert set(artifacts) == {"model", "data"}
    model, data = artifacts["model"], artifacts["data"]
    assert (model.kind, model.size, model.files, model.uri) == ("file", 3000, 1, f"{prefix}/model")
    assert model.digest.startswith("sha256:") and len(model.digest) == 71
    assert (data.kind, data.size, data.files) == ("directory", 8, 2)
    # Only the path input downloaded it: the `str` input took the URI as text.
    assert list(model.consumers.all()) == [use] and list(data.consumers.all()) == [use]
    store = Store(any_store.url, any_store.options)
    with store.open(model.uri) as stream:
        assert stream.read() == b"m" * 3000
    log = "\n".join(local.logs(use.handle))
    assert "polyflow: downloading input model" in log and "polyflow: downloading input data" in log
    assert "polyflow: uploading output model" in "\n".join(local.logs(make.handle))


def test_an_output_not_written_fails_the_op_with_reason_artifacts(apply, local):
    pipeline = apply(pipeline_yaml(name="forgetful").replace('with open(os.path.join(out, "model"), "wb") as f:',
                                                             'with open("elsewhere", "wb") as f:'))
    run = trigger_run(pipeline)
    settle(local, [run])
    make = run.op_runs.get(name="make")
    assert (make.status, make.reason) == ("failed", "artifacts")
    assert "output 'model' was not written" in make.message and "POLYFLOW_OUTPUTS_DIR/model" in make.message
    assert run.op_runs.get(name="use").status == "upstream_failed"
    assert not Artifact.objects.exists()
