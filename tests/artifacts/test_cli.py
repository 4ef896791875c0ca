"""`polyflow run` with a cached pipeline on the embedded SQLite, as a newcomer runs it: the second
run reuses every op, `--no-cache` runs them again, the artifacts land in the default store."""

import json
import re

from tests.conftest import assert_no_traceback, polyflow

from .support import pipeline_yaml


def ops(result, env):
    uuid = re.search(r"^run ([0-9a-f-]{36}) of ", result.stdout, re.M).group(1)
    shown = polyflow("runs", "show", uuid, "-o", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    return {op["name"]: op for op in json.loads(shown.stdout)["op_runs"]}


def test_a_second_run_is_served_from_the_cache_and_no_cache_runs_again(polyflow_env, tmp_path):
    spec = tmp_path / "cached.yaml"
    spec.write_text(pipeline_yaml(name="cached", extra="cache: true"))
    first = polyflow("run", str(spec), env=polyflow_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_no_traceback(first)
    before = ops(first, polyflow_env)
    store = (tmp_path / "polyflow").resolve().as_uri() + "/artifacts/"
    assert before["make"]["outputs"]["model"].startswith(store)
    second = polyflow("run", str(spec), env=polyflow_env)
    assert second.returncode == 0, second.stdout + second.stderr
    after = ops(second, polyflow_env)
    assert {name: op["reason"] for name, op in after.items()} == {"make": "cached", "use": "cached"}
    assert {name: op["outputs"] for name, op in after.items()} == {name: op["outputs"] for name, op in before.items()}
    forced = polyflow("run", str(spec), "--no-cache", env=polyflow_env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert all(op["reason"] != "cached" and op["handle"] for op in ops(forced, polyflow_env).values())
