"""The local backend with real processes."""

import datetime as dt
import json
import os
import signal
import sys
import threading
import time

import pytest

from polyflow.backends import get_backend, local_runner
from polyflow.backends.base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, SubmitError
from polyflow.backends.local import LocalBackend
from polyflow.scheduler.outcomes import outcome_of
from polyflow.scheduler.outputs import MAX_OUTPUTS_BYTES
from polyflow.spec import check, parse_yaml

from .support import RUN_UUID, submission, submit_elsewhere, wait_final, wait_for, wait_state

PY = sys.executable
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
# An op declaring no outputs, for the scheduler's view of what an attempt published.
OP = check(parse_yaml("""
version: 1
kind: pipeline
name: pipe
ops: [{name: op, template: {name: t}}]
templates: [{kind: job, name: t, container: {image: busybox, command: ['true']}}]
""", "test.yaml")).pipelines[0].op("op")

OP_SCRIPT = """
import json, os, sys
params = json.load(open(os.environ["POLYFLOW_PARAMS_FILE"]))
print("hello from the op", flush=True)
print("to stderr", file=sys.stderr, flush=True)
outputs = {
    "argv": sys.argv[1:],
    "env_lr": os.environ["POLYFLOW_PARAM_LR"],
    "env_cfg": os.environ["POLYFLOW_PARAM_CFG"],
    "env_attempt": os.environ["POLYFLOW_ATTEMPT"],
    "env_mine": os.environ["MINE"],
    "file": params,
    "cwd": os.getcwd(),
    "stale": os.environ.get("POLYFLOW_PARAM_STALE"),
}
with open(os.environ["POLYFLOW_OUTPUTS_FILE"], "w") as handle:
    json.dump(outputs, handle)
"""

def group_members(pgid):
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry))
    return members


def process_of(backend, handle):
    return wait_for(lambda: local_runner.read_json(str(backend.directory(handle) / "process.json")),
                    what="process.json")


def test_get_backend_is_the_local_one(backend):
    assert isinstance(get_backend("local"), LocalBackend)
    assert str(backend.root) in backend.describe_once()


def test_success_with_params_and_outputs(backend, monkeypatch):
    monkeypatch.setenv("POLYFLOW_PARAM_STALE", "from the scheduler's environment")
    sub = submission(
        command=[PY, "-c", OP_SCRIPT],
        args=["--lr={{ params.lr }}", "{{ params.cfg }}", "{{ globals.op_name }}"],
        params={"lr": 0.1, "cfg": {"depth": 2}},
        env={"MINE": "mine"},
        attempt=2,
    )
    handle = backend.submit(sub)
    assert handle == sub.key
    observation = wait_final(backend, handle)
    assert observation.state == SUCCEEDED, observation
    assert (observation.exit_code, observation.reason, observation.message) == (0, "", "")
    directory = backend.directory(handle)
    # Passed on as the op wrote it: the scheduler's parser reads it.
    assert isinstance(observation.outputs, bytes)
    assert json.loads(observation.outputs) == {
        "argv": ["--lr=0.1", '{"depth": 2}', "op"],
        "env_lr": "0.1",
        "env_cfg": '{"depth": 2}',
        "env_attempt": "2",
        "env_mine": "mine",
        "file": {"lr": 0.1, "cfg": {"depth": 2}},
        "cwd": str(directory),
        "stale": None,  # not inherited: an op sees only its own params
    }
    assert observation.started_at.tzinfo is not None
    assert observation.started_at <= observation.finished_at
    lines = backend.logs(handle)
    assert lines[0] == "polyflow: local backend: running the command on this machine; image 'python:3.11' is not used"
    assert set(lines[1:]) == {"hello from the op", "to stderr"}
    assert backend.logs(handle, tail=1) == lines[-1:]
    spec = json.loads((directory / "spec.json").read_text())
    assert spec["argv"][0] == PY
    assert spec["image"] == "python:3.11"
    assert spec["cwd"] == str(directory)
    for name in ("spec.json", "params.json", "outputs.json", "output.log", "claim", "process.json", "result.json"):
        assert (directory / name).exists(), name
    assert "outputs" not in json.loads((directory / "result.json").read_text())


def test_relative_working_dir_is_under_the_attempt_directory(backend):
    script = 'printf \'{"cwd": "%s"}\' "$PWD" > "$POLYFLOW_OUTPUTS_FILE"'
    handle = backend.submit(submission(command=["sh", "-c", script], working_dir="work/dir", image=None))
    observation = wait_final(backend, handle)
    assert json.loads(observation.outputs) == {"cwd": str(backend.directory(handle) / "work" / "dir")}
    assert backend.logs(handle) == []  # no image, nothing to say about it


