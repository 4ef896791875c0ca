"""The dashboard in headless Chromium (Debian's, driven by Playwright) against a live
server on PostgreSQL (issue 7, "Must show").

The seed pipeline (examples/test-pipeline.yaml with its action) is applied through
the services. Ops run on the InstantBackend, driven by a thread of this process that
calls tick(backend=...) every 0.2 s, as `polyflow run` would: ops the backend holds
stay running until the test releases them, so the test can watch colours change.

Before the browser starts, the scheduler makes some history: the run of the slot
before the latest failed (its action op failed once), so the run of the latest slot
waits on `depends_on_past`; a manual run succeeded. Screenshots of the three pages,
1280x800, go to docs/screenshots/.

A second test runs a 3x3 grid group (tests/ui/support.TUNING), its trials released three
at a time while the test reports their metric series: the group's node counts its trials,
its panel's table, scatters and lines fill in as they go, the table sorts by a column, and
the experiment after it draws its metric as it reports it (docs/screenshots/group.png).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from polyflow import backends
from polyflow.artifacts.store import settings_store
from polyflow.models import OperationRun
from polyflow.scheduler.tick import tick
from polyflow.services.pipelines import set_paused
from polyflow.services.runs import trigger_run
from polyflow.testing.backends import InstantBackend

from . import support

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The machine's network is closed: without these, Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = 20_000  # ms, for anything the page waits for
OUTPUTS = {"deep-wide-experiment": {"accuracy": 0.93}, **support.QUICKSTART_OUTPUTS}
QUICKSTART_OPS = tuple(support.QUICKSTART_OUTPUTS) + ("notify",)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)"),
    pytest.mark.django_db(transaction=True),
]


class Ticker(threading.Thread):
    """The scheduler, ticking in a thread of the test process with the test's backend."""

    def __init__(self, backend, interval: float = 0.2):
        super().__init__(daemon=True, name="polyflow-test-ticker")
        self.backend, self.interval = backend, interval
        self.stopping = threading.Event()
        self.errors: list[str] = []

    def run(self):
        try:
            while not self.stopping.is_set():
                try:
                    tick(backend=self.backend)
                except Exception as error:  # reported by the test, which then fails
                    self.errors.append(repr(error))
                self.stopping.wait(self.interval)
        finally:
            connection.close()

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


def tick_until_settled(backend, now, rounds: int = 6):
    for _ in range(rounds):
        tick(now=now, backend=backend)


def make_history(pipeline, alice):
    """A failed slot run, the next slot's run held by depends_on_past, and a succeeded manual run."""
    now = timezone.now()
    step = dt.timedelta(seconds=120)
    anchor = pipeline.schedule_start_at
    latest = anchor + (now - anchor) // step * step
    failing = InstantBackend(store=settings_store(), fail={"deep-wide-experiment": 1}, outputs=OUTPUTS)
    tick_until_settled(failing, latest - step + dt.timedelta(seconds=1))  # the slot before the latest: fails
    tick_until_settled(failing, now)  # the latest slot: its deep-wide-experiment waits on depends_on_past
    trigger_run(pipeline, user=alice)
    tick_until_settled(InstantBackend(store=settings_store(), outputs=OUTPUTS), timezone.now())


def make_playground(users):
    """Examples beside the seed: the quickstart failed once (train-fast), then succeeded; the cron one is paused."""
    _, quickstart, nightly = support.playground(users)
    set_paused(nightly, True)
    trigger_run(quickstart, user=users["owner"])
    tick_until_settled(InstantBackend(store=settings_store(), outputs=OUTPUTS, fail={"train-fast": 1}), timezone.now())
    trigger_run(quickstart, user=users["owner"])
    tick_until_settled(InstantBackend(store=settings_store(), outputs=OUTPUTS), timezone.now())


@pytest.fixture
def world(live_server, monkeypatch, settings, tmp_path):
    # The quickstart's path outputs are stored (by the scripted backend) in a store of the test's own.
    settings.POLYFLOW = {**settings.POLYFLOW, "ARTIFACTS_STORE": (tmp_path / "artifacts").as_uri()}
    users = support.make_users()
    project, pipeline = support.seed(users)
    make_history(pipeline, users["owner"])
    make_playground(users)
    backend = InstantBackend(store=settings_store(), outputs=OUTPUTS, hold={"job1", "deep-wide-experiment"})
    # The API's logs endpoint finds the backend of an op run by its name: let it find this one.
    monkeypatch.setattr(support, "BACKEND", backend, raising=False)
    monkeypatch.setitem(backends._BACKENDS, "instant", "tests.ui.support.current_backend")
    ticker = Ticker(backend)
    ticker.start()
    yield {"live_server": live_server, "backend": backend, "project": project, "ticker": ticker}
    ticker.stop()
    assert not ticker.errors, ticker.errors


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a new, empty profile (its own --user-data-dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def log_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base_url)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto("/ui/")
    assert "/ui/login/" in page.url  # anonymous: sent to log in
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")
    return page


