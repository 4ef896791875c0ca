"""Log records with their context, as text or as JSON lines (POLYFLOW["LOG_FORMAT"]).

- `ContextFilter` puts `run_uuid`, `pipeline`, `op` and `attempt` on every record
  ("" where unknown), read from `context`. A handler filter, not a logger one:
  records of child loggers and of libraries pass through it too.
- `JsonFormatter`: one JSON object per line, the context fields among its keys.
- `ContextFormatter`: a text format (a handler's own, or ours) with the known
  context appended, ` [run=… pipeline=… op=… attempt=…]`.
- `adopt(handler, fmt)` gives a handler both; `configure(fmt)` the root logger's
  handlers (making one on stderr when there is none), for Polyflow's own processes.

A host project configures its LOGGING dict with the same classes (docs/observability.md).
Standard library only: cheap to import from any command.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from . import context

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LABELS = (("run_uuid", "run"), ("pipeline", "pipeline"), ("op", "op"), ("attempt", "attempt"))
# What every LogRecord has: anything else on a record came from `extra=` and goes into the JSON.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                                  "taskName", *context.FIELDS}


class ContextFilter(logging.Filter):
    """Copies the log context onto the record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in zip(context.FIELDS, context.values(), strict=True):
            # A value given with `extra=` (or set by an earlier filter) wins.
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


def suffix(record: logging.LogRecord) -> str:
    """` [run=… pipeline=… op=… attempt=…]` for the fields the record knows, else ""."""
    parts = [f"{label}={value}" for name, label in _LABELS if (value := getattr(record, name, ""))]
    return f" [{' '.join(parts)}]" if parts else ""


class ContextFormatter(logging.Formatter):
    """A text format with the record's context appended; `inner` formats the rest
    (a handler's formatter as it was, so a host's or Celery's own format is kept)."""

    def __init__(self, fmt: str | None = TEXT_FORMAT, datefmt: str | None = None,
                 inner: logging.Formatter | None = None):
        super().__init__(fmt, datefmt)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner is not None else super().format(record)
        extra = suffix(record)
        if not extra:
            return text
        # After the message's first line, so that a traceback below it stays as it was.
        first, newline, rest = text.partition("\n")
        return first + extra + newline + rest


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "run_uuid", "pipeline", "op", "attempt", ...}`
    on one line: the context fields when known, `extra=` fields as given, `exception`
    with the traceback's text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in context.FIELDS:
            if value := getattr(record, name, ""):
                entry[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def adopt(handler: logging.Handler, fmt: str) -> None:
    """Give `handler` the context filter and the format `fmt` ("text": its own format, or
    ours, with the context appended; "json": JSON lines). Twice is the same as once."""
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    current = handler.formatter
    if fmt == "json":
        if not isinstance(current, JsonFormatter):
            handler.setFormatter(JsonFormatter())
    elif not isinstance(current, ContextFormatter):
        handler.setFormatter(ContextFormatter(inner=current) if current is not None else ContextFormatter())


def configure(fmt: str, level: int = logging.INFO) -> None:
    """Polyflow's own processes (`polyflow server`): the root logger's handlers adopted
    (one on stderr made when there is none), Polyflow's loggers at `level`."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.WARNING:
            root.setLevel(logging.WARNING)
    for handler in root.handlers:
        adopt(handler, fmt)
    logging.getLogger("polyflow").setLevel(level)
