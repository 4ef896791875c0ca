"""What a backend observation means for an op run: start, success, retry or failure, stop."""

import datetime as dt

import pytest

from polyflow.backends.base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, Observation
from polyflow.scheduler.outcomes import Outcome, outcome_of, timed_out
from polyflow.spec.plan import IOSpec, OpSpec, TemplateSpec

NOW = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
STARTED = NOW - dt.timedelta(minutes=5)
ENDED = NOW - dt.timedelta(seconds=3)
TEMPLATE = TemplateSpec("job", "t", outputs=(IOSpec("score", "float"), IOSpec("label", "str", options=("a", "b"))))
OP = OpSpec("train", "t", None, TEMPLATE, max_retries=2, retry_delay=60, retry_exp_backoff=True)


def seen(state, **fields):
    return Observation(state, **fields)


def done_fields(exit_code, **more):
    return {"exit_code": exit_code, "finished_at": ENDED, "started_at": STARTED, **more}


@pytest.mark.parametrize(("status", "observation", "expected"), [
    ("scheduled", seen(PENDING), None),
    ("scheduled", seen(RUNNING, started_at=STARTED), Outcome("running", fields={"started_at": STARTED})),
    ("starting", seen(RUNNING), Outcome("running", fields={"started_at": NOW})),
    ("running", seen(RUNNING, started_at=STARTED), None),
    ("stopping", seen(RUNNING), None),
    ("stopping", seen(FAILED, exit_code=-15, message="killed", started_at=STARTED, finished_at=ENDED),
     Outcome("stopped", "stopped", "killed", done_fields(-15))),
    ("stopping", seen(SUCCEEDED, exit_code=0, started_at=STARTED, finished_at=ENDED),
     Outcome("stopped", "stopped", "", done_fields(0))),  # a stop wins over a late success
])
def test_starts_and_stops(status, observation, expected):
    assert outcome_of(status, 1, OP, observation, NOW) == expected


def test_success_stores_valid_outputs():
    observation = seen(SUCCEEDED, exit_code=0, outputs={"score": 0.9, "label": "a"}, started_at=STARTED,
                       finished_at=ENDED)
    assert outcome_of("running", 1, OP, observation, NOW) == Outcome(
        "succeeded", fields=done_fields(0, outputs={"score": 0.9, "label": "a"}))
    # finished_at defaults to now.
    assert outcome_of("running", 1, OP, seen(SUCCEEDED, exit_code=0), NOW).fields == {
        "exit_code": 0, "finished_at": NOW, "outputs": {}}


@pytest.mark.parametrize(("outputs", "error"), [
    ({"loss": 1}, "undeclared output 'loss' (outputs: score, label)"),
    ({"score": "high"}, "output 'score': expected a number (type float), got "),
    ({"label": "c"}, "output 'label': "),
])
def test_invalid_outputs_fail_the_attempt(outputs, error):
    observation = seen(SUCCEEDED, exit_code=0, outputs=outputs, started_at=STARTED, finished_at=ENDED)
    outcome = outcome_of("running", 3, OP, observation, NOW)  # the last attempt: final
    assert (outcome.status, outcome.reason) == ("failed", "invalid_outputs")
    assert outcome.message.startswith(error)
    assert "outputs" not in outcome.fields


@pytest.mark.parametrize(("attempt", "wait"), [(1, 60), (2, 120)])
def test_a_failure_with_retries_left_retries_after_the_delay(attempt, wait):
    observation = seen(FAILED, exit_code=1, started_at=STARTED, finished_at=ENDED)
    at = NOW + dt.timedelta(seconds=wait)
    assert outcome_of("running", attempt, OP, observation, NOW) == Outcome(
        "retrying", "failed", f"attempt {attempt} of 3 failed (failed); retrying at {at.isoformat()}: exit code 1",
        done_fields(1, retry_at=at))


def test_the_last_failure_is_final():
    observation = seen(FAILED, exit_code=1, started_at=STARTED, finished_at=ENDED)
    assert outcome_of("running", 3, OP, observation, NOW) == Outcome("failed", "failed", "exit code 1", done_fields(1))
    no_retries = OpSpec("train", "t", None, TEMPLATE)
    assert outcome_of("running", 1, no_retries, observation, NOW).status == "failed"


@pytest.mark.parametrize(("observation", "reason", "message"), [
    (seen(LOST), "lost", ""),  # deleted, evicted, node gone: a failed attempt
    (seen(FAILED, exit_code=137, reason="timeout", message="killed after 60 s"), "timeout", "killed after 60 s"),
    (seen(FAILED, reason="OOMKilled"), "OOMKilled", ""),
])
def test_failure_reasons(observation, reason, message):
    outcome = outcome_of("running", 3, OP, observation, NOW)
    assert (outcome.status, outcome.reason, outcome.message) == ("failed", reason, message)
    retry = outcome_of("running", 1, OP, observation, NOW)
    assert (retry.status, retry.reason, retry.fields["retry_at"]) == ("retrying", reason, NOW + dt.timedelta(minutes=1))


@pytest.mark.parametrize(("started_at", "timeout", "now", "expected"), [
    (None, 60, NOW, False),
    (NOW, None, NOW + dt.timedelta(days=1), False),
    (NOW, 60, NOW + dt.timedelta(seconds=65), False),  # within timeout + grace
    (NOW, 60, NOW + dt.timedelta(seconds=66), True),
])
def test_timed_out(started_at, timeout, now, expected):
    assert timed_out(started_at, timeout, now, grace=5) is expected
