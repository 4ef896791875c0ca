"""The Kubernetes backend against the API simulator, through the official client:
submit, sync, stop, logs, clean-up, retries of API errors (no mocks of Polyflow)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from polyflow.backends import get_backend
from polyflow.backends.base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, SubmitError
from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.scheduler.outcomes import outcome_of
from polyflow.scheduler.outputs import decode
from tests.backends.support import submission

from .conftest import NAMESPACE
from .support import plan_of

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
OP = plan_of("""
version: 1
kind: pipeline
name: pipe
ops: [{name: op, template: {name: t}}]
templates: [{kind: job, name: t, container: {image: busybox, command: ['true']}}]
""").op("op")


def creates(sim, name):
    """The status of every create of pod `name` (a create a fault answered may name no pod)."""
    found = [r for r in sim.requests if r["verb"] == "create"]
    assert {r["name"] for r in found} <= {name, None}
    return [r["status"] for r in found]


def sync_until(backend, handle, states=(SUCCEEDED, FAILED, LOST), timeout=15.0):
    end = time.monotonic() + timeout
    while True:
        observation = backend.sync([handle]).get(handle)
        if observation is not None and observation.state in states:
            return observation
        if time.monotonic() > end:
            raise AssertionError(f"{handle}: still {observation} after {timeout} s")
        time.sleep(0.05)


def test_get_backend_uses_the_settings(kube_settings, sim):
    backend = get_backend()
    assert isinstance(backend, KubernetesBackend)
    assert (backend.host, backend.namespace) == (sim.url, NAMESPACE)
    assert backend.describe_once() == f"backend: kubernetes (pods in namespace 'polyflow' of {sim.url})"


def test_a_command_runs_and_its_outputs_and_log_come_back(backend, sim, kube_settings):
    job = submission(command=["sh", "-c", 'echo "hello $POLYFLOW_PARAM_WHO"; '
                                          'printf \'{"n": 3}\' > "$POLYFLOW_OUTPUTS_FILE"'],
                     params={"who": "world"}, key="pipe-op-0f9e8d7c-1")
    assert backend.submit(job) == job.key
    observation = sync_until(backend, job.key)
    assert observation.state == SUCCEEDED, observation
    # As the op published it: the scheduler's parser reads it (scheduler/outputs.py).
    assert observation.exit_code == 0 and observation.outputs == '{"n": 3}'
    assert decode(observation.outputs).outputs == {"n": 3}
    assert observation.started_at and observation.finished_at
    assert backend.logs(job.key) == ["hello world"]
    # Archived when it ended: the log survives the pod.
    assert (backend.logs_dir / f"{job.key}.log").read_text() == "hello world\n"
    sim.inject("vanish", name=job.key)
    assert backend.logs(job.key) == ["hello world"]
    assert backend.logs(job.key, tail=1) == ["hello world"]


# Values as positional arguments, never inside the script: the shell does not read them again.
PARAM_PRINTER = ["sh", "-c", 'printf "%s|%s|%s|%s\\n" "$1" "$POLYFLOW_PARAM_BUCKET" "$2" "$3"', "sh",
                 "{{ params.bucket }}", "{{ params.money }}", "$(API_KEY)"]
HOSTILE = {"bucket": "key=$(API_KEY)", "money": "$$5"}


def test_param_values_reach_the_pod_as_they_are_not_expanded_by_kubernetes(backend, sim, tmp_path):
    """A value `key=$(API_KEY)` must not become the template's secret env value, and `$$` must
    not collapse to `$`; the template's own `$(API_KEY)` is expanded. The local backend gives
    the very same line (tests/backends/test_local.py)."""
    job = submission(command=PARAM_PRINTER, params=HOSTILE, env={"API_KEY": "s3cr3t"}, key="pipe-dollar-0f9e8d7c-1")
    backend.submit(job)
    assert sync_until(backend, job.key).state == SUCCEEDED
    assert backend.logs(job.key) == ["key=$(API_KEY)|key=$(API_KEY)|$$5|s3cr3t"]


# A value inside the script, quoted by the filter: one word, whatever it holds.
QUOTED_PRINTER = ["sh", "-c", "printf '%s\\n' {{ params.bucket | shell_quote }}"]
QUOTED = {"bucket": "s3://x; echo INJECTED $(API_KEY) $$5 'q' `id`"}


def test_a_quoted_param_is_one_word_of_the_script(backend, sim):
    job = submission(command=QUOTED_PRINTER, params=QUOTED, env={"API_KEY": "s3cr3t"}, key="pipe-quoted-0f9e8d7c-1")
    backend.submit(job)
    assert sync_until(backend, job.key).state == SUCCEEDED
    assert backend.logs(job.key) == [QUOTED["bucket"]]


def test_submit_twice_creates_one_pod(backend, sim):
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-2")
    assert backend.submit(job) == backend.submit(job) == job.key
    assert creates(sim, job.key) == [201, 409]
    assert [p["metadata"]["name"] for p in sim.pods(NAMESPACE)] == [job.key]


def test_5xx_and_429_bursts_are_retried(backend, sim):
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-3")
    sim.inject("error", status=503, count=1, verbs=["create"])
    sim.inject("throttle", count=1, verbs=["create"], retry_after=0)
    backend.submit(job)
    assert creates(sim, job.key) == [503, 429, 201]
    sim.inject("error", status=500, count=2, verbs=["list"])
    assert sync_until(backend, job.key).state == SUCCEEDED
    lists = [r["status"] for r in sim.requests if r["verb"] == "list"]
    assert lists[:3] == [500, 500, 200]


def test_a_longer_burst_leaves_the_submit_to_the_next_tick(backend, sim):
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-4")
    sim.inject("error", status=502, count=3, verbs=["create"])
    with pytest.raises(SubmitError) as error:
        backend.submit(job)
    assert not error.value.permanent and "HTTP 502" in str(error.value)
    assert backend.submit(job) == job.key
    assert creates(sim, job.key) == [502, 502, 502, 201]


def test_a_slow_api_server_counts_as_a_transient_error(kube_settings, sim):
    backend = KubernetesBackend(backoff=0.01, request_timeout=1)
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-5")
    sim.inject("delay", delay=1.5, count=1, verbs=["create"])
    backend.submit(job)  # timed out once, then 201 or 409 (the slow create went through): one pod
    assert [p["metadata"]["name"] for p in sim.pods(NAMESPACE)] == [job.key]


def test_a_list_that_keeps_failing_changes_nothing(backend, sim):
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-6")
    backend.submit(job)
    sim.inject("error", status=500, count=3, verbs=["list"])
    assert backend.sync([job.key]) == {}
    assert sync_until(backend, job.key).state == SUCCEEDED


def test_refused_pods_are_permanent_errors_with_the_causes(backend, sim):
    job = submission(command=["true"], key="pipe-op-0f9e8d7c-7")
    sim.inject("error", status=422, count=1, verbs=["create"], message='Pod "x" is invalid: spec: bad')
    with pytest.raises(SubmitError, match="HTTP 422 Invalid") as error:
        backend.submit(job)
    assert error.value.permanent


def test_exit_codes_timeouts_and_bad_outputs(backend, sim):
    failing = submission(command=["sh", "-c", "echo oops >&2; exit 3"], key="pipe-fail-0f9e8d7c-1")
    slow = submission(command=["sleep", "30"], key="pipe-slow-0f9e8d7c-1", timeout=1)
    bad = submission(command=["sh", "-c", 'echo "[1]" > "$POLYFLOW_OUTPUTS_FILE"'], key="pipe-bad-0f9e8d7c-1")
    for job in (failing, slow, bad):
        backend.submit(job)
    observation = sync_until(backend, failing.key)
    assert (observation.state, observation.reason, observation.exit_code) == (FAILED, "Error", 3)
    assert "exit code 3" in observation.message
    # The backend passes the outputs on as written; the scheduler refuses them.
    observation = sync_until(backend, bad.key)
    assert (observation.state, observation.outputs) == (SUCCEEDED, "[1]\n")
    outcome = outcome_of("running", 1, OP, observation, NOW)
    assert (outcome.status, outcome.reason) == ("failed", "invalid_outputs")
    assert "must be a JSON object" in outcome.message
    observation = sync_until(backend, slow.key, timeout=20)
    assert (observation.state, observation.reason) == (FAILED, "timeout")
    assert "deadline" in observation.message


def test_oom_evicted_and_vanished_pods(backend, sim):
    sim.inject("outcome", name="pipe-oom-*", result="oom")
    oom = submission(command=["true"], key="pipe-oom-0f9e8d7c-1")
    hang = submission(command=["sleep", "30"], key="pipe-hang-0f9e8d7c-1")
    gone = submission(command=["sleep", "30"], key="pipe-gone-0f9e8d7c-1")
    for job in (oom, hang, gone):
        backend.submit(job)
    observation = sync_until(backend, oom.key)
    assert (observation.state, observation.reason, observation.exit_code) == (FAILED, "OOMKilled", 137)
    assert sync_until(backend, hang.key, states=(RUNNING,)).started_at
    sim.inject("evict", name=hang.key)
    observation = sync_until(backend, hang.key)
    assert (observation.state, observation.reason) == (FAILED, "Evicted")
    sync_until(backend, gone.key, states=(RUNNING,))
    sim.inject("vanish", name=gone.key)
    observation = backend.sync([gone.key])[gone.key]
    assert (observation.state, observation.reason) == (LOST, "lost")
    assert "no longer exists" in observation.message


def test_unschedulable_pods_are_pending_with_the_reason(backend, sim):
    sim.inject("outcome", name="pipe-wait-*", result="pending")
    job = submission(command=["true"], key="pipe-wait-0f9e8d7c-1")
    backend.submit(job)
    time.sleep(0.2)
    observation = backend.sync([job.key])[job.key]
    assert observation.state == PENDING and observation.message.startswith("Unschedulable:")


def test_stop_deletes_with_a_grace_period(backend, sim):
    job = submission(command=["sleep", "30"], key="pipe-stop-0f9e8d7c-1")
    backend.submit(job)
    sync_until(backend, job.key, states=(RUNNING,))
    backend.stop([job.key, "pipe-never-0f9e8d7c-1"])
    deletes = [(r["name"], r["query"].get("gracePeriodSeconds"), r["status"]) for r in sim.requests
               if r["verb"] == "delete"]
    assert deletes == [(job.key, "30", 200), ("pipe-never-0f9e8d7c-1", "30", 404)]
    sim.wait_for_pod(job.key, NAMESPACE, gone=True)
    assert backend.sync([job.key])[job.key].state == LOST


def test_finished_pods_are_cleaned_up_after_the_ttl(kube_settings, sim):
    backend = KubernetesBackend(backoff=0.01, pod_ttl=1, cleanup_interval=0)
    old = submission(command=["echo", "old"], key="pipe-old-0f9e8d7c-1")
    tracked = submission(command=["echo", "tracked"], key="pipe-tracked-0f9e8d7c-1")
    running = submission(command=["sleep", "30"], key="pipe-running-0f9e8d7c-1")
    for job in (old, tracked, running):
        backend.submit(job)
    # All three synced until the two end: a sync cleans up what it is not given, and on a busy
    # machine one of them could end more than the TTL before the other.
    handles = [old.key, tracked.key, running.key]
    deadline = time.monotonic() + 15
    while not all(backend.sync(handles)[job.key].final for job in (old, tracked)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2.1)  # the simulator's times have seconds
    backend.sync([tracked.key, running.key])
    names = {p["metadata"]["name"] for p in sim.pods(NAMESPACE)}
    assert names == {tracked.key, running.key}  # a pod still synced is never cleaned up
    assert backend.logs(old.key) == ["old"]  # archived before it was deleted


def test_requests_per_sync_do_not_grow_with_running_pods(backend, sim):
    sim.inject("outcome", name="pipe-many-*", result="hang")
    counts = {}
    handles = []
    for total in (5, 50):
        while len(handles) < total:
            job = submission(command=["true"], key=f"pipe-many-0f9e8d7c-{len(handles) + 1}")
            handles.append(backend.submit(job))
        deadline = time.monotonic() + 10
        while not all(o.state == RUNNING for o in backend.sync(handles).values()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sim.reset_requests()
        observations = backend.sync(handles)
        assert len(observations) == total and {o.state for o in observations.values()} == {RUNNING}
        counts[total] = [(r["verb"], r["query"].get("labelSelector")) for r in sim.requests]
    assert counts[5] == counts[50] == [("list", "app.kubernetes.io/managed-by=polyflow")]
