"""`polyflow run --backend kubernetes` (and POLYFLOW_BACKEND=kubernetes) in a subprocess, on the
embedded SQLite, against the simulator running in this process."""

from __future__ import annotations

from tests.conftest import clean_environ, run_python

from .conftest import NAMESPACE

CHAIN = r"""
version: 1
kind: pipeline
name: chain
ops:
  - {name: a, template: {name: emit}}
  - {name: b, template: {name: show}, dependencies: [a], params: {n: '{{ ops.a.outputs.x }}'}}
templates:
  - kind: job
    name: emit
    outputs: [{name: x, type: int}]
    container: {image: busybox, command: [sh, -c, "echo hi; printf '{\"x\": 7}' > $POLYFLOW_OUTPUTS_FILE"]}
  - kind: job
    name: show
    inputs: [{name: n, type: int}]
    container: {image: busybox, command: [sh, -c, 'echo n is $POLYFLOW_PARAM_N']}
"""


def test_polyflow_run_with_the_kubernetes_backend(sim, tmp_path):
    (tmp_path / "chain.yaml").write_text(CHAIN)
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_HOME": str(tmp_path / "polyflow"),
           "POLYFLOW_KUBE_HOST": sim.url, "POLYFLOW_KUBE_NAMESPACE": NAMESPACE}
    result = run_python("-m", "polyflow.cli", "run", str(tmp_path / "chain.yaml"), "--backend", "kubernetes",
                        env=env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "x=7" in result.stdout
    pods = sorted(p["metadata"]["name"] for p in sim.pods(NAMESPACE))
    assert [name.split("-")[:2] for name in pods] == [["chain", "a"], ["chain", "b"]]
    run_uuid = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("run "))

    # POLYFLOW_BACKEND=kubernetes: the same through the settings; logs come from the pod (or its archive).
    logs = run_python("-m", "polyflow.cli", "logs", run_uuid, "b", env={**env, "POLYFLOW_BACKEND": "kubernetes"})
    assert logs.returncode == 0 and logs.stdout.splitlines() == ["n is 7"], (logs.stdout, logs.stderr)
    again = run_python("-m", "polyflow.cli", "run", str(tmp_path / "chain.yaml"),
                       env={**env, "POLYFLOW_BACKEND": "kubernetes"})
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert len(sim.pods(NAMESPACE)) == 4
