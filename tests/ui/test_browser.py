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
    failing = InstantBackend(fail={"deep-wide-experiment": 1}, outputs=OUTPUTS)
    tick_until_settled(failing, latest - step + dt.timedelta(seconds=1))  # the slot before the latest: fails
    tick_until_settled(failing, now)  # the latest slot: its deep-wide-experiment waits on depends_on_past
    trigger_run(pipeline, user=alice)
    tick_until_settled(InstantBackend(outputs=OUTPUTS), timezone.now())


def make_playground(users):
    """Examples beside the seed: the quickstart failed once (train-fast), then succeeded; the cron one is paused."""
    _, quickstart, nightly = support.playground(users)
    set_paused(nightly, True)
    trigger_run(quickstart, user=users["owner"])
    tick_until_settled(InstantBackend(outputs=OUTPUTS, fail={"train-fast": 1}), timezone.now())
    trigger_run(quickstart, user=users["owner"])
    tick_until_settled(InstantBackend(outputs=OUTPUTS), timezone.now())


@pytest.fixture
def world(live_server, monkeypatch):
    users = support.make_users()
    project, pipeline = support.seed(users)
    make_history(pipeline, users["owner"])
    make_playground(users)
    backend = InstantBackend(outputs=OUTPUTS, hold={"job1", "deep-wide-experiment"})
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
