"""The dashboard's pages with Django's test client: who sees what, what each page shows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from polyflow.services.runs import stop_run, trigger_run

ROLES = ("owner", "member", "viewer", "staff")


def pages(project, run):
    return {
        "project": f"/ui/{project.owner.username}/{project.name}/",
        "pipeline": f"/ui/{project.owner.username}/{project.name}/pipelines/test-pipeline/",
        "run": f"/ui/{project.owner.username}/{project.name}/runs/{run.uuid}/",
    }


@pytest.fixture
def run(seeded, users):
    _, pipeline = seeded
    return trigger_run(pipeline, user=users["owner"])


def test_the_urls_are_the_apps(seeded, run):
    project, _ = seeded
    assert reverse("polyflow:ui:projects") == "/ui/"
    assert reverse("polyflow:ui:run", kwargs={"owner": "alice", "project": "seed", "uuid": run.uuid}) == \
        pages(project, run)["run"]


@pytest.mark.parametrize("role", ROLES)
def test_readers_see_every_page(client, users, seeded, run, role):
    project, _ = seeded
    client.force_login(users[role])
    response = client.get("/ui/")
    assert response.status_code == 200
    assert b'data-project="alice/seed"' in response.content
    for name, url in pages(project, run).items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("role", ROLES)
def test_buttons_follow_the_role(client, users, seeded, run, role):
    project, _ = seeded
    client.force_login(users[role])
    pipeline_page = client.get(pages(project, run)["pipeline"]).content.decode()
    run_page = client.get(pages(project, run)["run"]).content.decode()
    trigger = re.search(r'<button[^>]*id="trigger"[^>]*>', pipeline_page).group()
    stop = re.search(r'<button[^>]*id="stop"[^>]*>', run_page).group()
    if role == "viewer":
        assert "disabled" in trigger and "disabled" in stop
        assert "data-readonly" in run_page
    else:
        assert "disabled" not in trigger and "disabled" not in stop
    # The buttons act through the public API.
    assert 'data-url="/api/v1/alice/seed/pipelines/test-pipeline/runs/"' in trigger
    assert f'data-url="/api/v1/alice/seed/runs/{run.uuid}/stop/"' in stop


def test_a_stranger_gets_404_everywhere(client, users, seeded, run):
    project, _ = seeded
    client.force_login(users["stranger"])
    response = client.get("/ui/")
    assert response.status_code == 200
    assert b"alice/seed" not in response.content
    assert b"No projects" in response.content
    for url in pages(project, run).values():
        assert client.get(url).status_code == 404, url
    # As for names that do not exist: nothing tells the two apart.
    assert client.get("/ui/alice/nothing/").status_code == 404
    assert client.get(f"/ui/alice/seed/runs/{run.uuid}/".replace("seed", "other")).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, seeded, run):
    project, _ = seeded
    for url in ["/ui/", *pages(project, run).values()]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/ui/login/?next={url}"


def test_log_in_and_out(client, users, seeded):
    response = client.get("/ui/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    response = client.post("/ui/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"didn't match" in response.content
    response = client.post("/ui/login/", {"username": "alice", "password": "pw",
                                          "next": "/ui/alice/seed/pipelines/test-pipeline/"})
    assert response.status_code == 302
    assert response["Location"] == "/ui/alice/seed/pipelines/test-pipeline/"
    response = client.post("/ui/login/", {"username": "alice", "password": "pw"}, follow=False)
    assert response["Location"] == "/ui/"  # (already in: straight to the projects)
    assert client.get("/ui/logout/").status_code == 405  # logging out is a POST
    response = client.post("/ui/logout/")
    assert response.status_code == 302 and response["Location"] == "/ui/login/"
    assert client.get("/ui/").status_code == 302


def test_unsafe_methods_are_refused(client, users, seeded):
    client.force_login(users["owner"])
    assert client.post("/ui/").status_code == 405
    assert client.post("/ui/alice/seed/pipelines/test-pipeline/").status_code == 405


def test_projects_page(client, users, seeded):
    project, pipeline = seeded
    runs = [trigger_run(pipeline, user=users["owner"]) for _ in range(14)]
    stop_run(runs[-1])
    client.force_login(users["member"])
    page = client.get("/ui/").content.decode()
    row = page[page.index('data-pipeline="test-pipeline"'):]
    assert "every 2 minutes from 2019-06-24 21:20 UTC, depends on past" in row
    assert 'title="every 2 minutes from 2019-06-24 21:20:07 UTC, depends on past"' in row
    assert 'class="pill live">active<' in row
    dots = re.findall(r'<a class="dot status-(\w+)"[^>]*href="/ui/alice/seed/runs/([0-9a-f-]+)/"', page)
    assert len(dots) == 12  # the last 12, oldest first: the newest is on the right
    assert dots[-1] == ("stopped", str(runs[-1].uuid))
    assert dots[0] == ("created", str(runs[2].uuid))
    assert "due, waiting for 13 active runs" in row  # never ticked: the latest slot is due, but max_active_runs
    assert "admin" not in page[page.index('data-project="alice/seed"'):page.index("<table")]


def test_projects_page_queries_do_not_grow(client, users, seeded, django_assert_max_num_queries):
    from polyflow.services.apply import apply_text
    from polyflow.services.projects import create_project

    from .support import EXAMPLES

    project, pipeline = seeded
    for index in range(5):
        other = create_project(users["owner"], f"more-{index}")
        copy = apply_text(other, (EXAMPLES / "test-pipeline.yaml").read_text()).pipelines[0][0]
        for _ in range(3):
            trigger_run(copy)
    client.force_login(users["owner"])
    with django_assert_max_num_queries(8):  # the session, the user, the page's five, the scheduler's health
        assert client.get("/ui/").status_code == 200


def test_pipeline_page(client, users, seeded):
    project, pipeline = seeded
    runs = [trigger_run(pipeline, user=users["owner"]) for _ in range(23)]
    for run in runs[:3]:
        stop_run(run)
    client.force_login(users["owner"])
    url = "/ui/alice/seed/pipelines/test-pipeline/"
    page = client.get(url).content.decode()
    # The DAG: one node per op, with its name, and the edge between them.
    assert re.findall(r'<g class="op" data-op="([^"]+)"', page) == ["job1", "deep-wide-experiment"]
    assert re.findall(r'<path class="edge" data-from="([^"]+)" data-to="([^"]+)"', page) == [
        ("job1", "deep-wide-experiment")]
    # The spec, highlighted, exactly as applied.
    assert '<span class="y-key">frequency</span><span class="y-punct">:</span> <span class="y-num">120</span>' in page
    assert '<span class="y-comment"># The example from the Polyflow announcement' in page
    # Runs: 20 a page, newest first; filters by status, with counts.
    assert page.count('<tr data-run="') == 20
    assert f'data-run="{runs[-1].uuid}"' in page and f'data-run="{runs[2].uuid}"' not in page
    assert "Page 1 of 2 · 23 runs" in page
    second = client.get(url + "?page=2").content.decode()
    assert second.count('<tr data-run="') == 3
    stopped = client.get(url + "?status=stopped").content.decode()
    assert stopped.count('<tr data-run="') == 3
    assert re.search(r'class="chip active status-stopped" data-filter="stopped".*?<span class="count">3</span>',
                     stopped)
    both = client.get(url + "?status=stopped&status=created").content.decode()
    assert both.count('<tr data-run="') == 20
    assert client.get(url + "?status=nonsense").status_code == 200  # unknown statuses are ignored
    assert client.get(url + "?page=99").status_code == 200  # the last page
    assert client.get("/ui/alice/seed/pipelines/nothing/").status_code == 404


def test_pause_and_resume_buttons(client, users, seeded):
    from polyflow.services.pipelines import set_paused

    _, pipeline = seeded
    client.force_login(users["owner"])
    page = client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert 'id="pause"' in page and 'data-url="/api/v1/alice/seed/pipelines/test-pipeline/pause/"' in page
    set_paused(pipeline, True)
    page = client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert 'id="resume"' in page and 'data-url="/api/v1/alice/seed/pipelines/test-pipeline/resume/"' in page
    assert 'class="pill paused"' in page


def test_run_page(client, users, seeded, run):
    from polyflow.scheduler.tick import tick
    from polyflow.testing.backends import InstantBackend

    backend = InstantBackend(outputs={"deep-wide-experiment": {"accuracy": 0.9}}, hold={"deep-wide-experiment"})
    for _ in range(3):
        tick(backend=backend)
    client.force_login(users["viewer"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    nodes = re.findall(r'<g class="op status-(\w+)" data-op="([^"]+)" data-status="(\w+)"', page)
    assert nodes == [("succeeded", "job1", "succeeded"), ("running", "deep-wide-experiment", "running")]
    assert 'href="#op-job1"' in page
    # One legend, every op status, in the colours of the same classes.
    assert re.findall(r'<li class="status-(\w+)"><i class="swatch">', page) == [
        "created", "scheduled", "starting", "running", "succeeded", "failed", "upstream_failed", "skipped",
        "retrying", "stopping", "stopped"]
    # A timeline bar per attempt that started.
    assert re.findall(r'class="gantt-bar status-(\w+)" data-op="([^"]+)" data-attempt="(\d)"', page) == [
        ("succeeded", "job1", "1"), ("running", "deep-wide-experiment", "1")]
    assert 'data-run-api="/api/v1/alice/seed/runs/' in page
    assert 'data-logs-api="/api/v1/alice/seed/runs/' in page
    assert '<span class="live-note muted small" id="live">' in page  # active: the page follows the run
    # Attempts, params.
    job1 = page[page.index('id="op-job1"'):page.index('id="op-deep-wide-experiment"')]
    assert "#1" in job1 and 'data-status="scheduled"' in job1 and 'data-status="succeeded"' in job1
    assert "<dt>input-bucket</dt><dd class=\"mono\">s3://bucket-with-data</dd>" in job1


def test_run_page_shows_depends_on_past(client, users, seeded):
    """The second slot's run waits for the first's failed op: its reason is on the page."""
    import datetime as dt

    from django.utils import timezone

    from polyflow.scheduler.tick import tick
    from polyflow.testing.backends import InstantBackend

    _, pipeline = seeded
    backend = InstantBackend(fail={"deep-wide-experiment": 1}, outputs={"deep-wide-experiment": {"accuracy": 0.5}})
    now = timezone.now()
    for at in (now - dt.timedelta(seconds=120), now):
        for _ in range(4):
            tick(now=at, backend=backend)
    runs = list(pipeline.runs.order_by("schedule_at"))
    assert [run.status for run in runs] == ["failed", "running"]
    client.force_login(users["owner"])
    page = client.get(f"/ui/alice/seed/runs/{runs[1].uuid}/").content.decode()
    held = page[page.index('id="op-deep-wide-experiment"'):]
    assert '<span class="pill reason">depends on past</span>' in held
    assert "previous slot" in held
    failed = client.get(f"/ui/alice/seed/runs/{runs[0].uuid}/").content.decode()
    assert 'id="retry"' in failed and re.search(r'<button[^>]*id="retry"(?![^>]*disabled)[^>]*>', failed)
    assert re.search(r'<button[^>]*id="stop"[^>]*disabled', failed)


def test_unknown_runs_are_404(client, users, seeded):
    client.force_login(users["owner"])
    assert client.get("/ui/alice/seed/runs/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/ui/alice/seed/runs/not-a-uuid/").status_code == 404


def test_the_pages_follow_a_host_projects_prefix(client, users, seeded, run, settings):
    """Mounted by a host under ml/: pages, login redirects and the API the buttons call move along."""
    settings.ROOT_URLCONF = "tests.ui.host_urls"
    response = client.get("/ml/ui/alice/seed/")
    assert response.status_code == 302 and response["Location"] == "/ml/ui/login/?next=/ml/ui/alice/seed/"
    client.force_login(users["owner"])
    page = client.get("/ml/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert 'data-url="/ml/api/v1/alice/seed/pipelines/test-pipeline/runs/"' in page
    assert 'data-run-url="/ml/ui/alice/seed/runs/00000000-0000-0000-0000-000000000000/"' in page
    run_page = client.get(f"/ml/ui/alice/seed/runs/{run.uuid}/").content.decode()
    assert f'data-run-api="/ml/api/v1/alice/seed/runs/{run.uuid}/"' in run_page
    assert client.get("/ui/").status_code == 404
