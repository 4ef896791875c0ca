"""Matrix ops over simulated time on PostgreSQL, with the instant backend (DESIGN section 9):
trials, their concurrency, the group's status and outputs, early stopping, stop and retry."""

import datetime as dt

from polyflow.models import OperationRun
from polyflow.scheduler.tick import tick
from polyflow.services.runs import retry_run, stop_run, trigger_run

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FINAL = ("succeeded", "failed", "stopped")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def pipeline_yaml(ops: str, head: str = "") -> str:
    return f"""\
version: 1
kind: pipeline
name: p
{head}ops:
{ops}templates:
  - kind: job
    name: train
    inputs: [{{name: lr, type: float}}, {{name: depth, type: int, default: 1}}]
    outputs: [{{name: accuracy, type: float}}]
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
  - kind: job
    name: use
    inputs: [{{name: value, type: any}}]
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
  - kind: job
    name: shards
    outputs: [{{name: shards, type: list}}]
    container: {{image: 'python:3.11', command: [python, -c, pass]}}
"""


GRID = """\
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      concurrency: 2
      params:
        lr: {kind: choice, value: [0.1, 0.2, 0.3]}
        depth: {kind: choice, value: [2, 4, 8]}
      metric: {name: accuracy, optimization: maximize}
"""


def accuracy(submission):
    return {"accuracy": round(submission.params["lr"] * submission.params["depth"], 6)}


def trials(run):
    return list(run.op_runs.filter(trial__isnull=False).order_by("trial"))


def group(run, name="tune"):
    return run.op_runs.get(name=name, trial__isnull=True)


def run_to_end(run, backend, start=0, limit=60, each=None):
    for second in range(start, start + limit):
        tick(at(second), backend)
        if each:
            each()
        run.refresh_from_db()
        if run.status in FINAL:
            return run
    raise AssertionError(f"run still {run.status}")


def test_a_grid_runs_each_trial_once_within_its_concurrency_and_feeds_the_best_params(apply, backend):
    pipeline = apply(pipeline_yaml(GRID + """\
  - {name: report, template: {name: use}, params: {value: '{{ ops.tune.best.params.lr }}'}}
  - {name: all, template: {name: use}, params: {value: '{{ ops.tune.outputs.accuracy }}'}}
"""))
    backend.outputs["tune"] = accuracy
    backend.hold.add("tune")
    run = trigger_run(pipeline)
    most = []

    def watch():
        most.append(OperationRun.objects.filter(run=run, trial__isnull=False,
                                                status__in=("scheduled", "starting", "running")).count())
        # Let one held trial finish per tick: trials then overlap as they would.
        held = OperationRun.objects.filter(run=run, trial__isnull=False, status="running").order_by("trial").first()
        if held is not None:
            backend.release(f"tune[{held.trial}]")
            backend.hold.discard("tune")
            backend.hold.update(f"tune[{i}]" for i in range(9) if i != held.trial and f"tune[{i}]" not in
                                backend.finished_at)

    run_to_end(run, backend, each=watch)
    assert run.status == "succeeded"
    assert max(most) == 2
    params = [t.trial_params for t in trials(run)]
    assert params == [{"lr": lr, "depth": depth} for lr in (0.1, 0.2, 0.3) for depth in (2, 4, 8)]
    assert backend.count("tune") == 9
    tune = group(run)
    assert tune.status == "succeeded"
    assert tune.summary["best"]["trial"] == 8
    assert tune.summary["best"]["params"] == {"lr": 0.3, "depth": 8}
    assert tune.outputs["accuracy"] == [0.2, 0.4, 0.8, 0.4, 0.8, 1.6, 0.6, 1.2, 2.4]
    submitted = {s.op: s for s in backend.submissions}
    assert submitted["report"].params["value"] == 0.3
    assert submitted["all"].params["value"] == tune.outputs["accuracy"]
    # Each trial got its own values, over the op's own params.
    trial_params = sorted((s.trial, s.params["lr"], s.params["depth"]) for s in backend.submissions if s.op == "tune")
    assert trial_params[4] == (4, 0.2, 4)


