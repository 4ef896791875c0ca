"""`polyflow run`: the real command in subprocesses, on the embedded SQLite of a
fresh POLYFLOW_HOME (and once on PostgreSQL), with the local backend running
real processes. The examples themselves are run in tests/test_examples.py."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import dj_database_url
import psycopg
import pytest

from polyflow.backends.base import Backend
from polyflow.cli.run import BACKEND_CHOICES, POLL_PAUSE, SAFETY_TICK, SIGNAL_CHECK, _Driver, param_value
from polyflow.conf import BACKEND_CHOICES as SETTING_CHOICES
from tests.backends.support import runner_servers, stop_runner_servers
from tests.conftest import ROOT, LineReader, assert_no_traceback, polyflow

TWO_PIPELINES = """\
version: 1
kind: pipeline
name: first
ops: [{name: hello, template: {name: hello}}]
templates:
  - {kind: job, name: hello, container: {image: busybox, command: [sh, -c, "echo first"]}}
---
version: 1
kind: pipeline
name: second
ops: [{name: hello, template: {name: hello}}]
templates:
  - {kind: job, name: hello, container: {image: busybox, command: [sh, -c, "echo second"]}}
"""

# An op that sleeps, and one after it that never gets to run.
SLEEPER = """\
version: 1
kind: pipeline
name: sleeper
ops:
  - {name: nap, template: {name: nap}}
  - {name: after, template: {name: nap}, dependencies: [nap]}
templates:
  - kind: job
    name: nap
    container: {image: busybox, command: [sleep, "30"]}
"""

# An op whose process ignores SIGTERM: stopping it takes the runner's kill grace (5 s).
STUBBORN = """\
version: 1
kind: pipeline
name: stubborn
ops: [{name: nap, template: {name: nap}}]
templates:
  - kind: job
    name: nap
    container: {image: busybox, command: [sh, -c, "trap '' TERM; sleep 30"]}
