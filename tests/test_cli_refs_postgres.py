"""RUN prefixes on PostgreSQL, whose UUID column is compared as text with its dashes (the CLI's
own tests run on the embedded SQLite, which stores UUIDs without them)."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from polyflow.exceptions import NotFound
from polyflow.models import PipelineRun
from polyflow.selectors.lookup import resolve_run
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run

PIPELINE = """\
version: 1
kind: pipeline
name: p
ops:
  - {name: a, template: {name: t}}
templates:
  - {kind: job, name: t, container: {image: busybox, command: [sh, -c, "true"]}}
"""


@pytest.mark.django_db
def test_prefixes_with_and_without_dashes():
    owner = get_user_model().objects.create_user("alice", password="pw")
    pipeline = apply_text(create_project(owner, "ml"), PIPELINE).pipelines[0][0]
    first, second = trigger_run(pipeline), trigger_run(pipeline)
    PipelineRun.objects.filter(pk=first.pk).update(uuid=uuid.UUID("abcd1234-5678-4000-8000-000000000001"))
    PipelineRun.objects.filter(pk=second.pk).update(uuid=uuid.UUID("abcd1234-9999-4000-8000-000000000002"))
    for ref in ("abcd12345678", "abcd1234-5678", "ABCD1234-5678-4", "abcd123456784000800000000000000"):
        assert resolve_run(ref).pk == first.pk, ref
    assert resolve_run("abcd12349").pk == second.pk
    assert resolve_run("p@latest").pk == second.pk
    with pytest.raises(NotFound, match="is ambiguous: it matches abcd1234-9999-4000-8000-000000000002 "):
        resolve_run("abcd1234")