def op_node(page, name):
    return page.locator(f'svg.dag g.op[data-op="{name}"]')


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / name))


def test_dashboard_in_chromium(world, browser):
    from playwright.sync_api import expect

    backend, base = world["backend"], world["live_server"].url
    page = log_in(browser, base, "alice")

    # The projects page: the seed pipeline, its schedule in words, its last runs as dots.
    row = page.locator('section.project[data-project="alice/seed"] tr[data-pipeline="test-pipeline"]')
    expect(row).to_be_visible()
    expect(row.locator(".schedule")).to_have_text("every 2 minutes from 2019-06-24 21:20 UTC, depends on past")
    expect(row.locator(".dot")).to_have_count(3)
    expect(row.locator(".dot.status-failed")).to_have_count(1)
    screenshot(page, "projects.png")

    # The pipeline page: its DAG and spec; trigger a run with the button.
    row.locator("a.strong").click()
    expect(page.locator("h1")).to_contain_text("test-pipeline")
    expect(op_node(page, "job1")).to_have_count(1)
    expect(page.locator("svg.dag path.edge")).to_have_count(1)
    expect(page.locator("pre.yaml .y-key").first).to_have_text("version")
    page.click("#trigger")

    # The run page follows the run: ops change colour as the backend moves them.
    page.wait_for_url("**/runs/**")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "running")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "created")
    expect(op_node(page, "job1")).to_have_class("op status-running")
    backend.release("job1")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "running")
    expect(page.locator('.badge[data-op="job1"]')).to_have_text("succeeded")
    expect(page.locator('.gantt-bar[data-op="deep-wide-experiment"]')).to_have_count(1)
    backend.release("deep-wide-experiment")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#stop")).to_be_disabled()

    # An op's logs, from the API's logs endpoint, on click (the node links to its row).
    op_node(page, "job1").locator("a").click()
    item = page.locator("details#op-job1")
    expect(item).to_have_attribute("open", "")
    item.locator('button[data-action="logs"]').click()
    expect(item.locator("pre.logs")).to_contain_text("job1 attempt 1")
    expect(page.locator('details#op-deep-wide-experiment dl.params').last).to_contain_text("0.93")

    # Stop a run, then retry it.
    backend.hold.update({"job1", "deep-wide-experiment"})
    page.goto("/ui/alice/seed/pipelines/test-pipeline/")
    page.click("#trigger")
    page.wait_for_url("**/runs/**")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "running")
    expect(page.locator("#retry")).to_be_disabled()
    page.click("#stop")
    expect(page.locator("#run")).to_have_attribute("data-status", "stopped")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "stopped")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "stopped")
    backend.hold.clear()
    expect(page.locator("#retry")).to_be_enabled()
    page.click("#retry")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "succeeded")
    expect(page.locator('details#op-job1 [data-field="attempt"]')).to_have_text("2")

    # The pipeline page lists the runs, filterable by status.
    page.goto("/ui/alice/seed/pipelines/test-pipeline/")
    expect(page.locator("table.runs tbody tr")).to_have_count(5)
    page.click('a.chip[data-filter="failed"]')
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    page.click('a.chip[data-filter="all"]')
    expect(page.locator("table.runs tbody tr")).to_have_count(5)
    page.goto("/ui/alice/seed/pipelines/test-pipeline/")
    screenshot(page, "pipeline.png")

    # A wider graph, for the run page's screenshot: the quickstart, its ops released one by one.
    backend.hold.update(QUICKSTART_OPS)
    page.goto("/ui/alice/playground/pipelines/quickstart/")
    page.click("#trigger")
    page.wait_for_url("**/runs/**")
    for op, seconds in (("prepare", 1.2), ("train-fast", 1.6), ("evaluate-fast", 1.0)):
        expect(op_node(page, op)).to_have_attribute("data-status", "running")
        page.wait_for_timeout(seconds * 1000)
        backend.release(op)
        expect(op_node(page, op)).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "train-slow")).to_have_attribute("data-status", "running")
    expect(op_node(page, "select-best")).to_have_attribute("data-status", "created")
    page.wait_for_timeout(1200)
    screenshot(page, "run.png")
    backend.hold.clear()
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "notify")).to_have_attribute("data-status", "skipped")  # one_failed: nothing failed
    page.context.close()

    # A stranger's login cannot see the project.
    stranger = log_in(browser, base, "sam")
    expect(stranger.locator("section.project")).to_have_count(0)
    response = stranger.goto("/ui/alice/seed/pipelines/test-pipeline/")
    assert response.status == 404
    response = stranger.goto("/ui/alice/seed/")
    assert response.status == 404
    stranger.context.close()


