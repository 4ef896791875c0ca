"""A host project (tests/host/hostproject/) with Polyflow inside it, end to end.

The host has its own app and project model (`workspaces.Project`, derived from
AbstractProject, with a migration of its own), mounts Polyflow under
/platform/polyflow/, has DRF defaults of its own (Basic, staff only) and its own
Celery app merging Polyflow's beat entry. Everything runs as it would in
production, in subprocesses: `manage.py migrate` into a database made for this
module, `polyflow --settings host.settings server` (waitress), and
`celery -A host worker --beat` on Redis. The tests speak HTTP to the server and
SQL to the database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.backends.support import stop_runner_servers
from tests.conftest import assert_no_traceback, clean_environ
from tests.processes import Server, Worker, database_url, redis_or_skip, wait_for_run
from tests.test_celery import CHAIN

HOST = Path(__file__).parent / "hostproject"
PREFIX = "/platform/polyflow"
# Redis databases 10 and 11 are this module's (flushed before and after).
BROKER_URL = "redis://127.0.0.1:6379/10"
PASSWORD = "host-test-password"
USERS = {"alice": "owner", "vic": "viewer", "mia": "member", "oscar": "outsider", "root": "staff"}


def run(*args: str, env: dict[str, str], cwd: Path = HOST) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(sys.executable, "manage.py", *args, env=env)


def polyflow_script() -> str:
    """The installed `polyflow` command itself: its sys.path starts with its bin directory,
    not with the current one (`python -m polyflow.cli` would hide that)."""
    script = Path(sys.executable).with_name("polyflow")
    if not script.exists():
        pytest.skip(f"no polyflow script beside {sys.executable}: pip install -e . makes it")
    return str(script)


# The host's database, made and dropped here -------------------------------------------------


def _admin_connection():
    import psycopg

    db = settings.DATABASES["default"]
    try:
        return psycopg.connect(database_url(db, "postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable ({error}); .ci/run starts it")


@pytest.fixture(scope="module")
def host_database():
    name = f"polyflow_host_{os.getpid()}_{secrets.token_hex(3)}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(settings.DATABASES["default"], name)
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(url: str, query: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def env(host_database, tmp_path_factory):
    home = tmp_path_factory.mktemp("host")
    (home / "polyflow").mkdir()  # the deployment's: the beat keeps its schedule file there
    yield {**clean_environ(home / "home"), "DATABASE_URL": host_database, "POLYFLOW_HOME": str(home / "polyflow"),
           "CELERY_BROKER_URL": BROKER_URL}
    stop_runner_servers(home / "polyflow" / "runs")


@pytest.fixture(scope="module")
def migrated(env):
    result = manage("migrate", "--no-input", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


CREATE_USERS = """
import json
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
tokens = {}
for name in %r:
    user = User.objects.create_user(name, password=%r, is_staff=(name == "root"))
    tokens[name] = Token.objects.create(user=user).key
