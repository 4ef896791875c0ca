"""When attempt n+1 of a failed op may start (pure; DESIGN section 6)."""

from __future__ import annotations

import datetime as dt


def retry_delay(failed_attempt: int, delay: int, exp_backoff: bool, max_delay: int) -> int:
    """Seconds to wait after attempt `failed_attempt` (1-based) failed."""
    if failed_attempt < 1:
        raise ValueError("attempts are counted from 1")
    seconds = delay * 2 ** (failed_attempt - 1) if exp_backoff else delay
    return min(seconds, max_delay)


def may_retry(failed_attempt: int, max_retries: int) -> bool:
    """An op runs at most 1 + max_retries attempts."""
    return failed_attempt <= max_retries


def next_attempt_at(failed_at: dt.datetime, failed_attempt: int, delay: int, exp_backoff: bool,
                    max_delay: int) -> dt.datetime:
    return failed_at + dt.timedelta(seconds=retry_delay(failed_attempt, delay, exp_backoff, max_delay))
