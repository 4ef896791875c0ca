"""A Celery worker (prefork pool, beat) with WORKER_METRICS_PORT: the ticks its pool's children
run are served by its main process; its log lines are JSON with LOG_FORMAT "json"."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, clean_environ
from tests.processes import database_url, redis_or_skip

BROKER_URL = "redis://127.0.0.1:6379/12"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def worker(transactional_db, tmp_path):
    broker = redis_or_skip(BROKER_URL)
    port = free_port()
    env = {**clean_environ(tmp_path / "home"), "DATABASE_URL": database_url(connection.settings_dict),
           "CELERY_BROKER_URL": BROKER_URL, "POLYFLOW_HOME": str(tmp_path / "polyflow"),
           "POLYFLOW_SECRET_KEY": "celery-test-not-secret", "POLYFLOW_TICK_INTERVAL": "1",
           "POLYFLOW_WORKER_METRICS_PORT": str(port), "POLYFLOW_LOG_FORMAT": "json"}
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "polyflow.standalone", "worker", "--beat", "--pool=prefork",
             "--concurrency=2", "--loglevel=INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=20)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the beat, if left
        except ProcessLookupError:
            pass
        broker.flushdb()
        broker.close()


def ticks(url: str) -> float:
    try:
        response = requests.get(f"{url}/metrics", timeout=5)
    except requests.ConnectionError:
        return 0.0
    return sum(s.value for family in text_string_to_metric_families(response.text) for s in family.samples
               if s.name == "polyflow_tick_duration_seconds_count" and s.labels == {"kind": "tick"})


def test_the_pools_ticks_are_served_on_the_workers_port(worker):
    url, log_path = worker
    deadline = time.monotonic() + 60
    while ticks(url) < 2:
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.5)
    body = requests.get(f"{url}/metrics", timeout=5).text
    assert "polyflow_runs{" not in body  # the database's gauges are the web processes' to serve
    lines = log_path.read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(entry["message"].startswith("serving this worker's metrics on port") for entry in entries), lines
    assert any(entry["logger"].startswith("celery") for entry in entries), lines
