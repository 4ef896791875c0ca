"""Pod logs with times, as the real API server sends them: `timestamps`, `sinceSeconds`, `sinceTime`."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from kubernetes import client

from polyflow.testing.kube.logs import PART, ContainerLog, parse_time, rfc3339_nano

from .conftest import http, pod_manifest

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)$")


def stamped(text: str) -> list[tuple[int, str]]:
    lines = []
    for line in text.splitlines():
        match = STAMP.match(line)
        assert match, line
        lines.append((parse_time(match.group(1)), match.group(2)))
    return lines


def test_rfc3339_nano_as_go_writes_it():
    assert rfc3339_nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"  # no trailing zeros
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert parse_time("2023-11-14T22:13:20.12Z") == 1_700_000_000_120_000_000
    assert parse_time("2023-11-14T23:13:20.000000001+01:00") == 1_700_000_000_000_000_001
    assert parse_time("yesterday") is None


def test_timestamps_prefix_every_line_with_increasing_times(api, sim):
    api.create_namespaced_pod("default", pod_manifest("talk", ["sh", "-c", "echo one; echo two >&2; printf three"]))
    sim.wait_for_pod("talk")
    assert api.read_namespaced_pod_log("talk", "default") == "one\ntwo\nthree"
    text = api.read_namespaced_pod_log("talk", "default", timestamps=True)
    lines = stamped(text)
    assert [line for _, line in lines] == ["one", "two", "three"]
    times = [moment for moment, _ in lines]
    assert times == sorted(set(times))  # strictly increasing
    assert abs(times[0] / 1e9 - time.time()) < 60
    assert not text.endswith("\n")  # the last line had no newline, as the command printed it
    assert api.read_namespaced_pod_log("talk", "default", timestamps=True, tail_lines=1).endswith(" three")
    assert api.read_namespaced_pod_log("talk", "default", limit_bytes=6) == "one\ntw"


def test_since_seconds_and_since_time_select_by_time(api, sim):
    api.create_namespaced_pod("default", pod_manifest("slow", ["sh", "-c", "echo early; sleep 2.2; echo late"]))
    sim.wait_for_pod("slow", timeout=20)
    assert api.read_namespaced_pod_log("slow", "default", since_seconds=2) == "late\n"
    assert api.read_namespaced_pod_log("slow", "default", since_seconds=60) == "early\nlate\n"
    (early, _), (late, _) = stamped(api.read_namespaced_pod_log("slow", "default", timestamps=True))
    since = dt.datetime.fromtimestamp((early + late) / 2e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    status, _, text = http(sim, "GET", f"/api/v1/namespaces/default/pods/slow/log?sinceTime={since}")
    assert (status, text) == (200, "late\n")


@pytest.mark.parametrize(("query", "status"), [
    ("sinceSeconds=0", 422), ("sinceSeconds=-5", 422), ("sinceSeconds=x", 400),
    ("sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", 422), ("sinceTime=soon", 400),
])
def test_invalid_log_options(api, sim, query, status):
    api.create_namespaced_pod("default", pod_manifest("p", ["true"]))
    sim.wait_for_pod("p")
    code, _, body = http(sim, "GET", f"/api/v1/namespaces/default/pods/p/log?{query}")
    assert code == status, body
    assert body["kind"] == "Status" and body["code"] == status
    if status == 422:
        assert body["reason"] == "Invalid" and body["details"]["causes"][0]["field"] == "sinceSeconds"


def test_a_followed_log_with_times(api, sim):
    api.create_namespaced_pod("default", pod_manifest("chatty", ["sh", "-c", "echo a; sleep 0.2; echo b"]))
    sim.wait_for_pod("chatty", phases=["Running", "Succeeded"])
    response = api.read_namespaced_pod_log("chatty", "default", follow=True, timestamps=True, _preload_content=False)
    assert [line for _, line in stamped(response.data.decode())] == ["a", "b"]


def test_everything_printed_is_in_the_log_once_the_pod_ended(api, sim):
    command = ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"]
    api.create_namespaced_pod("default", pod_manifest("burst", command))
    sim.wait_for_pod("burst", timeout=20)
    lines = api.read_namespaced_pod_log("burst", "default", timestamps=True).splitlines()
    assert len(lines) == 2000 and lines[-1].endswith(" line 1999")


def test_long_lines_are_kept_in_parts_and_sent_whole(tmp_path):
    log = ContainerLog(str(tmp_path / "main.log"))
    log.write(b"x" * (2 * PART + 10) + b"\nshort\n")
    records, _ = log.records()
    assert [(len(content), full) for _, _, content, full in records] == [(PART, False), (PART, False), (10, True),
                                                                          (5, True)]
    text = log.text(timestamps=True).decode()
    first, second = text.splitlines()
    assert STAMP.match(first).group(2) == "x" * (2 * PART + 10)  # one time: the line's first part's
    assert STAMP.match(second).group(2) == "short"


def test_the_official_client_refuses_since_seconds_below_one_too(api, sim):
    api.create_namespaced_pod("default", pod_manifest("q", ["true"]))
    sim.wait_for_pod("q")
    with pytest.raises(client.ApiException) as caught:
        api.read_namespaced_pod_log("q", "default", since_seconds=0)
    assert caught.value.status == 422
