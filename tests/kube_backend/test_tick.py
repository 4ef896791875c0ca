"""End to end on the Kubernetes API simulator: applied pipelines (PostgreSQL) run by
scheduler ticks with the Kubernetes backend, through the official client. Every
run ends as DESIGN says, with no duplicate pod and no lost op run, checked on
the simulator's record of requests."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from django.db import transaction

from polyflow.backends.base import PENDING
from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.backends.naming import attempt_key
from polyflow.models import Build, OperationRun, OperationRunStatus, PipelineRun
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import stop_run, trigger_run

from .conftest import NAMESPACE, REGISTRY
from .support import SEED, SEED_ACTION

NOW = dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=dt.UTC)
DIGEST = "sha256:" + "ab" * 32
SELECTOR = "app.kubernetes.io/managed-by=polyflow"


@pytest.fixture
def backend(kube_settings):
    return KubernetesBackend(backoff=0.01, request_timeout=1)


def settle(now, backend, run, deadline=30.0):
    """Tick at a fixed (simulated) time until the run is final; pods run in real time."""
    end = time.monotonic() + deadline
    while True:
        report = tick(now, backend)
        run.refresh_from_db()
        if run.status in ("succeeded", "failed", "stopped"):
            return report
        if time.monotonic() > end:
            states = list(run.op_runs.values_list("name", "status", "attempt", "handle"))
            raise AssertionError(f"run still {run.status} after {deadline} s: {states}")
        time.sleep(0.03)


def created(sim) -> list[str]:
    """Pods created (201), in order."""
    return [r["name"] for r in sim.requests if r["verb"] == "create" and r["status"] == 201]


def assert_no_duplicate_pod(sim):
    counts = Counter(created(sim))
    assert all(n == 1 for n in counts.values()), counts


def op_run(run, name) -> OperationRun:
    return run.op_runs.get(name=name)


def history(op) -> list[tuple[str, str, int]]:
    return [(s.status, s.reason, s.attempt) for s in OperationRunStatus.objects.filter(op_run=op).order_by("id")]


def apply_seed(project):
    apply_text(project, SEED_ACTION.read_text())
    return apply_text(project, SEED.read_text()).pipelines[0][0]


def key(run, op, attempt=1):
    return attempt_key(run.plan["name"], op, str(run.uuid), attempt)


# -- the seed example ----------------------------------------------------------------------

def test_seed_example_builds_then_runs_job1_then_the_experiment(project, backend, sim):
    sim.inject("outcome", name="build-*", result="succeed", message=DIGEST, duration=0.3)
    sim.inject("outcome", name="test-pipeline-deep-wide-experiment-*", result="succeed",
               message='{"accuracy": 0.93}')
    pipeline = apply_seed(project)

    tick(NOW, backend)  # the run of the latest slot, job1 submitted: its image is built first
    run = pipeline.runs.get()
    job1_key = key(run, "job1")
    build = Build.objects.get()
    assert build.status == "building" and build.pod.startswith("build-test-pipeline-job-template-")
    assert created(sim) == [build.pod]
    assert backend.sync([job1_key])[job1_key].state == PENDING
    assert backend.sync([job1_key])[job1_key].message.startswith(f"building image {build.image}")
    assert backend.logs(job1_key)[0] == f"polyflow: building image {build.image} (pod {build.pod})"

    settle(NOW, backend, run)
    assert run.status == "succeeded"
    build.refresh_from_db()
    assert (build.status, build.digest) == ("succeeded", DIGEST)
    experiment_key = key(run, "deep-wide-experiment")
    assert created(sim) == [build.pod, job1_key, experiment_key]  # the build first, then job1, then the experiment
    assert_no_duplicate_pod(sim)

    job1_pod = sim.pod(job1_key, NAMESPACE)
    assert job1_pod["spec"]["nodeSelector"] == {"polyaxon": "experiments"}
    assert job1_pod["spec"]["serviceAccountName"] == "my-service"
    (main,) = job1_pod["spec"]["containers"]
    assert main["envFrom"] == [{"secretRef": {"name": "s3-secret"}}]
    assert main["image"] == f"{REGISTRY}/test-pipeline-job-template:{build.hash}@{DIGEST}"
    build_pod = sim.pod(build.pod, NAMESPACE)
    assert f"--destination={build.image}" in build_pod["spec"]["containers"][0]["args"]

    # The experiment started only after job1 succeeded.
    job1, experiment = op_run(run, "job1"), op_run(run, "deep-wide-experiment")
    job1_done = OperationRunStatus.objects.get(op_run=job1, status="succeeded")
    experiment_scheduled = OperationRunStatus.objects.get(op_run=experiment, status="scheduled")
    assert job1_done.pk < experiment_scheduled.pk
    assert (sim.pod(experiment_key, NAMESPACE)["metadata"]["creationTimestamp"]
            >= job1_pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"])
    assert experiment.outputs == {"accuracy": 0.93}
    assert sim.pod(experiment_key, NAMESPACE)["spec"]["containers"][0]["args"] == [
        "--lr=0.05", "--epochs=5", f"--run={run.uuid}"]
    assert backend.logs(job1_key)  # archived when it ended
    assert (backend.logs_dir / f"{job1_key}.log").exists()

    # The next slot's run reuses the image: no second kaniko pod.
    second_now = NOW + dt.timedelta(seconds=120)
    tick(second_now, backend)
    second = pipeline.runs.exclude(pk=run.pk).get()
    settle(second_now, backend, second)
    assert second.status == "succeeded"
    builds = [name for name in created(sim) if name.startswith("build-")]
    assert builds == [build.pod]
    assert sim.pod(key(second, "job1"), NAMESPACE)["spec"]["containers"][0]["image"] == main["image"]
    assert Build.objects.count() == 1
    assert_no_duplicate_pod(sim)


def test_a_failed_build_fails_the_attempt_and_the_retry_builds_again(project, backend, sim):
    sim.inject("outcome", name="build-*-1", result="fail", exit_code=1,
               message="error building image: Dockerfile not found", log="kaniko: no Dockerfile\n")
    sim.inject("outcome", name="test-pipeline-deep-wide-experiment-*", result="succeed")
    pipeline = apply_seed(project)
    tick(NOW, backend)
    run = pipeline.runs.get()
    end = time.monotonic() + 20
    while op_run(run, "job1").status != "retrying":
        assert time.monotonic() < end
        tick(NOW, backend)
        time.sleep(0.03)
    job1 = op_run(run, "job1")
    assert job1.reason == "Error"
    assert "image build of" in job1.message and "Dockerfile not found" in job1.message
    assert backend.logs(key(run, "job1"))[-1] == "kaniko: no Dockerfile"
    build = Build.objects.get()
    assert (build.status, build.reason) == ("failed", "Error")

    later = NOW + dt.timedelta(seconds=61)  # retry_delay
    settle(later, backend, run)
    assert run.status == "succeeded"
    assert op_run(run, "job1").attempt == 2
    assert [name for name in created(sim) if name.startswith("build-")] == [
        build.pod, build.pod[:-1] + "2"]
    assert_no_duplicate_pod(sim)


# -- faults --------------------------------------------------------------------------------

CHAIN = """
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: ok}}
  - {name: b, template: {name: ok}, dependencies: [a]}
