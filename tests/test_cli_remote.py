"""Remote mode (issue 14, item 4): the CLI against a real `polyflow server` subprocess over its
API, with `--server`/`--token`, POLYFLOW_SERVER/POLYFLOW_TOKEN or `polyflow login`'s file; the
same output and exit status as the same command on the server's database."""

import datetime as dt
import json
import os
import re
import shutil
import stat
import time

import pytest

from tests.conftest import assert_no_traceback, clean_environ, polyflow
from tests.processes import Server
from tests.test_cli_ops import PIPELINES, hourly, ok

DEADLINE = 60
# A matrix op: its group is one op of the run, its trials under it.
SWEEP = """\
version: 1
kind: pipeline
name: sweep
ops:
  - name: tune
    template: {name: say}
    matrix:
      kind: grid
      concurrency: 2
      params:
        n: {kind: choice, value: [1, 2, 3]}
templates:
  - kind: job
    name: say
    inputs: [{name: n, type: int}]
    container: {image: python:3.11, command: [python, -c, "import os; print('n is', os.environ['POLYFLOW_PARAM_N'])"]}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A `polyflow server` on a POLYFLOW_HOME with alice, her token and PIPELINES in alice/ml, and one
    succeeded run of chain; {env (the database mode's), url, token}."""
    base = tmp_path_factory.mktemp("remote")
    env = {**clean_environ(base / "home"), "POLYFLOW_HOME": str(base / "polyflow"),
           "FLAKY_MARKER": str(base / "flaky-passes")}
    ok("manage", "migrate", "--no-input", env=env)
    ok("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "alice@example.com",
       env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    token = re.match(r"Generated token (\w+) for user alice", ok("manage", "drf_create_token", "alice",
                                                                 env=env)).group(1)
    (base / "pipelines.yaml").write_text(PIPELINES + "---\n" + SWEEP)
    ok("apply", str(base / "pipelines.yaml"), "--project", "alice/ml", env=env)
    server = Server(env)
    site = {"env": env, "url": server.url, "token": token, "base": base}
    remote(site, "trigger", "chain", "--project", "alice/ml")
    wait(site, "alice/ml/chain@latest", ended)
    yield site
    server.stop()


def remote(site, *args, code: int = 0):
    """The command against the server, with --server and --token; its result, exit status `code`."""
    result = polyflow("--server", site["url"], "--token", site["token"], *args, env=site["env"])
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert_no_traceback(result)
    return result


def local(site, *args, code: int = 0):
    """The command on the server's database."""
    result = polyflow(*args, env=site["env"])
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert_no_traceback(result)
    return result


def wait(site, ref: str, done) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        run = json.loads(remote(site, "runs", "show", ref, "-o", "json").stdout)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"the run did not get there in {DEADLINE} s: {run}"
        time.sleep(0.3)


def ended(run: dict) -> bool:
    return run["status"] in ("succeeded", "failed", "stopped")


def op(run: dict, name: str) -> dict:
    return next(op_run for op_run in run["op_runs"] if op_run["name"] == name)


def test_reads_are_the_same_as_against_the_database(site):
    run = wait(site, "alice/ml/chain@latest", ended)
    assert run["status"] == "succeeded"
    short = run["uuid"][:8]
    for args in (("runs", "list", "--project", "alice/ml"),
                 ("runs", "list", "--project", "alice/ml", "--pipeline", "chain", "--status", "succeeded",
                  "--limit", "1", "-o", "json"),
                 ("runs", "show", short, "--project", "alice/ml"),
                 ("runs", "show", "alice/ml/chain@latest", "-o", "yaml"),
                 ("runs", "show", "chain@latest", "--project", "alice/ml", "--trials"),
                 ("runs", "show", run["uuid"], "--project", "alice/ml", "-o", "json"),
                 ("pipelines", "list", "--project", "alice/ml"),
                 ("pipelines", "list", "--project", "alice/ml", "-o", "json"),
                 ("pipelines", "show", "chain", "--project", "alice/ml"),
                 ("pipelines", "show", "chain", "--project", "alice/ml", "-o", "yaml"),
                 ("logs", short, "--project", "alice/ml"),
                 ("logs", short, "a", "--project", "alice/ml", "--tail", "1"),
                 ("logs", short, "b", "--project", "alice/ml", "--attempt", "1")):
        over_api, on_database = remote(site, *args), local(site, *args)
        assert (over_api.stdout, over_api.stderr) == (on_database.stdout, on_database.stderr), args
    assert "a | a says hi" in remote(site, "logs", short, "--project", "alice/ml").stdout


def test_a_matrix_op_is_shown_as_on_the_database(site):
    out = remote(site, "trigger", "sweep", "--project", "alice/ml").stdout
    uuid = out.split()[1]
    assert wait_uuid(site, uuid, ended)["status"] == "succeeded"
    for args in (("runs", "show", uuid, "--project", "alice/ml"),
                 ("runs", "show", "alice/ml/sweep@latest", "--trials"),
                 ("runs", "show", "alice/ml/sweep@latest", "-o", "json"),
                 ("runs", "list", "--project", "alice/ml", "--pipeline", "sweep")):
        assert remote(site, *args).stdout == local(site, *args).stdout, args
    assert "tune  succeeded" in remote(site, "runs", "show", uuid, "--project", "alice/ml").stdout
    # The trials' logs, each prefixed, one trial's alone, and an attempt of one.
    for args in (("logs", uuid, "tune"), ("logs", uuid), ("logs", uuid, "tune[1]"),
                 ("logs", uuid, "tune[2]", "--attempt", "1"), ("logs", uuid, "tune[7]")):
        code = 1 if args[-1] == "tune[7]" else 0
        over_api, on_database = remote(site, *args, code=code), local(site, *args, code=code)
        assert (over_api.stdout, over_api.stderr) == (on_database.stdout, on_database.stderr), args
    assert remote(site, "logs", uuid, "tune[1]").stdout.endswith("\nn is 2\n")
    assert "tune[0] | n is 1\n" in remote(site, "logs", uuid, "tune").stdout
    # The summary of a watched group: its trials, its best.
    over_api, on_database = remote(site, "runs", "watch", uuid), local(site, "runs", "watch", uuid)
    assert without_log_paths(over_api.stdout) == without_log_paths(on_database.stdout)


def test_backfill_and_delete_a_pipeline(site, tmp_path):
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    # catchup: false, so that the server's scheduler leaves the past slots to the backfills.
    (tmp_path / "hourly.yaml").write_text(hourly(start).replace("max_active_runs: 2", "max_active_runs: 2, "
                                                                                      "catchup: false"))
    local(site, "apply", str(tmp_path / "hourly.yaml"), "--project", "alice/sched")
    hour = dt.timedelta(hours=1)

    def backfill(first: int, how):
        begin, end = start + first * hour, start + (first + 3) * hour
        out = how(site, "backfill", "hourly", "--from", begin.isoformat(), "--to", end.isoformat(),
                  "--project", "alice/sched").stdout
        # The same lines but for the runs' UUIDs and the slots.
        for h in range(4):
            out = out.replace((begin + h * hour).isoformat(), f"SLOT{h}")
        return re.sub(r"run [0-9a-f-]{36}", "run U", out)

    over_api, on_database = backfill(1, remote), backfill(5, local)
    assert over_api == on_database
    assert over_api.startswith("pipeline alice/sched/hourly: 3 runs created for the slots of [SLOT0, SLOT3)")
    assert backfill(1, remote).startswith("pipeline alice/sched/hourly: 0 runs created")
    args = ("backfill", "chain", "--project", "alice/ml", "--from", start.isoformat(), "--to",
            (start + hour).isoformat())
    assert remote(site, *args, code=1).stderr == local(site, *args, code=1).stderr

    # Deleting: refused without --yes off a terminal, then done; then not found.
    refused = remote(site, "pipelines", "delete", "imageonly", "--project", "alice/ml", code=1).stderr
    assert refused == "Error: not deleting pipeline alice/ml/imageonly and its 0 runs without --yes\n"
    assert remote(site, "pipelines", "delete", "imageonly", "--project", "alice/ml", "--yes").stdout == (
        "pipeline alice/ml/imageonly and its 0 runs: deleted\n")
    error = remote(site, "pipelines", "show", "imageonly", "--project", "alice/ml", code=1).stderr
    assert error.startswith("Error: ") and "imageonly" in error


def test_logs_followed_until_the_op_and_the_run_end(site):
    uuid = remote(site, "trigger", "talker", "--project", "alice/ml").stdout.split()[1]
    followed = remote(site, "logs", uuid, "talk", "-f", "--project", "alice/ml").stdout
    assert followed.endswith("".join(f"line {i}\n" for i in range(4)))
    assert wait_uuid(site, uuid, ended)["status"] == "succeeded"
    assert followed == local(site, "logs", uuid, "talk").stdout
    uuid = remote(site, "trigger", "chain", "--project", "alice/ml").stdout.split()[1]
    followed = remote(site, "logs", uuid, "-f", "--project", "alice/ml").stdout
    assert followed == local(site, "logs", uuid).stdout
    assert "a | a says hi\n" in followed and followed.endswith("b | n is 7\n")


def test_the_environment_names_the_server_and_the_token(site):
    env = {**site["env"], "POLYFLOW_SERVER": site["url"] + "/api/v1/", "POLYFLOW_TOKEN": site["token"]}
    result = polyflow("runs", "list", "--project", "alice/ml", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == local(site, "runs", "list", "--project", "alice/ml").stdout
    # The option wins over the environment: a bad token there is not used.
    bad = polyflow("--token", "nope", "runs", "list", "--project", "alice/ml", env=env)
    assert bad.returncode == 1 and "polyflow login" in bad.stderr
    # An empty --server is the database, whatever the environment says.
    result = polyflow("--server", "", "runs", "list", env=env)
    assert (result.returncode, result.stdout) == (0, local(site, "runs", "list").stdout)


def test_trigger_mark_retry_stop_over_the_api(site):
    out = remote(site, "trigger", "flaky", "--project", "alice/ml").stdout
    uuid = re.fullmatch(r"run (\S+) of alice/ml/flaky: triggered \(2 ops\)\n", out).group(1)
    run = wait_uuid(site, uuid, ended)
    assert run["status"] == "failed" and op(run, "check")["status"] == "failed"

    # An op marked succeeded: what follows it runs.
    out = remote(site, "runs", "mark", uuid[:10], "check", "succeeded", "--reason", "checked by hand",
                 "--project", "alice/ml").stdout
    assert re.fullmatch(rf"op check of run {uuid}: succeeded; run: (created|running)\n", out), out
    run = wait_uuid(site, uuid, ended)
    assert run["status"] == "failed" and op(run, "after")["status"] == "failed"

    # One op again, then the failed ops of the run.
    (site["base"] / "flaky-passes").touch()
    out = remote(site, "runs", "retry", uuid, "after", "--project", "alice/ml").stdout
    assert out == f"run {uuid}: created; to run again: after\n"
    assert wait_uuid(site, uuid, ended)["status"] == "succeeded"
    error = remote(site, "runs", "retry", uuid, "--project", "alice/ml", code=1).stderr
    assert error == local(site, "runs", "retry", uuid, code=1).stderr
    assert error == f"Error: run {uuid} has no failed, upstream_failed or stopped op to retry\n"

    # Stopping a run that sleeps, then its op stopped already.
    out = remote(site, "trigger", "sleeper", "--project", "alice/ml").stdout
    uuid = out.split()[1]
    wait_uuid(site, uuid, lambda run: op(run, "nap")["status"] == "running")
    out = remote(site, "runs", "stop", "alice/ml/sleeper@latest").stdout
    assert out == f"run {uuid}: stopping; the next tick ends its 1 submitted op run(s)\n"
    assert wait_uuid(site, uuid, ended)["status"] == "stopped"
    error = remote(site, "runs", "stop", uuid, "nap", "--project", "alice/ml", code=1).stderr
    assert error.startswith("Error: ") and error == local(site, "runs", "stop", uuid, "nap", code=1).stderr


def wait_uuid(site, uuid: str, done) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        run = json.loads(remote(site, "runs", "show", uuid, "--project", "alice/ml", "-o", "json").stdout)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"the run did not get there in {DEADLINE} s: {run}"
        time.sleep(0.3)


def test_refusals_are_the_apis_messages_with_the_same_exit_status(site):
    for args in (("trigger", "chain", "--project", "alice/ml", "--param", "b.n=x"),
                 ("runs", "show", "@latest", "--project", "alice/nope"),
                 ("runs", "show", "fffff0", "--project", "alice/ml"),
                 ("runs", "show", "ml@latest", "--project", "alice/ml"),
                 ("logs", "alice/ml/chain@latest", "nope"),
                 ("events", "fire", "data-ready", "--owner", "alice", "--payload", '{"size": "big"}')):
        over_api, on_database = remote(site, *args, code=1), local(site, *args, code=1)
        assert over_api.stderr == on_database.stderr, args
        assert over_api.stdout == on_database.stdout == "", args
    assert remote(site, "trigger", "chain", "--project", "alice/ml", "--param", "b.n=x", code=1).stderr == (
        "params.b.n: expected an integer (type int), got 'x'\nnothing was triggered.\n")
    # A prefix or a UUID is found in every project the token sees, as on the database.
    for args in (("runs", "show", "abcd12"), ("runs", "show", "0" * 32)):
        over_api, on_database = remote(site, *args, code=1), local(site, *args, code=1)
        assert over_api.stderr == on_database.stderr, args
    # What the API cannot find without a project is asked for.
    error = remote(site, "runs", "show", "chain@latest", code=1).stderr
    assert error.startswith("Error: run 'chain@latest': against a server, name the project with --project")
    # Every project's runs, as on the database (alice sees them all).
    assert remote(site, "runs", "list", "--status", "succeeded").stdout == local(
        site, "runs", "list", "--status", "succeeded").stdout
    # --tick drives a database: against a server, a usage error.
    error = remote(site, "runs", "watch", "alice/ml/chain@latest", "--tick", code=2).stderr
    assert "the server at" in error and "runs its own" in error


def test_pause_resume_and_fire_an_event(site):
    assert remote(site, "pipelines", "pause", "on-data", "--project", "alice/ml").stdout == (
        "pipeline alice/ml/on-data: paused\n")
    assert remote(site, "events", "fire", "data-ready", "--payload", '{"size": 4}').stdout == (
        "event data-ready of alice: fired, 0 runs triggered\n")
    assert remote(site, "pipelines", "resume", "on-data", "--project", "alice/ml").stdout == (
        "pipeline alice/ml/on-data: resumed\n")
    out = remote(site, "events", "fire", "data-ready", "--payload", '{"size": 4}').stdout
    uuid = re.fullmatch(r"event data-ready of alice: fired, 1 run triggered\n  run (\S+) of alice/ml/on-data: "
                        r"triggered\n", out).group(1)
    local_out = local(site, "events", "fire", "data-ready", "--payload", '{"size": 4}').stdout
    assert re.sub(r"run \S+ of", "run U of", local_out) == out.replace(uuid, "U")


def test_a_bad_token_says_to_log_in_and_a_server_down_is_one_line(site):
    result = polyflow("--server", site["url"], "--token", "wrong", "runs", "list", "--project", "alice/ml",
                      env=site["env"])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"Error: Invalid token. (server {site['url']}): log in with `polyflow login --server "
                             f"{site['url']}`, or give a token (--token, POLYFLOW_TOKEN)\n")
    result = polyflow("--server", "http://127.0.0.1:9", "--token", "x", "runs", "list", "--project", "alice/ml",
                      env=site["env"])
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Error: cannot reach the Polyflow server at http://127.0.0.1:9: Connection refused\n"


def test_login_stores_the_token_for_the_next_commands_and_logout_forgets_it(site, tmp_path):
    config = tmp_path / "config"
    env = {**site["env"], "XDG_CONFIG_HOME": str(config)}
    path = config / "polyflow" / "credentials.json"
    refused = polyflow("login", "--server", site["url"], "--token", "wrong", env=env)
    assert refused.returncode == 1 and "Invalid token" in refused.stderr and not path.exists()

    # The token on stdin, the server's URL as the banner prints the API's.
    result = _login_on_stdin(site, env)
    assert result.stdout == f"logged in to {site['url']} as alice (stored in {path})\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {"server": site["url"], "token": site["token"]}
    # Now the server is the default: a command with neither option nor environment goes there, from a
    # POLYFLOW_HOME with no database.
    shutil.rmtree(site["base"] / "elsewhere", ignore_errors=True)
    away = {**env, "POLYFLOW_HOME": str(site["base"] / "elsewhere")}  # no database here
    result = polyflow("runs", "list", "--project", "alice/ml", env=away)
    assert result.returncode == 0, result.stderr
    assert result.stdout == local(site, "runs", "list", "--project", "alice/ml").stdout
    assert not (site["base"] / "elsewhere").exists()

    assert polyflow("logout", env=env).stdout == f"logged out of {site['url']} (removed {path})\n"
    assert not path.exists()
    assert polyflow("logout", env=env).stdout == "not logged in: nothing to forget\n"
    result = polyflow("runs", "list", env=away)
    assert (result.returncode, result.stdout) == (0, "no runs found\n")


def _login_on_stdin(site, env):
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "polyflow.cli", "login", "--server", site["url"] + "/api/v1/"],
                            input=site["token"] + "\n", cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_remote_commands_load_nothing_of_django(site):
    from tests.test_cli_startup import loaded, of

    env = {**site["env"], "POLYFLOW_SERVER": site["url"], "POLYFLOW_TOKEN": site["token"]}
    for args in (("runs", "show", "alice/ml@latest"), ("pipelines", "list", "--project", "alice/ml"),
                 ("logs", "alice/ml/chain@latest")):
        assert of(loaded(env, *args), "django", "polyflow.models") == [], args


