"""Statuses of runs and op runs, and which transitions are allowed (DESIGN section 5).

Pure data, importable without Django (the local runner, the spec tools and
tests use it too): the single transition function (services/transitions.py)
enforces this table with a conditional UPDATE. One vocabulary: code compares
statuses with these members, never with string copies.
"""

from __future__ import annotations

from enum import StrEnum


class _Choices(StrEnum):
    """A StrEnum with Django's `choices` ((value, label) pairs, labels as TextChoices makes them)."""

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.name.replace("_", " ").title()) for member in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [member.value for member in cls]


class OpStatus(_Choices):
    CREATED = "created"
    SCHEDULED = "scheduled"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    RETRYING = "retrying"
    STOPPING = "stopping"
    STOPPED = "stopped"


class RunStatus(_Choices):
    CREATED = "created"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"


OP_FINAL = frozenset({OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.UPSTREAM_FAILED,
                      OpStatus.SKIPPED, OpStatus.STOPPED})
OP_ACTIVE = frozenset(OpStatus) - OP_FINAL
# Handed to a backend: these have something running (or about to) somewhere.
OP_SUBMITTED = frozenset({OpStatus.SCHEDULED, OpStatus.STARTING, OpStatus.RUNNING})
# What an explicit retry brings back (with everything downstream of them).
OP_RETRYABLE = frozenset({OpStatus.FAILED, OpStatus.UPSTREAM_FAILED, OpStatus.STOPPED})

RUN_FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED})
RUN_ACTIVE = frozenset(RunStatus) - RUN_FINAL

# What an explicit mark (Airflow's mark success / failed) sets an op run to, and the statuses it
# may set it from: an attempt handed to a backend is stopped first (-> stopping), so a mark never
# leaves a process or pod running behind a final status.
OP_MARKS = frozenset({OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.SKIPPED})
OP_MARK_SOURCES = frozenset(OpStatus) - OP_SUBMITTED
# A finished run's outcome is worked out again after one of its op runs was marked.
RUN_MARK_SOURCES = RUN_FINAL

_S = OpStatus
# to-status -> the statuses it may come from, in the normal course of a run.
OP_TRANSITIONS: dict[str, frozenset[str]] = {
    _S.SCHEDULED: frozenset({_S.CREATED, _S.RETRYING}),
    _S.STARTING: frozenset({_S.SCHEDULED}),
    _S.RUNNING: frozenset({_S.SCHEDULED, _S.STARTING}),
    _S.SUCCEEDED: frozenset({_S.SCHEDULED, _S.STARTING, _S.RUNNING}),
    _S.FAILED: frozenset({_S.CREATED, _S.SCHEDULED, _S.STARTING, _S.RUNNING, _S.RETRYING}),
    _S.UPSTREAM_FAILED: frozenset({_S.CREATED}),
    _S.SKIPPED: frozenset({_S.CREATED}),
    _S.RETRYING: frozenset({_S.SCHEDULED, _S.STARTING, _S.RUNNING}),
    _S.STOPPING: frozenset({_S.SCHEDULED, _S.STARTING, _S.RUNNING}),
    _S.STOPPED: frozenset({_S.CREATED, _S.RETRYING, _S.STOPPING}),
    # Only an explicit retry brings a final op run back.
    _S.CREATED: frozenset(),
}
OP_RETRY_SOURCES = OP_FINAL

_R = RunStatus
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    _R.RUNNING: frozenset({_R.CREATED}),
    _R.SUCCEEDED: frozenset({_R.RUNNING}),
    # From stopping: a run stopped by its own timeout ends failed.
    _R.FAILED: frozenset({_R.CREATED, _R.RUNNING, _R.STOPPING}),
    _R.STOPPING: frozenset({_R.CREATED, _R.RUNNING}),
    _R.STOPPED: frozenset({_R.CREATED, _R.STOPPING}),
    _R.CREATED: frozenset(),
}
RUN_RETRY_SOURCES = RUN_FINAL


def allowed_sources(table: dict[str, frozenset[str]], retry_sources: frozenset[str],
                    to_status: str, explicit_retry: bool = False,
                    mark_sources: frozenset[str] | None = None) -> frozenset[str]:
    """The statuses a row may be in for a move to `to_status` to happen (`mark_sources`: those
    of an explicit mark)."""
    if mark_sources is not None:
        return mark_sources
    if explicit_retry:
        if to_status != "created":
            raise ValueError("an explicit retry moves back to 'created'")
        return retry_sources
    return table[to_status]