def test_a_metric_threshold_stops_the_group_early(apply, backend):
    pipeline = apply(pipeline_yaml(GRID.replace("concurrency: 2", "concurrency: 1") + """\
      early_stopping:
        - {kind: metric_early_stopping, metric: accuracy, value: 0.8, optimization: maximize}
  - {name: report, template: {name: use}, params: {value: '{{ ops.tune.best.outputs.accuracy }}'}}
"""))
    backend.outputs["tune"] = accuracy
    run = run_to_end(trigger_run(pipeline), backend)
    assert run.status == "succeeded"
    statuses = [(t.trial, t.status, t.reason) for t in trials(run)]
    # Trials 0-2 give 0.2, 0.4, 0.8: the third meets the threshold, the rest never start.
    assert statuses[:3] == [(0, "succeeded", ""), (1, "succeeded", ""), (2, "succeeded", "")]
    assert all((status, reason) == ("skipped", "early_stopping") for _, status, reason in statuses[3:])
    assert "metric_early_stopping" in trials(run)[3].message
    tune = group(run)
    assert (tune.status, tune.reason) == ("succeeded", "early_stopping")
    assert "metric_early_stopping" in tune.summary["early_stopping"]
    assert backend.count("tune") == 3
    assert {s.op: s for s in backend.submissions}["report"].params["value"] == 0.8


def test_a_mapping_over_an_upstream_list_runs_one_trial_per_item(apply, backend):
    pipeline = apply(pipeline_yaml("""\
  - {name: list-shards, template: {name: shards}}
  - name: tune
    template: {name: train}
    matrix: {kind: mapping, values: '{{ ops.list-shards.outputs.shards }}'}
"""))
    backend.outputs["list-shards"] = {"shards": [{"lr": 0.1 * i} for i in range(1, 6)]}
    run = run_to_end(trigger_run(pipeline), backend)
    assert run.status == "succeeded"
    assert [t.trial_params for t in trials(run)] == [{"lr": 0.1 * i} for i in range(1, 6)]
    assert backend.count("tune") == 5


def test_a_mapping_over_values_that_are_no_param_sets_fails_the_group_saying_why(apply, backend):
    pipeline = apply(pipeline_yaml("""\
  - {name: list-shards, template: {name: shards}}
  - name: tune
    template: {name: train}
    matrix: {kind: mapping, values: '{{ ops.list-shards.outputs.shards }}'}
"""))
    backend.outputs["list-shards"] = {"shards": ["a", "b"]}
    run = run_to_end(trigger_run(pipeline), backend)
    tune = group(run)
    assert (run.status, tune.status, tune.reason) == ("failed", "failed", "invalid_matrix")
    assert "item 0" in tune.message
    assert trials(run) == []


def test_one_failing_trial_does_not_fail_a_search_but_fails_a_mapping(apply, backend):
    search = apply(pipeline_yaml(GRID))
    backend.outputs["tune"] = accuracy
    backend.fail["tune[4]"] = 1
    run = run_to_end(trigger_run(search), backend)
    assert (run.status, group(run).status) == ("succeeded", "succeeded")
    assert group(run).summary["counts"] == {"succeeded": 8, "failed": 1}
    assert group(run).outputs["accuracy"][4] is None

    mapping = apply(pipeline_yaml("""\
  - name: tune
    template: {name: train}
    matrix: {kind: mapping, values: [{lr: 0.1}, {lr: 0.2}, {lr: 0.3}]}
  - {name: after, template: {name: use}, params: {value: 1}, dependencies: [tune]}
""").replace("name: p", "name: q"))
    backend.fail["tune[1]"] = 1
    run = run_to_end(trigger_run(mapping), backend)
    assert (run.status, group(run).status) == ("failed", "failed")
    assert run.op_runs.get(name="after").status == "upstream_failed"

    # A retry of the run runs again only the failed trial.
    before = backend.count("tune")
    retry_run(run)
    run = run_to_end(run, backend, start=100)
    assert run.status == "succeeded"
    assert backend.count("tune") == before + 1
    assert [(t.trial, t.attempt) for t in trials(run)] == [(0, 1), (1, 2), (2, 1)]