def test_missing_absolute_working_dir(backend, tmp_path):
    missing = str(tmp_path / "nowhere")
    handle = backend.submit(submission(command=["true"], working_dir=missing))
    observation = wait_final(backend, handle)
    assert (observation.state, observation.exit_code, observation.reason) == (FAILED, 127, "not_found")
    assert observation.message == f"working directory {missing!r} does not exist"


def test_failing_exit_code(backend):
    handle = backend.submit(submission(command=["sh", "-c", "echo failing; exit 3"]))
    observation = wait_final(backend, handle)
    assert (observation.state, observation.exit_code, observation.reason) == (FAILED, 3, "error")
    assert observation.message == "exited with code 3"
    assert backend.logs(handle)[-1] == "failing"


def test_executable_not_found(backend):
    handle = backend.submit(submission(command=["polyflow-no-such-executable", "--x"]))
    observation = wait_final(backend, handle)
    assert (observation.state, observation.exit_code, observation.reason) == (FAILED, 127, "not_found")
    assert observation.message.startswith("executable 'polyflow-no-such-executable' not found")
    assert backend.logs(handle)[-1].startswith("polyflow: executable 'polyflow-no-such-executable' not found")


def test_timeout_kills_the_process_group(backend):
    started = time.monotonic()
    handle = backend.submit(submission(command=["sh", "-c", "sleep 30 & sleep 30"], timeout=1))
    pgid = process_of(backend, handle)["child_pgid"]
    wait_for(lambda: len(group_members(pgid)) == 3, what="sh and its two sleeps")
    observation = wait_final(backend, handle)
    assert time.monotonic() - started < 5
    assert (observation.state, observation.reason) == (FAILED, "timeout")
    assert observation.exit_code == 128 + signal.SIGTERM
    assert observation.message == "timed out after 1 s: its process group was killed"
    wait_for(lambda: not group_members(pgid), timeout=3, what="the group to be gone")


def test_timeout_escalates_to_sigkill(backend):
    handle = backend.submit(submission(command=["sh", "-c", "trap '' TERM; sleep 30"], timeout=1))
    observation = wait_final(backend, handle, timeout=8)
    assert (observation.state, observation.reason, observation.exit_code) == (FAILED, "timeout", 128 + 9)


def test_stop(backend):
    handle = backend.submit(submission(command=["sh", "-c", "sleep 30 & sleep 30"]))
    wait_state(backend, handle, RUNNING)
    pgid = process_of(backend, handle)["child_pgid"]
    started = time.monotonic()
    backend.stop([handle])
    observation = wait_final(backend, handle)
    assert time.monotonic() - started < 3
    assert (observation.state, observation.reason) == (FAILED, "stopped")
    wait_for(lambda: not group_members(pgid), timeout=3, what="the group to be gone")
    backend.stop([handle, "never-submitted-1"])  # idempotent; unknown handles ignored
    assert backend.sync([handle])[handle] == observation


def test_stop_right_after_submit(backend, tmp_path):
    # Whether the runner has recorded itself yet or not, the op ends stopped.
    handles = [backend.submit(submission(command=["sleep", "30"])) for _ in range(3)]
    backend.stop(handles)
    for handle in handles:
        observation = wait_final(backend, handle)
        assert (observation.state, observation.reason) == (FAILED, "stopped"), observation


def test_no_outputs_file_is_none(backend):
    observation = wait_final(backend, backend.submit(submission(command=["true"])))
    assert (observation.state, observation.outputs) == (SUCCEEDED, None)
    assert outcome_of("running", 1, OP, observation, NOW).fields["outputs"] == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "are not valid JSON"),
        ("[1, 2]", "must be a JSON object, not an array"),
        ('"text"', "must be a JSON object, not a string"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": 1}', "undeclared output 'x'"),
        ("BIG", f"hold {MAX_OUTPUTS_BYTES + 1} bytes, more than the limit of {MAX_OUTPUTS_BYTES}"),
    ],
)
def test_outputs_are_passed_as_written_and_refused_by_the_scheduler(backend, content, problem):
    # More than 1 MiB cannot be an argument (a single one is at most 128 KiB).
    write = ("import os, sys; text = ' ' * 3 * 1024 * 1024 + '{}' if sys.argv[1] == 'BIG' else sys.argv[1]; "
             "open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w').write(text)")
    handle = backend.submit(submission(command=[PY, "-c", write, content]))
    observation = wait_final(backend, handle)
    # The op succeeded: the backend does not judge what it published...
    assert (observation.state, observation.exit_code, observation.reason) == (SUCCEEDED, 0, "")
    if content == "BIG":  # ...and reads no more of a huge file than it takes to refuse it
        assert len(observation.outputs) == MAX_OUTPUTS_BYTES + 1
    else:
        assert observation.outputs == content.encode()
    # The scheduler's one parser does.
    outcome = outcome_of("running", 1, OP, observation, NOW)
    assert (outcome.status, outcome.reason) == ("failed", "invalid_outputs")
    assert problem in outcome.message, outcome.message


