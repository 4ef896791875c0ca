"""The Kubernetes backend on a real cluster: runs only when POLYFLOW_TEST_CLUSTER_KUBECONFIG names a
kubeconfig (its current context is used; POLYFLOW_TEST_CLUSTER_NAMESPACE, default "default", must
exist and allow creating pods). The pods pull busybox."""

from __future__ import annotations

import os
import time

import pytest

from polyflow.backends.kubernetes import KubernetesBackend
from polyflow.scheduler.tick import tick
from polyflow.services.apply import apply_text
from polyflow.services.runs import trigger_run

KUBECONFIG = os.environ.get("POLYFLOW_TEST_CLUSTER_KUBECONFIG", "")
NAMESPACE = os.environ.get("POLYFLOW_TEST_CLUSTER_NAMESPACE", "default")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not KUBECONFIG, reason="no cluster: set POLYFLOW_TEST_CLUSTER_KUBECONFIG to a kubeconfig"),
]

PIPELINE = r"""
version: 1
kind: pipeline
name: polyflow-cluster-test
ops:
  - {name: emit, template: {name: emit}, params: {word: hello}, timeout: 300}
  - {name: show, template: {name: show}, dependencies: [emit], params: {n: '{{ ops.emit.outputs.n }}'}}
templates:
  - kind: job
    name: emit
    inputs: [{name: word, type: str}]
    outputs: [{name: n, type: int}]
    container:
      image: busybox:1.36
      command: [sh, -c, "cat $POLYFLOW_PARAMS_FILE; echo; printf '{\"n\": 7}' > $POLYFLOW_OUTPUTS_FILE"]
  - kind: job
    name: show
    inputs: [{name: n, type: int}]
    container: {image: busybox:1.36, command: [sh, -c, 'echo "n is {{ params.n }}"']}
"""


def test_a_pipeline_runs_on_a_real_cluster(project, settings, tmp_path):
    settings.POLYFLOW = {**settings.POLYFLOW, "HOME": str(tmp_path), "BACKEND": "kubernetes", "KUBE_HOST": "",
                         "KUBE_CONFIG": KUBECONFIG, "KUBE_NAMESPACE": NAMESPACE}
    backend = KubernetesBackend()
    pipeline = apply_text(project, PIPELINE).pipelines[0][0]
    run = trigger_run(pipeline)
    try:
        end = time.monotonic() + 300
        while run.status not in ("succeeded", "failed"):
            assert time.monotonic() < end, list(run.op_runs.values_list("name", "status", "message"))
            tick(backend=backend)
            run.refresh_from_db()
            time.sleep(1)
        emit, show = run.op_runs.get(name="emit"), run.op_runs.get(name="show")
        assert run.status == "succeeded", [(o.name, o.status, o.reason, o.message) for o in (emit, show)]
        assert emit.outputs == {"n": 7}
        assert backend.logs(emit.handle) == ['{"word":"hello"}']  # $POLYFLOW_PARAMS_FILE
        assert backend.logs(show.handle) == ["n is 7"]
    finally:
        backend.stop([o.handle for o in run.op_runs.all() if o.handle])
