"""What a log line is about: the run, pipeline, op and attempt the scheduler is working on.

The tick sets them around each run it decides and each attempt it hands over
(`about(...)`); `logs.ContextFilter` copies them onto every record logged meanwhile,
by Polyflow or by a library it calls (the Kubernetes client, urllib3). Context
variables, so that threads (the server's scheduler thread, request threads) and
Celery tasks each see their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

FIELDS = ("run_uuid", "pipeline", "op", "attempt")

# One variable holding a small tuple rather than four: one set and one reset per `about`.
_current: ContextVar[tuple[str, str, str, str]] = ContextVar("polyflow_log_context", default=("", "", "", ""))


def current() -> dict[str, str]:
    """The fields known here, e.g. {"run_uuid": "…", "pipeline": "alice/ml/chain"}; unknown ones left out."""
    return {name: value for name, value in zip(FIELDS, _current.get(), strict=True) if value}


def values() -> tuple[str, str, str, str]:
    """(run_uuid, pipeline, op, attempt), "" where unknown: for the filter, which wants all four."""
    return _current.get()


@contextlib.contextmanager
def about(run_uuid: object = None, pipeline: object = None, op: object = None,
          attempt: object = None) -> Iterator[None]:
    """Log lines within the block are about this run (and op, attempt); fields not given
    keep the value of an enclosing block (an op's block inside its run's)."""
    outer = _current.get()
    given = (run_uuid, pipeline, op, attempt)
    token = _current.set(tuple(outer[i] if value is None else str(value) for i, value in enumerate(given)))
    try:
        yield
    finally:
        _current.reset(token)
