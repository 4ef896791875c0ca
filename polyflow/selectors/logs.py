"""An op run's log lines, read from the backend that ran its current attempt."""

from __future__ import annotations

from ..backends import get_backend


class LogsUnavailable(Exception):
    pass


def op_run_logs(op_run, tail: int | None = None) -> list[str]:
    """[] when the op run was never submitted; LogsUnavailable when its backend is not available here."""
    if not op_run.handle:
        return []
    try:
        backend = get_backend(op_run.backend or None)
    except (KeyError, ImportError) as error:
        raise LogsUnavailable(f"backend {op_run.backend!r} is not available here ({error})") from None
    return backend.logs(op_run.handle, tail)
