"""A grid on the Kubernetes backend, over HTTP against the API simulator: one pod per trial,
named and labelled for its trial, the trials' metrics read from their pods' logs, and the
best trial's params fed downstream (DESIGN section 9)."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from polyflow.models import MetricPoint
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run

from .conftest import NAMESPACE

NOW = dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=dt.UTC)
SCORE = "$(( {{ params.depth }} * {{ params.width }} * %d ))"
REPORT = (f'echo "polyflow:metrics {{\\"step\\": 1, \\"accuracy\\": {SCORE % 10}}}"; sleep 0.2; '
          f'echo "polyflow:metrics {{\\"step\\": 2, \\"accuracy\\": {SCORE % 11}}}"')
PIPELINE = f"""\
version: 1
kind: pipeline
name: kgrid
ops:
  - name: tune
    template: {{name: train}}
    matrix:
      kind: grid
      concurrency: 2
      params:
        depth: {{kind: choice, value: [2, 4, 8]}}
        width: {{kind: choice, value: [1, 2, 3]}}
      metric: {{name: accuracy, optimization: maximize}}
  - {{name: report, template: {{name: use}}, params: {{value: '{{{{ ops.tune.best.params.depth }}}}'}}}}
templates:
  - kind: experiment
    name: train
    inputs: [{{name: depth, type: int}}, {{name: width, type: int}}]
    container: {{image: busybox, command: [sh, -c, '{REPORT}']}}
  - kind: job
    name: use
    inputs: [{{name: value, type: int}}]
    container: {{image: busybox, command: [sh, -c, 'echo best {{{{ params.value }}}}']}}
"""


def test_a_grid_runs_one_pod_per_trial_and_ranks_them_on_the_metrics_their_pods_report(project, backend, sim):
    pipeline = apply_text(project, PIPELINE).pipelines[0][0]
    run = trigger_run(pipeline)
    deadline = time.monotonic() + 60
    most = 0
    while True:
        tick(NOW, backend)
        running = [p for p in sim.pods(NAMESPACE) if p["metadata"]["labels"].get("polyflow.dev/op") == "tune"
                   and p.get("status", {}).get("phase") in ("Pending", "Running")]
        most = max(most, len(running))
        run.refresh_from_db()
        if run.status in ("succeeded", "failed", "stopped"):
            break
        assert time.monotonic() < deadline, list(run.op_runs.values_list("name", "trial", "status", "message"))
        time.sleep(0.05)
    assert run.status == "succeeded"
    created = [r["name"] for r in sim.requests if r["verb"] == "create" and r["status"] == 201]
    trial_pods = sorted(name for name in created if "-tune-t" in name)
    # One pod per trial, never two for one, each labelled with its trial.
    assert len(trial_pods) == 9 and Counter(created).most_common(1)[0][1] == 1
    labels = {pod["metadata"]["name"]: pod["metadata"]["labels"] for pod in sim.pods(NAMESPACE)}
    assert sorted((labels[name]["polyflow.dev/trial"] for name in trial_pods), key=int) == [str(i) for i in range(9)]
    assert most <= 2
    trials = list(run.op_runs.filter(trial__isnull=False).order_by("trial"))
    assert [t.metrics.get("accuracy") for t in trials] == [d * w * 11 for d in (2, 4, 8) for w in (1, 2, 3)]
    assert MetricPoint.objects.filter(op_run__in=trials, name="accuracy").count() == 18
    group = run.op_runs.get(name="tune", trial__isnull=True)
    assert group.summary["best"]["trial"] == 8
    assert group.summary["best"]["params"] == {"depth": 8, "width": 3}
    assert run.op_runs.get(name="report").params["value"] == 8
