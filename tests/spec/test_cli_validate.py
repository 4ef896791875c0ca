"""`polyflow validate` as a user runs it: a real subprocess, real files."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_python

SEED = ROOT.parent / "shared" / "seed" / "test-pipeline.yaml"
EXAMPLE = ROOT / "examples" / "test-pipeline.yaml"
ACTION = ROOT / "examples" / "actions" / "deep-wide-model.yaml"


def validate(*files, env):
    return run_python("-m", "polyflow.cli", "validate", *map(str, files), env=env)


@pytest.fixture
def seed(tmp_path):
    """The seed example from shared/, or the project's copy when shared/ is not beside the clone."""
    source = SEED if SEED.is_file() else EXAMPLE
    return Path(shutil.copy(source, tmp_path / "test-pipeline.yaml"))


def test_the_seed_example_is_valid_and_summarised(seed, clean_env):
    result = validate(seed, env=clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{seed}: pipeline test-pipeline: valid, 2 ops",
        "  schedule: every 2 minutes from 2019-06-24 21:20:07 UTC, depends on past",
        "  ops, in order:",
        "    job1                  template job-template (built from dockerfiles/Dockerfile)",
        "    deep-wide-experiment  action deep-wide-model (latest)  after job1",
        "resolved from the registry at apply time:",
        "  action deep-wide-model (latest version), used by test-pipeline",
    ]


def test_the_project_example_matches_the_seed():
    if not SEED.is_file():
        pytest.skip("shared/seed is not beside this clone")
    assert EXAMPLE.read_text() == SEED.read_text()


def test_the_example_with_its_action(clean_env):
    result = validate(EXAMPLE, ACTION, env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "    deep-wide-experiment  action deep-wide-model (v1)  after job1" in result.stdout
    assert "action deep-wide-model (version 1): valid" in result.stdout
    assert "registry" not in result.stdout


def test_the_published_spelling_names_the_declared_input(seed, clean_env):
    seed.write_text(seed.read_text().replace("input-bucket: s3://", "bucket: s3://"))
    result = validate(seed, env=clean_env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{seed}: ops[0].params.bucket: unknown param 'bucket' for template 'job-template'; "
        "did you mean 'input-bucket'? (inputs: input-bucket)",
        f"{seed}: ops[0].params: missing required input 'input-bucket' of template 'job-template'",
        "2 errors found.",
    ]


def test_action_inputs_are_checked_when_the_action_is_given(tmp_path, clean_env):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(EXAMPLE.read_text().replace("lr: 0.05", "lr: fast"))
    result = validate(pipeline, ACTION, env=clean_env)
    assert result.returncode == 1
    assert f"{pipeline}: ops[1].params.lr: expected a number (type float), got 'fast'" in result.stderr


def test_every_error_of_every_file_at_once(tmp_path, clean_env):
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nkind: pipeline\nname: p\nops:\n  - {name: a, template: {name: t}}\n"
                      "  - {name: b, template: {name: t}, dependencies: [jobx]}\n"
                      "templates:\n  - {kind: job, name: t, container: {image: python}}\n")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("ops: [unclosed\n")
    result = validate(broken, garbage, env=clean_env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{garbage}: line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)",
        f"{broken}: ops[1].dependencies[0]: unknown op 'jobx' (ops: a, b)",
        "2 errors found.",
    ]


def test_multi_document_files_name_the_document(tmp_path, clean_env):
    both = tmp_path / "both.yaml"
    both.write_text(ACTION.read_text() + "---\n" + EXAMPLE.read_text().replace("lr: 0.05", "rate: 1"))
    result = validate(both, env=clean_env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{both} (document 2): ops[1].params.rate: unknown param 'rate' for template 'deep-wide-model' "
        "(inputs: lr, epochs)"
    )


@pytest.mark.parametrize(
    "content, error",
    [
        (b"\xff\xfe\x00binary", "not a UTF-8 text file (invalid start byte)"),
        (b"", "no documents found"),
        (b"- just\n- a list\n", "expected a mapping with 'version' and 'kind', got a list"),
        (b"version: 1\nversion: 1\nkind: event\nname: e\n", "line 2, column 1: invalid YAML: duplicate key "
                                                             "'version' (first at line 1)"),
    ],
)
def test_bad_files_get_errors_not_tracebacks(tmp_path, clean_env, content, error):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = validate(path, env=clean_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == f"{path}: {error}"


def test_usage_errors_exit_2(tmp_path, clean_env):
    assert validate(env=clean_env).returncode == 2
    missing = validate(tmp_path / "missing.yaml", env=clean_env)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert validate(tmp_path, env=clean_env).returncode == 2


MATRIX = """\
version: 1
kind: pipeline
name: tuning
ops:
  - name: tune
    template: {name: train}
    matrix:
      kind: grid
      params:
        lr: {kind: logspace, value: "0.001:0.1:3"}
        depth: {kind: choice, value: [2, 4, 8]}
      metric: {name: accuracy}
templates:
  - kind: job
    name: train
    inputs: [{name: lr, type: float}, {name: depth, type: int}]
    outputs: [{name: accuracy, type: float}]
    container: {image: python}
"""


def test_a_matrix_is_validated_against_the_limit_from_the_environment(tmp_path, clean_env):
    path = tmp_path / "tuning.yaml"
    path.write_text(MATRIX)
    result = validate(path, env=clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{path}: pipeline tuning: valid, 1 op"
    result = validate(path, env={**clean_env, "POLYFLOW_MAX_TRIALS": "8"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: ops[0].matrix: the grid has 3 x 3 = 9 trials, above the limit of 8 (POLYFLOW['MAX_TRIALS'])",
        "1 error found.",
    ]
    result = validate(path, env={**clean_env, "POLYFLOW_MAX_TRIALS": "0"})
    assert result.returncode != 0
    assert "POLYFLOW_MAX_TRIALS='0': expected at least 1" in result.stderr


def test_a_param_pasted_into_a_shell_script_is_a_warning_not_an_error(tmp_path, clean_env):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nkind: pipeline\nname: p\nops: [{name: a, template: {name: t}, params: {b: x}}]\n"
                    "templates:\n  - kind: job\n    name: t\n    inputs: [{name: b, type: str}]\n"
                    "    container: {image: busybox, command: [sh, -c, 'echo {{ params.b }}']}\n")
    result = validate(path, env=clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"warning: {path}: template 't' container.command[2]: '{{{{ params.b }}}}' is pasted into a shell script: "
        "a value such as 'x; rm -rf ~' would run as a command. Write '{{ params.b | shell_quote }}', or read "
        '"$POLYFLOW_PARAM_B" in the script\n')
    assert "pipeline p: valid" in result.stdout
    path.write_text(path.read_text().replace("{{ params.b }}", "{{ params.b | shell_quote }}"))
    result = validate(path, env=clean_env)
    assert (result.returncode, result.stderr) == (0, "")