@pytest.fixture
def tuning_world(live_server):
    users = support.make_users()
    project, pipeline = support.tuning(users["owner"])
    backend = InstantBackend(outputs=support.TUNING_OUTPUTS, hold={"report", *(f"tune[{i}]" for i in range(9))})
    ticker = Ticker(backend)
    ticker.start()
    yield {"live_server": live_server, "backend": backend, "pipeline": pipeline}
    ticker.stop()
    assert not ticker.errors, ticker.errors


def off_loop(function, *args, **kwargs):
    """`function` in a thread of its own: Playwright's sync API runs an event loop in the test's
    thread, where Django refuses the ORM."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def wait_running(run_uuid, name: str, trials=None):
    """The op runs (trials of `name`, or its own) once they all run, as the ticker moves them."""
    query = OperationRun.objects.filter(run__uuid=run_uuid, name=name)
    query = query.filter(trial__in=trials) if trials is not None else query.filter(trial__isnull=True)
    for _ in range(100):
        op_runs = list(query.order_by("trial"))
        if op_runs and all(op_run.status == "running" for op_run in op_runs):
            return op_runs
        threading.Event().wait(0.1)
    raise AssertionError(f"{name} {trials} not running: {[op_run.status for op_run in op_runs]}")


def test_group_panel_in_chromium(tuning_world, browser):
    from playwright.sync_api import expect

    backend, base = tuning_world["backend"], tuning_world["live_server"].url
    page = log_in(browser, base, "alice")
    page.goto("/ui/alice/tuning/pipelines/tuning/")
    page.click("#trigger")
    page.wait_for_url("**/runs/**")
    run_uuid = page.url.rstrip("/").split("/")[-1]

    # One node for the group, counting its trials: none done, three running (its concurrency).
    tune = op_node(page, "tune")
    expect(tune).to_have_attribute("data-status", "running")
    expect(page.locator("svg.dag g.op")).to_have_count(3)
    expect(tune.locator(".trial-count .done text")).to_have_text("0/9")
    expect(tune.locator(".trial-count .running text")).to_have_text("\u25b83")
    tune.locator("a").click()
    panel = page.locator('details#op-tune .op-panel[data-panel="tune"]')
    expect(panel.locator("table.trials tbody tr")).to_have_count(9)

    # Three at a time: the trials report their curves while they run, then finish.
    for batch in ((0, 1, 2), (3, 4, 5), (6, 7, 8)):
        for trial in off_loop(wait_running, run_uuid, "tune", batch):
            lr, depth = trial.trial_params["lr"], trial.trial_params["depth"]
            off_loop(support.report_metrics, trial, "accuracy", support.learning_curve(support.accuracy(lr, depth)))
        expect(panel.locator("svg.chart.lines polyline.series")).to_have_count(batch[-1] + 1)
        for trial in batch:
            backend.release(f"tune[{trial}]")
        expect(tune.locator(".trial-count .done text")).to_have_text(f"{batch[-1] + 1}/9")
    expect(page.locator('[data-progress-op="tune"]')).to_have_text("9/9 trials")
    expect(tune).to_have_attribute("data-status", "succeeded")
    expect(panel.locator(".best-line")).to_contain_text("Best trial: tune[5]")  # no longer "so far"

    # The table: each trial's params and metric; the best marked; sorted by a column on click.
    best = panel.locator("table.trials tr.best")
    expect(best).to_have_attribute("data-trial", str(support.BEST_TRIAL))
    expect(best.locator("td").nth(1)).to_have_text("0.01")
    expect(best.locator("td").nth(2)).to_have_text("8")
    expect(best.locator("td").nth(3)).to_have_text("0.7")
    expect(panel.locator("svg.chart.scatter")).to_have_count(2)
    expect(panel.locator("svg.chart.scatter").first.locator("circle.point.best")).to_have_attribute(
        "data-key", str(support.BEST_TRIAL))
    expect(panel.locator("svg.chart.parallel polyline.series")).to_have_count(9)
    rows = panel.locator("table.trials tbody tr")
    metric_head = panel.locator("table.trials th[data-metric] button")
    metric_head.click()
    expect(rows.first).to_have_attribute("data-trial", "0")  # the lowest, 0.45 (trials 0 and 6: by index)
    metric_head.click()
    expect(rows.first).to_have_attribute("data-trial", str(support.BEST_TRIAL))
    expect(panel.locator("table.trials th[data-metric]")).to_have_attribute("aria-sort", "descending")
    panel.locator("table.trials th").nth(2).locator("button").click()  # depth, ascending
    expect(rows.first.locator("td").nth(2)).to_have_text("2")

    # The experiment after it draws its metric while it runs, a point more as it reports each.
    report = off_loop(wait_running, run_uuid, "report")[0]
    op_node(page, "report").locator("a").click()
    chart = page.locator('details#op-report .op-panel figure[data-metric="loss"] polyline.series')
    off_loop(support.report_metrics, report, "loss", [1.0, 0.6, 0.45])
    expect(chart).to_have_count(1)
    first_points = chart.get_attribute("points").split()
    assert len(first_points) == 3
    off_loop(support.report_metrics, report, "loss", [0.38, 0.33, 0.31], start_step=4)
    expect(chart).to_have_attribute("points", re.compile(r"^(\S+ ){5}\S+$"))
    backend.release("report")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    page.goto(f"/ui/alice/tuning/runs/{run_uuid}/#op-tune")
    expect(page.locator("details#op-tune")).to_have_attribute("open", "")
    expect(page.locator('details#op-tune svg.chart.lines polyline.series.best')).to_have_count(1)
    page.wait_for_timeout(400)  # the row's arrow turns as it opens
    screenshot(page, "group.png")
    page.context.close()


# -- Issue 14: the trigger form, an op's buttons, live logs, the project's runs, durations -------------


class GrowingLogs(InstantBackend):
    """The InstantBackend with logs that grow while the op runs: the test appends lines."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lines: dict[str, list[str]] = {}

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        submission = self._by_key.get(handle)
        if submission is None:
            return []
        lines = [f"{submission.op} attempt {submission.attempt}"] + self.lines.get(submission.op, [])
        return lines[-tail:] if tail else lines


