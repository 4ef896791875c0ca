"""Matrix groups and metrics on the run page (DESIGN section 9): a group is one node of the DAG
counting its trials, its panel lists them with their params, metric, status and duration, marks
the best and draws the metric against each param and each trial's series; an experiment's panel
draws its metrics. The queries stay fixed whatever the number of groups, trials and points."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from polyflow.models import OperationRun
from polyflow.scheduler.tick import tick
from polyflow.selectors import groups
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run
from polyflow.testing.backends import InstantBackend

from . import support


def run_until(run, backend, done, rounds: int = 40):
    for _ in range(rounds):
        tick(backend=backend)
        run.refresh_from_db()
        if done(run):
            return run
    raise AssertionError(f"run still {run.status}")


def report_curves(run, name="tune"):
    """Each trial's accuracy series, ending on its final accuracy (as a backend's report would)."""
    for trial in OperationRun.objects.filter(run=run, name=name, trial__isnull=False):
        params = trial.trial_params
        support.report_metrics(trial, "accuracy", support.learning_curve(support.accuracy(params["lr"],
                                                                                          params["depth"])))


@pytest.fixture
def tuning(users):
    return support.tuning(users["owner"])


@pytest.fixture
def finished(tuning):
    """The tuning pipeline's run, ended: its 3x3 grid succeeded, each trial with a series, and
    its experiment with a loss series."""
    _, pipeline = tuning
    run = trigger_run(pipeline)
    backend = InstantBackend(outputs=support.TUNING_OUTPUTS)
    run_until(run, backend, lambda run: run.status == "succeeded")
    report_curves(run)
    support.report_metrics(run.op_runs.get(name="report"), "loss", [1.0, 0.5, 0.25, 0.2])
    return run


def page_of(client, users, run) -> str:
    client.force_login(users["owner"])
    response = client.get(f"/ui/alice/tuning/runs/{run.uuid}/")
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, op: str) -> str:
    """The op's row and panel on the run page."""
    start = page.index(f'id="op-{op}"')
    return page[start:page.index("</details>", start)]


def test_a_group_is_one_node_counting_its_trials(client, users, finished):
    page = page_of(client, users, finished)
    nodes = re.findall(r'<g class="op status-(\w+)" data-op="([^"]+)"', page)
    assert nodes == [("succeeded", "prepare"), ("succeeded", "tune"), ("succeeded", "report")]
    tune = page[page.index('data-op="tune" data-status'):page.index('data-op="report" data-status')]
    assert '<g class="count done">' in tune and ">9/9</text>" in tune
    assert 'class="count running"' not in tune
    assert "<title>tune \u2014 succeeded \u2014 9 of 9 trials done</title>" in tune
    # One row per op in the timeline and the op list, the trials inside the group's panel.
    assert re.findall(r'<div class="gantt-row" data-op="([^"]+)"', page) == ["prepare", "tune", "report"]
    assert re.findall(r'<details class="op-item" id="op-([^"]+)"', page) == ["prepare", "tune", "report"]
    assert '<span class="op-progress muted small" data-progress-op="tune">9/9 trials</span>' in page
    # The runs list's progress bar counts three ops, not the trials.
    pipeline_page = client.get("/ui/alice/tuning/pipelines/tuning/").content.decode()
    assert 'title="3 succeeded"' in pipeline_page


