"""The artifact store's fixtures: a real S3 API on loopback (moto's server, one per test
session and process) and a `file://` store, each as (URL, fsspec options)."""

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import pytest

BUCKET = "polyflow-tests"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "polyflow-test", "AWS_SECRET_ACCESS_KEY": "polyflow-test",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class StoreConfig:
    url: str
    options: dict

    @property
    def settings(self) -> dict:
        return {"ARTIFACTS_STORE": self.url, "ARTIFACTS_STORE_OPTIONS": self.options}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not listen on port {port} within {deadline} s")


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server on a free loopback port, with the test bucket: its endpoint URL."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def s3_store(moto_server) -> StoreConfig:
    """A fresh prefix of the test bucket on moto's server."""
    return StoreConfig(f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}",
                       {"endpoint_url": moto_server, "client_kwargs": {"region_name": "us-east-1"}})


@pytest.fixture
def file_store(tmp_path) -> StoreConfig:
    return StoreConfig((tmp_path / "store").as_uri(), {})


@pytest.fixture(params=["file", "s3"])
def any_store(request) -> StoreConfig:
    """Each test that takes it runs on both stores."""
    return request.getfixturevalue(f"{request.param}_store")