def without_log_paths(text: str) -> str:
    """The summary without what only the database mode can name: the log files on the server's disk."""
    text = re.sub(r"\n      or output\.log in each op's attempt directory under .*\n      .*", "", text)
    return re.sub(r"(log lines?) of \S+:", r"\1:", text)


def test_runs_watch_and_trigger_watch_show_what_the_database_mode_shows(site):
    run = wait(site, "alice/ml/chain@latest", ended)
    short = run["uuid"][:8]
    # An ended run: its changes, then its summary, at once; the short id found in every project.
    over_api, on_database = remote(site, "runs", "watch", short), local(site, "runs", "watch", short)
    assert without_log_paths(over_api.stdout) == without_log_paths(on_database.stdout)
    assert f"run {run['uuid']} of alice/ml/chain: succeeded" in over_api.stdout
    # The op's own changes, as recorded: a fast op may go from scheduled to succeeded between two
    # looks of the scheduler, so `running` is not always among them.
    assert re.search(r"^\d\d:\d\d:\d\d a: succeeded \(attempt 1\)$", over_api.stdout, re.M), over_api.stdout

    # Followed while it runs, until it ends: the same lines as the database's watcher, exit 0.
    out = remote(site, "trigger", "talker", "--project", "alice/ml", "--watch").stdout
    first, rest = out.split("\n", 1)
    uuid = re.fullmatch(r"run (\S+) of alice/ml/talker: triggered \(1 op\)", first).group(1)
    assert without_log_paths(rest) == without_log_paths(local(site, "runs", "watch", uuid).stdout)
    assert "talk: succeeded (attempt 1)" in rest

    # A failed run: exit 1, its failed op's last log lines.
    (site["base"] / "flaky-passes").unlink(missing_ok=True)
    out = remote(site, "trigger", "flaky", "--project", "alice/ml", "--watch", code=1).stdout
    uuid = out.split()[1]
    assert "check failed (attempt 1)" in out and "    checking\n" in out
    assert without_log_paths(out.split("\n", 1)[1]) == without_log_paths(
        local(site, "runs", "watch", uuid, code=1).stdout)


