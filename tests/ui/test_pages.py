"""The dashboard's pages of issue 14 with Django's test client: the trigger form, an op's
buttons and logs, durations from the op runs' own times, the project's runs page, times with
their zone, schedules in words, the scheduler's health, the app's own error pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from polyflow.models import OperationRun, SchedulerHeartbeat
from polyflow.scheduler.tick import tick
from polyflow.services.runs import stop_run, trigger_run
from polyflow.testing.backends import InstantBackend

from . import support


@pytest.fixture
def playground(users):
    return support.playground(users)


def test_trigger_form_is_built_from_the_inputs(client, users, seeded, playground):
    client.force_login(users["owner"])
    page = client.get("/ui/alice/playground/pipelines/quickstart/").content.decode()
    start = page.index('<form class="card trigger-form"')
    form = page[start:page.index("</form>", start)]
    assert 'data-url="/api/v1/alice/playground/pipelines/quickstart/runs/"' in form
    # One fieldset per op with inputs; each input typed, filled with what the run would get.
    assert re.findall(r'<fieldset class="op-fields" data-op="([^"]+)"', form)[:3] == [
        "prepare", "train-slow", "train-fast"]
    lr = re.search(r'<div class="field" data-path="params.train-fast.lr">.*?</div>', form, re.S).group()
    assert 'type="number" step="any"' in lr and 'value="0.5"' in lr and 'data-kind="number"' in lr
    assert "learning rate" in lr  # its description
    epochs = re.search(r'data-path="params.train-fast.epochs">.*?</div>', form, re.S).group()
    assert 'step="1"' in epochs and 'value="150"' in epochs and 'data-kind="integer"' in epochs  # the default
    data = re.search(r'data-path="params.train-fast.data">.*?</div>', form, re.S).group()
    assert 'type="text"' in data and html.escape("{{ ops.prepare.outputs.train }}") in data  # an expression
    # The seed pipeline's action input: a float with a default.
    client.force_login(users["member"])
    seed = client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert 'data-path="params.deep-wide-experiment.lr"' in seed
    assert re.search(r'id="trigger-params"(?![^>]*disabled)', seed)
    client.force_login(users["viewer"])
    seed = client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert re.search(r'<button[^>]*id="trigger-params"[^>]*disabled', seed)
    assert re.search(r'<button[^>]*id="trigger-submit"[^>]*disabled', seed)


def test_trigger_form_widgets():
    from polyflow.spec import Plan
    from polyflow.ui.forms import trigger_fields

    plan = Plan.from_dict({
        "name": "p", "order": ["a"], "ops": [{
            "name": "a", "template_name": "t", "action": None, "params": {"flag": True},
            "template": {"kind": "job", "name": "t", "inputs": [
                {"name": "flag", "type": "bool"},
                {"name": "mode", "type": "str", "options": ["fast", "slow"], "default": "fast", "has_default": True},
                {"name": "tags", "type": "str", "is_list": True, "is_optional": True},
                {"name": "n", "type": "int"},
            ]}}]})
    (group,) = trigger_fields(plan)
    flag, mode, tags, n = group.fields
    assert (flag.widget, flag.checked, flag.required) == ("checkbox", True, False)
    assert mode.widget == "select" and mode.value == '"fast"'
    assert mode.options == [('"fast"', "fast"), ('"slow"', "slow")]
    assert (tags.widget, tags.kind, tags.type) == ("json", "json", "list of str")
    assert (n.widget, n.kind, n.required, n.path) == ("number", "integer", True, "params.a.n")


def settle(backend, rounds=6, now=None):
    for _ in range(rounds):
        tick(backend=backend, now=now)


def test_durations_are_the_op_runs_own_times(client, users, seeded):
    _, pipeline = seeded
    run = trigger_run(pipeline, user=users["owner"])
    settle(InstantBackend(outputs={"deep-wide-experiment": {"accuracy": 0.9}}))
    # The backend's times, not when a tick noticed them: 65 ms and 1.234567 s.
    start = timezone.now() - dt.timedelta(minutes=5)
    OperationRun.objects.filter(run=run, name="job1").update(
        started_at=start, finished_at=start + dt.timedelta(microseconds=65_000))
    OperationRun.objects.filter(run=run, name="deep-wide-experiment").update(
        started_at=start + dt.timedelta(seconds=1), finished_at=start + dt.timedelta(seconds=2, microseconds=234_567))
    client.force_login(users["owner"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    assert re.findall(r'data-field="duration" data-seconds="([^"]*)">([^<]*)<', page) == [
        ("0.065000", "65ms"), ("1.234567", "1.23s")]
    bars = re.findall(r'class="gantt-bar status-succeeded" data-op="([^"]+)" data-attempt="1" data-status="succeeded" '
                      r'data-start="([^"]+)" data-end="([^"]+)" style="[^"]*" data-seconds="([^"]+)"', page)
    assert [(op, seconds) for op, _, _, seconds in bars] == [("job1", "0.065000"), ("deep-wide-experiment", "1.234567")]
    assert dt.datetime.fromisoformat(bars[0][1]) == start


def test_every_attempt_is_drawn(client, users, seeded):
    _, pipeline = seeded
    run = trigger_run(pipeline, user=users["owner"])
    backend = InstantBackend(fail={"job1": 1}, outputs={"deep-wide-experiment": {"accuracy": 0.9}})
    settle(backend, rounds=3)
    assert OperationRun.objects.get(run=run, name="job1").status == "retrying"
    settle(backend, rounds=6, now=timezone.now() + dt.timedelta(minutes=10))  # after its retry delay
    client.force_login(users["owner"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    job1 = re.findall(r'class="gantt-bar status-(\w+)" data-op="job1" data-attempt="(\d)"', page)
    assert job1 == [("failed", "1"), ("succeeded", "2")]
    # The logs' attempt selector: the current attempt first.
    assert re.findall(r'<option value="(\d)">#\d( \(current\))?</option>',
                      page[page.index('data-logs-attempt="job1"'):])[:2] == [("2", " (current)"), ("1", "")]


def test_op_buttons(client, users, seeded):
    _, pipeline = seeded
    run = trigger_run(pipeline, user=users["owner"])
    settle(InstantBackend(hold={"job1"}), rounds=3)
    client.force_login(users["member"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    job1 = page[page.index('id="op-job1"'):page.index('id="op-deep-wide-experiment"')]
    retry = re.search(r'<button[^>]*data-action="op-retry"[^>]*>', job1).group()
    stop = re.search(r'<button[^>]*data-action="op-stop"[^>]*>', job1).group()
    assert f'data-url="/api/v1/alice/seed/runs/{run.uuid}/ops/job1/retry/"' in retry and "disabled" in retry  # running
    assert f'data-url="/api/v1/alice/seed/runs/{run.uuid}/ops/job1/stop/"' in stop and "disabled" not in stop
    assert re.findall(r'<option value="(\w+)">\1</option>', job1[job1.index("data-mark-status"):])[:3] == [
        "succeeded", "failed", "skipped"]
    assert f'data-mark-api="/api/v1/alice/seed/runs/{run.uuid}/ops/op-name-placeholder/mark/"' in page
    client.force_login(users["viewer"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    for action in ("op-retry", "op-stop", "op-mark"):
        assert all("disabled" in button for button in re.findall(rf'<button[^>]*data-action="{action}"[^>]*>', page))


def test_no_negative_durations_for_a_run_ticked_ahead(client, users, seeded):
    _, pipeline = seeded
    run = trigger_run(pipeline, user=users["owner"])
    settle(InstantBackend(hold={"job1"}), rounds=3, now=timezone.now() + dt.timedelta(days=1))
    client.force_login(users["owner"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    assert not re.search(r'data-field="duration"[^>]*>-', page)
    assert "-8" not in re.sub(r"<[^>]+>", "", page[page.index('class="facts'):page.index("</div>\n\n<section")])
    from polyflow.ui.timeline import duration
    assert duration(-86949.8) == "0s"


def test_project_runs_page(client, users, seeded, playground, django_assert_max_num_queries):
    project, pipeline = seeded
    quickstart = playground[1]
    runs = [trigger_run(pipeline, user=users["owner"]) for _ in range(3)]
    stop_run(runs[0])
    old = trigger_run(pipeline, user=users["owner"], now=timezone.now() - dt.timedelta(days=3))
    other = trigger_run(quickstart, user=users["owner"])
    client.force_login(users["viewer"])
    url = "/ui/alice/seed/runs/"
    page = client.get(url).content.decode()
    assert page.count('<tr data-run="') == 4
    assert '<a href="/ui/alice/seed/pipelines/test-pipeline/">test-pipeline</a>' in page
    assert str(other.uuid) not in page  # another project's
    stopped = client.get(url + "?status=stopped").content.decode()
    assert re.findall(r'<tr data-run="([^"]+)"', stopped) == [str(runs[0].uuid)]
    recent = client.get(url + "?since=24h").content.decode()
    assert recent.count('<tr data-run="') == 3 and str(old.uuid) not in recent
    ranged = client.get(url + "?to=" + (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")).content
    assert re.findall(rb'<tr data-run="([^"]+)"', ranged) == [str(old.uuid).encode()]
    assert client.get(url + "?trigger=schedule").content.decode().count('<tr data-run="') == 0
    assert client.get(url + "?trigger=manual&pipeline=test-pipeline").content.decode().count('<tr data-run="') == 4
    for query in (runs[1].uuid.hex[:8], str(runs[1].uuid)[:11].upper(), runs[1].uuid.hex[:6]):
        found = client.get(url + "?q=" + query).content.decode()
        assert re.findall(r'<tr data-run="([^"]+)"', found) == [str(runs[1].uuid)], query
    assert "No run matches these filters." in client.get(url + "?q=not-hex").content.decode()
    assert client.get(url + "?status=nonsense&pipeline=nothing&from=garbage").status_code == 200
    # Linked from the project pages.
    assert 'href="/ui/alice/seed/runs/" data-link="runs"' in client.get("/ui/alice/seed/").content.decode()
    # Queries: the same for 4 runs and for 24.
    for _ in range(20):
        trigger_run(pipeline)
    with django_assert_max_num_queries(9):  # session, user, project, member role, pipelines, count, runs, ops, health
        assert client.get(url).status_code == 200
    client.force_login(users["stranger"])
    assert client.get(url).status_code == 404


def test_times_carry_their_zone(client, users, seeded):
    _, pipeline = seeded
    run = trigger_run(pipeline, user=users["owner"])
    client.force_login(users["owner"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    created = re.search(r'<span class="fact-label">Created</span><time datetime="([^"]+)" data-local="full" '
                        r'title="[^"]+">([^<]+)</time>', page)
    assert created and created.group(2).endswith(" UTC")
    assert dt.datetime.fromisoformat(created.group(1)) == run.created_at
    listing = client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    assert re.search(r'<time datetime="[^"]+" data-local="short" title="[^"]+">\w{3} \d+, [\d:]+ UTC</time>', listing)
    assert re.search(r'<time datetime="[^"]+" data-local="minute"[^>]*>[\d-]+ [\d:]+ UTC</time>',
                     client.get("/ui/").content.decode())  # the next slot


def test_cron_schedules_in_words(client, users, seeded, playground):
    client.force_login(users["owner"])
    page = client.get("/ui/alice/playground/").content.decode()
    row = page[page.index('data-pipeline="nightly'):] if 'data-pipeline="nightly' in page else page
    assert "at 02:30, Monday through Friday (Europe/Paris) from 2026-01-01 00:00 CET" in page, row[:400]
    assert "cron '30 2" not in page
    from polyflow.ui.schedules import cron_in_words
    assert cron_in_words("*/5 * * * *") == "every 5 minutes"
    assert cron_in_words("@daily") == "at 00:00"
    assert cron_in_words("not cron") == "cron 'not cron'"


def test_scheduler_health_in_the_header(client, users, seeded, settings):
    client.force_login(users["owner"])
    page = client.get("/ui/").content.decode()
    assert 'id="scheduler-health" data-late="true"' in page and "No scheduler tick yet" in page
    now = timezone.now()
    SchedulerHeartbeat.objects.create(worker="box:1", host="box", pid=1, started_at=now, ticked_at=now,
                                      tick_seconds=0.012)
    SchedulerHeartbeat.objects.create(worker="old:2", host="old", pid=2, started_at=now,
                                      ticked_at=now - dt.timedelta(hours=1), tick_seconds=0.5)
    page = client.get("/ui/alice/seed/").content.decode()
    assert 'data-late="false"' in page and re.search(r"tick \d+ms ago|tick [\d.]+s ago", page)
    assert page.index("box:1") < page.index("old:2")
    SchedulerHeartbeat.objects.filter(worker="box:1").update(ticked_at=now - dt.timedelta(seconds=16))
    page = client.get("/ui/alice/seed/").content.decode()  # TICK_INTERVAL 5 s: three missed at 15 s
    assert 'data-late="true"' in page and "Scheduler late" in page and "more than three TICK_INTERVALs" in page


def test_own_error_pages_and_favicon(client, users, seeded):
    client.force_login(users["stranger"])
    response = client.get("/ui/alice/seed/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'data-error="404"' in page and "alice/seed" not in page.replace('href="/ui/', "")
    assert 'id="scheduler-health"' in page
    for url in ("/ui/no/such/page/here/", "/ui/alice/seed/runs/not-a-uuid/", "/ui/x"):
        response = client.get(url)
        assert response.status_code == 404 and b'data-error="404"' in response.content, url
    client.logout()
    response = client.get("/ui/no/such/page/here/")
    assert response.status_code == 404 and b'data-error="404"' in response.content
    login = client.get("/ui/login/").content.decode()
    favicon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', login).group(1)
    assert favicon.endswith("polyflow/ui/favicon.svg")
    from django.contrib.staticfiles import finders
    assert finders.find("polyflow/ui/favicon.svg")


def test_forbidden_is_the_apps_page(rf, users):
    from django.core.exceptions import PermissionDenied

    from polyflow.ui.views import page

    @page
    def refuses(request):
        raise PermissionDenied("no")

    request = rf.get("/ui/x/")
    request.user = users["owner"]
    response = refuses(request)
    assert response.status_code == 403 and b'data-error="403"' in response.content


def test_grid_of_recent_runs(client, users, seeded, django_assert_max_num_queries):
    _, pipeline = seeded
    runs = [trigger_run(pipeline, user=users["owner"]) for _ in range(2)]
    settle(InstantBackend(fail={"deep-wide-experiment": 5}))
    runs.append(trigger_run(pipeline, user=users["owner"]))
    stop_run(runs[2])
    client.force_login(users["viewer"])
    url = "/ui/alice/seed/pipelines/test-pipeline/"
    page = client.get(url).content.decode()
    grid = page[page.index('<section class="card" id="grid">'):page.index("</section>", page.index('id="grid"'))]
    # Columns: the runs, oldest on the left; rows: the ops; cells link to the op in the run.
    columns = re.findall(r'class="grid-run status-\w+" data-grid-run="([^"]+)"', grid)
    mine = [str(run.uuid) for run in runs]
    assert [uuid for uuid in columns if uuid in mine] == mine and len(columns) == 4  # and the scheduler's slot run
    assert re.findall(r'<tr data-op="([^"]+)">', grid) == ["job1", "deep-wide-experiment"]
    cells = re.findall(r'class="grid-cell status-(\w+)" data-status="\w+" '
                       r'href="/ui/alice/seed/runs/([^/]+)/#op-([^"]+)"', grid)
    assert len(cells) == 8 and (str(runs[0].uuid), "job1") in [cell[1:] for cell in cells]
    assert {status for status, _, _ in cells} <= {"succeeded", "failed", "retrying", "stopped", "created", "running",
                                                  "scheduled", "upstream_failed"}
    for _ in range(30):
        trigger_run(pipeline)
    with django_assert_max_num_queries(16):  # session, user, page (grid: 3), health
        page = client.get(url).content.decode()
    assert page[page.index('id="grid"'):].count('class="grid-run ') == 25


@pytest.fixture
def registry(users, seeded):
    project, _ = seeded
    support.registry(users, project)
    return project


def test_actions_pages(client, users, registry, django_assert_max_num_queries):
    client.force_login(users["viewer"])  # a viewer of one of alice's projects reads her registry
    page = client.get("/ui/alice/actions/").content.decode()
    row = re.search(r'<tr data-action-name="deep-wide-model">.*?</tr>', page, re.S).group()
    assert '<td class="mono">v2</td><td>2</td>' in row
    assert 'href="/ui/alice/actions/deep-wide-model/"' in row
    with django_assert_max_num_queries(6):
        assert client.get("/ui/alice/actions/").status_code == 200
    page = client.get("/ui/alice/actions/deep-wide-model/").content.decode()
    assert re.findall(r'<tr data-version="(\d+)"', page) == ["2", "1"]
    # The latest shown, and its changes from the version before.
    assert "Changes from v1 to v2" in page
    assert '<span class="d-del">-      default: 0.01</span>' in page
    assert '<span class="d-add">+      default: 0.02</span>' in page
    first = client.get("/ui/alice/actions/deep-wide-model/?version=1").content.decode()
    assert "Changes from" not in first and 'href="?version=1&amp;base=2#diff"' in first
    assert "Changes from v2 to v1" in client.get("/ui/alice/actions/deep-wide-model/?version=1&base=2").content.decode()
    assert client.get("/ui/alice/actions/nothing/").status_code == 404
    client.force_login(users["stranger"])
    assert client.get("/ui/alice/actions/").status_code == 404
    assert client.get("/ui/alice/actions/deep-wide-model/").status_code == 404


def test_events_pages(client, users, registry):
    client.force_login(users["member"])
    page = client.get("/ui/alice/events/").content.decode()
    row = re.search(r'<tr data-event="data-ready">.*?</tr>', page, re.S).group()
    assert "New data landed" in row and "size, mode" in row
    assert '<a href="/ui/alice/seed/pipelines/on-data/">seed/on-data</a>' in row
    page = client.get("/ui/alice/events/data-ready/").content.decode()
    assert '<tr data-pipeline="on-data">' in page
    form = page[page.index('<form class="card trigger-form" id="fire-form"'):]
    assert 'data-url="/api/v1/alice/events/data-ready/fire/"' in form
    assert re.search(r'data-path="payload.size">.*?type="number" step="1"', form, re.S)
    assert re.search(r'data-path="payload.mode">.*?<select', form, re.S)
    assert not re.search(r'<button[^>]*id="fire-submit"[^>]*disabled', form)
    client.force_login(users["viewer"])
    page = client.get("/ui/alice/events/data-ready/").content.decode()
    assert re.search(r'<button[^>]*id="fire-submit"[^>]*disabled', page)
    assert client.get("/ui/alice/events/nothing/").status_code == 404
    # Linked from the projects page.
    projects = client.get("/ui/").content.decode()
    assert 'href="/ui/alice/events/" data-link="events"' in projects
    assert 'href="/ui/alice/actions/" data-link="actions"' in projects


def test_a_large_runs_op_bodies_are_fetched_when_opened(client, users, seeded, django_assert_max_num_queries):
    from polyflow.services.apply import apply_text

    project, _ = seeded
    ops = "".join(f"  - {{name: op-{i}, template: {{name: step}}{f', dependencies: [op-{i - 1}]' if i else ''}}}\n"
                  for i in range(45))
    text = (f"version: 1\nkind: pipeline\nname: long\nops:\n{ops}templates:\n  - kind: job\n    name: step\n"
            "    inputs: [{name: lr, type: float, default: 0.1}]\n"
            "    container: {image: 'python:3.11', command: [python, -c, pass]}\n")
    pipeline = apply_text(project, text, user=users["owner"]).pipelines[0][0]
    run = trigger_run(pipeline, user=users["owner"])
    settle(InstantBackend(), rounds=3)
    client.force_login(users["member"])
    page = client.get(f"/ui/alice/seed/runs/{run.uuid}/").content.decode()
    assert page.count('<details class="op-item"') == 45
    assert page.count('class="op-body" data-lazy="') == 45 and 'data-action="op-retry"' not in page
    assert f'data-lazy="/ui/alice/seed/runs/{run.uuid}/ops/op-3/"' in page
    with django_assert_max_num_queries(12):
        body = client.get(f"/ui/alice/seed/runs/{run.uuid}/ops/op-3/").content.decode()
    assert body.startswith('<div class="op-body" data-body="')
    assert f'data-url="/api/v1/alice/seed/runs/{run.uuid}/ops/op-3/retry/"' in body
    assert "<dt>lr</dt>" in body and 'data-logs-attempt="op-3"' in body
    assert client.get(f"/ui/alice/seed/runs/{run.uuid}/ops/nothing/").status_code == 404
    client.force_login(users["stranger"])
    assert client.get(f"/ui/alice/seed/runs/{run.uuid}/ops/op-3/").status_code == 404


def test_timeline_from_the_op_runs_own_times():
    from types import SimpleNamespace

    from polyflow.ui import timeline

    at = lambda second, micro=0: dt.datetime(2026, 1, 1, 0, 0, second, micro, tzinfo=dt.UTC)  # noqa: E731
    record = lambda status, attempt, second: SimpleNamespace(status=status, attempt=attempt,  # noqa: E731
                                                             created_at=at(second))
    # The ticks noticed attempt 2 at 10 s and its end at 15 s; the backend says 10.2 s to 10.265 s.
    history = {"a": [record("running", 1, 1), record("retrying", 1, 5), record("running", 2, 10),
                     record("succeeded", 2, 15)]}
    op = SimpleNamespace(name="a", status="succeeded", attempt=2, started_at=at(10, 200_000),
                         finished_at=at(10, 265_000),
                         attempts=[{"attempt": 1, "status": "failed", "started_at": "2026-01-01T00:00:01.500000Z",
                                    "finished_at": "2026-01-01T00:00:02.000000+00:00"}])
    (row,) = timeline.build([op], history, at(30)).rows
    assert [(bar.attempt, bar.status, bar.seconds) for bar in row.bars] == [(1, "failed", 0.5),
                                                                            (2, "succeeded", 0.065)]
    # Without kept times, a past attempt falls back on its status records.
    op.attempts = []
    (row,) = timeline.build([op], history, at(30)).rows
    assert [(bar.attempt, bar.seconds) for bar in row.bars] == [(1, 4.0), (2, 0.065)]
    # Started in the future (a tick ahead of the clock): no negative width.
    ahead = SimpleNamespace(name="b", status="running", attempt=1, started_at=at(50), finished_at=None, attempts=[])
    result = timeline.build([ahead], {}, at(30))
    assert result.rows[0].bars[0].width >= 0 and result.ticks[0] == (0, "0")
    assert [timeline.duration(s) for s in (0.065, 1.234567, -5)] == ["65ms", "1.23s", "0s"]
    assert [label for _, label in timeline.ticks(0.3)][:3] == ["0", "+50ms", "+0.1s"]


def test_runs_are_searched_by_param_value_and_times_typed_in_the_viewers_zone(client, users, seeded):
    _, pipeline = seeded
    fast = trigger_run(pipeline, params={"deep-wide-experiment": {"lr": 0.2}}, user=users["owner"])
    trigger_run(pipeline, params={"deep-wide-experiment": {"lr": 0.3}}, user=users["owner"])
    trigger_run(pipeline, user=users["owner"])
    client.force_login(users["viewer"])
    url = "/ui/alice/seed/runs/"

    def rows(query: str) -> list[str]:
        return re.findall(r'<tr data-run="([^"]+)"', client.get(url + query).content.decode())

    assert rows("?param=deep-wide-experiment.lr%3D0.2") == [str(fast.uuid)]
    assert rows("?param=deep-wide-experiment.lr%3D0.2&q=" + fast.uuid.hex[:6]) == [str(fast.uuid)]
    assert rows("?param=job1.input-bucket%3Ds3://nowhere") == []
    page = client.get(url + "?param=lr%3D0.2").content.decode()
    assert rows("?param=lr%3D0.2") == [] and "expected OP.NAME=VALUE" in page and 'aria-invalid="true"' in page

    # From and To are wall-clock times of the viewer's zone (the script sends it as tz).
    paris = fast.created_at.astimezone(ZoneInfo("Europe/Paris"))
    just_before = (paris - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    in_paris = rows(f"?tz=Europe/Paris&from={just_before}")
    assert str(fast.uuid) in in_paris and len(in_paris) == 3
    # The same wall-clock time read as UTC is an hour or two later: Paris is ahead of UTC.
    assert rows(f"?from={just_before}") == []
    page = client.get(f"{url}?tz=Europe/Paris&from={just_before}").content.decode()
    assert 'From (<span class="zone-name">Europe/Paris</span>)' in page
    assert f'value="{just_before}"' in page
    assert 'From (<span class="zone-name">UTC</span>)' in client.get(url + "?tz=Not/AZone").content.decode()


def test_the_runs_of_every_project(client, users, seeded, playground, django_assert_max_num_queries):
    _, pipeline = seeded
    mine = trigger_run(pipeline, user=users["owner"])
    theirs = trigger_run(playground[1], user=users["owner"])  # alice's playground: vera is no member
    client.force_login(users["viewer"])
    page = client.get("/ui/runs/").content.decode()
    assert re.findall(r'<tr data-run="([^"]+)"', page) == [str(mine.uuid)]
    assert '<a href="/ui/alice/seed/runs/"><span class="muted">alice /</span> seed</a>' in page
    assert "<h1>All runs</h1>" in page
    client.force_login(users["owner"])
    page = client.get("/ui/runs/").content.decode()
    assert re.findall(r'<tr data-run="([^"]+)"', page) == [str(theirs.uuid), str(mine.uuid)]
    assert 'href="/ui/runs/" id="all-runs-link"' in client.get("/ui/").content.decode()
    only = client.get("/ui/runs/?pipeline=quickstart&q=" + theirs.uuid.hex[:8]).content.decode()
    assert re.findall(r'<tr data-run="([^"]+)"', only) == [str(theirs.uuid)]
    for _ in range(20):
        trigger_run(pipeline)
    with django_assert_max_num_queries(7):  # session, user, pipelines, count, runs, ops, health
        assert client.get("/ui/runs/?param=job1.input-bucket%3Ds3://x").status_code == 200
    with django_assert_max_num_queries(7):
        assert client.get("/ui/runs/").status_code == 200
    client.force_login(users["stranger"])
    assert "No runs yet." in client.get("/ui/runs/").content.decode()


def test_the_history_of_a_pipelines_specs_with_diffs(client, users, seeded, django_assert_max_num_queries):
    from polyflow.services.apply import apply_text

    project, pipeline = seeded
    first = pipeline.content
    apply_text(project, first.replace("lr: 0.05", "lr: 0.07"), user=users["member"])
    apply_text(project, first.replace("lr: 0.05", "lr: 0.07").replace("frequency: 120", "frequency: 300"),
               user=users["owner"])
    client.force_login(users["viewer"])
    url = "/ui/alice/seed/pipelines/test-pipeline/history/"
    with django_assert_max_num_queries(8):  # session, user, project, member role, pipeline, versions, health
        page = client.get(url).content.decode()
    assert re.findall(r'<tr data-version="(\d+)"', page) == ["3", "2", "1"]
    assert "Changes from v2 to v3" in page
    assert '<span class="d-del">-  frequency: 120</span>' in page
    assert '<span class="d-add">+  frequency: 300</span>' in page
    assert "lr: 0.05" not in page[page.index('id="diff"'):]  # only what changed, with its context
    page = client.get(url + "?version=3&base=1").content.decode()
    assert "Changes from v1 to v3" in page and '<span class="d-add">+      lr: 0.07</span>' in page
    assert "mona" in page
    page = client.get(url + "?version=1").content.decode()
    assert 'id="diff"' not in page  # nothing before v1
    assert 'href="/ui/alice/seed/pipelines/test-pipeline/history/" id="spec-history"' in client.get(
        "/ui/alice/seed/pipelines/test-pipeline/").content.decode()
    client.force_login(users["stranger"])
    assert client.get(url).status_code == 404
