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
_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
          1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


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

    # What the template writes, made here: a run page draws hundreds of bars.
    @property
    def start_iso(self) -> str:
        return self.start.isoformat()

    @property
    def end_iso(self) -> str:
        return "" if self.end is None else self.end.isoformat()

    @property
    def exact(self) -> str:
        """The bar's seconds to the microsecond (the page's `data-seconds`); empty while it goes on."""
        seconds = self.seconds
        return "" if seconds is None else f"{seconds:.6f}"

    @property
    def words(self) -> str:
        seconds = self.seconds
        text = str(self.status).replace("_", " ")
        return text if seconds is None else f"{text} · {duration(seconds)}"


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


def _time(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _ended(status) -> str:
    """How a past attempt ended, as its bar shows it (a retried one failed)."""
    return OpStatus.FAILED if status in (None, "", OpStatus.RETRYING) or status not in OP_FINAL else status


def attempt_bars(history: Sequence, current_attempt: int, current_status: str, started_at=None,
                 finished_at=None, past: Sequence | None = None) -> list[Bar]:
    """Bars of one op run, one per attempt that started, oldest first.

    The current attempt's bar is the op run's own `started_at` to `finished_at` (the times its
    backend reported: what the API shows); an attempt before it, its own times as the op run kept
    them (`past`: the op run's `attempts`, [{attempt, status, started_at, finished_at}]), or for
    an attempt it kept none of, from the status record that started it to the one that ended it
    (`history`: records with status, attempt and created_at, oldest first).
    """
    by_attempt: dict[int, list] = {}
    for record in history:
        by_attempt.setdefault(record.attempt, []).append(record)
    bars = []
    kept = {}  # attempt -> its own times, as the op run kept them when the next attempt began
    for item in past or ():
        start, end = _time(item.get("started_at")), _time(item.get("finished_at"))
        if isinstance(item.get("attempt"), int) and start is not None:
            kept[item["attempt"]] = Bar(item["attempt"], _ended(item.get("status")), start,
                                        max(end, start) if end is not None else start)
    for attempt in sorted(set(by_attempt) | set(kept)):
        if attempt == current_attempt and started_at is not None:
            continue  # drawn from the op run's own times below
        if attempt in kept and attempt != current_attempt:
            bars.append(kept[attempt])
            continue
        records = by_attempt.get(attempt, ())
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
    if started_at is not None:
        end = finished_at
        status = current_status
        if current_status == OpStatus.RETRYING:  # the attempt failed; the next one is not made yet
            status = OpStatus.FAILED
            if end is None:
                end = next((r.created_at for r in reversed(by_attempt.get(current_attempt, ()))
                            if r.status == OpStatus.RETRYING), None)
        elif current_status in OP_FINAL and end is None:
            end = started_at
        if end is not None and end < started_at:
            end = started_at  # never a negative bar (clocks of two machines)
        bars.append(Bar(current_attempt, status, started_at, end))
    return bars


def build(op_runs: Sequence, histories: Mapping[str, Sequence], now: dt.datetime,
          run_finished_at: dt.datetime | None = None) -> Timeline:
    rows = [Row(op_run.name, op_run.status,
                attempt_bars(histories.get(op_run.name, ()), op_run.attempt, op_run.status,
                             getattr(op_run, "started_at", None), getattr(op_run, "finished_at", None),
                             getattr(op_run, "attempts", None)))
            for op_run in op_runs]
    bars = [bar for row in rows for bar in row.bars]
    if not bars:
        return Timeline(None, None, rows, [])
    start = min(bar.start for bar in bars)
    ongoing = any(bar.end is None for bar in bars)
    end = max([bar.end for bar in bars if bar.end is not None] + ([max(now, start)] if ongoing else []))
    if run_finished_at is not None and not ongoing:
        end = max(end, min(run_finished_at, now))
    span = max((end - start).total_seconds(), 1e-3)
    for bar in bars:
        bar_end = bar.end or max(now, bar.start)
        bar.left = round(100 * (bar.start - start).total_seconds() / span, 3)
        bar.width = round(max(100 * (bar_end - bar.start).total_seconds() / span, 0.0), 3)
    return Timeline(start, end, rows, ticks(span))


def ticks(span: float, most: int = 6) -> list[tuple[float, str]]:
    """Round steps across a span of `span` seconds, as (percent, "+1m 30s")."""
    step = next((step for step in _STEPS if span / step <= most), _STEPS[-1] * max(1, round(span / 86400 / most)))
    result, index = [], 0
    while index * step <= span + 1e-9:
        at = index * step
        result.append((round(100 * at / span, 3), "0" if at == 0 else "+" + duration(at)))
        index += 1
    return result


def duration(seconds: float | None) -> str:
    """3h 5m, 4m 10s, 12s, 1.25s, 0.4s, 65ms; never negative (a run ticked ahead of the clock: 0s)."""
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if 0 < seconds < 0.1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) or "0s"
