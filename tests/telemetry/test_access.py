"""`polyflow server`: one access line per request, as text or JSON lines; and its /metrics
and /readyz, with the scheduler thread of the same process ticking."""

import json
import re
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from polyflow.telemetry.access import line
from tests.test_cli_server import Server


def _until_ready(url: str, deadline: float = 30) -> requests.Response:
    end = time.monotonic() + deadline
    while True:
        response = requests.get(f"{url}/readyz", timeout=10)
        if response.status_code == 200 or time.monotonic() > end:
            return response
        time.sleep(0.2)


def test_json_lines_with_an_access_line_per_request(env):
    server = Server({**env, "POLYFLOW_LOG_FORMAT": "json"})
    try:
        ready = _until_ready(server.url)  # the scheduler thread ticks as the server starts
        assert ready.json() == {"status": "ok", "checks": {"database": "ok", "scheduler": "ok"}}
        assert requests.get(f"{server.url}/healthz?probe=1", timeout=10).status_code == 200
        assert requests.get(f"{server.url}/nowhere", timeout=10).status_code == 404
        metrics = requests.get(f"{server.url}/metrics", timeout=10)
        ticks = {s.labels.get("kind"): s.value for family in text_string_to_metric_families(metrics.text)
                 for s in family.samples if s.name == "polyflow_tick_duration_seconds_count"}
        assert ticks["tick"] >= 1
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    # Every log record is a JSON line (the shutdown's message to the terminal is no log record).
    assert [text for text in stderr.splitlines() if not text.startswith("{")] == [
        "stopping the scheduler (the tick in progress finishes)"]
    entries = [json.loads(text) for text in stderr.splitlines() if text.startswith("{")]
    access = [entry for entry in entries if entry["logger"] == "polyflow.access"]
    by_path = {entry["path"]: entry for entry in access}
    assert by_path["/readyz"]["status"] == 200 and by_path["/readyz"]["method"] == "GET"
    assert by_path["/healthz"]["message"].startswith("GET /healthz 200 ")  # no query string
    assert by_path["/nowhere"]["status"] == 404
    assert by_path["/metrics"]["duration_ms"] > 0
    assert by_path["/metrics"]["remote"] == "127.0.0.1"
    assert {entry["level"] for entry in access} == {"INFO"}


def test_text_lines_by_default(env):
    server = Server(env)
    try:
        requests.get(f"{server.url}/healthz", timeout=10)
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    assert re.search(r"^\S+ \S+ INFO polyflow.access: GET /healthz 200 \d+\.\dms$", stderr, re.M), stderr


def test_no_access_log_when_turned_off(env):
    server = Server({**env, "POLYFLOW_ACCESS_LOG": "false"})
    try:
        requests.get(f"{server.url}/healthz", timeout=10)
    finally:
        code, stderr = server.stop()
    assert "polyflow.access" not in stderr


def test_the_line():
    assert line("GET", "/api/v1/alice/projects/", "200", 0.01234) == "GET /api/v1/alice/projects/ 200 12.3ms"
