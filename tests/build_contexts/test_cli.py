"""`polyflow validate --backend kubernetes` and `polyflow apply`: every missing setting at
once; a relative context that names no directory; the packed context in the stored plan."""

from __future__ import annotations

from tests.conftest import ROOT, assert_no_traceback, polyflow

SEED = str(ROOT / "examples" / "test-pipeline.yaml")
ACTION = str(ROOT / "examples" / "actions" / "deep-wide-model.yaml")

TWO = """
version: 1
kind: pipeline
name: two
ops:
  - {name: a, template: {name: here}}
  - {name: b, template: {name: there}}
  - {name: c, template: {name: keep}}
templates:
  - {kind: job, name: here, build: {dockerfile: Dockerfile}}
  - {kind: job, name: there, build: {dockerfile: Dockerfile, context: services/there}}
  - kind: job
    name: keep
    outputs: [{name: model, type: path}]
    container: {image: busybox, command: ['true']}
"""


def test_validate_with_the_kubernetes_backend_reports_every_missing_setting(polyflow_env, tmp_path):
    (tmp_path / "two.yaml").write_text(TWO)
    env = {**polyflow_env, "POLYFLOW_ARTIFACTS_STORE": "gs://bucket/x"}
    result = polyflow("validate", "--backend", "kubernetes", str(tmp_path / "two.yaml"), env=env)
    assert result.returncode == 1
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert lines[-1] == "7 problems for the kubernetes backend (5 missing settings)."
    # What apply could not pack: the spec's directory has no Dockerfile, services/there is none.
    assert lines[-3:-1] == [
        f"{tmp_path / 'two.yaml'}: templates[0].build.dockerfile: 'Dockerfile' is not in the build's context "
        f"{tmp_path}",
        f"{tmp_path / 'two.yaml'}: templates[1].build.context: 'services/there': no directory "
        f"{tmp_path / 'services' / 'there'} (a relative context is a sub-directory of the spec's directory)"]
    prefix = f"{tmp_path / 'two.yaml'}: "
    assert sum(line.startswith(prefix + "ops[0]: template 'here' (op a): ") for line in lines) == 2
    assert sum(line.startswith(prefix + "ops[1]: template 'there' (op b): ") for line in lines) == 2
    assert any(line.startswith(prefix + "ops[2]: template 'keep' (op c): path inputs and outputs") for line in lines)
    assert sum("BUILD_REGISTRY" in line for line in lines) == 2 and sum("gcsfs" in line for line in lines) == 3

    assert polyflow("validate", str(tmp_path / "two.yaml"), env=env).returncode == 0  # no backend: no check
    local = polyflow("validate", "--backend", "local", str(tmp_path / "two.yaml"), env=env)
    assert local.returncode == 1
    assert local.stderr.splitlines()[-1] == "1 problem for the local backend (1 missing setting)."
    fine = polyflow("validate", "--backend", "kubernetes", SEED, ACTION,
                    env={**polyflow_env, "POLYFLOW_BUILD_REGISTRY": "registry.example.com/ml"})
    assert fine.returncode == 0, fine.stderr


def test_apply_packs_each_builds_directory_and_refuses_a_missing_one(polyflow_env, tmp_path):
    home = tmp_path
    tmp_path = tmp_path / "spec"  # the spec's directory: not the one holding POLYFLOW_HOME
    tmp_path.mkdir()
    (tmp_path / "two.yaml").write_text(TWO)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = {**polyflow_env, "POLYFLOW_BACKEND": "kubernetes", "POLYFLOW_BUILD_REGISTRY": "registry.example.com/ml"}
    missing = polyflow("apply", str(tmp_path / "two.yaml"), env=env)
    assert missing.returncode == 1
    assert_no_traceback(missing)
    assert missing.stderr.splitlines() == [
        f"{tmp_path / 'two.yaml'}: templates[1].build.context: 'services/there': no directory "
        f"{tmp_path / 'services' / 'there'} (a relative context is a sub-directory of the spec's directory)",
        "1 error found; nothing was applied."]
    assert not (home / "polyflow" / "artifacts" / "contexts").exists()  # nothing packed either

    (tmp_path / "services" / "there").mkdir(parents=True)
    (tmp_path / "services" / "there" / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    applied = polyflow("apply", str(tmp_path / "two.yaml"), env=env)
    assert applied.returncode == 0, applied.stderr
    # Two directories, two packed contexts (the spec's own holds the other's files too).
    stored = sorted(p.name for p in (home / "polyflow" / "artifacts" / "contexts").glob("*.tar.gz"))
    assert len(stored) == 2 and all(name.startswith("sha256-") for name in stored)
    again = polyflow("apply", str(tmp_path / "two.yaml"), env=env)
    assert again.returncode == 0 and "pipeline two: updated" in again.stdout
    assert sorted(p.name for p in (home / "polyflow" / "artifacts" / "contexts").glob("*.tar.gz")) == stored
