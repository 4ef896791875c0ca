"""The permission matrix: every endpoint, as the owner, a viewer, a member, a
stranger, staff and nobody.

Projects: the owner and staff administer; `member` reads and acts; `viewer`
reads. An owner's actions and events: readable by anyone with a role in one of
the owner's projects, added to (or fired) by the owner, staff and members.
Without any access a thing does not exist (404, never 403); with too little it
is 403; without credentials 401.
"""

import gzip
import hashlib

import pytest

from polyflow.artifacts.store import settings_store
from polyflow.models import Action, Artifact, Event, OperationRun, Pipeline, PipelineRun, Project, ProjectMember
from tests.api.conftest import ACTION, EVENT, ROLES, USER_OF_ROLE, assert_error, pipeline_yaml

READ, ACT, ADMIN, OWNER_READ, OWNER_ACT = "read", "act", "admin", "owner-read", "owner-act"

# Who gets through, per level (anonymous gets 401 everywhere, checked apart).
ALLOWED = {
    READ: {"owner", "viewer", "member", "staff"},
    ACT: {"owner", "member", "staff"},
    ADMIN: {"owner", "staff"},
    OWNER_READ: {"owner", "viewer", "member", "staff"},
    OWNER_ACT: {"owner", "member", "staff"},
}

# A build context (a tar.gz, sent as bytes) and its digest.
CONTEXT = gzip.compress(b"\0" * 1024, mtime=0)
CONTEXT_DIGEST = "sha256:" + hashlib.sha256(CONTEXT).hexdigest()

RUN = "alice/vision/runs/{active}/"
STOPPED = "alice/vision/runs/{stopped}/"

# (method, path, body, level, status when allowed). A body that is a str is sent as YAML.
ENDPOINTS = [
    ("GET", "alice/vision/", None, READ, 200),
    ("PATCH", "alice/vision/", {"description": "new"}, ADMIN, 200),
    ("DELETE", "alice/scratch/", None, ADMIN, 204),
    ("GET", "alice/vision/members/", None, READ, 200),
    ("POST", "alice/vision/members/", {"user": "newbie", "role": "viewer"}, ADMIN, 201),
    ("GET", "alice/vision/members/ed/", None, READ, 200),
    ("PATCH", "alice/vision/members/ed/", {"role": "member"}, ADMIN, 200),
    ("DELETE", "alice/vision/members/ed/", None, ADMIN, 204),
    ("GET", "alice/vision/pipelines/", None, READ, 200),
    ("POST", "alice/vision/pipelines/", pipeline_yaml("fresh"), ACT, 201),
    ("POST", f"alice/vision/contexts/?digest={CONTEXT_DIGEST}", CONTEXT, ACT, 201),
    ("GET", "alice/vision/pipelines/train/", None, READ, 200),
    ("PUT", "alice/vision/pipelines/train/", pipeline_yaml("train"), ACT, 200),
    ("DELETE", "alice/vision/pipelines/spare/", None, ACT, 204),
    ("POST", "alice/vision/pipelines/train/pause/", None, ACT, 200),
    ("POST", "alice/vision/pipelines/train/resume/", None, ACT, 200),
    ("GET", "alice/vision/pipelines/train/runs/", None, READ, 200),
    ("GET", "alice/vision/pipelines/train/grid/", None, READ, 200),
    ("GET", "alice/vision/pipelines/train/export/?to=airflow", None, READ, 200),
    ("GET", "alice/vision/pipelines/train/specs/", None, READ, 200),
    # `train` has no schedule: whoever may act is told so (422), the others never get that far.
    ("POST", "alice/vision/pipelines/train/backfill/", {"start": "2026-01-01T00:00:00Z",
                                                       "end": "2026-01-02T00:00:00Z"}, ACT, 422),
    ("POST", "alice/vision/pipelines/train/runs/", {"params": {"fit": {"size": 2}}}, ACT, 201),
    ("GET", "alice/vision/runs/", None, READ, 200),
    ("GET", RUN, None, READ, 200),
    ("POST", RUN + "stop/", None, ACT, 200),
    ("POST", STOPPED + "retry/", None, ACT, 200),
    ("GET", RUN + "statuses/", None, READ, 200),
    ("GET", RUN + "op-statuses/", None, READ, 200),
    ("GET", RUN + "ops/prepare/", None, READ, 200),
    ("GET", RUN + "ops/prepare/statuses/", None, READ, 200),
    ("POST", RUN + "ops/prepare/stop/", None, ACT, 200),
    ("POST", STOPPED + "ops/prepare/retry/", None, ACT, 200),
    ("POST", RUN + "ops/prepare/mark/", {"status": "skipped", "reason": "not needed"}, ACT, 200),
    ("GET", RUN + "ops/prepare/logs/", None, READ, 200),
    ("GET", RUN + "ops/prepare/metrics/", None, READ, 200),
    ("GET", RUN + "ops/fit/trials/0/", None, READ, 200),  # a trial made by the `trial` fixture
    ("GET", RUN + "ops/fit/trials/0/metrics/", None, READ, 200),
    ("GET", RUN + "ops/fit/trials/0/logs/", None, READ, 200),
    ("GET", RUN + "artifacts/", None, READ, 200),
    ("GET", RUN + "ops/prepare/artifacts/", None, READ, 200),
    ("GET", RUN + "ops/prepare/artifacts/model/download/", None, READ, 200),  # stored by the `trial` fixture
    ("GET", RUN + "ops/fit/trials/0/artifacts/", None, READ, 200),
    ("GET", RUN + "ops/fit/trials/0/artifacts/model/download/", None, READ, 200),
    ("GET", "alice/actions/", None, OWNER_READ, 200),
    ("POST", "alice/actions/", ACTION, OWNER_ACT, 201),
    ("GET", "alice/actions/sleeper/", None, OWNER_READ, 200),
    ("GET", "alice/events/", None, OWNER_READ, 200),
    ("POST", "alice/events/", EVENT, OWNER_ACT, 201),
    ("POST", "alice/events/data-ready/fire/", {"payload": {"size": 4}}, OWNER_ACT, 201),
]