@pytest.fixture
def ops_world(live_server, monkeypatch):
    users = support.make_users()
    project, pipeline = support.seed(users)
    make_history(pipeline, users["owner"])
    make_playground(users)
    support.registry(users, project)
    backend = GrowingLogs(outputs=OUTPUTS)
    monkeypatch.setattr(support, "BACKEND", backend, raising=False)
    monkeypatch.setitem(backends._BACKENDS, "instant", "tests.ui.support.current_backend")
    ticker = Ticker(backend)
    ticker.start()
    yield {"live_server": live_server, "backend": backend, "pipeline": pipeline, "users": users}
    ticker.stop()
    assert not ticker.errors, ticker.errors


def scroll_to(locator, above: int = 64):
    """Scroll the page so that `locator` is `above` px below the top (the top bar is 52 px)."""
    locator.evaluate(f"e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - {above})")


def api_json(page, url):
    response = page.request.get(url)
    assert response.ok, (url, response.status)
    return response.json()


def seconds_between(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end.replace("Z", "+00:00")) -
            dt.datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def test_trigger_form_in_chromium(ops_world, browser):
    from playwright.sync_api import expect

    page = log_in(browser, ops_world["live_server"].url, "alice")
    page.goto("/ui/alice/playground/pipelines/quickstart/")
    form = page.locator("#trigger-form")
    expect(form).to_be_hidden()
    page.click("#trigger-params")
    expect(form).to_be_visible()
    lr = form.locator("#param-train-fast-lr")
    expect(lr).to_have_attribute("type", "number")
    expect(lr).to_have_value("0.5")
    # A value the input's type refuses: the API's message under the field, and no run.
    form.locator("#param-train-fast-epochs").fill("2.5")
    lr.fill("0.9")
    screenshot_at = page.url
    page.click("#trigger-submit")
    field = form.locator('.field[data-path="params.train-fast.epochs"]')
    expect(field).to_have_class(re.compile(r"\binvalid\b"))
    expect(field.locator(".field-error")).to_have_text("expected an integer (type int), got 2.5")
    expect(form.locator("#trigger-error")).to_contain_text("invalid params")
    expect(form.locator('.field[data-path="params.train-fast.lr"] .field-error')).to_be_hidden()
    assert page.url == screenshot_at
    scroll_to(form)
    screenshot(page, "trigger-form.png")
    # Fixed: the run is made with the typed params (a float and an int), only those changed.
    form.locator("#param-train-fast-epochs").fill("20")
    page.click("#trigger-submit")
    page.wait_for_url("**/runs/**")
    run = api_json(page, "/api/v1/alice/playground/runs/" + page.url.rstrip("/").split("/")[-1] + "/")
    assert run["params"] == {"train-fast": {"lr": 0.9, "epochs": 20}}
    page.context.close()


