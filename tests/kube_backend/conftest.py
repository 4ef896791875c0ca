import pytest
from django.contrib.auth import get_user_model

from polyflow.backends import kubernetes as kube_module
from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.services.projects import create_project
from polyflow.testing.kube import KubeSimulator

REGISTRY = "registry.example.com/ml"
CONTEXT = "git://git.example.com/ml/models.git#refs/heads/main"
NAMESPACE = "polyflow"


@pytest.fixture
def sim():
    with KubeSimulator(port=0, run_time=0.05) as simulator:
        yield simulator


@pytest.fixture
def kube_settings(settings, tmp_path, sim):
    settings.POLYFLOW = {
        **settings.POLYFLOW, "HOME": str(tmp_path), "BACKEND": "kubernetes", "KUBE_HOST": sim.url,
        "KUBE_NAMESPACE": NAMESPACE, "BUILD_REGISTRY": REGISTRY, "BUILD_CONTEXT": CONTEXT,
    }
    kube_module._last_cleanup.clear()
    kube_module._last_reconcile.clear()
    yield settings.POLYFLOW
    kube_module._last_cleanup.clear()
    kube_module._last_reconcile.clear()


@pytest.fixture
def backend(kube_settings):
    """The backend as the tick would make it (settings), with quick retries."""
    return KubernetesBackend(backoff=0.01)


@pytest.fixture
def project(db):
    owner = get_user_model().objects.create_user("alice", password="pw")
    return create_project(owner, "ml")