def expected_status(level: str, role: str, allowed_status: int) -> int:
    if role == "anonymous":
        return 401
    if role in ALLOWED[level]:
        return allowed_status
    if level in (OWNER_READ, OWNER_ACT):
        # Any role in one of the owner's projects makes the registry visible.
        return 403 if role in ALLOWED[OWNER_READ] else 404
    return 403 if role in ALLOWED[READ] else 404


def call(world, role, method, path, body):
    url = path.format(active=world.active_run.uuid, stopped=world.stopped_run.uuid)
    if isinstance(body, bytes):
        kwargs = {"data": body, "headers": {"Content-Type": "application/gzip"}}
    else:
        kwargs = {"yaml": body} if isinstance(body, str) else {"json": body}
    return world.api(USER_OF_ROLE[role]).request(method, url, **kwargs)


def check(response, expected: int) -> None:
    if expected >= 400:
        assert_error(response, expected)
        if expected == 401:
            assert response.headers["WWW-Authenticate"] == "Token"
    else:
        assert response.status_code == expected, response.text


READS = [endpoint for endpoint in ENDPOINTS if endpoint[0] == "GET"]
WRITES = [endpoint for endpoint in ENDPOINTS if endpoint[0] != "GET"]


@pytest.fixture
def trial(world, settings, tmp_path):
    """A trial of `fit` in the active run, for the trial endpoints (the read ones only), and an
    artifact `model` of `prepare` and of the trial, stored in a file store."""
    fit = world.active_run.op_runs.get(name="fit")
    made = OperationRun.objects.create(run=world.active_run, operation_id=fit.operation_id, name="fit", trial=0,
                                       trial_params={"size": 2})
    settings.POLYFLOW = {**settings.POLYFLOW, "ARTIFACTS_STORE": (tmp_path / "store").as_uri()}
    store = settings_store()
    for op_run in (world.active_run.op_runs.get(name="prepare"), made):
        uri = store.uri("model", str(op_run.pk))
        store.write_bytes(uri, b"weights")
        Artifact.objects.create(op_run=op_run, name="model", uri=uri, size=7, digest="sha256:00")
    return made


@pytest.mark.parametrize("role", ROLES)
def test_read_endpoints(world, trial, role):
    """Reads change nothing, so one world serves every read endpoint of a role."""
    failures = []
    for method, path, body, level, allowed_status in READS:
        response = call(world, role, method, path, body)
        try:
            check(response, expected_status(level, role, allowed_status))
        except AssertionError as error:
            failures.append(f"{method} {path}: {error}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "level", "allowed_status"), WRITES,
                         ids=[f"{method} {path}" for method, path, *_ in WRITES])
def test_write_endpoints(world, role, method, path, body, level, allowed_status):
    before = fingerprint()
    expected = expected_status(level, role, allowed_status)
    check(call(world, role, method, path, body), expected)
    if expected >= 400:
        assert fingerprint() == before, "a refused request changed something"


def fingerprint():
    """What the write endpoints change, read straight from the database."""
    return (
        sorted(Project.objects.values_list("name", "description")),
        sorted(ProjectMember.objects.values_list("project__name", "user__username", "role")),
        sorted(Pipeline.objects.values_list("name", "is_paused", "content")),
        sorted(PipelineRun.objects.values_list("uuid", "status")),
        sorted(OperationRun.objects.values_list("pk", "status", "attempt")),
        sorted(Action.objects.values_list("name", "version")),
        sorted(Event.objects.values_list("name", "updated_at")),
    )


@pytest.mark.parametrize(("role", "listed", "create_status"), [
    ("owner", ["scratch", "vision"], 201),
    ("viewer", ["scratch", "vision"], 403),
    ("member", ["scratch", "vision"], 403),
    ("stranger", [], 403),
    ("staff", ["scratch", "vision"], 201),
])
def test_owner_projects_list_and_create(world, role, listed, create_status):
    """Anyone signed in may list an owner's projects and sees those visible to them;
    only the owner (and staff) create projects under the owner's name."""
    api = world.api(USER_OF_ROLE[role])
    response = api.get("alice/projects/")
    assert response.status_code == 200, response.text
    assert [project["name"] for project in response.json()["results"]] == listed
    response = api.post("alice/projects/", json={"name": "another"})
    if create_status == 201:
        assert response.status_code == 201, response.text
    else:
        assert_error(response, create_status, "permission_denied")


def test_anonymous_cannot_list_or_create_projects(world):
    api = world.api(None)
    assert_error(api.get("alice/projects/"), 401, "not_authenticated")
    assert_error(api.post("alice/projects/", json={"name": "x"}), 401, "not_authenticated")


def test_strangers_cannot_tell_missing_from_hidden(world):
    """A stranger gets the same 404 body shape for a hidden project as for one that does not exist."""
    api = world.api("sam")
    hidden = assert_error(api.get("alice/vision/"), 404, "not_found")
    missing = assert_error(api.get("alice/nothing/"), 404, "not_found")
    assert hidden["message"].replace("vision", "X") == missing["message"].replace("nothing", "X")