"""






def run_uuid(stdout: str) -> str:
    return re.search(r"^run ([0-9a-f-]{36}) of ", stdout, re.M).group(1)


def show(uuid: str, env) -> dict:
    result = polyflow("runs", "show", uuid, "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def op_runs(run: dict) -> dict[str, dict]:
    return {o["name"]: o for o in run["op_runs"]}


def shell(code: str, env) -> str:
    result = polyflow("manage", "shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- params -------------------------------------------------------------------------


@pytest.mark.parametrize("raw, value", [
    ("0.1", 0.1), ("3", 3), ("true", True), ("false", False), ("hello", "hello"), ("", ""),
    ("s3://bucket/key", "s3://bucket/key"), ("2026-01-01", "2026-01-01"), ("[1, 2]", [1, 2]),
    ("'3'", "3"), ("a: b: c", "a: b: c"), ("null", None),
])
def test_param_values_are_yaml_scalars(raw, value):
    assert param_value(raw) == value
    assert type(param_value(raw)) is type(value)


def test_backend_choices_are_the_settings():
    assert BACKEND_CHOICES == SETTING_CHOICES


def test_a_param_override_changes_the_run(env):
    first = polyflow("run", "examples/quickstart.yaml", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    second = polyflow("run", "examples/quickstart.yaml", "--param", "train-fast.lr=0.05",
                      "--param", "train-fast.epochs=20", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "pipeline quickstart: updated (7 ops)" in second.stdout

    before, after = (op_runs(show(run_uuid(result.stdout), env)) for result in (first, second))
    assert before["train-fast"]["params"]["lr"] == 0.5
    assert (after["train-fast"]["params"]["lr"], after["train-fast"]["params"]["epochs"]) == (0.05, 20)
    assert after["train-slow"]["params"]["lr"] == before["train-slow"]["params"]["lr"] == 0.02
    # A worse model now: its loss is higher, and the slow one wins.
    loss = after["train-fast"]["outputs"]["loss"]
    assert loss > before["train-fast"]["outputs"]["loss"]
    assert f"loss={loss}" in second.stdout
    from tests.test_examples import stored_file

    assert stored_file(after["select-best"]["outputs"]["best_model"]) == stored_file(
        after["train-slow"]["outputs"]["model"])


def test_bad_params_exit_1_and_apply_nothing(env):
    result = polyflow("run", "examples/quickstart.yaml", "--param", "train-fast.lr=fast",
                      "--param", "trian-fast.lr=1", "--param", "prepare.size=3", env=env)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "nothing was applied or run."
    assert any(line.startswith("params.train-fast.lr: ") and "'fast'" in line for line in lines), lines
    assert any(line.startswith("params.trian-fast: unknown op 'trian-fast'; did you mean 'train-fast'?")
               for line in lines), lines
    assert any(line.startswith("params.prepare.size: unknown input 'size'") for line in lines), lines
    assert shell("from polyflow.models import Pipeline, PipelineRun; "
                 "print(Pipeline.objects.count(), PipelineRun.objects.count())", env) == "0 0"


@pytest.mark.parametrize("args, message", [
    (["--param", "lr=0.1"], "'lr=0.1': expected OP.NAME=VALUE"),
    (["--param", "train.lr"], "'train.lr': expected OP.NAME=VALUE"),
    (["--param", "train.lr=.inf"], "inf is not a finite number"),
    (["--backend", "docker"], "Invalid value for '--backend'"),
    (["--project", "nobody"], "expected OWNER/PROJECT"),
])
def test_usage_errors_exit_2_before_anything_is_set_up(args, message, env, tmp_path):
    result = polyflow("run", "examples/quickstart.yaml", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "polyflow").exists()


# -- which pipeline, which project ------------------------------------------------


def test_several_pipelines_need_pipeline(env, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_PIPELINES)
    result = polyflow("run", str(path), env=env)
    assert result.returncode == 1
    assert result.stderr == ("Error: the files hold 2 pipelines (first, second): choose one with "
                             "--pipeline NAME; nothing was applied\n")
    result = polyflow("run", str(path), "--pipeline", "third", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: --pipeline third: no such pipeline in {path} (pipelines: first, second)")

    result = polyflow("run", str(path), "--pipeline", "second", "--backend", "local", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pipeline first: created (1 op)\npipeline second: created (1 op)\n" in result.stdout
    assert [(r["pipeline"], r["status"]) for r in json.loads(polyflow("runs", "list", "-o", "json", env=env).stdout)
            ] == [("second", "succeeded")]
    assert polyflow("logs", run_uuid(result.stdout), "hello", env=env).stdout.splitlines()[-1] == "second"


def test_default_project_and_its_owner_are_created(env, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_PIPELINES)
    result = polyflow("run", str(path), "--pipeline", "first", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("project local/default: created\n")
    # The owner cannot log in: it has no password.
    assert shell("from django.contrib.auth import get_user_model; "
                 "u = get_user_model().objects.get(username='local'); "
                 "print(u.has_usable_password(), u.is_staff)", env) == "False False"
    result = polyflow("run", str(path), "--pipeline", "first", env=env)
    assert result.returncode == 0
    assert not result.stdout.startswith("project ")


def test_another_project_follows_the_rules_of_apply(env, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_PIPELINES)
    result = polyflow("run", str(path), "--pipeline", "first", "--project", "bob/ml", env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == ("Error: unknown owner 'bob': create the user first with "
                             "`polyflow manage createsuperuser`\n")
    created = polyflow("manage", "createsuperuser", "--noinput", "--username", "bob", "--email", "bob@example.com",
                       env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    assert created.returncode == 0, created.stderr
    result = polyflow("run", str(path), "--pipeline", "first", "--project", "bob/ml", env=env)
    assert result.returncode == 0, result.stderr
    assert f"run {run_uuid(result.stdout)} of bob/ml/first: triggered (1 op)" in result.stdout
    assert "of bob/ml/first: succeeded in " in result.stdout


def test_postgresql_with_database_url(env):
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/polyflow")
    config = dj_database_url.parse(base)
    name = f"polyflow_run_{uuid.uuid4().hex[:8]}"
    server = dict(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"],
                  password=config["PASSWORD"] or None, dbname="postgres", autocommit=True)
    with psycopg.connect(**server) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = base.rsplit("/", 1)[0] + f"/{name}"
        result = polyflow("run", "examples/quickstart.yaml", "--param", "prepare.samples=200",
                          env={**env, "DATABASE_URL": url})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "of local/default/quickstart: succeeded in " in result.stdout
        # Nothing went to SQLite.
        assert not (Path(env["POLYFLOW_HOME"]) / "polyflow.sqlite3").exists()
        with psycopg.connect(**{**server, "dbname": name}) as connection:
            assert connection.execute("SELECT status FROM polyflow_pipelinerun").fetchall() == [("succeeded",)]
    finally:
        with psycopg.connect(**server) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Ctrl-C -----------------------------------------------------------------------


def start(args, env, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "polyflow.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def read_until(process: subprocess.Popen, pattern: str, timeout: float = 30) -> str:
    """Lines of the process's stdout up to one matching `pattern`."""
    if not hasattr(process, "reader"):
        process.reader = LineReader(process.stdout)
    try:
        return process.reader.until(pattern, timeout)
    except AssertionError:
        process.kill()
        raise


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """(the rest of stdout, stderr) once the process has exited."""
    process.wait(timeout=timeout)
    return process.reader.rest(), process.stderr.read()


