"""A run's op durations as a Gantt-style timeline: one row per op, one bar per attempt.

Pure: it reads the op runs and their status histories (selectors.dashboard.run_detail)
and returns positions in percent of the run's span, for the template to draw.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..statuses import OP_FINAL, OpStatus

# The first of these that an attempt reached starts its bar.
_STARTS = (OpStatus.RUNNING, OpStatus.STARTING, OpStatus.SCHEDULED)
_ENDS = OP_FINAL | {OpStatus.RETRYING}
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass
class Bar:
    attempt: int
    status: str  # how the attempt ended (a retried attempt: failed), or the op's status while it goes on
    start: dt.datetime
    end: dt.datetime | None  # None while it goes on
    left: float = 0.0  # percent of the span
    width: float = 0.0

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass
class Row:
    op: str
    status: str
    bars: list[Bar]


@dataclass
class Timeline:
    start: dt.datetime | None
    end: dt.datetime | None
    rows: list[Row]
    ticks: list[tuple[float, str]]  # (percent, label)

    @property
    def empty(self) -> bool:
        return not any(row.bars for row in self.rows)


def attempt_bars(history: Sequence, current_attempt: int, current_status: str) -> list[Bar]:
    """Bars of one op run from its status records (each with status, attempt, created_at), oldest first."""
    by_attempt: dict[int, list] = {}
    for record in history:
        by_attempt.setdefault(record.attempt, []).append(record)
    bars = []
    for attempt, records in sorted(by_attempt.items()):
        start = None
        for wanted in _STARTS:
            start = next((r.created_at for r in records if r.status == wanted), None)
            if start is not None:
                break
        if start is None:
            continue
        end_record = next((r for r in records if r.status in _ENDS and r.created_at >= start), None)
        if end_record is not None:
            status = OpStatus.FAILED if end_record.status == OpStatus.RETRYING else end_record.status
            bars.append(Bar(attempt, status, start, end_record.created_at))
        else:
            bars.append(Bar(attempt, current_status if attempt == current_attempt else OpStatus.FAILED, start, None))
    return bars


def build(op_runs: Sequence, histories: Mapping[str, Sequence], now: dt.datetime,
          run_finished_at: dt.datetime | None = None) -> Timeline:
    rows = [Row(op_run.name, op_run.status, attempt_bars(histories.get(op_run.name, ()), op_run.attempt,
                                                         op_run.status))
            for op_run in op_runs]
    bars = [bar for row in rows for bar in row.bars]
    if not bars:
        return Timeline(None, None, rows, [])
    start = min(bar.start for bar in bars)
    ongoing = any(bar.end is None for bar in bars)
    end = max([bar.end for bar in bars if bar.end is not None] + ([now] if ongoing else []))
    if run_finished_at is not None and not ongoing:
        end = max(end, min(run_finished_at, now))
    span = max((end - start).total_seconds(), 1.0)
    for bar in bars:
        bar_end = bar.end or now
        bar.left = round(100 * (bar.start - start).total_seconds() / span, 3)
        bar.width = round(max(100 * (bar_end - bar.start).total_seconds() / span, 0.0), 3)
    return Timeline(start, end, rows, ticks(span))


def ticks(span: float, most: int = 6) -> list[tuple[float, str]]:
    """Round steps across a span of `span` seconds, as (percent, "+1m 30s")."""
    step = next((step for step in _STEPS if span / step <= most), _STEPS[-1] * max(1, round(span / 86400 / most)))
    result, at = [], 0
    while at <= span + 1e-9:
        result.append((round(100 * at / span, 3), "0" if at == 0 else "+" + duration(at)))
        at += step
    return result


def duration(seconds: float | None) -> str:
    """3 h 5 m, 4 m 10 s, 12 s, 0.4 s."""
    if seconds is None:
        return ""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) or "0s"
