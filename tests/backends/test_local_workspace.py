"""Workspaces and volumes on the local backend (backends/local_volumes.py): a run's workspace
is a directory per run, $POLYFLOW_WORKSPACE, removed when the run ends; volume mounts the
backend cannot give are refused at submit, naming the backend."""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.contrib.auth import get_user_model

from polyflow.backends.base import SubmitError
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from polyflow.spec.plan import freeze

from .support import submission

WORKSPACE = """
version: 1
kind: pipeline
name: shared
workspace: {size: 1Gi}
ops:
  - {name: write, template: {name: write}}
  - {name: read, template: {name: read}, dependencies: [write]}
templates:
  - kind: job
    name: write
    container:
      image: busybox
      command: [sh, -c, 'echo "from op 1" > "$POLYFLOW_WORKSPACE/note.txt";
                echo "$POLYFLOW_WORKSPACE" > "$POLYFLOW_WORKSPACE/where"']
  - kind: job
    name: read
    outputs: [{name: note, type: str}, {name: where, type: str}]
    container:
      image: busybox
      command: [sh, -c, 'printf "{\\"note\\": \\"%s\\", \\"where\\": \\"%s\\"}" "$(cat "$POLYFLOW_WORKSPACE/note.txt")"
                "$POLYFLOW_WORKSPACE" > $POLYFLOW_OUTPUTS_FILE']
"""


@pytest.mark.django_db(transaction=True)
def test_a_run_with_a_workspace_shares_a_directory_removed_when_it_ends(backend, tmp_path):
    project = create_project(get_user_model().objects.create_user("alice", password="pw"), "ml")
    pipeline = apply_text(project, WORKSPACE).pipelines[0][0]
    run = trigger_run(pipeline)
    directory = tmp_path / "workspaces" / str(run.uuid)
    deadline = time.monotonic() + 30
    while True:
        tick(backend=backend)
        run.refresh_from_db()
        if run.status in ("succeeded", "failed", "stopped"):
            break
        assert time.monotonic() < deadline, list(run.op_runs.values_list("name", "status", "message"))
        time.sleep(0.05)
    assert run.status == "succeeded", list(run.op_runs.values_list("name", "status", "message"))
    # Both ops had the run's directory (a tick may run the whole chain: it is looked at after).
    assert run.op_runs.get(name="read").outputs == {"note": "from op 1", "where": str(directory)}
    assert not directory.exists()


def with_volumes(sub, volumes, mounts):
    template = sub.template
    template = dataclasses.replace(
        template, container=dataclasses.replace(template.container, volume_mounts=freeze(mounts)),
        environment=dataclasses.replace(template.environment, volumes=freeze(volumes)))
    return dataclasses.replace(sub, template=template)


@pytest.mark.parametrize("volume, path, words", [
    ({"name": "data", "persistentVolumeClaim": {"claimName": "c"}}, "/data", "(persistentVolumeClaim) at /data"),
    ({"name": "data", "configMap": {"name": "c"}}, "/data", "(configMap) at /data"),
    ({"name": "data", "emptyDir": {}}, "/data", "(emptyDir) at /data"),
    ({"name": "data", "hostPath": {"path": "/srv/data"}}, "/data", "only be used at its own path here (/srv/data)"),
])
def test_mounts_the_local_backend_cannot_give_are_refused(backend, volume, path, words):
    sub = with_volumes(submission(["true"]), [volume], [{"name": "data", "mount_path": path}])
    with pytest.raises(SubmitError) as caught:
        backend.submit(sub)
    assert caught.value.permanent
    assert "the local backend cannot mount volume 'data'" in str(caught.value) and words in str(caught.value)


def test_a_host_path_at_its_own_path_is_the_same_file_system(backend, tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "in.txt").write_text("here")
    volume = {"name": "data", "hostPath": {"path": str(tmp_path / "shared")}}
    sub = with_volumes(submission(["sh", "-c", f"cat {tmp_path}/shared/in.txt"]), [volume],
                       [{"name": "data", "mount_path": str(tmp_path / "shared")}])
    handle = backend.submit(sub)
    deadline = time.monotonic() + 10
    while not backend.sync([handle])[handle].final:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert backend.sync([handle])[handle].exit_code == 0
    assert "here" in backend.logs(handle)


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_with_nothing_in_flight_releases_its_workspace(backend, tmp_path):
    from polyflow.services.runs import stop_run

    project = create_project(get_user_model().objects.create_user("bob", password="pw"), "ml")
    run = trigger_run(apply_text(project, WORKSPACE).pipelines[0][0])
    directory = tmp_path / "workspaces" / str(run.uuid)
    directory.mkdir(parents=True)  # as a first attempt would have made it
    run = stop_run(run)
    assert run.status == "stopped"
    assert not directory.exists()