def attempt_pid(env, key_prefix: str) -> int:
    [process_file] = Path(env["POLYFLOW_HOME"], "runs").glob(f"{key_prefix}*/process.json")
    return json.loads(process_file.read_text())["child_pid"]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("signum, name, code", [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)])
def test_ctrl_c_stops_the_run_and_its_processes(signum, name, code, env, tmp_path):
    path = tmp_path / "sleeper.yaml"
    path.write_text(SLEEPER)
    process = start(["run", str(path)], env)
    out = read_until(process, r" nap: running \(attempt 1\)$")
    pid = attempt_pid(env, "sleeper-nap-")
    assert alive(pid)

    interrupted = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = finish(process, timeout=20)
    took = time.monotonic() - interrupted
    out += stdout
    assert process.returncode == code, out + stderr
    assert "Traceback" not in stderr, stderr
    assert took < 10, f"took {took:.1f} s to stop"
    assert not alive(pid), "the op's process is still running"

    assert f"{name}: stopping the run (Ctrl-C again to exit at once)" in out
    assert re.search(r"^\d\d:\d\d:\d\d nap: stopped \(attempt 1\)", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d after: stopped$", out, re.M)
    assert re.search(r"of local/default/sleeper: stopped in ", out)
    run = show(run_uuid(out), env)
    assert run["status"] == "stopped"
    assert {name: o["status"] for name, o in op_runs(run).items()} == {"nap": "stopped", "after": "stopped"}


def test_a_second_ctrl_c_exits_at_once(env, tmp_path):
    path = tmp_path / "stubborn.yaml"
    path.write_text(STUBBORN)
    process = start(["run", str(path)], env)
    out = read_until(process, r" nap: running \(attempt 1\)$")
    process.send_signal(signal.SIGINT)
    out += read_until(process, r"Ctrl-C: stopping the run")
    time.sleep(0.5)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process, timeout=10)
    assert process.returncode == 130, out + stdout + stderr
    assert time.monotonic() - interrupted < 2
    assert "exiting at once: run " in stdout
    uuid_ = run_uuid(out)
    assert show(uuid_, env)["status"] == "stopping"

    # The next ticks finish the stop: the runner kills the process after its grace.
    deadline = time.monotonic() + 30
    while show(uuid_, env)["status"] != "stopped":
        assert time.monotonic() < deadline, "the run never stopped"
        polyflow("tick", env=env)
        time.sleep(0.5)


# -- on a terminal ----------------------------------------------------------------