def test_trials_retry_and_time_out_like_op_runs(apply, backend):
    pipeline = apply(pipeline_yaml("""\
  - name: tune
    template: {name: train}
    max_retries: 1
    retry_delay: 5
    timeout: 30
    matrix: {kind: mapping, values: [{lr: 0.1}, {lr: 0.2}]}
"""))
    backend.fail["tune[0]"] = 1
    backend.hold.add("tune[1]")
    run = trigger_run(pipeline)
    tick(at(0), backend)
    first, second = trials(run)
    assert (first.status, first.attempt) == ("retrying", 1)
    assert second.status == "running"
    tick(at(5), backend)
    tick(at(6), backend)
    first.refresh_from_db()
    assert (first.status, first.attempt) == ("succeeded", 2)
    # Trial 1 runs past its timeout (and the scheduler's grace): failed, retried, held again.
    tick(at(45), backend)
    second.refresh_from_db()
    assert (second.status, second.reason) == ("retrying", "timeout")


def test_stopping_a_run_stops_its_trials_and_ends_the_group_stopped(apply, backend):
    pipeline = apply(pipeline_yaml(GRID))
    backend.hold.add("tune")
    run = trigger_run(pipeline)
    tick(at(0), backend)
    assert [t.status for t in trials(run)].count("running") == 2
    stop_run(run)
    run = run_to_end(run, backend, start=1)
    assert run.status == "stopped"
    assert group(run).status == "stopped"
    assert {t.status for t in trials(run)} == {"stopped"}
    assert len(backend.stopped) == 2


def test_a_run_timeout_stops_a_group(apply, backend):
    pipeline = apply(pipeline_yaml(GRID, head="timeout: 60\n"))
    backend.hold.add("tune")
    run = trigger_run(pipeline, now=at(0))
    tick(at(0), backend)
    run = run_to_end(run, backend, start=61)
    assert (run.status, run.reason) == ("failed", "timeout")
    assert group(run).status == "stopped"


def test_a_random_search_with_a_seed_draws_the_same_trials_in_every_run(apply, backend):
    pipeline = apply(pipeline_yaml("""\
  - name: tune
    template: {name: train}
    matrix:
      kind: random
      num_runs: 6
      seed: 7
      params:
        lr: {kind: uniform, value: [0.001, 0.1]}
        depth: {kind: choice, value: [2, 4, 8]}
"""))
    first = run_to_end(trigger_run(pipeline), backend)
    second = run_to_end(trigger_run(pipeline), backend, start=100)
    draws = [t.trial_params for t in trials(first)]
    assert len(draws) == 6
    assert draws == [t.trial_params for t in trials(second)]
    assert all(0.001 <= d["lr"] <= 0.1 and d["depth"] in (2, 4, 8) for d in draws)


def test_failures_stop_a_search_early(apply, backend):
    pipeline = apply(pipeline_yaml(GRID.replace("concurrency: 2", "concurrency: 1") + """\
      early_stopping:
        - {kind: failure_early_stopping, percent: 20}
"""))
    backend.fail["tune"] = 1  # every trial fails
    run = run_to_end(trigger_run(pipeline), backend)
    statuses = [t.status for t in trials(run)]
    # 2 failed of 9 is 22% >= 20%: the rest are skipped.
    assert statuses[:2] == ["failed", "failed"]
    assert set(statuses[2:]) == {"skipped"}
    assert (run.status, group(run).status, group(run).reason) == ("failed", "failed", "early_stopping")


def test_a_mapping_over_more_items_than_max_trials_fails_the_group(apply, backend, settings):
    settings.POLYFLOW = {**settings.POLYFLOW, "MAX_TRIALS": 3}
    pipeline = apply(pipeline_yaml("""\
  - {name: list-shards, template: {name: shards}}
  - name: tune
    template: {name: train}
    matrix: {kind: mapping, values: '{{ ops.list-shards.outputs.shards }}'}
"""))
    backend.outputs["list-shards"] = {"shards": [{"lr": 0.1}] * 4}
    run = run_to_end(trigger_run(pipeline), backend)
    tune = group(run)
    assert (tune.status, tune.reason) == ("failed", "invalid_matrix")
    assert "4 trials, above the limit of 3" in tune.message
