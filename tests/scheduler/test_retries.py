"""When attempt n+1 of a failed op may start (DESIGN section 6)."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyflow.scheduler.retries import may_retry, next_attempt_at, retry_delay


@pytest.mark.parametrize(("attempt", "delay", "exp_backoff", "max_delay", "expected"), [
    (1, 60, False, 3600, 60),
    (5, 60, False, 3600, 60),  # without backoff every wait is retry_delay
    (1, 60, True, 3600, 60),  # retry_delay * 2**(n-1): doubling from attempt 1
    (2, 60, True, 3600, 120),
    (3, 60, True, 3600, 240),
    (6, 60, True, 3600, 1920),
    (7, 60, True, 3600, 3600),  # 3840 capped at max_retry_delay
    (40, 60, True, 3600, 3600),
    (1, 10, True, 25, 10),
    (2, 10, True, 25, 20),
    (3, 10, True, 25, 25),
    (1, 120, False, 60, 60),  # the cap applies without backoff too
    (4, 0, True, 3600, 0),
])
def test_retry_delay(attempt, delay, exp_backoff, max_delay, expected):
    assert retry_delay(attempt, delay, exp_backoff, max_delay) == expected


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="attempts are counted from 1"):
        retry_delay(0, 60, False, 3600)


@pytest.mark.parametrize(("attempt", "max_retries", "expected"), [
    (1, 0, False),  # no retries: the first failure is final
    (1, 2, True),
    (2, 2, True),
    (3, 2, False),  # 1 + max_retries attempts at most
])
def test_may_retry(attempt, max_retries, expected):
    assert may_retry(attempt, max_retries) is expected


def test_next_attempt_at():
    failed_at = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    assert next_attempt_at(failed_at, 3, 60, True, 3600) == failed_at + dt.timedelta(seconds=240)
    assert next_attempt_at(failed_at, 3, 60, False, 3600) == failed_at + dt.timedelta(seconds=60)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 100_000), st.booleans())
def test_delays_never_decrease_and_never_pass_the_cap(delay, max_delay, exp_backoff):
    delays = [retry_delay(attempt, delay, exp_backoff, max_delay) for attempt in range(1, 80)]
    assert delays == sorted(delays)
    assert max(delays) <= max_delay
    assert delays[0] == min(delay, max_delay)
    if exp_backoff:
        assert all(later in (2 * earlier, max_delay) for earlier, later in zip(delays, delays[1:], strict=False))
    else:
        assert set(delays) == {min(delay, max_delay)}
