"""The log archive (kube_logs.py): finished pods' logs kept once, under safe names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from polyflow.backends.kube_client import KubeClient
from polyflow.backends.kube_logs import LogArchive

from .conftest import NAMESPACE


@pytest.fixture
def archive(sim, tmp_path):
    return LogArchive(KubeClient(sim.url, NAMESPACE, backoff=0.01), tmp_path / "logs")


def finished_pod(sim, name, text, container="main"):
    sim.inject("outcome", name=name, result="succeed", log=text, duration=0.01)
    KubeClient(sim.url, NAMESPACE).create_pod({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "polyflow"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": container, "image": "busybox"}]}})
    sim.wait_for_pod(name, NAMESPACE)


def test_a_log_is_archived_once_and_outlives_its_pod(archive, sim):
    finished_pod(sim, "pipe-op-0f9e8d7c-1", "hello\n")
    archive.archive("pipe-op-0f9e8d7c-1")
    archive.archive("pipe-op-0f9e8d7c-1")
    assert [r["verb"] for r in sim.requests if r["verb"] == "log"] == ["log"]  # read once
    sim.inject("vanish", name="pipe-op-0f9e8d7c-1")
    assert archive.archived("pipe-op-0f9e8d7c-1") == "hello\n"
    assert archive.path("pipe-op-0f9e8d7c-1") == archive.directory / "pipe-op-0f9e8d7c-1.log"
    assert not list(archive.directory.glob(".*"))  # no temporary file left


def test_a_log_that_cannot_be_read_yet_is_not_archived(archive, sim):
    archive.archive("pipe-none-0f9e8d7c-1")  # no such pod: 404, tried again at the next sync
    assert archive.archived("pipe-none-0f9e8d7c-1") is None
    assert not archive.directory.exists()


def test_names_that_are_not_pod_names_have_no_archive(archive):
    assert archive.archived("../../etc/passwd") is None
    with pytest.raises(ValueError, match="is not a pod name"):
        archive.path("../x")


def test_an_op_failed_by_its_build_gets_the_builds_log(archive, sim):
    finished_pod(sim, "build-pipe-t-0123456789ab-1", "kaniko: no Dockerfile\n", container="kaniko")
    build = SimpleNamespace(pod="build-pipe-t-0123456789ab-1", image="r/pipe-t:0123456789ab")
    archive.archive_build_failure("pipe-op-0f9e8d7c-2", build)
    assert archive.archived("pipe-op-0f9e8d7c-2").splitlines() == [
        "polyflow: the image build of r/pipe-t:0123456789ab failed (pod build-pipe-t-0123456789ab-1); "
        "its log follows",
        "kaniko: no Dockerfile",
    ]


def test_a_directory_that_cannot_be_written_is_logged_not_raised(sim, tmp_path, caplog):
    (tmp_path / "file").write_text("")
    archive = LogArchive(KubeClient(sim.url, NAMESPACE), tmp_path / "file" / "logs")
    finished_pod(sim, "pipe-op-0f9e8d7c-3", "x\n")
    archive.archive("pipe-op-0f9e8d7c-3")
    assert "cannot write the log archive" in caplog.text
