"""End to end on the API simulator: an op run by the Kubernetes backend reads its params from
$POLYFLOW_PARAMS_FILE, the `polyflow.dev/params` annotation projected by the pod's downwardAPI volume."""

from __future__ import annotations

import sys

import pytest

from polyflow.backends.base import SUCCEEDED
from polyflow.backends.manifests import PARAMS_FILE
from tests.backends.support import submission

from .conftest import NAMESPACE
from .test_backend import sync_until

pytestmark = pytest.mark.django_db

READ_PARAMS = "import json, os; print(json.load(open(os.environ['POLYFLOW_PARAMS_FILE'])))"


def test_an_op_reads_its_params_from_the_params_file(backend, sim):
    params = {"lr": 0.5, "layers": [64, 32], "who": "wörld"}
    job = submission(command=[sys.executable, "-c", READ_PARAMS], params=params,
                     key="pipe-params-0f9e8d7c-1")
    backend.submit(job)
    observation = sync_until(backend, job.key)
    assert observation.state == SUCCEEDED, (observation, backend.logs(job.key))
    assert backend.logs(job.key) == ["{'layers': [64, 32], 'lr': 0.5, 'who': 'wörld'}"]
    pod = sim.pod(job.key, NAMESPACE)
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["POLYFLOW_PARAMS_FILE"] == PARAMS_FILE  # the simulator rewrote it for the process only
    volume = pod["spec"]["volumes"][0]
    assert volume["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.annotations['polyflow.dev/params']"