templates:
  - {kind: job, name: ok, container: {image: busybox, command: ['true']}}
"""


def test_api_5xx_and_429_bursts(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("error", status=503, count=4, verbs=["create"])  # longer than a submit's three tries
    sim.inject("throttle", count=2, verbs=["list"], retry_after=0)
    sim.inject("error", status=500, count=3, verbs=["list"], skip=3)  # one whole sync fails
    sim.inject("error", status=429, count=2, verbs=["create"])  # fires once the 503s are spent
    first = tick(NOW, backend)
    assert any("will submit again" in line for line in first.errors)
    a = op_run(run, "a")
    assert (a.status, a.handle) == ("scheduled", "")  # not lost: submitted again by the next tick
    settle(NOW, backend, run)
    assert run.status == "succeeded"
    assert [(o.name, o.status, o.attempt) for o in run.op_runs.order_by("name")] == [
        ("a", "succeeded", 1), ("b", "succeeded", 1)]
    assert created(sim) == [key(run, "a"), key(run, "b")]
    statuses = Counter((r["verb"], r["status"]) for r in sim.requests)
    assert statuses[("create", 503)] == 4 and statuses[("create", 429)] == 2
    assert statuses[("list", 429)] == 2 and statuses[("list", 500)] == 3
    assert_no_duplicate_pod(sim)


def test_a_scheduler_killed_between_creating_a_pod_and_recording_it(project, backend, sim):
    # `a` runs for a second: long enough that the killed tick never sees it end and goes on to `b`.
    pipeline = apply_text(project, CHAIN.replace("{name: a, template: {name: ok}}",
                                                 "{name: a, template: {name: slow}}")
                          + "  - {kind: job, name: slow, container: {image: busybox, command: [sleep, '1']}}\n"
                          ).pipelines[0][0]
    run = trigger_run(pipeline)

    class Killed(Exception):
        pass

    with pytest.raises(Killed), transaction.atomic():
        tick(NOW, backend)
        raise Killed  # the worker dies before its transaction commits
    a_key = key(run, "a")
    assert created(sim) == [a_key]
    assert op_run(run, "a").status == "created" and op_run(run, "a").handle == ""
    report = backend.reconcile(force=True)
    assert report.unrecorded == [a_key] and not report.orphans

    settle(NOW, backend, run)
    assert run.status == "succeeded"
    assert op_run(run, "a").handle == a_key and op_run(run, "a").attempt == 1
    assert [(r["name"], r["status"]) for r in sim.requests if r["verb"] == "create" and r["name"] == a_key] == [
        (a_key, 201), (a_key, 409)]  # submitted again: the pod was adopted, not duplicated
    assert created(sim) == [a_key, key(run, "b")]


def test_reconcile_adopts_a_pod_whose_create_answer_was_lost(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="chain-a-*", result="hang")
    # Every try of the create times out; the first went through all the same.
    sim.inject("delay", delay=1.3, count=3, verbs=["create"])
    report = tick(NOW, backend)
    assert any("will submit again" in line for line in report.errors)
    a_key = key(run, "a")
    assert (op_run(run, "a").status, op_run(run, "a").handle) == ("scheduled", "")
    sim.wait_for_pod(a_key, NAMESPACE, phases=("Running",))

    report = backend.reconcile(force=True)
    assert report.adopted == [a_key]
    assert op_run(run, "a").handle == a_key
    tick(NOW, backend)
    assert op_run(run, "a").status == "running"
    assert created(sim) == [a_key]
    assert backend.reconcile(force=True).adopted == []


def gone(sim, name, timeout=10.0):
    deadline = time.monotonic() + timeout
    while sim.pod(name, NAMESPACE) is not None:
        assert time.monotonic() < deadline, f"pod {name} still there after {timeout} s"
        time.sleep(0.02)


def test_stopping_a_run_whose_create_answer_was_lost_deletes_the_pod(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="chain-a-*", result="hang")
    sim.inject("delay", delay=1.3, count=3, verbs=["create"])  # the pod is made; no answer comes
    tick(NOW, backend)
    a_key = key(run, "a")
    assert (op_run(run, "a").status, op_run(run, "a").handle) == ("scheduled", "")
    sim.wait_for_pod(a_key, NAMESPACE, phases=("Running",))
    stop_run(run)
    settle(NOW, backend, run)
    assert (run.status, op_run(run, "a").status) == ("stopped", "stopped")
    assert [r["name"] for r in sim.requests if r["verb"] == "delete"] == [a_key]
    gone(sim, a_key)


def test_reconcile_deletes_the_pods_of_op_runs_that_ended(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="chain-a-*", result="hang")
    tick(NOW, backend)
    a_key = key(run, "a")
    sim.wait_for_pod(a_key, NAMESPACE, phases=("Running",))
    # Stopped behind the scheduler's back (a stop whose delete never reached the cluster).
    OperationRun.objects.filter(run=run, name="a").update(status="stopped")
    report = backend.reconcile(force=True)
    assert report.stray == [a_key]
    assert [r["name"] for r in sim.requests if r["verb"] == "delete"] == [a_key]
    gone(sim, a_key)


def test_a_pod_that_never_starts_fails_its_op_at_its_timeout_saying_why(project, backend, sim):
    pipeline = apply_text(project, """\
