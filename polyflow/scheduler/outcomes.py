"""What an observation from a backend means for an op run (pure).

Success, failure with or without a retry left, a start, or the end of a stop:
each becomes the transition to write and the fields that go with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..backends.base import FAILED, LOST, RUNNING, SUCCEEDED, Observation
from ..spec.plan import OpSpec
from ..statuses import OpStatus
from .outputs import parse_outputs
from .retries import may_retry, next_attempt_at


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""
    message: str = ""
    fields: dict = field(default_factory=dict)


def failure(op: OpSpec, attempt: int, reason: str, message: str, now: dt.datetime,
            fields: dict | None = None) -> Outcome:
    """A failed attempt: retrying while retries are left, failed after the last."""
    fields = dict(fields or {})
    if may_retry(attempt, op.max_retries):
        at = next_attempt_at(now, attempt, op.retry_delay, op.retry_exp_backoff, op.max_retry_delay)
        fields["retry_at"] = at
        note = f"attempt {attempt} of {op.max_retries + 1} failed ({reason}); retrying at {at.isoformat()}"
        return Outcome(OpStatus.RETRYING, reason, f"{note}: {message}" if message else note, fields)
    return Outcome(OpStatus.FAILED, reason, message, fields)


def outcome_of(status: str, attempt: int, op: OpSpec, observation: Observation, now: dt.datetime) -> Outcome | None:
    """The transition an observation calls for, or None when nothing changes."""
    finished = {"exit_code": observation.exit_code, "finished_at": observation.finished_at or now}
    if observation.started_at:
        finished["started_at"] = observation.started_at
    if status == OpStatus.STOPPING:
        if observation.final:
            return Outcome(OpStatus.STOPPED, "stopped", observation.message, finished)
        return None
    if observation.state == RUNNING:
        if status in (OpStatus.SCHEDULED, OpStatus.STARTING):
            return Outcome(OpStatus.RUNNING, fields={"started_at": observation.started_at or now})
        return None
    if observation.state == SUCCEEDED:
        parsed = parse_outputs(observation.outputs, op.template.outputs if op.template else ())
        if parsed.error:
            return failure(op, attempt, "invalid_outputs", parsed.error, now, finished)
        return Outcome(OpStatus.SUCCEEDED, fields={**finished, "outputs": parsed.outputs})
    if observation.state in (FAILED, LOST):
        reason = observation.reason or ("lost" if observation.state == LOST else "failed")
        message = observation.message or (f"exit code {observation.exit_code}"
                                          if observation.exit_code is not None else "")
        return failure(op, attempt, reason, message, now, finished)
    return None


def timed_out(started_at: dt.datetime | None, timeout: int | None, now: dt.datetime, grace: int) -> bool:
    """A safety net over the backend's own enforcement (the runner, activeDeadlineSeconds)."""
    return bool(started_at and timeout and now > started_at + dt.timedelta(seconds=timeout + grace))
