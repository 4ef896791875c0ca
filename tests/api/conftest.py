"""API tests run against a real HTTP server (pytest-django's live_server) with
`requests` and token authentication, on PostgreSQL.

live_server serves from another thread, so these tests use transactional
database access: what a fixture writes is committed and visible to the server,
and every table is emptied after each test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from polyflow.models import ProjectMember
from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.registry import apply_owner_text
from polyflow.services.runs import stop_run, trigger_run

EVENT = """\
version: 1
kind: event
name: data-ready
inputs:
  - {name: size, type: int}
"""

ACTION = """\
kind: action
name: sleeper
description: sleeps a while
template:
  kind: job
  name: sleeper
  inputs: [{name: seconds, type: int, default: 1}]
  container: {image: busybox, command: [sleep, '{{ params.seconds }}']}
"""

PIPELINE = """\
version: 1
kind: pipeline
name: {name}
events: [{{name: data-ready}}]
ops:
  - name: prepare
    template: {{name: step}}
    params: {{size: 1}}
  - name: fit
    template: {{name: step}}
    dependencies: [prepare]
templates:
  - kind: job
    name: step
    inputs: [{{name: size, type: int, default: 3}}]
    container: {{image: busybox, command: [sh, -c, 'echo {{{{ params.size }}}}']}}
"""


def pipeline_yaml(name: str = "train") -> str:
    return PIPELINE.format(name=name)


class Api:
    """`requests` against the live server's /api/v1/, as one user (or nobody)."""

    def __init__(self, base_url: str, token: str | None):
        self.base_url = base_url.rstrip("/") + "/api/v1/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, *, yaml: str | None = None, content_type: str = "text/yaml",
                **kwargs) -> requests.Response:
        if yaml is not None:
            kwargs["data"] = yaml.encode()
            kwargs.setdefault("headers", {})["Content-Type"] = content_type
        return self.session.request(method, self.base_url + path.lstrip("/"), timeout=30, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@dataclass
class World:
    """alice's project `vision` (viewer vera, member mona, viewer ed), with the
    pipelines `train` (an active run and a stopped one) and `spare` (no runs);
    alice's project `scratch` (same members, no runs); the action `sleeper` and
    the event `data-ready`, to which `train` subscribes. sam is a stranger, root
    is staff, newbie is nobody yet."""

    live_server: object
    users: dict
    tokens: dict
    project: object
    active_run: object
    stopped_run: object

    def api(self, who: str | None) -> Api:
        return Api(self.live_server.url, self.tokens.get(who))


ROLES = ("owner", "viewer", "member", "stranger", "staff", "anonymous")
USER_OF_ROLE = {"owner": "alice", "viewer": "vera", "member": "mona", "stranger": "sam", "staff": "root",
                "anonymous": None}


@pytest.fixture
def world(live_server) -> World:
    model = get_user_model()
    users = {name: model.objects.create_user(name, password="pw")
             for name in ("alice", "vera", "mona", "ed", "sam", "newbie")}
    users["root"] = model.objects.create_user("root", password="pw", is_staff=True)
    tokens = {name: Token.objects.create(user=user).key for name, user in users.items()}
    alice = users["alice"]
    apply_owner_text(alice, EVENT)
    apply_owner_text(alice, ACTION)
    vision = create_project(alice, "vision", "computer vision")
    scratch = create_project(alice, "scratch")
    for project in (vision, scratch):
        add_member(project, "vera", ProjectMember.Role.VIEWER)
        add_member(project, "mona", ProjectMember.Role.MEMBER)
        add_member(project, "ed", ProjectMember.Role.VIEWER)
    train = apply_text(vision, pipeline_yaml("train")).pipelines[0][0]
    apply_text(vision, pipeline_yaml("spare"))
    stopped = stop_run(trigger_run(train, user=alice))
    active = trigger_run(train, user=alice)
    return World(live_server, users, tokens, vision, active, stopped)


@pytest.fixture
def alice_api(world) -> Api:
    return world.api("alice")


def assert_error(response: requests.Response, status: int, code: str | None = None) -> dict:
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert isinstance(body["message"], str) and body["message"]
    for item in body["errors"]:
        assert set(item) == {"source", "path", "message"}, item
    if code is not None:
        assert body["code"] == code, body
    return body