def test_unreadable_outputs_fail_the_attempt(backend):
    handle = backend.submit(submission(command=["sh", "-c", 'mkdir "$POLYFLOW_OUTPUTS_FILE"']))
    observation = wait_final(backend, handle)
    assert (observation.state, observation.reason, observation.outputs) == (FAILED, "invalid_outputs", None)
    path = backend.directory(handle) / "outputs.json"
    assert observation.message == f"cannot read the outputs file $POLYFLOW_OUTPUTS_FILE ({path}): Is a directory"


def test_a_failed_op_keeps_its_reason_whatever_its_outputs(backend):
    handle = backend.submit(submission(command=["sh", "-c", 'echo nope > "$POLYFLOW_OUTPUTS_FILE"; exit 2']))
    observation = wait_final(backend, handle)
    assert (observation.reason, observation.exit_code, observation.message) == ("error", 2, "exited with code 2")
    assert observation.outputs == b"nope\n"
    outcome = outcome_of("running", 1, OP, observation, NOW)
    assert (outcome.status, outcome.reason, outcome.message) == ("failed", "error", "exited with code 2")


def test_param_values_reach_the_process_as_on_kubernetes(backend):
    """The same line as a pod prints (tests/kube_backend/test_backend.py): values as they are,
    the template's own `$(API_KEY)` expanded as Kubernetes does."""
    from tests.kube_backend.test_backend import HOSTILE, PARAM_PRINTER

    job = submission(command=PARAM_PRINTER, params=HOSTILE, env={"API_KEY": "s3cr3t"})
    backend.submit(job)
    assert wait_final(backend, job.key).state == SUCCEEDED
    assert backend.logs(job.key)[-1] == "key=$(API_KEY)|key=$(API_KEY)|$$5|s3cr3t"


def test_a_quoted_param_is_one_word_of_the_script_as_on_kubernetes(backend):
    from tests.kube_backend.test_backend import QUOTED, QUOTED_PRINTER

    job = submission(command=QUOTED_PRINTER, params=QUOTED, env={"API_KEY": "s3cr3t"})
    backend.submit(job)
    assert wait_final(backend, job.key).state == SUCCEEDED
    assert backend.logs(job.key)[-1] == QUOTED["bucket"]


def test_submit_twice_starts_once(backend, tmp_path):
    counter = tmp_path / "count"
    sub = submission(command=["sh", "-c", f"echo ran >> {counter}"])
    assert backend.submit(sub) == backend.submit(sub) == sub.key
    wait_final(backend, sub.key)
    assert backend.submit(sub) == sub.key  # after the end too
    time.sleep(0.2)
    assert counter.read_text().splitlines() == ["ran"]


def test_a_directory_left_by_a_submit_that_died_before_its_runner_is_started_by_the_next(backend, tmp_path):
    counter = tmp_path / "count"
    sub = submission(command=["sh", "-c", f"echo ran >> {counter}"])
    left = backend.directory(sub.key)
    left.mkdir(parents=True)  # the submitting worker was killed right here
    assert backend.submit(sub) == sub.key  # just made: maybe a submit under way, left alone
    assert backend.sync([sub.key])[sub.key].state == PENDING
    old = time.time() - 10
    os.utime(left, (old, old))
    assert backend.submit(sub) == sub.key
    assert wait_final(backend, sub.key).state == SUCCEEDED
    assert backend.submit(sub) == sub.key  # run now: a later submit starts nothing
    time.sleep(0.2)
    assert counter.read_text().splitlines() == ["ran"]


def test_concurrent_submits_in_threads_start_once(backend, tmp_path):
    counter = tmp_path / "count"
    sub = submission(command=["sh", "-c", f"echo ran >> {counter}"])
    barrier = threading.Barrier(8)
    handles, errors = [], []

    def submit():
        barrier.wait()
        try:
            handles.append(backend.submit(sub))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert handles == [sub.key] * 8
    assert wait_final(backend, sub.key).state == SUCCEEDED
    time.sleep(0.2)
    assert counter.read_text().splitlines() == ["ran"]


