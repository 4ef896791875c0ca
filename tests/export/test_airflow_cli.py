"""`polyflow export airflow|argo FILE...`, run as a real process."""

from __future__ import annotations

import ast
import importlib.util

import pytest

from tests.conftest import run_python

QUICKSTART = "examples/quickstart.yaml"


def polyflow(*args: str, env) -> tuple[int, str, str]:
    done = run_python("-m", "polyflow.cli", *args, env=env)
    return done.returncode, done.stdout, done.stderr


def test_the_dag_goes_to_stdout(clean_env):
    code, out, err = polyflow("export", "airflow", "examples/cron.yaml", env=clean_env)
    assert code == 0, err
    tree = ast.parse(out)
    assert "KubernetesPodOperator" in out and "PolyflowPodTask(" in out
    assert any(isinstance(node, ast.With) for node in tree.body)


def test_the_local_executor_to_a_file(clean_env, tmp_path):
    target = tmp_path / "dag.py"
    code, out, err = polyflow("export", "airflow", QUICKSTART, "--executor", "local", "-o", str(target),
                              env=clean_env)
    assert code == 0, err
    assert out == ""
    assert err.endswith(f"airflow: pipeline quickstart written to {target}\n")
    assert err.startswith("warning: ops.notify.trigger: notify may run after a failure: Airflow judges a DAG run")
    assert "PolyflowLocalTask(" in target.read_text() and "BashOperator" in target.read_text()


def test_warnings_go_to_stderr_and_the_exit_status_stays_0(clean_env, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("version: 1\nkind: pipeline\nname: p\ntimeout: 60\nops:\n  - {name: a, template: {name: t}}\n"
                    "templates:\n  - {kind: job, name: t, container: {image: busybox, command: ['true']}}\n")
    code, out, err = polyflow("export", "airflow", str(spec), env=clean_env)
    assert code == 0
    assert err.startswith("warning: timeout: Airflow's dagrun_timeout")
    ast.parse(out)


def test_what_cannot_be_carried_is_exit_1_listing_each_feature(clean_env):
    code, out, err = polyflow("export", "airflow", "examples/tuning.yaml", env=clean_env)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "error: cannot export pipeline tuning to airflow:"
    places = [line.split(":")[0].strip() for line in lines[1:]]
    assert [place for place in places if ".template." not in place] == [
        "ops.grid.matrix", "ops.random.matrix", "ops.evaluate.params.grid_model", "ops.evaluate.params.random_model"]
    # and each path artifact, which the kubernetes executor does not carry
    assert {place for place in places if ".template." in place} >= {
        "ops.prepare.template.outputs.train", "ops.grid.template.outputs.model", "ops.grid.template.inputs.data",
        "ops.evaluate.template.inputs.grid_model"}


def test_files_are_read_as_validate_reads_them(clean_env, tmp_path):
    code, _, err = polyflow("export", "airflow", "examples/test-pipeline.yaml", "examples/actions/deep-wide-model.yaml",
                            env=clean_env)
    assert code == 1 and "ops.job1.template.build" in err and "deep-wide-experiment" not in err  # the action resolved
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: pipeline\nname: p\nops: []\n")
    code, _, err = polyflow("export", "airflow", str(bad), env=clean_env)
    assert code == 1 and err.startswith(f"{bad}: ops")
    code, _, err = polyflow("export", "airflow", str(tmp_path / "missing.yaml"), env=clean_env)
    assert code == 2 and "does not exist" in err


def test_several_pipelines_need_pipeline(clean_env, tmp_path):
    spec = tmp_path / "two.yaml"
    one = "version: 1\nkind: pipeline\nname: {}\nops:\n  - {{name: a, template: {{name: t}}}}\n" \
          "templates:\n  - {{kind: job, name: t, container: {{image: busybox, command: ['true']}}}}\n"
    spec.write_text(one.format("first") + "---\n" + one.format("second"))
    code, _, err = polyflow("export", "airflow", str(spec), env=clean_env)
    assert code == 2 and "the files define 2 pipelines (first, second): choose one with --pipeline" in err
    code, out, _ = polyflow("export", "airflow", str(spec), "--pipeline", "second", env=clean_env)
    assert code == 0 and "dag_id='second'" in out
    code, _, err = polyflow("export", "airflow", str(spec), "--pipeline", "third", env=clean_env)
    assert code == 2 and "no pipeline 'third' in the files (pipelines: first, second)" in err


def test_bad_options_are_usage_errors(clean_env):
    code, _, err = polyflow("export", "airflow", QUICKSTART, "--airflow-version", "1.10", env=clean_env)
    assert code == 2 and "Airflow 2.10 or 3.x" in err
    code, _, err = polyflow("export", "spark", QUICKSTART, env=clean_env)
    assert code == 2 and "'spark' is not one of 'airflow', 'argo'" in err


@pytest.mark.skipif(importlib.util.find_spec("polyflow.export.argo") is None, reason="the Argo export is not here")
def test_argo_is_dispatched_to_its_module(clean_env):
    code, out, err = polyflow("export", "argo", "examples/cron.yaml", env=clean_env)
    assert code == 0, err
    assert "argoproj.io" in out
