"""The access log of `polyflow server`: one line per request, once its response is sent.

A WSGI wrapper rather than Django middleware: it times the whole response, streamed
bodies and static files included, and sees the requests Django never answers (a
bad Host header's 400 is Django's own; waitress's errors never reach either).
Logged to "polyflow.access" at INFO, with `method`, `path`, `status`, `duration_ms`
and `remote` as fields of the record (keys of the JSON line with LOG_FORMAT "json").
The query string is left out: it may carry what should not be in logs.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("polyflow.access")


def line(method: str, path: str, status: str, seconds: float) -> str:
    """`GET /api/v1/alice/projects/ 200 12.3ms` (pure)."""
    return f"{method} {path} {status} {seconds * 1000:.1f}ms"


class AccessLog:
    """Wraps a WSGI application; logs each request when its response is closed."""

    def __init__(self, application, log: logging.Logger = logger):
        self.application = application
        self.log = log

    def __call__(self, environ, start_response):
        began = time.perf_counter()
        seen = {"status": "-"}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = self.application(environ, recording_start_response)
        except BaseException:
            self._log(environ, "500", time.perf_counter() - began)
            raise
        return _Closing(body, lambda: self._log(environ, seen["status"], time.perf_counter() - began))

    def _log(self, environ, status: str, seconds: float) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        method = environ.get("REQUEST_METHOD", "-")
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
        self.log.info(line(method, path, status, seconds), extra={
            "method": method, "path": path, "status": int(status) if status.isdigit() else status,
            "duration_ms": round(seconds * 1000, 3), "remote": environ.get("REMOTE_ADDR", "")})


class _Closing:
    """The response's iterable, logging once the server closes it (after the last byte)."""

    def __init__(self, body, on_close):
        self._body = body
        self._on_close = on_close

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()