def test_op_buttons_in_chromium(ops_world, browser):
    """Per-op retry (with what depends on it), and mark skipped unblocking a run held by depends_on_past."""
    from playwright.sync_api import expect

    page = log_in(browser, ops_world["live_server"].url, "alice")
    runs = api_json(page, "/api/v1/alice/seed/pipelines/test-pipeline/runs/?ordering=created_at")["results"]
    failed, held, done = runs[0], runs[1], runs[2]
    assert (failed["status"], held["status"], done["status"]) == ("failed", "running", "succeeded")

    page.goto(f"/ui/alice/seed/runs/{done['uuid']}/")
    # Retry one op of a finished run: it and what depends on it run again.
    page.locator("details#op-job1 > summary").click()
    page.locator('details#op-job1 [data-action="op-retry"]').click()
    expect(page.locator('details#op-job1 [data-field="attempt"]')).to_have_text("2")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    expect(page.locator('details#op-deep-wide-experiment [data-field="attempt"]')).to_have_text("2")
    after = api_json(page, f"/api/v1/alice/seed/runs/{done['uuid']}/")
    assert [op["attempt"] for op in after["op_runs"]] == [2, 2]
    # The held run: its deep-wide-experiment waits on the failed one of the slot before.
    page.goto(f"/ui/alice/seed/runs/{held['uuid']}/")
    expect(page.locator('details#op-deep-wide-experiment .pill.reason')).to_have_text("depends on past")
    page.goto(f"/ui/alice/seed/runs/{failed['uuid']}/#op-deep-wide-experiment")
    item = page.locator("details#op-deep-wide-experiment")
    expect(item).to_have_attribute("open", "")
    item.locator("[data-mark-status]").select_option("skipped")
    item.locator("[data-mark-reason]").fill("bad data that day, skipped on purpose")
    page.wait_for_timeout(300)
    screenshot(page, "op-actions.png")
    item.locator('[data-action="op-mark"]').click()
    expect(page.locator('.badge[data-op="deep-wide-experiment"]')).to_have_text("skipped")
    page.reload()
    history = page.locator("details#op-deep-wide-experiment table.history")
    expect(history).to_contain_text("bad data that day, skipped on purpose")
    # The run it held goes on.
    page.goto(f"/ui/alice/seed/runs/{held['uuid']}/")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "succeeded")
    page.context.close()


def test_live_logs_in_chromium(ops_world, browser):
    from playwright.sync_api import expect

    backend = ops_world["backend"]
    backend.hold.update({"job1", "deep-wide-experiment"})
    page = log_in(browser, ops_world["live_server"].url, "alice")
    page.goto("/ui/alice/seed/pipelines/test-pipeline/")
    page.click("#trigger")
    page.wait_for_url("**/runs/**")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "running")
    op_node(page, "job1").locator("a").click()
    item = page.locator("details#op-job1")
    item.locator('button[data-action="logs"]').click()
    logs = item.locator("pre.logs")
    expect(logs).to_contain_text("job1 attempt 1")
    expect(item.locator("[data-logs-live]")).to_be_visible()  # following the running op
    backend.lines["job1"] = ["epoch 1 loss 0.9"]
    expect(logs).to_contain_text("epoch 1 loss 0.9")  # no click: the page asked again
    backend.lines["job1"].append("epoch 2 loss 0.5")
    expect(logs).to_contain_text("epoch 2 loss 0.5")
    scroll_to(item.locator(".logs-head"), 330)
    page.wait_for_timeout(300)
    screenshot(page, "logs.png")
    backend.release("job1")
    expect(op_node(page, "job1")).to_have_attribute("data-status", "succeeded")
    expect(item.locator("[data-logs-live]")).to_be_hidden()  # the op ended: no more asking
    page.wait_for_timeout(600)
    backend.release("deep-wide-experiment")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")

    # Retry job1 (held again, then released): both attempts drawn, and every duration on the
    # page is the API's op times (started_at to finished_at) within 10 ms.
    backend.hold.update({"job1", "deep-wide-experiment"})
    item.locator('[data-action="op-retry"]').click()
    expect(op_node(page, "job1")).to_have_attribute("data-status", "running")
    expect(item.locator('select[data-logs-attempt] option')).to_have_count(2)
    page.wait_for_timeout(400)
    backend.release("job1")
    expect(op_node(page, "deep-wide-experiment")).to_have_attribute("data-status", "running")
    page.wait_for_timeout(300)
    backend.release("deep-wide-experiment")
    expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
    page.reload()
    expect(page.locator('.gantt-bar[data-op="job1"]')).to_have_count(2)
    run = api_json(page, "/api/v1/alice/seed/runs/" + page.url.split("/runs/")[1].split("/")[0] + "/")
    checked = 0
    for op in run["op_runs"]:
        if not op["started_at"]:
            continue
        expected = seconds_between(op["started_at"], op["finished_at"])
        shown = page.locator(f'details#op-{op["name"]} [data-field="duration"]').get_attribute("data-seconds")
        assert abs(float(shown) - expected) < 0.01, (op["name"], shown, expected)
        bar = page.locator(f'.gantt-bar[data-op="{op["name"]}"][data-attempt="{op["attempt"]}"]')
        assert abs(float(bar.get_attribute("data-seconds")) - expected) < 0.01, op["name"]
        checked += 1
    assert checked == 2
    for past in run["op_runs"][0].get("attempts", []):
        if past.get("started_at") and past.get("finished_at"):
            bar = page.locator(f'.gantt-bar[data-op="job1"][data-attempt="{past["attempt"]}"]')
            expected = seconds_between(past["started_at"], past["finished_at"])
            assert abs(float(bar.get_attribute("data-seconds")) - expected) < 0.01
    page.context.close()


