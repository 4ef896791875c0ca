"""`polyflow tick`, `polyflow runs ...` and `polyflow logs`: the real commands in
subprocesses on the embedded SQLite, with the local backend running real
`python -c` ops as detached processes (so ticks are repeated until they end)."""

import json
import shutil
import time

import pytest

from polyflow.cli.runs import RUN_STATUSES
from polyflow.statuses import RunStatus
from tests.conftest import assert_no_traceback, clean_environ, polyflow

DEADLINE = 60  # seconds for a run to reach the status a test waits for

PIPELINES = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: emit}}
  - {name: b, template: {name: show-n}, dependencies: [a], params: {n: '{{ ops.a.outputs.x }}'}}
  - {name: c, template: {name: show-n}, dependencies: [b]}
templates:
  - kind: job
    name: emit
    outputs: [{name: x, type: int}]
    container:
      image: python:3.11
      command: [python, -c, "import json, os; print('a starts'); print('a says hi');
                             json.dump({'x': 7}, open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"]
  - kind: job
    name: show-n
    inputs: [{name: n, type: int, default: 1}]
    container:
      image: python:3.11
      command: [python, -c, "import os; print('n is', os.environ['POLYFLOW_PARAM_N'])"]
---
version: 1
kind: pipeline
name: flaky
ops:
  - {name: check, template: {name: check}}
  - {name: after, template: {name: check}, dependencies: [check]}
templates:
  - kind: job
    name: check
    container:
      image: python:3.11
      command: [python, -c, "import os, sys; print('checking');
                             sys.exit(0 if os.path.exists(os.environ['FLAKY_MARKER']) else 3)"]
---
version: 1
kind: pipeline
name: sleeper
ops:
  - {name: nap, template: {name: nap}}
templates:
  - kind: job
    name: nap
    container: {image: python:3.11, command: [python, -c, "import time; time.sleep(30)"]}
"""

SCHEDULED = """\
version: 1
kind: pipeline
name: new-year
schedule: {kind: exact_time, start_at: '2026-01-01T00:00:00+00:00'}
ops:
  - {name: hello, template: {name: hello}}
templates:
  - kind: job
    name: hello
    container: {image: python:3.11, command: [python, -c, "print('happy new year')"]}
"""

TRIGGER = ("from polyflow.models import Pipeline; from polyflow.services.runs import trigger_run; "
           "print(trigger_run(Pipeline.objects.get(name={name!r})).uuid)")



def ok(*args, env) -> str:
    result = polyflow(*args, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert_no_traceback(result)
    return result.stdout



@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory):
    """A POLYFLOW_HOME with the tables, the user alice and the pipelines of PIPELINES
    in alice/ml. Made once; each test works on a copy of it."""
    base = tmp_path_factory.mktemp("prepared")
    home = base / "polyflow"
    env = {**clean_environ(base / "home"), "POLYFLOW_HOME": str(home)}
    ok("manage", "migrate", "--no-input", env=env)
    ok("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
       env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    (base / "pipelines.yaml").write_text(PIPELINES)
    assert ok("apply", "-f", str(base / "pipelines.yaml"), "--project", "alice/ml", env=env).splitlines() == [
        "project alice/ml: created",
        "pipeline chain: created (3 ops)",
        "pipeline flaky: created (2 ops)",
        "pipeline sleeper: created (1 op)",
    ]
    return home


@pytest.fixture
def env(prepared_home, tmp_path):
    """The prepared home copied for this test (no process has the database open)."""
    home = tmp_path / "polyflow"
    shutil.copytree(prepared_home, home)
    return {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(home),
            "FLAKY_MARKER": str(tmp_path / "flaky-passes")}


def trigger(name: str, env) -> str:
    # -v 0: Django's shell would otherwise report its automatic imports on stdout.
    return ok("manage", "shell", "-v", "0", "-c", TRIGGER.format(name=name), env=env).strip()


def show(uuid: str, env) -> dict:
    return json.loads(ok("runs", "show", uuid, "-o", "json", env=env))


def tick_until(uuid: str, env, done, what: str) -> dict:
    """Tick with the real command until `done(run as JSON)`; the run as JSON."""
    deadline = time.monotonic() + DEADLINE
    while True:
        ok("tick", env=env)
        run = show(uuid, env)
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {DEADLINE} s: {json.dumps(run, indent=2)}")
        time.sleep(0.2)


def ops(run: dict) -> dict[str, dict]:
    return {op_run["name"]: op_run for op_run in run["op_runs"]}


def test_a_chain_runs_to_success_tick_by_tick(env):
    uuid = trigger("chain", env)
    run = show(uuid, env)
    assert run["status"] == "created"
    assert [(o["name"], o["status"], o["attempt"]) for o in run["op_runs"]] == [
        ("a", "created", 1), ("b", "created", 1), ("c", "created", 1)]
    # Nothing submitted yet: nothing to read.
    result = polyflow("logs", uuid, "a", env=env)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"no logs yet: op 'a' of run {uuid} is created and was never submitted\n"

    first = ok("tick", env=env)
    assert "1 started" in first and "1 op run(s) submitted" in first, first
    run = tick_until(uuid, env, lambda run: run["status"] == "succeeded", "succeeded run")

    by_name = ops(run)
    assert {name: o["status"] for name, o in by_name.items()} == dict.fromkeys("abc", "succeeded")
    assert by_name["a"]["outputs"] == {"x": 7}
    assert by_name["b"]["params"] == {"n": 7}
    assert all(o["attempt"] == 1 and o["exit_code"] == 0 and o["backend"] == "local" for o in by_name.values())
    assert all(o["duration"] is not None and o["duration"] >= 0 for o in by_name.values())
    assert run["duration"] >= by_name["a"]["duration"]
    assert (run["owner"], run["project"], run["pipeline"], run["trigger"]) == ("alice", "ml", "chain", "manual")

    table = ok("runs", "show", uuid, env=env).splitlines()
    assert table[0] == f"run {uuid}"
    assert "  pipeline: alice/ml/chain" in table
    assert "  status:   succeeded" in table
    header = table.index(next(line for line in table if line.startswith("OP ")))
    assert table[header].split() == ["OP", "STATUS", "ATTEMPT", "DURATION", "REASON", "OUTPUTS", "MESSAGE"]
    assert table[header + 1].split()[:3] == ["a", "succeeded", "1"]
    assert table[header + 1].endswith('{"x": 7}')

    # The op's own output, after the local backend's note about the image.
    lines = ok("logs", uuid, "a", env=env).splitlines()
    assert lines[-2:] == ["a starts", "a says hi"]
    assert "image 'python:3.11' is not used" in lines[0]
    assert ok("logs", uuid, "a", "--tail", "1", env=env) == "a says hi\n"
    huge = polyflow("logs", uuid, "a", "--tail", "99999999999999999999", env=env)
    assert huge.returncode == 2 and "Traceback" not in huge.stderr
    assert "99999999999999999999 is not in the range 1<=x<=1000000" in huge.stderr
    assert ok("logs", uuid, "b", env=env).splitlines()[-1] == "n is 7"

    # A tick with nothing left to do says so.
    assert "0 op run(s) submitted" in ok("tick", env=env)


def test_runs_list_newest_first_with_filters(env):
    stopped = trigger("chain", env)
    # Not started yet: every op run stops at once, and so does the run.
    assert ok("runs", "stop", stopped, env=env) == f"run {stopped}: stopped\n"
    waiting = trigger("flaky", env)  # created: never ticked

    lines = ok("runs", "list", env=env).splitlines()
    assert lines[0].split() == ["UUID", "PIPELINE", "STATUS", "CREATED", "DURATION", "OPS"]
    assert [line.split()[0] for line in lines[1:]] == [waiting, stopped]
    assert lines[1].split()[1:3] == ["alice/ml/flaky", "created"]
    assert lines[1].endswith("2 created")
    assert lines[2].split()[1:3] == ["alice/ml/chain", "stopped"]
    assert lines[2].endswith("3 stopped")

    listed = json.loads(ok("runs", "list", "-o", "json", env=env))
    assert [(r["uuid"], r["pipeline"], r["status"], r["ops"]) for r in listed] == [
        (waiting, "flaky", "created", {"created": 2}),
        (stopped, "chain", "stopped", {"stopped": 3}),
    ]
    assert listed[1]["finished_at"] and listed[1]["reason"] == "stopped"

    def uuids(*args):
        return [r["uuid"] for r in json.loads(ok("runs", "list", "-o", "json", *args, env=env))]

    assert uuids("--pipeline", "chain") == [stopped]
    assert uuids("--status", "created", "--status", "stopped") == [waiting, stopped]
    assert uuids("--project", "alice/ml", "--pipeline", "flaky", "--status", "created") == [waiting]
    assert uuids("--limit", "1") == [waiting]
    assert ok("runs", "list", "--status", "failed", env=env) == "no runs found\n"


def test_retry_of_a_failed_run(env, tmp_path):
    uuid = trigger("flaky", env)
    run = tick_until(uuid, env, lambda run: run["status"] == "failed", "failed run")
    by_name = ops(run)
    assert (by_name["check"]["status"], by_name["check"]["exit_code"]) == ("failed", 3)
    assert by_name["after"]["status"] == "upstream_failed"
    assert ok("logs", uuid, "check", env=env).splitlines()[-1] == "checking"

    # The cause is fixed; the run is retried and goes through.
    (tmp_path / "flaky-passes").touch()
    assert ok("runs", "retry", uuid, env=env) == f"run {uuid}: created; to run again: check, after\n"
    run = show(uuid, env)
    assert run["status"] == "created"
    assert {name: (o["status"], o["attempt"]) for name, o in ops(run).items()} == {
        "check": ("created", 2), "after": ("created", 2)}

    run = tick_until(uuid, env, lambda run: run["status"] == "succeeded", "succeeded retry")
    assert {name: (o["status"], o["attempt"], o["exit_code"]) for name, o in ops(run).items()} == {
        "check": ("succeeded", 2, 0), "after": ("succeeded", 2, 0)}

    # A run with nothing failed has nothing to retry.
    result = polyflow("runs", "retry", uuid, env=env)
    assert result.returncode == 1
    assert result.stderr == f"Error: run {uuid} has no failed, upstream_failed or stopped op to retry\n"


def test_stop_of_a_running_run(env):
    uuid = trigger("sleeper", env)
    tick_until(uuid, env, lambda run: ops(run)["nap"]["status"] == "running", "running op")

    # Retrying a run that is still going is refused with the service's message.
    result = polyflow("runs", "retry", uuid, env=env)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr == f"Error: run {uuid} is running: only a finished run can be retried\n"

    started = time.monotonic()
    assert ok("runs", "stop", uuid, env=env) == (
        f"run {uuid}: stopping; the next tick ends its 1 submitted op run(s)\n")
    assert ops(show(uuid, env))["nap"]["status"] == "stopping"
    run = tick_until(uuid, env, lambda run: run["status"] == "stopped", "stopped run")
    assert time.monotonic() - started < 25, "the op was not killed: it slept its 30 s"
    assert ops(run)["nap"]["status"] == "stopped"

    result = polyflow("runs", "stop", uuid, env=env)
    assert result.returncode == 1
    assert result.stderr == f"Error: run {uuid} is already stopped\n"


def test_tick_as_of_a_given_time(env, tmp_path):
    (tmp_path / "new-year.yaml").write_text(SCHEDULED)
    ok("apply", "-f", str(tmp_path / "new-year.yaml"), "--project", "alice/ml", env=env)

    assert "0 run(s) created" in ok("tick", "--now", "2025-12-31T23:59:59Z", env=env)
    # No offset: UTC.
    assert "1 run(s) created, 1 started" in ok("tick", "--now", "2026-01-01T00:00:01", env=env)
    [run] = json.loads(ok("runs", "list", "--pipeline", "new-year", "-o", "json", env=env))
    assert (run["trigger"], run["schedule_at"]) == ("schedule", "2026-01-01T00:00:00+00:00")
    assert "0 run(s) created" in ok("tick", "--now", "2026-01-01T01:00:00+01:00", env=env)


def test_unknown_runs_and_ops_exit_1_with_a_message(env):
    uuid = trigger("chain", env)
    unknown = "0f9e8d7c-6b5a-4321-8765-43210fedcba9"
    cases = [
        (("runs", "show", "not-a-uuid"), "Error: run 'not-a-uuid' not found: expected a UUID, a prefix of one "
                                         "(e.g. ed2298c4) or @latest (PIPELINE@latest, OWNER/PROJECT@latest)\n"),
        (("runs", "show", unknown), f"Error: run {unknown} not found\n"),
        (("runs", "retry", unknown), f"Error: run {unknown} not found\n"),
        (("runs", "stop", "12345"), "Error: run '12345' not found: no run's UUID starts with 12345\n"),
        (("logs", unknown, "a"), f"Error: run {unknown} not found\n"),
        (("logs", uuid, "nope"), f"Error: op 'nope' not found in run {uuid} (ops: a, b, c)\n"),
        (("runs", "retry", uuid), f"Error: run {uuid} is created: only a finished run can be retried\n"),
        (("runs", "list", "--project", "alice/nope"), "Error: project alice/nope not found\n"),
    ]
    for args, message in cases:
        result = polyflow(*args, env=env)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", message), args


@pytest.mark.parametrize("args, message", [
    (["tick", "--now", "yesterday"], "Invalid value for '--now': 'yesterday' is not an ISO 8601 time"),
    (["tick", "--now", "2026-13-01T00:00:00Z"], "Invalid value for '--now'"),
    (["runs", "list", "--status", "done"], "Invalid value for '--status': 'done' is not one of"),
    (["runs", "list", "-o", "xml"], "Invalid value for '-o' / '--output'"),
    (["runs", "list", "--limit", "0"], "Invalid value for '--limit'"),
    (["runs", "list", "--project", "alice"], "'alice': expected OWNER/PROJECT"),
    (["runs", "show"], "Missing argument 'RUN'"),
    (["logs"], "Missing argument 'RUN'"),
    (["logs", "0f9e8d7c-6b5a-4321-8765-43210fedcba9", "a", "--tail", "0"], "Invalid value for '--tail'"),
])
def test_usage_errors_exit_2(args, message, tmp_path):
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    result = polyflow(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert_no_traceback(result)
    # Found before Django is set up: nothing was created.
    assert not (tmp_path / "polyflow").exists()


def test_a_first_command_on_a_fresh_home_sets_up_the_database(tmp_path):
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    assert ok("runs", "list", env=env) == "no runs found\n"
    assert ok("tick", env=env).startswith("0 run(s) created, 0 started, 0 op run(s) submitted")


def test_status_choices_are_the_run_statuses():
    assert RUN_STATUSES == tuple(RunStatus.values())


@pytest.mark.parametrize("args", [
    ("runs", "list", "--limit", "99999999999999999999"),
    ("runs", "list", "--limit", "0"),
    ("run", "examples/quickstart.yaml", "--log-lines", "99999999999999999999"),
    ("server", "--port", "70000"),
    ("server", "--threads", "0"),
])
def test_numeric_options_out_of_range_are_usage_errors(env, args):
    result = polyflow(*args, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not in the range" in result.stderr


BAD_METRICS = """\
version: 1
kind: pipeline
name: noisy
ops: [{name: talk, template: {name: talk}}]
templates:
  - kind: job
    name: talk
    container: {image: busybox, command: [sh, -c, 'echo "polyflow:metrics {\\"loss\\": \\"high\\"}"']}
"""


def test_with_log_format_json_the_ticks_lines_are_json_with_their_run(env, tmp_path):
    path = tmp_path / "noisy.yaml"
    path.write_text(BAD_METRICS)
    assert polyflow("apply", str(path), "--project", "alice/ml", env=env).returncode == 0
    trigger = polyflow("trigger", "noisy", "--project", "alice/ml", env=env)
    assert trigger.returncode == 0, trigger.stderr
    run_uuid = trigger.stdout.split()[1]
    json_env = {**env, "POLYFLOW_LOG_FORMAT": "json"}
    lines, deadline = [], time.monotonic() + 30
    while not lines:
        assert time.monotonic() < deadline, "no log line about the bad metric"
        result = polyflow("tick", env=json_env)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stderr.splitlines() if "metrics of" in line]
        time.sleep(0.1)
    assert (lines[0]["level"], lines[0]["run_uuid"], lines[0]["pipeline"], lines[0]["op"], lines[0]["attempt"]) == (
        "WARNING", run_uuid, "noisy", "talk", "1")
    # As text, the command prints its report and nothing else, as before.
    assert polyflow("tick", env=env).stderr == ""