def test_login_with_a_username_and_password(site, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**site["env"], "XDG_CONFIG_HOME": str(tmp_path / "config")}
    path = tmp_path / "config" / "polyflow" / "credentials.json"

    def login(*args, password: str):
        result = subprocess.run([sys.executable, "-m", "polyflow.cli", "login", "--server", site["url"], *args],
                                input=password + "\n", cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert_no_traceback(result)
        return result

    refused = login("--username", "alice", "--password-stdin", password="wrong")
    assert (refused.returncode, refused.stderr) == (1, "Error: wrong username or password\n")
    assert not path.exists()
    result = login("--username", "alice", "--password-stdin", password="not-a-secret")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"logged in to {site['url']} as alice (stored in {path})\n"
    # The server's token is stored, never the password.
    assert json.loads(path.read_text()) == {"server": site["url"], "token": site["token"]}
    result = polyflow("runs", "list", "--project", "alice/ml", env=env)
    assert result.returncode == 0 and result.stdout == local(site, "runs", "list", "--project", "alice/ml").stdout
    usage = login("--username", "alice", "--token", "x", password="")
    assert usage.returncode == 2 and "not both" in usage.stderr


SLOW_TALKER = """\
version: 1
kind: pipeline
name: slow-talker
ops:
  - {name: talk, template: {name: talk}}
templates:
  - kind: job
    name: talk
    container:
      image: python:3.11
      command: [python, -c, "import time\\nfor i in range(16):\\n    print('line', i, flush=True); time.sleep(0.5)"]
"""


def test_runs_watch_draws_the_live_table_on_a_terminal_against_a_server(site):
    from tests.test_cli_run import on_a_terminal

    # Long enough to be running when the table is first drawn, however busy the machine.
    (site["base"] / "slow.yaml").write_text(SLOW_TALKER)
    local(site, "apply", str(site["base"] / "slow.yaml"), "--project", "alice/ml")
    uuid = remote(site, "trigger", "slow-talker", "--project", "alice/ml").stdout.split()[1]
    text = on_a_terminal(["--server", site["url"], "--token", site["token"], "runs", "watch", uuid[:8]], site["env"])
    assert "\x1b[?25l" in text and text.count("\x1b[?25h") >= 1  # the cursor hidden, then shown again
    assert re.search(r"\x1b\[2KOP +STATUS +ATTEMPT +DURATION +LOG", text)
    assert "(Ctrl-C exits, the run goes on)" in text
    # Its last log line, read over the API, while it runs (the status coloured).
    assert re.search(r"talk +\x1b\[33mrunning\x1b\[0m +1 +\S+ +line \d", text), repr(text)
    summary = text[text.rindex("\x1b[?25h"):]
    assert f"run {uuid} of alice/ml/slow-talker: succeeded in " in summary
    assert re.search(r"talk +succeeded +1 ", summary)