def test_project_runs_page_in_chromium(ops_world, browser):
    from playwright.sync_api import expect

    page = log_in(browser, ops_world["live_server"].url, "alice")
    page.locator('section.project[data-project="alice/seed"] a[data-link="runs"]').click()
    page.wait_for_url("**/ui/alice/seed/runs/")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(3)
    # A status chip applies at once.
    page.locator('#run-filters .status-filter label.status-failed').click()
    page.wait_for_url(re.compile(r"status=failed"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "failed")
    failed = rows.first.get_attribute("data-run")
    # Search by a UUID prefix, with the other filters kept.
    page.goto("/ui/alice/seed/runs/")
    page.fill("#filter-q", failed[:6])
    page.press("#filter-q", "Enter")
    page.wait_for_url(re.compile(r"q=" + failed[:6]))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run", failed)
    page.goto("/ui/alice/seed/runs/")
    page.select_option("#filter-trigger", "schedule")
    page.wait_for_url(re.compile(r"trigger=schedule"))
    expect(rows).to_have_count(2)
    screenshot(page, "runs.png")
    page.context.close()


def test_zones_errors_and_narrow_screens_in_chromium(ops_world, browser):
    from playwright.sync_api import expect

    base = ops_world["live_server"].url
    context = browser.new_context(viewport={"width": 420, "height": 860}, base_url=base, timezone_id="Europe/Paris")
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto("/ui/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")
    # Times in the viewer's zone, UTC in the title.
    slot = page.locator('tr[data-pipeline="test-pipeline"] time[data-local]').first
    expect(slot).to_have_attribute("data-zone", "Europe/Paris")
    expect(slot).to_contain_text(re.compile(r"GMT\+1|CET"))
    assert slot.get_attribute("title").endswith("Z")
    # The scheduler's health in the header (the test's ticker beats).
    expect(page.locator("#scheduler-health")).to_have_attribute("data-late", "false")
    # At 420 px nothing of the breadcrumb or the buttons is cut off.
    runs = api_json(page, "/api/v1/alice/seed/runs/?ordering=created_at")["results"]
    page.goto(f"/ui/alice/seed/runs/{runs[0]['uuid']}/")
    for selector in (".crumbs > :last-child", "#retry", "#stop"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 420 + 0.5, (selector, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.wait_for_timeout(200)
    screenshot(page, "narrow.png")
    for url in ("/ui/", "/ui/alice/seed/pipelines/test-pipeline/", "/ui/alice/seed/runs/", "/ui/alice/actions/",
                "/ui/alice/events/data-ready/"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 420, url
        box = page.locator(".crumbs > :last-child").bounding_box()
        assert box["x"] + box["width"] <= 420 + 0.5, url
    # The app's own 404 page; a favicon that is there.
    response = page.goto("/ui/alice/seed/pipelines/nothing/")
    assert response.status == 404
    expect(page.locator('[data-error="404"] h1')).to_have_text("Not found")
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(icon).ok
    context.close()


def test_registry_pages_in_chromium(ops_world, browser):
    from playwright.sync_api import expect

    page = log_in(browser, ops_world["live_server"].url, "alice")
    page.locator('section.project[data-project="alice/seed"] a[data-link="actions"]').click()
    page.wait_for_url("**/ui/alice/actions/")
    page.click('tr[data-action-name="deep-wide-model"] a')
    expect(page.locator("#diff .d-add")).to_have_text(["+version: 2", "+      default: 0.02"])
    scroll_to(page.locator("#versions"))
    screenshot(page, "action.png")
    page.goto("/ui/alice/events/data-ready/")
    expect(page.locator('#subscribers tr[data-pipeline="on-data"]')).to_have_count(1)
    # A payload the event's inputs refuse: the API's message under the field.
    page.fill("#param-data-ready-size", "1.5")
    page.click("#fire-submit")
    expect(page.locator('.field[data-path="payload.size"] .field-error')).to_have_text(
        "expected an integer (type int), got 1.5")
    page.fill("#param-data-ready-size", "40")
    page.click("#fire-submit")
    expect(page.locator("#fired")).to_contain_text("1 run created")
    expect(page.locator('.field[data-path="payload.size"] .field-error')).to_be_hidden()
    screenshot(page, "event.png")
    page.locator("#fired a").click()
    page.wait_for_url("**/ui/alice/seed/runs/**")
    expect(page.locator("h1")).to_contain_text("Run")
    page.context.close()


def test_search_all_runs_and_spec_history_in_chromium(ops_world, browser):
    """Runs found by a param's value, From typed on the viewer's clock (Europe/Paris), the runs of
    every project, and the history of a pipeline's specs with the diff of two versions."""
    from zoneinfo import ZoneInfo

    from playwright.sync_api import expect

    from polyflow.services.apply import apply_text

    pipeline, alice = ops_world["pipeline"], ops_world["users"]["owner"]
    tagged = off_loop(trigger_run, pipeline, params={"deep-wide-experiment": {"lr": 0.3}}, user=alice)
    base = ops_world["live_server"].url
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base, timezone_id="Europe/Paris")
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto("/ui/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")

    page.goto("/ui/alice/seed/runs/")
    rows = page.locator("table.runs tbody tr")
    expect(page.locator("#run-filters .zone-name").first).to_have_text("Europe/Paris")
    page.fill("#filter-param", "deep-wide-experiment.lr=0.3")
    page.press("#filter-param", "Enter")
    page.wait_for_url(re.compile(r"param=deep-wide-experiment.lr%3D0.3"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run", str(tagged.uuid))
    # From, on the viewer's clock: a second before the run was made, then a second after. With the
    # param still set: the ticker makes the seed's scheduled runs meanwhile, whenever a slot falls.
    paris = tagged.created_at.astimezone(ZoneInfo("Europe/Paris"))
    for offset, count in ((-1, 1), (1, 0)):
        page.goto("/ui/alice/seed/runs/?param=deep-wide-experiment.lr%3D0.3")
        page.fill("#filter-from", (paris + dt.timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S"))
        page.click("#filter-apply")
        page.wait_for_url(re.compile(r"tz=Europe%2FParis"))
        expect(rows).to_have_count(count)
    # A param search of another form says why it finds nothing.
    page.goto("/ui/alice/seed/runs/?param=lr%3D0.3")
    expect(page.locator("#filter-param-error")).to_contain_text("expected OP.NAME=VALUE")

    # Every project's runs, linked from the projects page.
    page.goto("/ui/")
    page.click("#all-runs-link")
    page.wait_for_url("**/ui/runs/")
    expected = api_json(page, "/api/v1/runs/?page_size=20")
    expect(rows).to_have_count(len(expected["results"]))
    expect(page.locator("#run-count")).to_have_text(f"{expected['count']} runs")
    assert rows.first.get_attribute("data-run") == expected["results"][0]["uuid"]
    expect(page.locator("table.runs thead")).to_contain_text("Project")
    page.select_option("#filter-pipeline", "quickstart")
    page.wait_for_url(re.compile(r"pipeline=quickstart"))
    expect(rows).to_have_count(2)
    screenshot(page, "all-runs.png")

    # The spec history: a second text applied, its diff from the first.
    off_loop(apply_text, pipeline.project, pipeline.content.replace("lr: 0.05", "lr: 0.07"), user=alice)
    page.goto("/ui/alice/seed/pipelines/test-pipeline/")
    page.click("#spec-history")
    page.wait_for_url("**/pipelines/test-pipeline/history/")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#diff .d-del")).to_have_text(["-      lr: 0.05"])
    expect(page.locator("#diff .d-add")).to_have_text(["+      lr: 0.07"])
    scroll_to(page.locator("#versions"))
    screenshot(page, "history.png")
    context.close()


CHAIN_OPS = 200
BIG_GRID = """\
version: 1
kind: pipeline
name: big-grid
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      concurrency: 200
      params:
        lr: {kind: choice, value: [%s]}
      metric: {name: accuracy, optimization: maximize}
templates:
  - kind: job
    name: train
    inputs: [{name: lr, type: float}]
    outputs: [{name: accuracy, type: float}]
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""


def chain_yaml(count: int) -> str:
    ops = "".join(f"  - {{name: step-{i}, template: {{name: step}}"
                  + (f", dependencies: [step-{i - 1}]" if i else "") + "}\n" for i in range(count))
    return ("version: 1\nkind: pipeline\nname: long-chain\nops:\n" + ops + "templates:\n  - kind: job\n    name: step\n"
            "    container: {image: 'python:3.11', command: [python, -c, pass]}\n")


@pytest.fixture
def large_world(live_server):
    from polyflow.services.apply import apply_text
    from polyflow.services.projects import create_project
    from polyflow.statuses import RUN_FINAL

    users = support.make_users()
    project = create_project(users["owner"], "large", "Large runs")
    chain = apply_text(project, chain_yaml(CHAIN_OPS), user=users["owner"]).pipelines[0][0]
    grid = apply_text(project, BIG_GRID % ", ".join(f"{0.001 * (i + 1):.3f}" for i in range(150)),
                      user=users["owner"]).pipelines[0][0]
    chain_run = trigger_run(chain, user=users["owner"])  # made, not run: its 200 ops are drawn all the same
    grid_run = trigger_run(grid, user=users["owner"])
    backend = InstantBackend(outputs={"tune": lambda s: {"accuracy": round(0.5 + s.params["lr"], 4)}})
    for _ in range(50):
        tick(backend=backend)
        grid_run.refresh_from_db(fields=["status"])
        if grid_run.status in RUN_FINAL:
            break
    assert grid_run.status == "succeeded"
    return {"live_server": live_server, "chain": chain_run, "grid": grid_run}


def test_a_large_run_zooms_pans_and_pages_its_trials_in_chromium(large_world, browser):
    from playwright.sync_api import expect

    page = log_in(browser, large_world["live_server"].url, "alice")
    page.goto(f"/ui/alice/large/runs/{large_world['chain'].uuid}/")
    wrap, svg = page.locator(".dag-wrap"), page.locator(".dag-wrap svg.dag")
    expect(svg.locator("g.op")).to_have_count(CHAIN_OPS)
    # The chain is cut into bands: not 48,000 px wide, and drawn fitted to the card at first.
    natural = float(svg.get_attribute("width"))
    assert natural < 2000 and float(svg.get_attribute("height")) > 1000
    level = page.locator("[data-zoom-level]")
    fitted = int(level.inner_text().rstrip("%"))
    assert 50 <= fitted < 100
    drawn = svg.bounding_box()["width"]
    assert abs(drawn - natural * fitted / 100) < natural * 0.01
    page.click('.dag-tools button[data-zoom="one"]')
    expect(level).to_have_text("100%")
    page.click('.dag-tools button[data-zoom="in"]')
    expect(level).to_have_text("125%")
    assert abs(svg.bounding_box()["width"] - natural * 1.25) < 2
    # Ctrl + wheel zooms out around the pointer; a drag pans.
    box = wrap.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, 300)
    page.keyboard.up("Control")
    page.wait_for_function("() => parseFloat(document.querySelector('.dag-wrap').dataset.zoom) < 1.25")
    page.click('.dag-tools button[data-zoom="one"]')
    before = wrap.evaluate("e => [e.scrollLeft, e.scrollTop]")
    page.mouse.move(box["x"] + 400, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 150, steps=5)
    page.mouse.up()
    after = wrap.evaluate("e => [e.scrollLeft, e.scrollTop]")
    assert after[0] > before[0] and after[1] > before[1], (before, after)
    # A click that is no drag still goes to the op.
    page.click('.dag-tools button[data-zoom="fit"]')
    op_node(page, "step-0").click()
    page.wait_for_url(re.compile(r"#op-step-0$"))
    expect(page.locator("details#op-step-0")).to_have_attribute("open", "")
    page.goto(f"/ui/alice/large/runs/{large_world['chain'].uuid}/")
    expect(level).to_have_text(f"{fitted}%")
    scroll_to(page.locator(".dag-wrap"), above=120)
    screenshot(page, "large-run.png")

    # A group of 150 trials: its body is fetched when opened, its table a page of 100 at a time.
    page.goto(f"/ui/alice/large/runs/{large_world['grid'].uuid}/")
    page.locator("details#op-tune > summary").click()
    shown = page.locator('details#op-tune [data-field="trials-shown"]')
    expect(shown).to_have_text("Trials 1–100 of 150 (page 1 of 2; sorting sorts this page)")
    trials = page.locator("details#op-tune table.trials tbody tr")
    expect(trials).to_have_count(100)
    page.locator('details#op-tune button[data-trials-go="2"]').click()
    expect(shown).to_have_text("Trials 101–150 of 150 (page 2 of 2; sorting sorts this page)")
    expect(trials).to_have_count(50)
    expect(trials.first).to_have_attribute("data-trial", "100")
    page.locator('details#op-tune button[data-trials-go="1"]').click()
    expect(trials.first).to_have_attribute("data-trial", "0")
    page.context.close()