print(json.dumps(tokens))
"""


@pytest.fixture(scope="module")
def tokens(migrated, env) -> dict[str, str]:
    result = manage("shell", "-c", CREATE_USERS % (list(USERS), PASSWORD), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # after Django 5.2's "N objects imported automatically"


@pytest.fixture(scope="module")
def server(migrated, env):
    started = Server(env, "--no-scheduler", command=[polyflow_script(), "--settings", "host.settings"], cwd=HOST)
    yield started
    if started.process.poll() is None:
        started.stop()


@pytest.fixture(scope="module")
def worker(migrated, env, tmp_path_factory):
    broker = redis_or_skip(BROKER_URL)
    started = Worker("host", env, tmp_path_factory.mktemp("worker") / "worker.log", cwd=HOST)
    try:
        yield started
    finally:
        started.stop()
        broker.flushdb()
        broker.close()


def api_client(token: str | None) -> requests.Session:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Token {token}"
    return session


@pytest.fixture(scope="module")
def api(server, tokens) -> str:
    """The API's root; alice's project ml with the pipeline `chain`, vic a viewer and mia a member of it."""
    root = f"{server.url}{PREFIX}/api/v1"
    alice = api_client(tokens["alice"])
    assert alice.post(f"{root}/alice/projects/", json={"name": "ml"}, timeout=10).status_code == 201
    created = alice.post(f"{root}/alice/ml/pipelines/", data=CHAIN.encode(), timeout=10,
                         headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    for user, role in (("vic", "viewer"), ("mia", "member")):
        added = alice.post(f"{root}/alice/ml/members/", json={"user": user, "role": role}, timeout=10)
        assert added.status_code == 201, added.text
    return root


# Migrations and the system check ------------------------------------------------------------


def test_migrate_from_scratch_makes_the_host_model_first_with_its_constraint(migrated, env):
    applied = [app_name for app_name in sql(env["DATABASE_URL"], "SELECT app, name FROM django_migrations ORDER BY id")]
    assert applied.index(("workspaces", "0001_initial")) < applied.index(("polyflow", "0001_initial"))
    assert ("authtoken", "0001_initial") in applied
    tables = {name for (name,) in sql(env["DATABASE_URL"],
                                      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"workspaces_project", "polyflow_pipeline", "polyflow_projectmember"} <= tables
    assert "polyflow_project" not in tables  # swapped out: the host's model stands in for it
    constraints = sql(env["DATABASE_URL"], "SELECT conname, contype FROM pg_constraint WHERE conrelid = "
                                           "'workspaces_project'::regclass AND contype = 'u'")
    assert constraints == [("workspaces_project_owner_name", "u")]
    # Nothing left for makemigrations to do in the host's app or Polyflow's.
    result = manage("makemigrations", "--check", "--dry-run", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_system_check_passes_the_host(env):
    result = manage("check", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_system_check_fails_a_host_model_without_the_contract(env):
    result = manage("check", "--settings", "host.settings_bad", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert_no_traceback(result)
    assert ("badprojects.Project: (polyflow.E004) POLYFLOW_PROJECT_MODEL badprojects.Project does not make "
            "`name` unique per owner") in result.stderr
    assert "class Meta(AbstractProject.Meta)" in result.stderr  # the hint says how
    assert ("(polyflow.E005) POLYFLOW['AUTHENTICATION_CLASSES'] names 'host.auth.NoSuchAuthentication', "
            "which cannot be imported") in result.stderr
    assert ("(polyflow.E006) POLYFLOW['AUTHENTICATION_CLASSES'] has TokenAuthentication but "
            "'rest_framework.authtoken' is not in INSTALLED_APPS") in result.stderr

    result = manage("check", "--settings", "host.settings_bad", env={**env, "HOST_PROJECT_MODEL": "badprojects.Team"})
    assert result.returncode == 1
    assert ("badprojects.Team: (polyflow.E002) POLYFLOW_PROJECT_MODEL badprojects.Team.owner points to auth.Group, "
            "not to the user model auth.User") in result.stderr
    assert "badprojects.Team: (polyflow.E003) POLYFLOW_PROJECT_MODEL badprojects.Team has no `name`" in result.stderr

    # `polyflow server` runs the checks as `runserver` does: it does not start.
    refused = run(polyflow_script(), "--settings", "host.settings_bad", "server", "--port", "0", env=env)
    assert refused.returncode == 1
    assert_no_traceback(refused)
    assert refused.stderr.startswith("Error: System check identified some issues:")
    assert "(polyflow.E004)" in refused.stderr and "serving" not in refused.stdout


def test_the_host_celery_app_merges_polyflow_s_beat_entry(env):
    code = "from host.celery import app; print(json.dumps(app.conf.beat_schedule, sort_keys=True))"
    result = run(sys.executable, "-c", "import json; " + code, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "host-cleanup": {"schedule": 3600.0, "task": "host.cleanup"},
        "polyflow-tick": {"options": {"expires": 1}, "schedule": 1.0, "task": "polyflow.tick"},
    }


# The CLI finds the host ------------------------------------------------------------------------


def test_the_cli_finds_the_host_project_from_its_directory(tokens, env, tmp_path):
    script = polyflow_script()
    by_variable = run(script, "runs", "list", env={**env, "DJANGO_SETTINGS_MODULE": "host.settings"})
    assert (by_variable.returncode, by_variable.stdout) == (0, "no runs found\n"), by_variable.stderr
    by_option = run(script, "--settings", "host.settings", "tick", env=env)
    assert by_option.returncode == 0, by_option.stderr
    assert by_option.stdout.startswith("0 run(s) created")
    managed = run(script, "--settings", "host.settings", "manage", "showmigrations", "workspaces", env=env)
    assert (managed.returncode, managed.stdout) == (0, "workspaces\n [X] 0001_initial\n"), managed.stderr

    missing = run(script, "--settings", "nope.settings", "runs", "list", env=env)
    assert missing.returncode == 1
    assert_no_traceback(missing)
    assert missing.stderr.startswith("Error: cannot import the settings module 'nope.settings'")
    assert len(missing.stderr.splitlines()) == 1
    elsewhere = run(script, "runs", "list", env={**env, "DJANGO_SETTINGS_MODULE": "host.settings"}, cwd=tmp_path)
    assert elsewhere.returncode == 1
    assert_no_traceback(elsewhere)
    assert f"No module named 'host' (looked for from {tmp_path}" in elsewhere.stderr


# Over HTTP --------------------------------------------------------------------------------------


def test_the_server_banner_gives_the_urls_under_the_prefix(server):
    url = server.url
    assert f"API:       {url}{PREFIX}/api/v1/  (docs: {url}{PREFIX}/api/v1/docs/)" in server.banner
    assert f"dashboard: {url}{PREFIX}/ui/" in server.banner
    assert (f"health:    {url}{PREFIX}/healthz  (ready: {url}{PREFIX}/readyz; metrics: {url}{PREFIX}/metrics)"
            in server.banner)
    assert f"admin:     {url}/platform/admin/" in server.banner
    assert "polyflow --settings host.settings manage drf_create_token alice" in server.banner
    assert f"{url}{PREFIX}/api/v1/alice/projects/" in server.banner
    assert "/api/v1/" not in server.banner.replace(f"{PREFIX}/api/v1/", "")
    health = requests.get(f"{url}{PREFIX}/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 404


def test_a_pipeline_runs_to_success_over_the_api_with_a_token(api, worker, tokens):
    alice = api_client(tokens["alice"])
    # One project of a name per owner, whatever the host's model adds.
    again = alice.post(f"{api}/alice/projects/", json={"name": "ml"}, timeout=10)
    assert again.status_code == 409, again.text
    triggered = alice.post(f"{api}/alice/ml/pipelines/chain/runs/", json={}, timeout=10)
    assert triggered.status_code == 201, triggered.text
    url = f"{api}/alice/ml/runs/{triggered.json()['uuid']}/"

    finished = wait_for_run(alice, url, lambda run: run["status"] in ("succeeded", "failed", "stopped"))
    assert finished["status"] == "succeeded", (finished, worker.log())
    assert {op["name"]: (op["status"], op["outputs"]) for op in finished["op_runs"]} == {
        "first": ("succeeded", {"n": 1}), "second": ("succeeded", {"n": 2}), "third": ("succeeded", {"n": 3})}
    log = worker.log()
    assert "Sending due task polyflow-tick (polyflow.tick)" in log  # the host's beat, with Polyflow's entry
    assert "Task polyflow.tick[" in log


def test_polyflow_declares_its_own_authentication_and_the_host_keeps_its_defaults(api, server, tokens):
    projects = f"{api}/alice/projects/"
    # The host's default (Basic) is not Polyflow's: a password is no way into Polyflow's API...
    basic = requests.get(projects, auth=("alice", PASSWORD), timeout=10)
    assert basic.status_code == 401, basic.text
    assert basic.headers["WWW-Authenticate"] == "Token"
    # ...and a token, Polyflow's, is no way into the host's own API (Basic, staff only).
    whoami = f"{server.url}/platform/whoami/"
    assert requests.get(whoami, headers={"Authorization": f"Token {tokens['root']}"}, timeout=10).status_code == 401
    assert requests.get(whoami, auth=("alice", PASSWORD), timeout=10).status_code == 403
    staff = requests.get(whoami, auth=("root", PASSWORD), timeout=10)
    assert (staff.status_code, staff.json()) == (200, {"user": "root"})


# (method, path under alice/ml/, body, expected status per user). Anonymous is 401 throughout,
# an outsider finds nothing (404), a viewer reads, a member acts, the owner and staff administer.
MATRIX = [
    ("GET", "", None, {"alice": 200, "vic": 200, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("GET", "members/", None, {"alice": 200, "vic": 200, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("GET", "pipelines/chain/", None, {"alice": 200, "vic": 200, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("GET", "runs/", None, {"alice": 200, "vic": 200, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("POST", "pipelines/chain/pause/", None,
     {"alice": 200, "vic": 403, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("POST", "pipelines/chain/resume/", None,
     {"alice": 200, "vic": 403, "mia": 200, "oscar": 404, "root": 200, None: 401}),
    ("PATCH", "", {"description": "ours"},
     {"alice": 200, "vic": 403, "mia": 403, "oscar": 404, "root": 200, None: 401}),
]


def test_the_permission_matrix_over_http(api, tokens):
    got, expected = {}, {}
    for method, path, body, statuses in MATRIX:
        for user, status in statuses.items():
            client = api_client(tokens[user] if user else None)
            response = client.request(method, f"{api}/alice/ml/{path}", json=body, timeout=10)
            got[method, path, user] = response.status_code
            expected[method, path, user] = status
    assert got == expected
    # An outsider does not see the project in the owner's list either; the viewer does.
    assert api_client(tokens["oscar"]).get(f"{api}/alice/projects/", timeout=10).json()["results"] == []
    assert [p["name"] for p in api_client(tokens["vic"]).get(f"{api}/alice/projects/", timeout=10).json()["results"]
            ] == ["ml"]


# The dashboard under the prefix -------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs
                      if value and (name in ("href", "src", "action") or name.startswith("data-") and "url" in name
                                    or name in ("data-api", "data-run-api", "data-logs-api"))]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return [url for url in parser.urls if url.startswith("/")]


def test_the_dashboard_under_the_prefix(api, server, tokens):
    ui = f"{server.url}{PREFIX}/ui/"
    browser = requests.Session()
    first = browser.get(ui, timeout=10, allow_redirects=False)
    assert first.status_code == 302
    assert first.headers["Location"] == f"{PREFIX}/ui/login/?next={PREFIX}/ui/"
    login_page = browser.get(server.url + first.headers["Location"], timeout=10)
    assert login_page.status_code == 200
    logged_in = browser.post(login_page.url, timeout=10, allow_redirects=False, data={
        "username": "alice", "password": PASSWORD, "next": f"{PREFIX}/ui/",
        "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    assert (logged_in.status_code, logged_in.headers.get("Location")) == (302, f"{PREFIX}/ui/"), logged_in.text

    pages = {"projects": ui, "pipeline": f"{ui}alice/ml/pipelines/chain/"}
    seen = set()
    for name, url in pages.items():
        page = browser.get(url, timeout=10)
        assert page.status_code == 200, (name, page.text[:500])
        urls = links(page.text)
        assert urls, name
        outside = [u for u in urls if not u.startswith(("/platform/polyflow/", "/platform/static/"))]
        assert outside == [], (name, outside)
        seen.update(urls)
    assert f"{PREFIX}/ui/alice/ml/pipelines/chain/" in seen
    assert f"{PREFIX}/api/v1/alice/ml/pipelines/chain/runs/" in seen  # what the trigger button calls
    for asset in ("/platform/static/polyflow/ui/ui.css", "/platform/static/polyflow/ui/ui.js"):
        assert asset in seen
        assert browser.get(server.url + asset, timeout=10).status_code == 200, asset

    # The page's buttons call the API with the session (Polyflow's classes have Session; the host's do not).
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"]}
    paused = browser.post(f"{api}/alice/ml/pipelines/chain/pause/", headers=csrf, timeout=10)
    assert paused.status_code == 200, paused.text
    assert browser.post(f"{api}/alice/ml/pipelines/chain/resume/", headers=csrf, timeout=10).status_code == 200

    docs = browser.get(f"{api}/docs/", timeout=10)
    assert docs.status_code == 200
    bundle = re.search(r'src="(/platform/static/drf_spectacular_sidecar/[^"]+\.js)"', docs.text)
    assert bundle, docs.text[:1000]
    assert browser.get(server.url + bundle.group(1), timeout=10).status_code == 200