version: 1
kind: pipeline
name: stuck
ops:
  - {name: a, template: {name: ok}, timeout: 5}
templates:
  - {kind: job, name: ok, container: {image: busybox, command: ['true']}}
""").pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="stuck-a-*", result="pending")
    a_key = key(run, "a")
    deadline = time.monotonic() + 10
    while op_run(run, "a").handle != a_key:  # a slow API server may leave the submit for the next tick
        assert time.monotonic() < deadline, "the pod was never recorded"
        tick(NOW, backend)

    def unschedulable():
        conditions = ((sim.pod(a_key, NAMESPACE) or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)

    while not unschedulable():  # the scheduler's verdict on the pod, as a cluster would give it
        assert time.monotonic() < deadline, "the pod was never marked unschedulable"
        time.sleep(0.02)
    tick(NOW + dt.timedelta(seconds=14), backend)  # within the timeout and the scheduler's grace
    assert op_run(run, "a").status == "scheduled"
    tick(NOW + dt.timedelta(seconds=16), backend)
    a = op_run(run, "a")
    assert (a.status, a.reason) == ("failed", "timeout")
    assert a.message.startswith("the attempt did not start within its timeout of 5 s: Unschedulable:")
    assert a_key in [r["name"] for r in sim.requests if r["verb"] == "delete"]


def test_reconcile_reports_orphans_and_lost_pods(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="*", result="hang")
    tick(NOW, backend)
    a_key = key(run, "a")
    sim.wait_for_pod(a_key, NAMESPACE, phases=("Running",))
    PipelineRun.objects.create(pipeline=pipeline, plan=pipeline.plan)  # a run with no op runs
    orphan = KubernetesBackend().client.create_pod({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "chain-a-00000000-1", "labels": {
            "app.kubernetes.io/managed-by": "polyflow", "polyflow.dev/run": "00000000-0000-0000-0000-000000000000",
            "polyflow.dev/op": "a", "polyflow.dev/attempt": "1"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
    })
    assert orphan
    sim.inject("vanish", name=a_key)
    report = backend.reconcile(force=True)
    assert report.orphans == ["chain-a-00000000-1"]
    assert report.lost == [a_key]
    tick(NOW, backend)  # the sync of the tick fails the attempt: its pod is gone
    a = op_run(run, "a")
    assert (a.status, a.reason) == ("failed", "lost")


def test_the_tick_reconciles_when_a_scheduler_starts_then_every_interval(project, backend, sim):
    pipeline = apply_text(project, CHAIN).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="chain-*", result="hang")

    def verbs():
        # Metrics are read from each running pod's log (docs/metrics.md): not what this counts.
        found = [r["verb"] if r["resource"] == "pods" else f'{r["verb"]} {r["resource"]}'
                 for r in sim.requests if r["verb"] != "log"]
        sim.reset_requests()
        return found

    tick(NOW, backend)
    # The first tick of this process reconciles (pods, then the workspace claims of ended runs),
    # then submits.
    assert verbs() == ["list", "list persistentvolumeclaims", "create", "list"]
    sim.wait_for_pod(key(run, "a"), NAMESPACE, phases=("Running",))
    report = tick(NOW, backend)
    assert verbs() == ["list"] * report.passes  # its syncs only: not due before RECONCILE_INTERVAL
    backend.reconcile_interval = 0
    report = tick(NOW, backend)
    assert verbs() == ["list", "list persistentvolumeclaims"] + ["list"] * report.passes


PATIENT = """
version: 1
kind: pipeline
name: patient
ops:
  - {name: a, template: {name: t}, max_retries: 1, retry_delay: 0}
