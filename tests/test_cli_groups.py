"""How the command line shows a matrix op (DESIGN section 9): in-process on PostgreSQL with the
instant backend, `polyflow runs show|list|retry` (one row per group, `--trials`, `-o json`) and
what `polyflow run` draws (`Watcher`: the live table, the lines without a terminal, the
summary). The real `polyflow run` of matrix ops is in tests/test_cli_run.py (under a terminal
too) and tests/test_examples.py (examples/tuning.yaml)."""

import datetime as dt
import io
import json
import re

import pytest
from click.testing import CliRunner
from django.contrib.auth import get_user_model

from polyflow.cli import main
from polyflow.cli.progress import MAX_SUMMARY_ROWS, Watcher
from polyflow.models import PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.projects import create_project
from polyflow.services.runs import trigger_run
from polyflow.testing.backends import InstantBackend
from tests.scheduler.test_matrix import GRID as TUNE
from tests.scheduler.test_matrix import accuracy, pipeline_yaml

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# The pipelines of the scheduler's matrix tests: a grid of 9 trials (lr x depth, 2 at a
# time, ranked by accuracy), whose best lr another op reads; or a mapping of n items.
GRID = pipeline_yaml(TUNE + """\
  - {name: report, template: {name: use}, params: {value: '{{ ops.tune.best.params.lr }}'}}
""")


def mapping(n: int, concurrency: int = 0) -> str:
    limit = f", concurrency: {concurrency}" if concurrency else ""
    return pipeline_yaml(f"""\
  - name: tune
    template: {{name: train}}
    matrix: {{kind: mapping{limit}, values: {json.dumps([{"lr": i / 100} for i in range(n)])}}}
  - {{name: after, template: {{name: use}}, params: {{value: 1}}, dependencies: [tune]}}
""")


@pytest.fixture
def project():
    return create_project(get_user_model().objects.create_user("alice"), "ml")


@pytest.fixture
def backend():
    backend = InstantBackend()
    backend.outputs["tune"] = accuracy
    return backend


def start(project, text: str) -> PipelineRun:
    return trigger_run(apply_text(project, text).pipelines[0][0])


def ticks(run, backend, each=None, limit=200):
    """Tick a second apart until the run ends; `each(run)` after every tick."""
    for second in range(limit):
        tick(T0 + dt.timedelta(seconds=second), backend)
        run = PipelineRun.objects.select_related("pipeline__project__owner").get(pk=run.pk)
        if each:
            each(run)
        if run.status in ("succeeded", "failed", "stopped"):
            return run
    raise AssertionError(f"run still {run.status}")


