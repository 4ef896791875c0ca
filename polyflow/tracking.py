"""Reporting metrics from inside an op (docs/metrics.md).

    from polyflow.tracking import log_metrics

    for epoch in range(10):
        ...
        log_metrics(step=epoch, loss=loss, accuracy=accuracy)

prints one line to stdout, which Polyflow reads from the op's log while it runs,
on every backend (no credentials, no network: the log is the channel):

    polyflow:metrics {"step": 3, "loss": 0.2, "accuracy": 0.91}

Any image can do the same without Polyflow installed, e.g.
`echo 'polyflow:metrics {"step": 3, "loss": 0.2}'`. Standard library only: no
Django, no database; importing it costs nothing.
"""

from __future__ import annotations

import json
import operator
import re
import sys

PREFIX = "polyflow:metrics"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_NAME_LENGTH = 128
_MAX_STEP = 2**63 - 1

__all__ = ["log_metrics", "metrics_line"]


def _number(name: str, value: object) -> int | float:
    if isinstance(value, bool):
        raise TypeError(f"metric {name!r}: {value!r} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) or hasattr(type(value), "__float__"):  # numpy and torch scalars too
        return float(value)
    raise TypeError(f"metric {name!r}: {value!r} is not a number")


def metrics_line(step: int | None = None, **values: object) -> str:
    """The line that reports `values` (at `step`), without its newline.

    Names must be identifiers of at most 128 characters and values numbers (a
    TypeError or ValueError otherwise: a mistake in the calling code). NaN and
    Infinity are printed as they are, and Polyflow ignores them (reporting it), so a
    diverged loss does not stop a training.
    """
    record: dict[str, int | float] = {}
    if step is not None:
        if isinstance(step, bool):
            raise TypeError(f"step must be an integer, not {step!r}")
        step = operator.index(step)
        if not 0 <= step <= _MAX_STEP:
            raise ValueError(f"step must be an integer >= 0, not {step}")
        record["step"] = step
    for name, value in values.items():
        if name == "step" or len(name) > _MAX_NAME_LENGTH or not _NAME.match(name):
            raise ValueError(f"{name!r} is not a metric name (an identifier of at most {_MAX_NAME_LENGTH} "
                             f"characters, other than 'step')")
        record[name] = _number(name, value)
    return f"{PREFIX} {json.dumps(record)}"


def log_metrics(step: int | None = None, **values: object) -> None:
    """Report metrics: print their line to stdout and flush it at once.

    Without `step`, Polyflow numbers the report one more than the attempt's last step
    (0 for the first).
    """
    stream = sys.stdout
    stream.write(metrics_line(step, **values) + "\n")  # one write: the line is not split
    stream.flush()
