import pytest
from django.contrib.auth import get_user_model

from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project

CHAIN = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: t}}
  - {name: b, template: {name: t}, dependencies: [a]}
  - {name: c, template: {name: t}, dependencies: [b]}
  - {name: side, template: {name: t}}
templates:
  - kind: job
    name: t
    inputs: [{name: n, type: int, default: 1}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("alice", password="pw")


@pytest.fixture
def project(owner):
    return create_project(owner, "ml")


@pytest.fixture
def chain(project):
    return apply_text(project, CHAIN).pipelines[0][0]