def one_by_one(backend, n: int, each=None, at_once: int = 1):
    """Hold trials 0..n-1 of `tune`; the returned `each` lets the next `at_once` of them end
    (after calling `each`), so that trials end over many ticks, not all in the first."""
    backend.hold.update(f"tune[{i}]" for i in range(n))

    def step(run):
        if each:
            each(run)
        for name in sorted(backend.hold, key=lambda name: int(name[5:-1]))[:at_once]:
            backend.release(name)

    return step


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def table(output: str, header: str) -> dict[str, str]:
    """{first cell: row} of the table under the line starting with `header`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


# -- polyflow runs show -----------------------------------------------------------------------


def test_runs_show_a_group_as_one_row_with_its_progress_and_best_trial(project, backend):
    run = ticks(start(project, GRID), backend)
    out = cli("runs", "show", str(run.uuid))
    rows = table(out, "OP ")
    assert list(rows) == ["tune", "report"]  # the trials are no ops of their own
    assert rows["tune"].split()[:3] == ["tune", "succeeded", "1"]
    assert rows["tune"].endswith("9/9 done, 0 running; best: trial 8 accuracy=2.4 lr=0.3 depth=8")
    assert "--trials" not in out and "TRIAL " not in out

    trials = cli("runs", "show", str(run.uuid), "--trials")
    assert "\ntune: 9 trials: 9 succeeded\n" in trials
    rows = table(trials, "TRIAL ")
    assert list(rows) == [str(i) for i in range(9)]
    # (The instant backend's attempts have no start time, hence no duration.)
    assert rows["8"].split() == ["8", "succeeded", "1", "lr=0.3", "depth=8", "accuracy=2.4"]
    assert rows["0"].split()[3:] == ["lr=0.1", "depth=2", "accuracy=0.2"]


def test_runs_show_why_a_group_stopped_early(project, backend):
    text = GRID.replace("concurrency: 2", "concurrency: 1").replace("  - {name: report", """\
      early_stopping:
        - {kind: metric_early_stopping, metric: accuracy, value: 0.8, optimization: maximize}
  - {name: report""")
    run = ticks(start(project, text), backend)
    early = run.op_runs.get(name="tune", trial__isnull=True).summary["early_stopping"]
    assert "metric_early_stopping" in early
    out = cli("runs", "show", str(run.uuid), "--trials")
    # Trials 0 to 2 give 0.2, 0.4 and 0.8: the third meets the threshold, the others are skipped.
    assert table(out, "OP ")["tune"].endswith(
        f"9/9 done, 0 running; best: trial 2 accuracy=0.8 lr=0.1 depth=8; stopped early: {early}")
    assert table(out, "TRIAL ")["3"].split()[:2] == ["3", "skipped"]
    assert table(out, "TRIAL ")["3"].endswith(f" lr=0.2 depth=2  early_stopping: {early}")


def test_runs_stop_counts_the_trials_to_end_not_their_group(project, backend):
    backend.hold.add("tune")
    run = start(project, GRID)
    tick(T0, backend)
    assert cli("runs", "stop", str(run.uuid)) == (
        f"run {run.uuid}: stopping; the next tick ends its 2 submitted op run(s)\n")


def test_runs_show_json_has_the_trials_under_their_group(project, backend):
    run = ticks(start(project, GRID), backend)
    shown = json.loads(cli("runs", "show", str(run.uuid), "-o", "json"))
    assert [o["name"] for o in shown["op_runs"]] == ["tune", "report"]
    tune, report = shown["op_runs"]
    assert [t["trial"] for t in tune["trials"]] == list(range(9))
    assert tune["trials"][8]["trial_params"] == {"lr": 0.3, "depth": 8}
    assert tune["trials"][8]["outputs"] == {"accuracy": 2.4}
    assert (tune["trials"][8]["status"], tune["trials"][8]["attempt"]) == ("succeeded", 1)
    assert tune["summary"]["best"]["trial"] == 8
    assert tune["summary"]["counts"] == {"succeeded": 9}
    assert tune["outputs"]["accuracy"][8] == 2.4
    assert "trials" not in report and report["params"] == {"value": 0.3}


def test_a_running_group_says_how_many_trials_are_done_and_running(project, backend, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the live table is clipped to the terminal, whatever runs the tests
    backend.hold.update(f"tune[{i}]" for i in range(1, 9))  # trial 0 ends at once, the others run on
    run = start(project, GRID)
    tick(T0, backend)
    tick(T0 + dt.timedelta(seconds=1), backend)
    trials = list(run.op_runs.filter(trial__isnull=False))
    done = sum(t.status == "succeeded" for t in trials)
    assert (done, sum(t.status == "running" for t in trials)) == (1, 2)
    assert table(cli("runs", "show", str(run.uuid)), "OP ")["tune"].endswith(" 1/9 done, 2 running")
    # `runs list` counts ops: the group once, not its trials.
    assert table(cli("runs", "list"), "UUID ")[str(run.uuid)].endswith(" 1 created, 1 running")

    # The live table: the group is one line, with the best trial so far.
    stream = io.StringIO()
    run = PipelineRun.objects.select_related("pipeline__project__owner").get(pk=run.pk)
    Watcher(run, backend, stream, live=False)._draw(run, list(run.op_runs.order_by("id")), stopping=False)
    lines = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line) for line in stream.getvalue().splitlines()][:-1]
    assert [line.split()[0] for line in lines[2:]] == ["tune", "report"]
    assert re.fullmatch(r"tune +running +\S+ +1/9 done, 2 running  best accuracy=0\.2", lines[2]), lines


def test_runs_retry_names_a_group_once_with_how_many_trials_run_again(project, backend):
    backend.fail["tune[1]"] = 1
    backend.fail["tune[2]"] = 1
    run = ticks(start(project, mapping(3)), backend)
    assert run.status == "failed"
    out = cli("runs", "retry", str(run.uuid))
    assert out == f"run {run.uuid}: created; to run again: tune (2 trials), after\n"


# -- polyflow run: what the Watcher shows ------------------------------------------------------


def test_without_a_terminal_a_group_prints_its_progress_not_each_trial(project, backend):
    backend.fail["tune[4]"] = 1
    stream = io.StringIO()
    run = start(project, GRID)
    watcher = Watcher(run, backend, stream, live=False)
    ticks(run, backend, each=one_by_one(backend, 9, each=watcher.update))
    lines = [line.split(" ", 1)[1] for line in stream.getvalue().splitlines()]
    tune = [line for line in lines if line.startswith("tune")]
    assert tune[0] == "tune: running: 9 trial(s)"
    # Of the trials, only the failure; the rest is the group's progress, as each one ends.
    assert [line for line in tune if line.startswith("tune[")] == ["tune[4]: failed (attempt 1): scripted failure"]
    progress = [line for line in tune if line.startswith("tune: ") and " done, " in line]
    assert progress[:2] == ["tune: 1/9 done, 2 running", "tune: 2/9 done, 2 running"]
    assert progress[-1] == "tune: 8/9 done, 1 running, 1 failed"
    assert len(progress) == 8
    assert tune[-1] == ("tune: succeeded: 8 of 9 trial(s) succeeded; "
                        "best: trial 8 accuracy=2.4 lr=0.3 depth=8")
    assert len(tune) == 1 + 1 + len(progress) + 1


def test_progress_lines_are_bounded_however_many_trials(project, backend):
    stream = io.StringIO()
    run = start(project, mapping(200, concurrency=10))
    watcher = Watcher(run, backend, stream, live=False)
    ticks(run, backend, each=one_by_one(backend, 200, each=watcher.update, at_once=7))
    # Trials end 7 at a time, over 29 ticks: a line per tenth of them done.
    done = [int(n) for n in re.findall(r" tune: (\d+)/200 done", stream.getvalue())]
    assert [n * 10 // 200 for n in done] == list(range(1, 10))


def test_the_summary_counts_trials_and_lists_a_failed_groups_failed_trials_up_to_a_bound(project, backend):
    backend.fail["tune"] = 1
    n = MAX_SUMMARY_ROWS + 5
    run = ticks(start(project, mapping(n)), backend)
    lines = Watcher(run, backend, io.StringIO(), live=False).summary(run)
    rows = table("\n".join(lines), "OP ")
    assert list(rows) == ["tune", "after"]
    assert rows["tune"].endswith(f" {n} trials: {n} failed")
    assert rows["after"].split()[1] == "upstream_failed"
    start_at = lines.index(f"tune failed: 0 of {n} trial(s) succeeded")
    assert lines[start_at + 1].split() == ["TRIAL", "STATUS", "ATTEMPT", "DURATION", "PARAMS",
                                           "METRICS", "/", "OUTPUTS", "/", "MESSAGE"]
    trial_rows = lines[start_at + 2:start_at + 2 + MAX_SUMMARY_ROWS]
    assert [row.split()[:2] for row in trial_rows] == [[str(i), "failed"] for i in range(MAX_SUMMARY_ROWS)]
    assert trial_rows[0].split()[3:] == ["lr=0.0", "failed:", "scripted", "failure"]
    assert lines[start_at + 2 + MAX_SUMMARY_ROWS] == (
        f"  … and 5 more failed trials: `polyflow runs show {run.uuid} --trials`")
    # The first failed trial's log lines, as for a failed op.
    at = lines.index("tune[0] failed (attempt 1): scripted failure")
    assert lines[at + 1:at + 3] == ["  last 1 log line:", "    tune attempt 1"]
    assert not any(line.startswith("tune[1] failed") for line in lines)
