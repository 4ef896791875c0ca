import pytest
from django.contrib.auth import get_user_model

from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.testing.backends import InstantBackend


@pytest.fixture
def project(db):
    owner = get_user_model().objects.create_user("alice", password="pw")
    return create_project(owner, "ml")


@pytest.fixture
def apply(project):
    def apply_yaml(text: str):
        return apply_text(project, text).pipelines[0][0]

    return apply_yaml


@pytest.fixture
def backend():
    return InstantBackend()