templates:
  - {kind: job, name: t, container: {image: busybox, command: [sleep, '30']}}
"""


def test_a_pod_deleted_behind_polyflows_back_fails_the_attempt_and_the_retry_runs(project, backend, sim):
    pipeline = apply_text(project, PATIENT).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="patient-a-*-2", result="succeed")
    first_key = key(run, "a")
    end = time.monotonic() + 10
    while op_run(run, "a").status != "running":
        assert time.monotonic() < end
        tick(NOW, backend)
        time.sleep(0.03)
    sim.inject("vanish", name=first_key)
    settle(NOW, backend, run)
    assert run.status == "succeeded"
    a = op_run(run, "a")
    assert (a.status, a.attempt, a.handle) == ("succeeded", 2, key(run, "a", 2))
    assert ("retrying", "lost", 1) in history(a)
    assert created(sim) == [first_key, key(run, "a", 2)]
    assert_no_duplicate_pod(sim)


OOM = """
version: 1
kind: pipeline
name: hungry
ops:
  - {name: a, template: {name: t}, retry_delay: 0}
  - {name: b, template: {name: t}, dependencies: [a]}
templates:
  - kind: job
    name: t
    container: {image: busybox, command: ['true']}
    environment: {max_restarts: 2, resources: {memory: {limits: 64Mi}}}
