"""The input limits over HTTP, against the live server: every hostile text of tests/bombs.py
as a pipeline, an action and an event body, hostile JSON as run params, and a body over the
request limit; each refused with a 422 or 413 naming its limit, in bounded time and memory.

The server runs in this process (pytest-django's live_server), so the cost of a request
is measured here: the process's CPU time around it and the growth of its resident
memory meanwhile, each against the issue's target of 1 s and 100 MB.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from polyflow.conf import DEFAULTS
from tests.api.conftest import assert_error
from tests.bombs import BOMBS

pytestmark = pytest.mark.django_db(transaction=True)

MAX_CPU_SECONDS = 1.0
MAX_MEMORY = 100 * 2**20

ENDPOINTS = {"pipeline": "alice/vision/pipelines/", "action": "alice/actions/", "event": "alice/events/"}


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _costs(send):
    """(response, CPU seconds, peak growth of resident memory) of one request.

    The resident memory is sampled every 5 ms while the request runs: tracemalloc would
    be exact for Python's allocations but makes the parser of a deep text 50 times
    slower. (tests/test_cli_limits.py measures the same parsing exactly, per process.)
    """
    before, peak, done = _resident_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.process_time()
    try:
        response = send()
    finally:
        cpu = time.process_time() - started
        done.set()
        sampler.join()
    return response, cpu, max(peak[0], _resident_bytes()) - before


def _refusal(setting: str) -> str:
    return f"more than the limit of {DEFAULTS[setting]:,} (POLYFLOW['{setting}']): refused"


@pytest.fixture(scope="module")
def bombs():
    return {name: make().encode() for name, (make, _) in BOMBS.items()}


# Refused whatever the document's kind; the others are pipelines' (and sent as one only).
CHECKED_BOMBS = ("many-ops", "long-description")
PARSING_BOMBS = [name for name in BOMBS if name not in CHECKED_BOMBS]
CASES = [(bomb, endpoint) for bomb in BOMBS for endpoint in ENDPOINTS
         if endpoint == "pipeline" or bomb in PARSING_BOMBS]


@pytest.mark.parametrize(("bomb", "endpoint"), CASES)
def test_a_hostile_text_is_refused_at_once(bomb, endpoint, bombs, alice_api):
    body = bombs[bomb]
    response, cpu, peak = _costs(lambda: alice_api.session.post(
        alice_api.base_url + ENDPOINTS[endpoint], data=body, headers={"Content-Type": "application/yaml"},
        timeout=30))
    error = assert_error(response, 422, "invalid_spec")
    assert _refusal(BOMBS[bomb][1]) in str(error["errors"]), str(error)[:2000]
    assert len(response.content) < 2000  # the answer does not echo the text
    assert cpu < MAX_CPU_SECONDS, cpu
    assert peak < MAX_MEMORY, peak


@pytest.mark.parametrize(("params", "setting"), [
    ({"fit": {"size": "x" * (DEFAULTS["MAX_STRING_LENGTH"] + 1)}}, "MAX_STRING_LENGTH"),
    ({"fit": {"size": {"k" * (DEFAULTS["MAX_STRING_LENGTH"] + 1): 1}}}, "MAX_STRING_LENGTH"),
])
def test_hostile_params_are_refused(params, setting, alice_api):
    response, cpu, peak = _costs(lambda: alice_api.post("alice/vision/pipelines/train/runs/",
                                                        json={"params": params}))
    error = assert_error(response, 422)
    assert _refusal(setting) in str(error["errors"])
    assert cpu < MAX_CPU_SECONDS and peak < MAX_MEMORY, (cpu, peak)


def test_params_nested_too_deeply_are_refused(alice_api):
    depth = DEFAULTS["MAX_NESTING"] + 1
    params = {"size": None}
    for _ in range(depth):
        params = {"size": params}
    error = assert_error(alice_api.post("alice/vision/pipelines/train/runs/", json={"params": params}), 422)
    assert "(POLYFLOW['MAX_NESTING']): refused" in error["message"]
    # Far deeper than Python's recursion limit: the JSON parser's own refusal, still a 400.
    text = '{"params": {"size": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = alice_api.session.post(alice_api.base_url + "alice/vision/pipelines/train/runs/", data=text,
                                      headers={"Content-Type": "application/json"}, timeout=30)
    assert "nested too deeply" in assert_error(response, 400)["message"]


def test_a_body_over_the_request_limit_is_413_read_no_further(alice_api):
    limit = DEFAULTS["MAX_REQUEST_BYTES"]
    body = b"# " + b"x" * (limit + 10) + b"\n"
    response, cpu, peak = _costs(lambda: alice_api.session.post(
        alice_api.base_url + "alice/vision/pipelines/", data=body, headers={"Content-Type": "application/yaml"},
        timeout=30))
    error = assert_error(response, 413, "too_large")
    assert error["message"] == (f"the request body is too large, more than the limit of {limit:,} bytes "
                                "(POLYFLOW['MAX_REQUEST_BYTES']): refused")
    assert cpu < MAX_CPU_SECONDS and peak < MAX_MEMORY, (cpu, peak)
