"""The commands that operate on what is applied (issue 14, item 3): run ids by prefix and
`@latest`, `runs watch`, `logs` of every op, followed and per attempt, `trigger`,
`pipelines ...`, op-level `runs retry|stop`, `runs mark`, `events fire`, `backfill`,
`-o yaml`, files given as arguments to `apply`. Real subprocesses of the CLI on the
embedded SQLite, the local backend running real `python -c` ops; runs are driven
with the real `polyflow tick` (or `--tick`)."""

import datetime as dt
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT, assert_no_traceback, clean_environ, polyflow

DEADLINE = 60  # seconds for a run to reach the status a test waits for

PIPELINES = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: emit}}
  - {name: b, template: {name: show-n}, dependencies: [a], params: {n: '{{ ops.a.outputs.x }}'}}
templates:
  - kind: job
    name: emit
    outputs: [{name: x, type: int}]
    container:
      image: python:3.11
      command: [python, -c, "import json, os; print('a says hi');
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
name: talker
ops:
  - {name: talk, template: {name: talk}}
templates:
  - kind: job
    name: talk
    container:
      image: python:3.11
      command: [python, -c, "import time\\nfor i in range(4):\\n    print('line', i, flush=True); time.sleep(0.4)"]
---
version: 1
kind: pipeline
name: sleeper
ops:
  - {name: nap, template: {name: nap}}
  - {name: then, template: {name: nap}, dependencies: [nap]}
templates:
  - kind: job
    name: nap
    container: {image: python:3.11, command: [python, -c, "import time; time.sleep(30)"]}
---
version: 1
kind: pipeline
name: imageonly
ops:
  - {name: build, template: {name: image}}
  - {name: after, template: {name: image}, dependencies: [build]}
templates:
  - kind: job
    name: image
    container: {image: python:3.11}
---
version: 1
kind: event
name: data-ready
inputs:
  - {name: size, type: int}
---
version: 1
kind: pipeline
name: on-data
events: [{name: data-ready}]
ops:
  - {name: use, template: {name: use}}
templates:
  - kind: job
    name: use
    inputs: [{name: size, type: int, default: 3}]
    container: {image: python:3.11, command: [python, -c, "print('size')"]}
"""

TRIGGER = ("from polyflow.models import Pipeline; from polyflow.services.runs import trigger_run; "
           "print(trigger_run(Pipeline.objects.get(name={name!r}, project__name={project!r})).uuid)")
SET_UUID = ("import uuid; from polyflow.models import PipelineRun; "
            "PipelineRun.objects.filter(uuid=uuid.UUID({old!r})).update(uuid=uuid.UUID({new!r}))")


def ok(*args, env) -> str:
    result = polyflow(*args, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert_no_traceback(result)
    return result.stdout


def fails(*args, env, code: int = 1) -> subprocess.CompletedProcess:
    result = polyflow(*args, env=env)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert_no_traceback(result)
    return result


@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory):
    """A POLYFLOW_HOME with the user alice and PIPELINES in alice/ml. Made once; each test works on a copy."""
    base = tmp_path_factory.mktemp("prepared")
    home = base / "polyflow"
    env = {**clean_environ(base / "home"), "POLYFLOW_HOME": str(home)}
    ok("manage", "migrate", "--no-input", env=env)
    ok("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
       env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    (base / "pipelines.yaml").write_text(PIPELINES)
    # FILE as an argument, as `run` and `validate` take it.
    out = ok("apply", str(base / "pipelines.yaml"), "--project", "alice/ml", env=env)
    assert "pipeline chain: created (2 ops)" in out and "event data-ready: created" in out
    return home


@pytest.fixture
def env(prepared_home, tmp_path):
    home = tmp_path / "polyflow"
    shutil.copytree(prepared_home, home)
    return {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(home),
            "FLAKY_MARKER": str(tmp_path / "flaky-passes")}


def trigger(name: str, env, project: str = "ml") -> str:
    return ok("manage", "shell", "-v", "0", "-c", TRIGGER.format(name=name, project=project), env=env).strip()


def show(ref: str, env) -> dict:
    return json.loads(ok("runs", "show", ref, "-o", "json", env=env))


def ops(run: dict) -> dict[str, dict]:
    return {op_run["name"]: op_run for op_run in run["op_runs"]}


def tick_until(ref: str, env, done, what: str) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        ok("tick", env=env)
        run = show(ref, env)
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {DEADLINE} s: {json.dumps(run, indent=2)}")
        time.sleep(0.2)


def ended(run: dict) -> bool:
    return run["status"] in ("succeeded", "failed", "stopped")


def background(*args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "polyflow.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- RUN: prefixes and @latest ---------------------------------------------------------


def test_runs_are_found_by_unique_prefix_and_latest(env, tmp_path):
    first = trigger("chain", env)
    second = trigger("flaky", env)
    third = trigger("chain", env)

    for ref in (first[:8], first[:8].upper(), first[:13], first.replace("-", ""), first):
        assert show(ref, env)["uuid"] == first, ref
    assert show("@latest", env)["uuid"] == third
    assert show("chain@latest", env)["uuid"] == third
    assert show("flaky@latest", env)["uuid"] == second
    assert show("alice/ml@latest", env)["uuid"] == third
    assert show("alice/ml/flaky@latest", env)["uuid"] == second
    # Every command takes them: stop, then retry, by prefix.
    assert ok("runs", "stop", second[:8], env=env) == f"run {second}: stopped\n"
    assert ok("runs", "retry", "flaky@latest", env=env) == f"run {second}: created; to run again: check, after\n"

    # Two runs whose UUIDs share a prefix: the prefix is refused, naming both.
    ok("manage", "shell", "-v", "0", "-c", SET_UUID.format(old=first, new="abcd1234-0000-4000-8000-000000000001"),
       env=env)
    ok("manage", "shell", "-v", "0", "-c", SET_UUID.format(old=third, new="abcd1299-0000-4000-8000-000000000002"),
       env=env)
    result = fails("runs", "show", "abcd12", env=env)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: run prefix 'abcd12' is ambiguous: it matches ")
    assert "abcd1299-0000-4000-8000-000000000002 (alice/ml/chain, created)" in result.stderr
    assert "abcd1234-0000-4000-8000-000000000001 (alice/ml/chain, created)" in result.stderr
    assert result.stderr.rstrip().endswith("give more of the UUID")
    assert show("abcd1234", env)["uuid"] == "abcd1234-0000-4000-8000-000000000001"
    assert show("abcd-1299", env)["uuid"] == "abcd1299-0000-4000-8000-000000000002"

    (tmp_path / "other.yaml").write_text(PIPELINES.split("---\n")[0])
    ok("apply", str(tmp_path / "other.yaml"), "--project", "alice/other", env=env)
    cases = [
        ("ffff0000", "Error: run 'ffff0000' not found: no run's UUID starts with ffff0000\n"),
        ("not-a-run", "Error: run 'not-a-run' not found: expected a UUID, a prefix of one (e.g. ed2298c4) or "
                      "@latest (PIPELINE@latest, OWNER/PROJECT@latest)\n"),
        ("nope@latest", "Error: pipeline 'nope' not found (pipelines: chain, flaky, imageonly, on-data, sleeper, "
                        "talker)\n"),
        ("chain@latest", "Error: pipeline 'chain' is in several projects (alice/ml, alice/other): choose one with "
                         "--project OWNER/PROJECT (or OWNER/PROJECT/chain@latest for a run)\n"),
        ("alice/other@latest", "Error: run 'alice/other@latest' not found: project alice/other has no runs\n"),
        ("alice/nope@latest", "Error: project alice/nope not found\n"),
        ("a/b/c/d@latest", "Error: run 'a/b/c/d@latest' not found: expected @latest, PIPELINE@latest, "
                           "OWNER/PROJECT@latest or OWNER/PROJECT/PIPELINE@latest\n"),
    ]
    for ref, message in cases:
        result = fails("runs", "show", ref, env=env)
        assert (result.stdout, result.stderr) == ("", message), ref
    assert show("alice/ml/chain@latest", env)["uuid"] == "abcd1299-0000-4000-8000-000000000002"


def test_latest_of_an_empty_database(tmp_path):
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    result = fails("runs", "show", "@latest", env=env)
    assert result.stderr == "Error: run '@latest' not found: the database has no runs\n"


# -- runs watch ------------------------------------------------------------------------


def test_watch_an_existing_run_until_it_ends(env):
    uuid = trigger("chain", env)
    watcher = background("runs", "watch", uuid[:8], env=env)
    tick_until(uuid, env, ended, "ended run")
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, (out, err)
    assert "Traceback" not in err
    # Not a terminal: one line per change, then the summary of `polyflow run`.
    assert " a: succeeded (attempt 1)" in out and " run: succeeded" in out
    assert f"run {uuid} of alice/ml/chain: succeeded in " in out
    assert f"logs: `polyflow logs {uuid} OP`" in out

    # An ended run: its history and summary at once, with the exit status `run` gives.
    failed = trigger("flaky", env)
    result = polyflow("runs", "watch", failed[:8], "--tick", env=env)  # this command ticks
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"run {failed} of alice/ml/flaky: failed" in result.stdout
    assert "check failed (attempt 1)" in result.stdout
    again = polyflow("runs", "watch", "flaky@latest", env=env)
    assert again.returncode == 1 and f"run {failed} of alice/ml/flaky: failed" in again.stdout


def test_ctrl_c_leaves_the_watched_run_running(env):
    uuid = trigger("sleeper", env)
    tick_until(uuid, env, lambda run: ops(run)["nap"]["status"] == "running", "running op")
    watcher = background("runs", "watch", "@latest", env=env)
    time.sleep(1.5)
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert show(uuid, env)["status"] == "running"
    ok("runs", "stop", uuid, env=env)


# -- logs -------------------------------------------------------------------------------


def test_logs_of_every_op_followed_and_per_attempt(env, tmp_path):
    uuid = trigger("chain", env)
    tick_until(uuid, env, ended, "ended run")
    lines = ok("logs", uuid[:8], env=env).splitlines()
    assert "a | a says hi" in lines and "b | n is 7" in lines
    assert all(line.startswith(("a | ", "b | ")) for line in lines)
    assert ok("logs", uuid[:8], "--tail", "1", env=env).splitlines() == ["a | a says hi", "b | n is 7"]
    assert ok("logs", "chain@latest", "b", "--tail", "1", env=env) == "n is 7\n"

    # -f: the lines of a running op as it prints them, until it ends.
    talker = trigger("talker", env)
    follower = background("logs", talker[:8], "talk", "-f", env=env)
    tick_until(talker, env, ended, "ended run")
    out, err = follower.communicate(timeout=30)
    assert (follower.returncode, err) == (0, ""), (out, err)
    assert out.splitlines()[-4:] == ["line 0", "line 1", "line 2", "line 3"]
    # ... and without OP, every op as it comes, until the run ends.
    flaky = trigger("flaky", env)
    follower = background("logs", flaky, "-f", env=env)
    tick_until(flaky, env, ended, "ended run")
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and "Traceback" not in err, (out, err)
    assert out.splitlines()[-1] == "check | checking"

    # A second attempt: its log by default, the first with --attempt 1.
    (tmp_path / "flaky-passes").touch()
    ok("runs", "retry", flaky, "check", env=env)
    tick_until(flaky, env, lambda run: run["status"] == "succeeded", "succeeded retry")
    assert ok("logs", flaky, "check", "--attempt", "1", env=env).splitlines()[-1] == "checking"
    assert ok("logs", flaky, "check", "--attempt", "2", env=env).splitlines()[-1] == "checking"
    assert "--- attempt 2 ---" not in ok("logs", flaky, "check", env=env)
    result = fails("logs", flaky, "check", "--attempt", "3", env=env)
    assert result.stderr == "Error: check has no attempt 3 (attempts: 1 to 2)\n"

    result = fails("logs", uuid, "nope", env=env)
    assert result.stderr == f"Error: op 'nope' not found in run {uuid} (ops: a, b)\n"


def test_logs_of_an_op_that_failed_at_submit_say_why_and_exit_1(env):
    uuid = trigger("imageonly", env)
    tick_until(uuid, env, ended, "ended run")
    result = fails("logs", uuid, "build", env=env)
    assert result.stdout == ""
    assert result.stderr.startswith("op 'build' failed before it ran (attempt 1): template 'image' of op 'build' "
                                    "has no container command")
    result = fails("logs", uuid[:8], env=env)
    assert result.stderr.startswith("build | failed before it ran (attempt 1): template 'image'")
    # Never submitted (upstream failed): nothing to say but that, exit 0.
    result = polyflow("logs", uuid, "after", env=env)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"no logs yet: op 'after' of run {uuid} is upstream_failed and was never submitted\n"


# -- trigger ------------------------------------------------------------------------------


def test_trigger_an_applied_pipeline(env, tmp_path):
    out = ok("trigger", "chain", "--param", "b.n=5", env=env)
    assert out.startswith("run ") and out.endswith(" of alice/ml/chain: triggered (2 ops)\n")
    uuid = out.split()[1]
    run = show(uuid, env)
    assert (run["status"], run["trigger"], run["params"]) == ("created", "manual", {"b": {"n": 5}})

    result = fails("trigger", "chain", "--param", "b.m=5", env=env)
    assert result.stderr.splitlines() == [
        "params.b.m: unknown input 'm' of template 'show-n' (inputs: n)",
        "nothing was triggered."]
    fails("trigger", "chain", "--param", "oops", env=env, code=2)

    # --watch --tick: shown until it ends, this command ticking, with `run`'s exit status.
    result = polyflow("trigger", "flaky", "--watch", "--tick", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "of alice/ml/flaky: triggered (2 ops)" in result.stdout
    assert "of alice/ml/flaky: failed in " in result.stdout

    (tmp_path / "other.yaml").write_text(PIPELINES.split("---\n")[0])
    ok("apply", "-f", str(tmp_path / "other.yaml"), "--project", "alice/other", env=env)  # -f still works
    result = fails("trigger", "chain", env=env)
    assert result.stderr == ("Error: pipeline 'chain' is in several projects (alice/ml, alice/other): choose one "
                             "with --project OWNER/PROJECT (or OWNER/PROJECT/chain@latest for a run)\n")
    out = ok("trigger", "chain", "--project", "alice/other", env=env)
    assert out.endswith("alice/other/chain: triggered (2 ops)\n")
    result = fails("trigger", "chains", "--project", "alice/other", env=env)
    assert result.stderr == "Error: pipeline 'chains' not found in alice/other (pipelines: chain)\n"


# -- pipelines -----------------------------------------------------------------------------


def test_pipelines_list_show_pause_resume_delete(env):
    lines = ok("pipelines", "list", env=env).splitlines()
    assert lines[0].split() == ["PIPELINE", "SCHEDULE", "STATE", "NEXT", "SLOT", "(UTC)", "RUNS", "NEWEST", "RUN"]
    assert [line.split()[0] for line in lines[1:]] == [
        "alice/ml/chain", "alice/ml/flaky", "alice/ml/imageonly", "alice/ml/on-data", "alice/ml/sleeper",
        "alice/ml/talker"]
    uuid = trigger("chain", env)
    listed = json.loads(ok("pipelines", "list", "--project", "alice/ml", "-o", "json", env=env))
    chain = next(p for p in listed if p["name"] == "chain")
    assert (chain["owner"], chain["project"], chain["is_paused"], chain["runs"], chain["newest_run"]) == (
        "alice", "ml", False, 1, uuid)
    assert yaml.safe_load(ok("pipelines", "list", "-o", "yaml", env=env)) == json.loads(
        ok("pipelines", "list", "-o", "json", env=env))

    table = ok("pipelines", "show", "chain", env=env).splitlines()
    assert table[0] == "pipeline alice/ml/chain"
    assert "  schedule:    none" in table and "  state:       active" in table
    assert any(line.split() == ["b", "template", "show-n", "a"] for line in table)
    assert any(line.split()[:3] == [uuid[:8], "created", "manual"] for line in table)
    shown = yaml.safe_load(ok("pipelines", "show", "chain", "-o", "yaml", env=env))
    assert [op["name"] for op in shown["ops"]] == ["a", "b"]
    assert shown["newest_runs"][0]["uuid"] == uuid

    assert ok("pipelines", "pause", "chain", env=env) == "pipeline alice/ml/chain: paused\n"
    assert json.loads(ok("pipelines", "show", "chain", "-o", "json", env=env))["is_paused"] is True
    assert "paused" in ok("trigger", "chain", env=env)
    assert ok("pipelines", "resume", "chain", env=env) == "pipeline alice/ml/chain: resumed\n"

    result = fails("pipelines", "delete", "talker", env=env)
    assert result.stderr == "Error: not deleting pipeline alice/ml/talker and its 0 runs without --yes\n"
    assert ok("pipelines", "delete", "talker", "--yes", env=env) == "pipeline alice/ml/talker and its 0 runs: deleted\n"
    # Active runs: refused by the service.
    result = fails("pipelines", "delete", "chain", "--yes", env=env)
    assert result.stderr == "Error: pipeline 'chain' has 2 active run(s); stop them first\n"
    result = fails("pipelines", "show", "talker", env=env)
    assert result.stderr.startswith("Error: pipeline 'talker' not found (pipelines: chain, flaky, ")


# -- op-level retry and stop, mark ---------------------------------------------------------


def test_retry_and_stop_one_op(env):
    uuid = trigger("sleeper", env)
    tick_until(uuid, env, lambda run: ops(run)["nap"]["status"] == "running", "running op")
    result = fails("runs", "stop", uuid[:8], "nope", env=env)
    assert result.stderr == f"Error: op 'nope' not found in run {uuid} (ops: nap, then)\n"
    assert ok("runs", "stop", uuid[:8], "nap", env=env) == (
        f"op nap of run {uuid}: stopping; the next tick ends its 1 submitted op run(s)\n")
    run = tick_until(uuid, env, ended, "ended run")
    assert (ops(run)["nap"]["status"], ops(run)["then"]["status"]) == ("stopped", "upstream_failed")
    result = fails("runs", "stop", uuid, "nap", env=env)
    assert result.stderr == "Error: op 'nap' is already stopped\n"

    chain = trigger("chain", env)
    tick_until(chain, env, lambda run: run["status"] == "succeeded", "succeeded run")
    assert ok("runs", "retry", chain[:8], "b", env=env) == f"run {chain}: created; to run again: b\n"
    run = tick_until(chain, env, lambda run: run["status"] == "succeeded", "succeeded retry")
    assert {name: o["attempt"] for name, o in ops(run).items()} == {"a": 1, "b": 2}
    result = fails("runs", "retry", chain, "zz", env=env)
    assert result.stderr == f"Error: op 'zz' not found in run {chain} (ops: a, b)\n"


def test_mark_an_op_run(env):
    uuid = trigger("imageonly", env)
    run = tick_until(uuid, env, ended, "ended run")
    assert ops(run)["after"]["status"] == "upstream_failed"
    assert ok("runs", "mark", uuid[:8], "build", "succeeded", "--reason", "built by hand", env=env) == (
        f"op build of run {uuid}: succeeded; run: created\n")
    run = show(uuid, env)
    assert (ops(run)["build"]["status"], ops(run)["build"]["message"]) == ("succeeded", "built by hand")
    assert ops(run)["after"]["status"] == "created"  # its trigger rule is worked out again
    assert ok("runs", "mark", "imageonly@latest", "after", "skipped", env=env) == (
        f"op after of run {uuid}: skipped; run: created\n")
    run = tick_until(uuid, env, ended, "ended run")  # the next tick finishes it
    assert run["status"] == "succeeded"

    result = fails("runs", "mark", uuid, "build", "done", env=env, code=2)
    assert "Invalid value for 'succeeded|failed|skipped': 'done' is not one of" in result.stderr
    result = fails("runs", "mark", uuid, "nope", "failed", env=env)
    assert result.stderr == f"Error: op 'nope' not found in run {uuid} (ops: build, after)\n"


# -- events, backfill -----------------------------------------------------------------------


def test_fire_an_event(env):
    out = ok("events", "fire", "data-ready", "--payload", '{"size": 5}', env=env).splitlines()
    assert out[0] == "event data-ready of alice: fired, 1 run triggered"
    uuid = out[1].split()[1]
    assert out[1] == f"  run {uuid} of alice/ml/on-data: triggered"
    run = show(uuid, env)
    assert (run["trigger"], run["params"]) == ("event", {"use": {"size": 5}})

    result = fails("events", "fire", "data-ready", "--payload", '{"size": "big"}', env=env)
    assert result.stderr.splitlines()[-1] == "nothing was triggered."
    assert result.stderr.startswith("payload.size: ")
    result = fails("events", "fire", "data-ready", "--owner", "bob", "--payload", "{}", env=env)
    assert result.stderr == "Error: event 'data-ready' of bob not found (events: none)\n"
    result = fails("events", "fire", "nope", env=env)
    assert result.stderr == "Error: event 'nope' not found (events: data-ready)\n"
    for payload in ("{oops", "[1]"):
        result = fails("events", "fire", "data-ready", "--payload", payload, env=env, code=2)
        assert "Invalid value for '--payload'" in result.stderr


def hourly(start: dt.datetime) -> str:
    return f"""\
version: 1
kind: pipeline
name: hourly
schedule: {{kind: interval, start_at: '{start.isoformat()}', frequency: 3600, max_active_runs: 2}}
ops:
  - {{name: hello, template: {{name: hello}}}}
templates:
  - kind: job
    name: hello
    container: {{image: python:3.11, command: [python, -c, "print('hi')"]}}
"""


def test_backfill_a_past_range(env, tmp_path):
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    (tmp_path / "hourly.yaml").write_text(hourly(start))
    ok("apply", str(tmp_path / "hourly.yaml"), "--project", "alice/sched", env=env)
    begin, end = start + dt.timedelta(hours=1), start + dt.timedelta(hours=4)
    out = ok("backfill", "hourly", "--from", begin.isoformat(), "--to", end.isoformat(), env=env).splitlines()
    assert out[0] == (f"pipeline alice/sched/hourly: 3 runs created for the slots of [{begin.isoformat()}, "
                      f"{end.isoformat()}) that had none")
    assert [line.split()[3].rstrip(",") for line in out[1:]] == [
        (begin + dt.timedelta(hours=h)).isoformat() for h in range(3)]
    listed = json.loads(ok("runs", "list", "--pipeline", "hourly", "-o", "json", env=env))
    assert sorted(run["schedule_at"] for run in listed) == [(begin + dt.timedelta(hours=h)).isoformat()
                                                            for h in range(3)]
    assert {run["trigger"] for run in listed} == {"backfill"}
    # Again: those slots have their runs.
    assert ok("backfill", "hourly", "--from", begin.isoformat(), "--to", end.isoformat(), env=env).startswith(
        "pipeline alice/sched/hourly: 0 runs created")

    result = fails("backfill", "chain", "--from", begin.isoformat(), "--to", end.isoformat(), env=env)
    assert result.stderr.startswith("Error: pipeline 'chain' has no schedule")
    for args, message in [
        (["--from", end.isoformat(), "--to", begin.isoformat()], "Invalid value for '--to'"),
        (["--from", "yesterday", "--to", end.isoformat()], "'yesterday' is not an ISO 8601 time"),
        (["--from", begin.isoformat()], "Missing option '--to'"),
    ]:
        result = fails("backfill", "hourly", *args, env=env, code=2)
        assert message in result.stderr


# -- tick --now ahead of the clock (item 5) ---------------------------------------------------


def test_tick_ahead_of_the_clock_refuses_without_yes_naming_the_slots(env, tmp_path):
    # 3 days and between 1 s and an hour ahead.
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3, hours=1)).replace(minute=30, second=0, microsecond=0)
    # No scheduled pipeline: nothing to refuse.
    assert ok("tick", "--now", future.isoformat(), env=env).startswith("0 run(s) created")

    start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    text = hourly(start).replace("max_active_runs: 2", "catchup: false, max_active_runs: 5")
    (tmp_path / "hourly.yaml").write_text(text)
    ok("apply", str(tmp_path / "hourly.yaml"), "--project", "alice/sched", env=env)
    slot = future.replace(minute=0)
    result = fails("tick", "--now", future.isoformat(), env=env)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: --now {future.isoformat()} is 3 days ahead of the clock: this tick would create runs for slots "
        "that are not due yet, and move their schedules past them:",
        f"  alice/sched/hourly: {slot.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        "Run it again with --yes to do it anyway (or tick without --now).",
    ]
    assert json.loads(ok("runs", "list", "--pipeline", "hourly", "-o", "json", env=env)) == []
    # A --now in the past, or the clock's: ticks as always.
    assert "1 run(s) created" in ok("tick", "--now", (start + dt.timedelta(minutes=1)).isoformat(), env=env)
    assert "1 run(s) created" in ok("tick", env=env)
    # --yes: done anyway.
    assert "1 run(s) created" in ok("tick", "--now", future.isoformat(), "--yes", env=env)
    listed = json.loads(ok("runs", "list", "--pipeline", "hourly", "-o", "json", env=env))
    assert listed[0]["schedule_at"] == slot.isoformat()


# -- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["logs", "abcd", "a", "--attempt", "0"], "Invalid value for '--attempt'"),
    (["logs", "abcd", "a", "--attempt", "99999999999999999999"], "is not in the range"),
    (["logs", "abcd", "--attempt", "2"], "--attempt N needs OP"),
    (["runs", "watch", "abcd", "--log-lines", "-1"], "Invalid value for '--log-lines'"),
    (["runs", "watch"], "Missing argument 'RUN'"),
    (["runs", "mark", "abcd", "a"], "Missing argument 'succeeded|failed|skipped'"),
    (["trigger", "chain", "--tick"], "--tick goes with --watch"),
    (["runs", "list", "-o", "xml"], "Invalid value for '-o' / '--output'"),
    (["pipelines", "list", "-o", "xml"], "Invalid value for '-o' / '--output'"),
    (["apply", "--project", "alice/ml"], "Missing argument 'FILE...'"),
    (["events", "fire", "x", "--payload", "nope"], "Invalid value for '--payload'"),
])
def test_usage_errors_exit_2_before_the_database(args, message, tmp_path):
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow")}
    result = fails(*args, env=env, code=2)
    assert message in result.stderr
    assert not (tmp_path / "polyflow").exists()


def test_shell_completion_of_runs(env):
    uuid = trigger("chain", env)
    result = subprocess.run([sys.executable, "-m", "polyflow.cli"], cwd=ROOT, capture_output=True, text=True,
                            env={**env, "_POLYFLOW_COMPLETE": "bash_complete", "COMP_WORDS": "polyflow runs show ",
                                 "COMP_CWORD": "3"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"plain,{uuid[:8]}" in result.stdout.splitlines()
    assert "plain,@latest" in result.stdout.splitlines()


def test_the_new_commands_load_nothing_of_the_server(env):
    from tests.test_cli_startup import SERVER_SIDE, loaded, of

    trigger("chain", env)
    for args in (("pipelines", "list"), ("runs", "show", "@latest"), ("logs", "@latest"),
                 ("trigger", "chain"), ("tick", "--now", "2000-01-01T00:00:00Z")):
        assert of(loaded(env, *args), *SERVER_SIDE) == [], args
    assert of(loaded(env, "--help"), "django", "yaml") == []


def test_watch_on_a_terminal_draws_the_live_table_of_run(env):
    from tests.test_cli_run import on_a_terminal

    uuid = trigger("chain", env)
    text = on_a_terminal(["runs", "watch", uuid[:8], "--tick"], env)
    assert re.search(r"\x1b\[2KOP +STATUS +ATTEMPT +DURATION +LOG", text)
    assert f"chain  run {uuid[:8]}" in text
    assert "(Ctrl-C exits, the run goes on)" in text
    summary = text[text.rindex("\x1b[?25h"):]
    assert f"run {uuid} of alice/ml/chain: succeeded in " in summary