"""


def test_an_oomkilled_pod_with_max_restarts_2_is_tried_three_times(project, backend, sim):
    pipeline = apply_text(project, OOM).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="hungry-a-*", result="oom")
    settle(NOW, backend, run)
    assert run.status == "failed"
    a, b = op_run(run, "a"), op_run(run, "b")
    assert (a.status, a.reason, a.attempt, a.exit_code) == ("failed", "OOMKilled", 3, 137)
    assert [(s, r) for s, r, _ in history(a) if s == "retrying"] == [("retrying", "OOMKilled")] * 2
    assert b.status == "upstream_failed"
    assert created(sim) == [key(run, "a", n) for n in (1, 2, 3)]
    assert_no_duplicate_pod(sim)


def many(n: int) -> str:
    ops = "".join(f"  - {{name: op{i}, template: {{name: t}}}}\n" for i in range(n))
    return (f"version: 1\nkind: pipeline\nname: many{n}\nops:\n{ops}templates:\n"
            "  - {kind: job, name: t, container: {image: busybox, command: ['true']}}\n")


def test_requests_per_tick_do_not_grow_with_running_pods(project, backend, sim):
    sim.inject("outcome", name="many*", result="hang")
    per_tick = {}
    for n in (5, 50):
        pipeline = apply_text(project, many(n)).pipelines[0][0]
        run = trigger_run(pipeline)
        end = time.monotonic() + 20
        while run.op_runs.filter(status="running").count() < n:
            assert time.monotonic() < end
            tick(NOW, backend)
            time.sleep(0.05)
        sim.reset_requests()
        report = tick(NOW, backend)
        # Log reads (metrics, at most one per running pod and second) are counted apart.
        per_tick[n] = [(r["verb"], r["query"].get("labelSelector")) for r in sim.requests if r["verb"] != "log"]
        # One label-selected LIST per sync, one sync per round of the tick (the second round
        # checks whether what was just submitted finished): nothing per pod.
        assert per_tick[n] == [("list", SELECTOR)] * report.passes
    assert PipelineRun.objects.filter(status="running").count() == 2
    assert per_tick[5] == per_tick[50]


DIVERGED = r"""
version: 1
kind: pipeline
name: diverged
ops:
  - {name: nan, template: {name: t}}
  - {name: fine, template: {name: t}}
templates:
  - kind: job
    name: t
    outputs: [{name: loss, type: float}]
    container: {image: busybox, command: ['true']}
"""


def test_outputs_the_database_cannot_store_fail_that_op_alone(project, backend, sim):
    """The backend passes the termination message on as written; the scheduler's parser refuses
    NaN (Python's json would take it, PostgreSQL's jsonb would not)."""
    pipeline = apply_text(project, DIVERGED).pipelines[0][0]
    run = trigger_run(pipeline)
    sim.inject("outcome", name="diverged-nan-*", result="succeed", message='{"loss": NaN}')
    sim.inject("outcome", name="diverged-fine-*", result="succeed", message='{"loss": 0.25}')
    settle(NOW, backend, run)
    nan, fine = op_run(run, "nan"), op_run(run, "fine")
    assert (nan.status, nan.reason, nan.outputs) == ("failed", "invalid_outputs", {})
    assert "not a JSON number" in nan.message
    assert (fine.status, fine.outputs) == ("succeeded", {"loss": 0.25})
    assert run.status == "failed" and not run.scheduler_error
