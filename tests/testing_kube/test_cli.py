"""`python -m polyflow.testing.kube`: one command starts it; the first line it prints is its URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from kubernetes import client, watch

from ..conftest import ROOT
from .conftest import pod_manifest


def test_the_command_serves_until_terminated(clean_env):
    process = subprocess.Popen(
        [sys.executable, "-m", "polyflow.testing.kube", "--port", "0", "--namespace", "ci", "--run-time", "0.01"],
        cwd=ROOT, env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with client.ApiClient(client.Configuration(host=url)) as api_client:
            api = client.CoreV1Api(api_client)
            api.create_namespaced_pod("ci", pod_manifest("hello", ["sh", "-c", "echo from the cli"]))
            stream = watch.Watch()
            for event in stream.stream(api.list_namespaced_pod, "ci", timeout_seconds=10):
                if event["object"].status.phase == "Succeeded":
                    stream.stop()
            assert api.read_namespaced_pod_log("hello", "ci") == "from the cli\n"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "kube-simulator: Kubernetes" in stderr


def test_importing_the_simulator_does_not_import_django(clean_env):
    code = "import sys, polyflow.testing.kube; print(json.dumps(sorted(m for m in sys.modules if 'django' in m)))"
    result = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT, env=clean_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
