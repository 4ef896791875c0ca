"""The files of examples/: every one validates, and the ones the local backend can
run are run with `polyflow run`, as the README tells a newcomer to, in real
subprocesses on the embedded SQLite of a fresh POLYFLOW_HOME."""

import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_no_traceback, polyflow

EXAMPLES = ROOT / "examples"
# Not runnable by the local backend: the seed builds an image and runs a registry action's image.
KUBERNETES_ONLY = {"test-pipeline.yaml"}
LOCAL = sorted(path.name for path in EXAMPLES.glob("*.yaml") if path.name not in KUBERNETES_ONLY)






def stored_file(uri: str) -> bytes:
    """The bytes of an artifact in a file:// store."""
    from urllib.parse import unquote, urlparse

    assert uri.startswith("file://"), uri
    return Path(unquote(urlparse(uri).path)).read_bytes()


def summary_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table of `polyflow run`: {op: [status, attempt, duration, outputs...]}."""
    lines = stdout.splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("OP ") and "OUTPUTS" in line)
    rows = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        name, *cells = line.split()
        rows[name] = cells
    return rows


def run_uuid(stdout: str) -> str:
    return re.search(r"^run ([0-9a-f-]{36}) of ", stdout, re.M).group(1)


def show(uuid: str, env) -> dict:
    result = polyflow("runs", "show", uuid, "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_examples_are_the_expected_ones():
    assert LOCAL == ["cron.yaml", "failing.yaml", "quickstart.yaml", "tuning.yaml"]
    assert (EXAMPLES / "actions" / "deep-wide-model.yaml").is_file()


def test_every_example_validates(env):
    files = sorted(str(path.relative_to(ROOT)) for path in EXAMPLES.rglob("*.yaml"))
    result = polyflow("validate", *files, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in files:
        if "/actions/" not in name:
            assert f"{name}: pipeline " in result.stdout
    assert "action deep-wide-model (version 1): valid" in result.stdout
    assert_no_traceback(result)


def timed_run(example: str, env):
    """`polyflow run examples/EXAMPLE`, and how long the whole command took."""
    started = time.monotonic()
    result = polyflow("run", f"examples/{example}", env=env)
    return result, time.monotonic() - started


def print_times(capsys, label: str, out: str, wall: float) -> None:
    pipeline = float(re.search(r": succeeded in ([0-9.]+)s$", out, re.M).group(1))
    with capsys.disabled():
        print(f"\n[{label}] pipeline {pipeline:.1f} s (run start to end); whole command {wall:.1f} s "
              f"on a fresh POLYFLOW_HOME (the database's creation included)")


def test_quickstart_runs_to_success(env, capsys):
    result, wall = timed_run("quickstart.yaml", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_traceback(result)
    out = result.stdout
    assert out.startswith("project local/default: created\npipeline quickstart: created (7 ops)\n")

    rows = summary_rows(out)
    assert list(rows) == ["prepare", "train-slow", "train-fast", "evaluate-slow", "evaluate-fast",
                          "select-best", "notify"]
    assert all(rows[op][0] == "succeeded" for op in list(rows)[:-1]), out
    assert rows["notify"] == ["skipped"]

    # The best model's metric is in the summary, and it is the better of the two evaluations.
    accuracies = [float(re.search(r"accuracy=([0-9.]+)", " ".join(rows[op])).group(1))
                  for op in ("evaluate-slow", "evaluate-fast")]
    best = float(re.search(r"best_accuracy=([0-9.]+)", " ".join(rows["select-best"])).group(1))
    assert best == max(accuracies) and 0.8 < best <= 1.0
    assert accuracies[0] != accuracies[1], "the two learning rates should give two different models"

    run = show(run_uuid(out), env)
    assert run["status"] == "succeeded"
    assert {o["name"]: o["status"] for o in run["op_runs"]}["notify"] == "skipped"
    outputs = {o["name"]: o["outputs"] for o in run["op_runs"]}
    # The data set and the models are artifacts in the default store, under POLYFLOW_HOME.
    store = Path(env["POLYFLOW_HOME"]).resolve().as_uri() + "/artifacts/"
    assert outputs["prepare"]["train"].startswith(store) and outputs["train-fast"]["model"].startswith(store)
    assert stored_file(outputs["select-best"]["best_model"]) == stored_file(outputs["train-fast"]["model"])
    # Where the logs are: the local backend's attempt directories.
    assert f"\nlogs: `polyflow logs {run_uuid(out)} OP`\n" in out
    assert f"      or output.log in each op's attempt directory under {env['POLYFLOW_HOME']}/runs/, e.g.\n" in out

    print_times(capsys, "quickstart", out, wall)


def test_tuning_runs_a_grid_and_a_random_search_and_evaluates_their_best_models(env, capsys):
    result, wall = timed_run("tuning.yaml", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_traceback(result)
    out = result.stdout
    assert "pipeline tuning: created (4 ops)\n" in out

    # One row per op: a search is its group's row, with its trials counted and its best one.
    rows = summary_rows(out)
    assert list(rows) == ["prepare", "grid", "random", "evaluate"]
    assert all(cells[0] == "succeeded" for cells in rows.values()), out
    assert " ".join(rows["grid"][2:]).startswith("9 trials: 9 succeeded; best: trial ")
    assert " ".join(rows["random"][2:]).startswith("6 trials: 6 succeeded; best: trial ")

    run = show(run_uuid(out), env)
    ops = {o["name"]: o for o in run["op_runs"]}
    grid, random = ops["grid"], ops["random"]
    assert [t["trial_params"] for t in grid["trials"]] == [
        {"lr": lr, "epochs": epochs} for lr in (0.02, 0.1, 0.5) for epochs in (20, 60, 150)]
    assert len(random["trials"]) == 6
    assert all(0.01 <= t["trial_params"]["lr"] <= 1.0 and t["trial_params"]["epochs"] in range(20, 200, 20)
               for t in random["trials"])
    for group in (grid, random):
        best = group["summary"]["best"]
        accuracies = [t["outputs"]["accuracy"] for t in group["trials"]]
        assert best["metric"] == {"name": "accuracy", "value": max(accuracies), "optimization": "maximize"}
        assert best["outputs"] == group["trials"][best["trial"]]["outputs"]
        assert f"best: trial {best['trial']} accuracy={max(accuracies)} " in " ".join(rows[group["name"]])
    # The evaluation got each search's best model, and kept the better on the test set.
    evaluate = ops["evaluate"]
    assert evaluate["params"]["grid_model"] == grid["summary"]["best"]["outputs"]["model"]
    assert evaluate["params"]["random_model"] == random["summary"]["best"]["outputs"]["model"]
    best_of_search = evaluate["params"][f"{evaluate['outputs']['search']}_model"]
    assert stored_file(evaluate["outputs"]["best_model"]) == stored_file(best_of_search)
    assert 0.8 < evaluate["outputs"]["accuracy"] <= 1.0
    # Each trial stored its model under its own prefix.
    assert len({trial["outputs"]["model"] for trial in grid["trials"]}) == 9

    # The trials, and one trial's log.
    trials = polyflow("runs", "show", run_uuid(out), "--trials", env=env)
    assert "\ngrid: 9 trials: 9 succeeded\nTRIAL " in trials.stdout
    log = polyflow("logs", run_uuid(out), "grid[8]", env=env)
    assert re.search(r"^lr 0\.5, 150 epochs: loss [0-9.]+, validation accuracy [0-9.]+$", log.stdout, re.M), log

    print_times(capsys, "tuning, 15 trials", out, wall)


def test_failing_example_exits_1_with_the_failed_ops_last_log_lines(env):
    result = polyflow("run", "examples/failing.yaml", "--log-lines", "3", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert_no_traceback(result)
    out = result.stdout
    rows = summary_rows(out)
    assert rows["extract"][0] == "succeeded"
    assert rows["check"][:2] == ["failed", "2"]  # retried once, failed again
    assert rows["train"] == ["upstream_failed"]
    assert rows["alert"][0] == "succeeded"  # its trigger is one_failed
    assert re.search(r"^run [0-9a-f-]{36} of local/default/failing: failed in ", out, re.M)

    failure = out[out.index("\ncheck failed (attempt 2): exited with code 1\n"):].splitlines()[2:]
    assert failure[0].startswith("  last 3 log lines of ")
    assert failure[0].endswith("/runs/failing-check-" + run_uuid(out)[:8] + "-2/output.log:")
    assert failure[1:] == ["      pears: negative price", "      figs: negative price",
                           "    ERROR: 2 of 5 rows have a negative price"]
    # Progress lines, since stdout is not a terminal.
    assert re.search(r"^\d\d:\d\d:\d\d check: retrying \(attempt 1\): ", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d train: upstream_failed$", out, re.M)


def test_cron_example_runs_now_and_on_its_schedule(env, tmp_path):
    # Once now, by hand: the schedule is not waited for, and max_active_runs: 1
    # keeps the schedule's own runs out of the way meanwhile.
    result = polyflow("run", "examples/cron.yaml", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: pipeline nightly-report has a cron schedule" in result.stdout
    rows = summary_rows(result.stdout)
    assert [cells[0] for cells in rows.values()] == ["succeeded", "succeeded"]
    assert [r["trigger"] for r in json.loads(polyflow("runs", "list", "-o", "json", env=env).stdout)] == ["manual"]

    # On its schedule, in a database of its own: weekdays at 02:30 Paris time,
    # the latest missed slot only (catchup: false).
    env = {**env, "POLYFLOW_HOME": str(tmp_path / "scheduled")}
    assert polyflow("manage", "migrate", "--no-input", env=env).returncode == 0
    user = polyflow("manage", "createsuperuser", "--noinput", "--username", "alice", "--email", "a@example.com",
                    env={**env, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"})
    assert user.returncode == 0, user.stderr
    applied = polyflow("apply", "-f", "examples/cron.yaml", "--project", "alice/reports", env=env)
    assert applied.returncode == 0, applied.stderr
    # Friday 2 January 2026, 02:31 in Paris (CET, UTC+1): slots of the 1st and the 2nd are due.
    tick = polyflow("tick", "--now", "2026-01-02T01:31:00Z", env=env)
    assert tick.stdout.startswith("1 run(s) created, 1 started"), tick.stdout + tick.stderr
    [run] = json.loads(polyflow("runs", "list", "-o", "json", env=env).stdout)
    assert (run["trigger"], run["schedule_at"]) == ("schedule", "2026-01-02T01:30:00+00:00")


@pytest.fixture
def env(polyflow_env):
    return polyflow_env