def on_a_terminal(args: list[str], env) -> str:
    """`polyflow ARGS` with its stdout on a pseudo-terminal (100 x 30): all it wrote there."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "polyflow.cli", *args],
                               cwd=ROOT, env={**env, "COLUMNS": "100", "LINES": "30"}, stdout=secondary,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(timeout=10) == 0, process.stderr.read()
    return output.decode()


def test_a_live_table_on_a_terminal(env, tmp_path):
    path = tmp_path / "two.yaml"
    # Half a second: the op is still running when the table is first drawn, however busy the machine.
    path.write_text(TWO_PIPELINES.replace('"echo first"', '"sleep 0.5; echo first"'))
    text = on_a_terminal(["run", str(path), "--pipeline", "first"], env)
    assert "\x1b[?25l" in text and text.count("\x1b[?25h") >= 1  # the cursor is hidden, then shown again
    assert re.search(r"\x1b\[2KOP +STATUS +ATTEMPT +DURATION +LOG", text)
    assert "(Ctrl-C stops it)" in text
    # No progress lines on a terminal: the table is redrawn instead.
    assert not re.search(r"^\d\d:\d\d:\d\d hello: ", text, re.M)
    # The summary comes after the table, which is erased.
    summary = text[text.rindex("\x1b[?25h"):]
    assert "of local/default/first: succeeded in " in summary
    assert re.search(r"hello +succeeded +1 ", summary)


# -- matrix ops --------------------------------------------------------------------

# Trials score x / 10 after a short nap; a negative x fails.
SCORE = """\
templates:
  - kind: job
    name: score
    inputs: [{name: x, type: int}]
    outputs: [{name: score, type: float}]
    container:
      image: python:3.11
      command: [python3, -c, "import json, os, time; time.sleep(0.3); x = int(os.environ['POLYFLOW_PARAM_X']);
                              print('x is', x); assert x > 0, 'x must be positive';
                              json.dump({'score': x / 10}, open(os.environ['POLYFLOW_OUTPUTS_FILE'], 'w'))"]
"""

# A grid of 4 trials, 2 at a time.
SEARCH = """\
version: 1
kind: pipeline
name: search
ops:
  - name: tune
    template: {name: score}
    matrix:
      kind: grid
      concurrency: 2
      params: {x: {kind: choice, value: [1, 2, 3, 4]}}
      metric: {name: score, optimization: maximize}
""" + SCORE

# A mapping fails when one of its items does.
FAILING_MAPPING = """\
version: 1
kind: pipeline
name: mapping
ops:
  - name: tune
    template: {name: score}
    matrix: {kind: mapping, values: [{x: 1}, {x: -2}, {x: 3}]}
""" + SCORE


def test_a_matrix_op_is_one_line_of_the_live_table(env, tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text(SEARCH)
    text = on_a_terminal(["run", str(path)], env)
    table, summary = text[:text.rindex("\x1b[?25h")], text[text.rindex("\x1b[?25h"):]
    rows = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", row).strip() for row in table.split("\x1b[2K")[1:]]
    tune = [row for row in rows if row.startswith("tune")]
    assert tune and not [row for row in rows if row.startswith("tune[")], rows  # no line per trial
    assert all(re.fullmatch(r"tune +(running|succeeded) +[0-9.]+s\+? +[0-4]/4 done, [0-2] running( .*)?", row)
               for row in tune), tune
    # While the second pair runs, the best of the first is shown.
    assert any(re.search(r"running .* 2/4 done, 2 running  best score=0\.2$", row) for row in tune), tune
    assert re.search(r"succeeded .* 4/4 done, 0 running  best score=0\.4$", tune[-1]), tune
    assert re.search(r"\ntune +succeeded +[0-9.]+s +4 trials: 4 succeeded; best: trial 3 score=0\.4 x=4\r?\n", summary)
    assert "(a trial: OP[INDEX])" in summary


def test_a_failed_group_without_a_terminal(env, tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(FAILING_MAPPING)
    result = polyflow("run", str(path), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert out, result.stderr
    # Progress lines: the group's, and a trial's only when it failed.
    assert re.search(r"^\d\d:\d\d:\d\d tune: running: 3 trial\(s\)$", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d tune\[1\]: failed \(attempt 1\): exited with code 1$", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d tune: failed: 2 of 3 trial\(s\) succeeded$", out, re.M)
    assert not re.search(r"tune(\[[02]\])?: (scheduled|running|succeeded) \(attempt", out)
    rows = out[out.index("\nOP "):].splitlines()[2:3]
    assert re.fullmatch(r"tune +failed +[0-9.]+s +3 trials: 2 succeeded, 1 failed", rows[0]), rows
    failure = out[out.index("\ntune failed: 2 of 3 trial(s) succeeded\n"):].splitlines()[2:]
    assert failure[0].split() == ["TRIAL", "STATUS", "ATTEMPT", "DURATION", "PARAMS", "METRICS", "/", "OUTPUTS",
                                  "/", "MESSAGE"]
    assert re.fullmatch(r"  1 +failed +1 +[0-9.]+s +x=-2 +error: exited with code 1", failure[1]), failure
    assert failure[3] == "tune[1] failed (attempt 1): exited with code 1"
    assert failure[4].startswith("  last ") and failure[4].endswith("/output.log:")
    assert "    AssertionError: x must be positive" in failure
    assert f"polyflow logs {run_uuid(out)} OP` (a trial: OP[INDEX])" in out

    logs = polyflow("logs", run_uuid(out), "tune[1]", env=env)
    assert logs.returncode == 0 and "x is -2" in logs.stdout, logs.stdout + logs.stderr


# -- the hand-off --------------------------------------------------------------------

CHAIN = """\
version: 1
kind: pipeline
name: chain
ops:
  - {name: o0, template: {name: t}}
  - {name: o1, template: {name: t}, dependencies: [o0]}
  - {name: o2, template: {name: t}, dependencies: [o1]}
  - {name: o3, template: {name: t}, dependencies: [o2]}
  - {name: o4, template: {name: t}, dependencies: [o3]}
templates: [{kind: job, name: t, container: {image: busybox, command: ["true"]}}]
"""


def test_the_next_op_starts_as_soon_as_one_ends(env, tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    result = polyflow("run", str(path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    ops = op_runs(show(run_uuid(result.stdout), env))
    gaps = [datetime.fromisoformat(ops[f"o{i}"]["started_at"]) - datetime.fromisoformat(ops[f"o{i - 1}"]["finished_at"])
            for i in range(1, 5)]
    # Without the runners' signal the loop would notice an end at its safety tick, a second later.
    assert sorted(gaps)[len(gaps) // 2].total_seconds() < 0.5, gaps
    # The attempts were forked by the runs directory's runner server, which outlived the command.
    runs = Path(env["POLYFLOW_HOME"]) / "runs"
    for directory in runs.glob("chain-*"):
        assert json.loads((directory / "process.json").read_text())["launched"] == "server"
    assert len(runner_servers(runs)) == 1
    assert list((runs / ".listeners").iterdir()) == []  # the command's listener is gone with it


class FakeBackend:
    """Reports a change on the `changes_at`-th call of watch (never when None)."""

    def __init__(self, changes_at=None, driver=None, interrupt_at=None):
        self.calls = []
        self.changes_at, self.driver, self.interrupt_at = changes_at, driver, interrupt_at

    def watch(self, timeout):
        self.calls.append(timeout)
        if len(self.calls) == self.interrupt_at:
            self.driver.interrupted = signal.SIGINT
        if len(self.calls) == self.changes_at:
            return ["chain-o0-1234abcd-1"]
        time.sleep(timeout)
        return []


@pytest.mark.parametrize("changes_at, interrupt_at, within", [
    (3, None, (0.15, 0.5)),  # a change: the loop ticks at once
    (None, 3, (0.15, 0.5)),  # Ctrl-C: acted on within SIGNAL_CHECK
    (None, None, (SAFETY_TICK - 0.05, SAFETY_TICK + 0.5)),  # nothing: the safety tick
])
def test_the_loop_waits_on_the_backend(changes_at, interrupt_at, within):
    driver = _Driver(run=None, backend=None, watcher=None)
    driver.backend = FakeBackend(changes_at, driver, interrupt_at)
    started = time.monotonic()
    driver._wait()
    took = time.monotonic() - started
    assert within[0] <= took < within[1], took
    assert all(timeout <= SIGNAL_CHECK for timeout in driver.backend.calls)


def test_a_backend_that_reports_nothing_is_polled():
    class Silent:
        watch = Backend.watch  # the default: sleeps, knows of no change

    driver = _Driver(run=None, backend=Silent(), watcher=None)
    started = time.monotonic()
    driver._wait()
    assert POLL_PAUSE - 0.02 <= time.monotonic() - started < POLL_PAUSE + 0.3


@pytest.fixture
def env(polyflow_env):
    yield polyflow_env
    stop_runner_servers(Path(polyflow_env["POLYFLOW_HOME"]) / "runs")
