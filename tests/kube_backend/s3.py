"""A real S3 API on loopback for the pods' artifact tests: moto's server mode, one per session.
(tests/artifacts/conftest.py has the shared one after the merge.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

BUCKET = "polyflow-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_s3():
    """(store URL, fsspec options) of a bucket on a moto server started for the session."""
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
        old = {name: os.environ.get(name) for name in credentials}
        os.environ.update(credentials)
        yield f"s3://{BUCKET}/kubedata", {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    finally:
        process.terminate()
        process.wait(timeout=10)