def test_concurrent_submits_in_processes_start_once(backend, tmp_path):
    counter = tmp_path / "count"
    key = f"pipe-op-{RUN_UUID[:8]}-race"
    start_at = time.time() + 1.5  # every process imported and waiting by then
    processes = [
        submit_elsewhere(backend.root, wait=False, key=key, start_at=start_at,
                         command=["sh", "-c", f"echo ran >> {counter}"])
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert out.strip() == key
    assert wait_final(backend, key).state == SUCCEEDED
    time.sleep(0.2)
    assert counter.read_text().splitlines() == ["ran"]


def test_op_outlives_the_submitting_process(backend, tmp_path):
    go = tmp_path / "go"
    script = f'while [ ! -e {go} ]; do sleep 0.02; done; echo \'{{"done": true}}\' > "$POLYFLOW_OUTPUTS_FILE"'
    started = time.monotonic()
    handle = submit_elsewhere(backend.root, command=["sh", "-c", script])  # returns once that process exits
    assert time.monotonic() - started < 10
    fresh = LocalBackend()  # another instance, in this process, finds it by its handle alone
    wait_state(fresh, handle, RUNNING)
    go.touch()
    observation = wait_final(fresh, handle)
    assert (observation.state, observation.outputs) == (SUCCEEDED, b'{"done": true}\n')


def test_runner_killed_is_lost_and_its_op_ended(backend):
    handle = backend.submit(submission(command=["sh", "-c", "sleep 30 & sleep 30"]))
    wait_state(backend, handle, RUNNING)
    process = process_of(backend, handle)
    os.kill(process["runner_pid"], signal.SIGKILL)
    observation = wait_final(backend, handle)
    assert (observation.state, observation.reason) == (LOST, "lost")
    assert observation.message.startswith(f"the runner of this attempt (pid {process['runner_pid']}) ended")
    assert "has been killed" in observation.message
    wait_for(lambda: not group_members(process["child_pgid"]), timeout=3, what="the orphaned op to be killed")
    assert backend.sync([handle])[handle].state == LOST


def test_recycled_pid_is_not_mistaken_for_the_runner(backend):
    directory = backend.root / "made-up-1"
    directory.mkdir(parents=True)
    me = os.getpid()
    real = local_runner.start_time(me)

    def record(start):
        local_runner.write_json_atomic(str(directory / "process.json"), {
            "runner_pid": me, "runner_start": start, "child_pid": None, "child_pgid": None,
            "child_start": None, "boot_id": local_runner.boot_id(), "started_at": "2024-01-01T00:00:00+00:00",
        })

    record(real)
    assert backend.sync(["made-up-1"])["made-up-1"].state == RUNNING
    record(real - 1)  # the same pid, another process
    assert backend.sync(["made-up-1"])["made-up-1"].state == LOST


def test_pending_then_lost_without_a_runner(backend):
    directory = backend.root / "stuck-1"
    directory.mkdir(parents=True)
    assert backend.sync(["stuck-1"])["stuck-1"].state == PENDING
    old = time.time() - 31
    os.utime(directory, (old, old))
    observation = backend.sync(["stuck-1"])["stuck-1"]
    assert (observation.state, observation.reason) == (LOST, "lost")
    assert observation.message.startswith("the attempt never started")


def test_sync_many_at_once_and_unknown_handles(backend):
    done = backend.submit(submission(command=["true"]))
    wait_final(backend, done)
    observations = backend.sync([done, "never-submitted-1", "../etc"])
    assert observations[done].state == SUCCEEDED
    assert observations["never-submitted-1"].state == LOST
    assert observations["never-submitted-1"].reason == "lost"
    assert observations["../etc"].state == LOST
    assert backend.logs("never-submitted-1") == []


def test_no_zombies_after_many_submits(backend):
    handles = [backend.submit(submission(command=["true"])) for _ in range(20)]

    def zombie_children():
        zombies = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            fields = data[data.rindex(b")") + 2:].split()
            if fields[0] == b"Z" and int(fields[1]) == os.getpid():
                zombies.append(int(entry))
        return zombies

    assert zombie_children() == []
    for handle in handles:
        assert wait_final(backend, handle).state == SUCCEEDED
    assert zombie_children() == []


BUILD_MESSAGE = (
    "template 't' of op 'op' has a build and no container command: the local backend runs only commands "
    "on this machine, it neither builds nor runs images; use the kubernetes backend for images"
)
IMAGE_MESSAGE = (
    "template 't' of op 'op' has no container command (it would run the entrypoint of image 'python:3.11'): "
    "the local backend runs only commands on this machine, it neither builds nor runs images; "
    "use the kubernetes backend for images"
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"build": {"context": "."}, "image": None}, BUILD_MESSAGE),
        ({}, IMAGE_MESSAGE),
    ],
)
def test_template_without_command_is_a_permanent_error(backend, kwargs, message):
    sub = submission(command=None, **kwargs)
    with pytest.raises(SubmitError) as caught:
        backend.submit(sub)
    assert caught.value.permanent
    assert str(caught.value) == message
    assert not backend.directory(sub.key).exists()