def test_the_group_panel_lists_the_trials_and_marks_the_best(client, users, finished):
    tune = section(page_of(client, users, finished), "tune")
    rows = re.findall(r'<tr data-trial="(\d)"( class="best")?>(.*?)</tr>', tune, re.S)
    assert [int(index) for index, _, _ in rows] == list(range(9))
    assert [index for index, best, _ in rows if best] == [str(support.BEST_TRIAL)]
    cells = [re.findall(r'<td class="mono" data-sort="([^"]*)">([^<]*)', body) for _, _, body in rows]
    # tune[i], lr, depth, accuracy, duration: the params in grid order, the metric each trial ended on.
    for index, row in enumerate(cells):
        lr, depth = support.LRS[index // 3], support.DEPTHS[index % 3]
        assert (row[0][0], row[0][1].strip()) == (str(index), f"tune[{index}]")
        assert row[1:4] == [(repr(lr), f"{lr:g}"), (repr(float(depth)), str(depth)),
                            (repr(support.accuracy(lr, depth)), f"{support.accuracy(lr, depth):g}")]
    assert '<button type="button">accuracy</button>' in tune and "data-metric" in tune
    assert "Best trial: <b>tune[5]</b>, accuracy <span class=\"mono\">0.7</span>" in tune
    assert "with lr = <span class=\"mono\">0.01</span>, depth = <span class=\"mono\">8</span>" in tune
    assert "9 of 9 trials done" in tune and "grid over lr, depth · at most 3 at once · maximize accuracy" in tune
    assert "Stopped early" not in tune and "more are not shown" not in tune
    assert 'data-action="logs"' not in tune  # a group runs nothing itself: its trials do
    # Charts: accuracy against each param (lr on a log axis), the trials across both, their series.
    scatters = re.findall(r'<svg class="chart scatter".*?</svg>', tune, re.S)
    assert [re.search(r'aria-label="([^"]+)"', svg).group(1) for svg in scatters] == [
        "accuracy by lr", "accuracy by depth"]
    assert ">lr (log)</text>" in scatters[0]
    assert len(re.findall(r'<circle class="point', scatters[0])) == 9
    assert re.findall(r'<circle class="point best" data-key="(\d)"', scatters[0]) == ["5"]
    parallel = re.search(r'<svg class="chart parallel".*?</svg>', tune, re.S).group()
    assert len(re.findall(r"<polyline", parallel)) == 9
    lines = re.search(r'<svg class="chart lines".*?</svg>', tune, re.S).group()
    keys = re.findall(r'<polyline class="series( best)?" data-key="(\d)"', lines)
    assert len(keys) == 9 and keys[-1] == (" best", "5")  # the best drawn last, on top


def test_a_running_group_shows_how_far_it_is(client, users, tuning):
    _, pipeline = tuning
    run = trigger_run(pipeline)
    backend = InstantBackend(outputs=support.TUNING_OUTPUTS, hold={"tune[7]", "tune[8]"})
    run_until(run, backend, lambda run: run.op_runs.filter(trial__isnull=False, status="succeeded").count() == 7)
    page = page_of(client, users, run)
    tune = page[page.index('data-op="tune" data-status'):page.index('data-op="report" data-status')]
    assert 'data-status="running"' in tune
    assert ">7/9</text>" in tune and ">\u25b82</text>" in tune
    assert "7 of 9 trials done, 2 running" in tune
    panel = section(page, "tune")
    assert "7/9 trials · 2 running" in panel
    assert "Best so far: <b>tune[5]</b>" in panel
    table = panel[panel.index('<table class="table trials"'):]
    table = table[:table.index("</table>")]
    assert len(re.findall(r'<span class="badge status-running" data-status="running">', table)) == 2
    # While it runs, its lines chart waits for series.
    assert "no accuracy reported yet" in panel


def test_an_early_stopped_group_says_why(client, users):
    project, _ = support.tuning(users["owner"])
    text = support.TUNING.replace("name: tuning", "name: stopping").replace("concurrency: 3", "concurrency: 1").replace(
        "      metric: {name: accuracy, optimization: maximize}\n",
        "      metric: {name: accuracy, optimization: maximize}\n"
        "      early_stopping: [{kind: metric_early_stopping, metric: accuracy, value: 0.6, optimization: maximize}]\n")
    pipeline = apply_text(project, text, user=users["owner"]).pipelines[0][0]
    run = run_until(trigger_run(pipeline), InstantBackend(outputs=support.TUNING_OUTPUTS),
                    lambda run: run.status in ("succeeded", "failed"))
    tune = section(page_of(client, users, run), "tune")
    summary = run.op_runs.get(name="tune", trial__isnull=True).summary
    assert summary["early_stopping"]
    assert f"<b>Stopped early</b>: {escape(summary['early_stopping'])}" in tune
    assert "Best trial: <b>tune[2]</b>" in tune  # 0.6, the threshold
    assert '<span class="pill reason" title="' in tune and ">early stopping</span>" in tune


def test_an_experiment_charts_its_metrics(client, users, finished):
    report = section(page_of(client, users, finished), "report")
    assert '<figure class="chart-box" data-metric="loss">' in report
    assert "latest <span class=\"mono\">0.2</span>" in report
    polyline, = re.findall(r'<polyline class="series" data-key="loss" points="([^"]+)"', report)
    assert len(polyline.split()) == 4
    assert 'data-action="logs"' in report


def test_an_experiment_without_metrics_says_they_will_come(client, users, tuning):
    _, pipeline = tuning
    run = trigger_run(pipeline)
    page = page_of(client, users, run)
    assert "No metrics reported yet" in section(page, "report")
    assert "no trials yet: they are made when the op starts" in section(page, "tune")
    assert "trial-count" not in page


def test_the_table_is_bounded(client, users, finished, monkeypatch):
    monkeypatch.setattr(groups, "TRIALS_SHOWN", 4)
    tune = section(page_of(client, users, finished), "tune")
    assert len(re.findall(r"<tr data-trial=", tune)) == 4
    assert "The table and charts show the first 4 trials; 5 more are not shown." in tune
    lines = re.search(r'<svg class="chart lines".*?</svg>', tune, re.S).group()
    assert len(re.findall(r"<polyline", lines)) == 4


def test_the_live_fragment_has_what_the_page_replaces(client, users, finished):
    client.force_login(users["owner"])
    url = f"/ui/alice/tuning/runs/{finished.uuid}/live/"
    fragment = client.get(url + "?op=tune&op=report&op=nothing").content.decode()
    assert fragment.count('<svg class="dag"') == 1 and ">9/9</text>" in fragment
    assert '<span data-live-progress="tune">9/9 trials</span>' in fragment
    assert re.findall(r'<div class="op-panel" data-panel="([^"]+)" data-kind="(\w+)"', fragment) == [
        ("tune", "group"), ("report", "metrics")]
    assert fragment.count("<tr data-trial=") == 9
    assert 'data-panel="' not in client.get(url).content.decode()  # no op asked for: no panel
    page = page_of(client, users, finished)
    assert f'data-live-url="{url}"' in page and 'data-groups="tune"' in page
    client.force_login(users["stranger"])
    assert client.get(url).status_code == 404


def queries_of(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_run_page_reads_a_fixed_number_of_queries(client, users, tuning, finished,
                                                      django_assert_max_num_queries):
    """One group of 9 trials or two of 9: the same queries, the session, the user, then the
    page's ten and the header's scheduler health (the live fragment's seven)."""
    project, _ = tuning
    text = support.TUNING.replace("name: tuning", "name: wide").replace(
        "  - {name: report,", """\
  - name: tune-more
    template: {name: train}
    dependencies: [prepare]
    matrix:
      kind: grid
      params: {lr: {kind: choice, value: [0.001, 0.01, 0.1]}, depth: {kind: choice, value: [2, 4, 8]}}
      metric: {name: accuracy, optimization: maximize}
  - {name: report,""")
    pipeline = apply_text(project, text, user=users["owner"]).pipelines[0][0]
    wide = run_until(trigger_run(pipeline), InstantBackend(outputs=support.TUNING_OUTPUTS),
                     lambda run: run.status == "succeeded")
    report_curves(wide)
    report_curves(wide, "tune-more")
    support.report_metrics(wide.op_runs.get(name="report"), "loss", [1.0, 0.5])
    client.force_login(users["owner"])
    one, _ = queries_of(client, f"/ui/alice/tuning/runs/{finished.uuid}/")
    with django_assert_max_num_queries(15):  # with the artifacts and the cached ops (_artifacts.html)
        two, page = queries_of(client, f"/ui/alice/tuning/runs/{wide.uuid}/")
    assert one == two
    assert page.count("<tr data-trial=") == 18 and page.count(">9/9</text>") == 2
    live = "/ui/alice/tuning/runs/{}/live/?op=tune&op=tune-more&op=report"
    one, _ = queries_of(client, live.format(finished.uuid))
    with django_assert_max_num_queries(9):
        two, fragment = queries_of(client, live.format(wide.uuid))
    assert one == two
    assert fragment.count("<tr data-trial=") == 18


def test_series_are_thinned_by_the_database(tuning):
    """A series of 1,000 points comes back as about `points` of them, its last one kept, in one query;
    another attempt's points are not the current attempt's series."""
    _, pipeline = tuning
    run = trigger_run(pipeline)
    report = run.op_runs.get(name="report")
    support.report_metrics(report, "loss", [1 / step for step in range(1, 1001)])
    support.report_metrics(report, "accuracy", [0.5, 0.6])
    report.attempt = 2
    report.save(update_fields=["attempt"])
    support.report_metrics(report, "loss", [9.0, 8.0])
    report.attempt = 1
    report.save(update_fields=["attempt"])
    with CaptureQueriesContext(connection) as queries:
        series = groups.metric_series(run.pk, ops=["report"], points=50)
    assert len(queries) == 1
    loss = series[(report.pk, "loss")]
    assert 40 <= len(loss) <= 50
    assert loss[-1] == (1000, pytest.approx(1 / 1000))
    steps = [step for step, _ in loss]
    gaps = {later - step for step, later in zip(steps, steps[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 1  # evenly spaced, to the step
    assert series[(report.pk, "accuracy")] == [(1, 0.5), (2, 0.6)]  # short series: whole
    assert groups.metric_series(run.pk) == {}


def test_group_progress_is_one_query_for_every_group(finished, django_assert_num_queries):
    with django_assert_num_queries(1):
        progress = groups.group_progress(finished.pk)
    assert list(progress) == ["tune"]
    assert (progress["tune"].done, progress["tune"].total, progress["tune"].running) == (9, 9, 0)
    assert progress["tune"].in_words == "9 of 9 trials done"


def test_a_groups_trials_table_is_a_page_of_100(client, users, tuning):
    """A group of 250 trials: its body lists trials 1-100 (then `?trials=3`: 201-250), its charts every
    trial; the live fragment redraws the page that is open (`trials=tune:2`)."""
    project, _ = tuning
    lrs = ", ".join(f"{0.001 * (i + 1):.3f}" for i in range(125))
    text = support.TUNING.replace("name: tuning", "name: big").replace(
        'lr: {kind: logspace, value: "0.001:0.1:3"}', f"lr: {{kind: choice, value: [{lrs}]}}").replace(
        "depth: {kind: choice, value: [2, 4, 8]}", "depth: {kind: choice, value: [2, 4]}").replace(
        "concurrency: 3", "concurrency: 250")
    pipeline = apply_text(project, text, user=users["owner"]).pipelines[0][0]
    big = run_until(trigger_run(pipeline), InstantBackend(outputs=support.TUNING_OUTPUTS),
                    lambda run: run.status == "succeeded")
    client.force_login(users["owner"])
    url = f"/ui/alice/tuning/runs/{big.uuid}/ops/tune/"
    body = client.get(url).content.decode()
    assert re.findall(r'<tr data-trial="(\d+)"', body) == [str(i) for i in range(100)]
    assert "Trials 1–100 of 250 (page 1 of 3; sorting sorts this page)" in body
    assert 'data-trials-go="0" disabled' in body and 'data-trials-go="2">' in body
    assert len(re.findall(r'class="series(?: best)?"', body)) == 250  # one line a trial, every trial
    last = client.get(url + "?trials=3").content.decode()
    assert re.findall(r'<tr data-trial="(\d+)"', last) == [str(i) for i in range(200, 250)]
    assert 'data-trials-go="4" disabled' in last
    assert re.findall(r'<tr data-trial="(\d+)"', client.get(url + "?trials=99").content.decode())[0] == "200"
    assert re.findall(r'<tr data-trial="(\d+)"', client.get(url + "?trials=x").content.decode())[0] == "0"
    live = client.get(f"/ui/alice/tuning/runs/{big.uuid}/live/?op=tune&trials=tune:2").content.decode()
    assert re.findall(r'<tr data-trial="(\d+)"', live) == [str(i) for i in range(100, 200)]
