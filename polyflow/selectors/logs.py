"""An op run's log lines, read from the backend that ran the attempt: its current one, or an
earlier one found by the deterministic name every attempt is given (backends/naming.py)."""

from __future__ import annotations

from ..backends import get_backend
from ..backends.naming import attempt_key
from ..exceptions import NotFound


class LogsUnavailable(Exception):
    pass


def attempt_handle(op_run, attempt: int) -> str:
    """The handle of attempt `attempt` of the op run: its current one's as recorded, an earlier
    one's by its name. NotFound for an attempt the op run has not had."""
    if attempt < 1 or attempt > op_run.attempt:
        attempts = "1" if op_run.attempt <= 1 else f"1 to {op_run.attempt}"
        raise NotFound(f"{op_run.label} has no attempt {attempt} (attempts: {attempts})")
    if attempt == op_run.attempt:
        return op_run.handle
    run = op_run.run
    pipeline = (run.plan or {}).get("name") or run.pipeline.name
    return attempt_key(pipeline, op_run.name, str(run.uuid), attempt, trial=op_run.trial)


def op_run_logs(op_run, attempt: int | None = None, tail: int | None = None, *,
                backends: dict | None = None) -> list[str]:
    """The log lines of attempt `attempt` (default: the current one); [] when that attempt was
    never submitted; LogsUnavailable when its backend is not available here. `backends`:
    {name: backend} kept between calls (a follower's)."""
    handle = attempt_handle(op_run, attempt or op_run.attempt) if attempt else op_run.handle
    if not handle:
        return []
    backends = {} if backends is None else backends
    name = op_run.backend or ""
    if name not in backends:
        try:
            backends[name] = get_backend(name or None)
        except (KeyError, ImportError) as error:
            raise LogsUnavailable(f"backend {op_run.backend!r} is not available here ({error})") from None
    return backends[name].logs(handle, tail)
