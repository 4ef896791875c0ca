"""The one parser of the metrics ops report in their logs, shared by every backend (pure).

An op reports metrics by printing a line to stdout or stderr (docs/metrics.md):

    polyflow:metrics {"step": 3, "accuracy": 0.91, "loss": 0.2}

the prefix at the start of the line, then a JSON object: `step` (optional, an integer
>= 0; when absent, one more than the attempt's last step, 0 for its first record) and
metric names (identifiers of at most 128 characters) with finite numbers. Backends hand
over the lines as the op printed them (`Backend.read_metrics`); what cannot be stored is
left out here and counted, so that the caller can say once what it ignored and why: a
line over 64 KiB, text that is no JSON object, a bad step, a bad name, NaN or Infinity,
a value that is no number (booleans included). A read keeps at most `limit` points
(MAX_METRIC_POINTS): above it each metric's points are thinned evenly, its last one
kept, and the latest values still come from every line read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

PREFIX = "polyflow:metrics"
STEP = "step"
MAX_LINE_BYTES = 64 * 1024
MAX_NAME_LENGTH = 128
MAX_NAMES = 1000  # distinct metric names per attempt
MAX_STEP = 2**63 - 1  # MetricPoint.step is a bigint
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXAMPLE = 80  # characters of an ignored line or value quoted in the report

# Why something was ignored: the words of the report, in the order it lists them.
TOO_LONG = "longer than 64 KiB"
NOT_JSON = "not valid JSON"
NOT_OBJECT = "not a JSON object"
BAD_STEP = "a step that is not an integer >= 0"
NO_VALUES = "no metric values"
BAD_NAME = "not a metric name (an identifier of at most 128 characters)"
TOO_MANY_NAMES = f"more than {MAX_NAMES} metric names"
NOT_FINITE = "NaN or Infinity"
NOT_NUMBER = "not a number"


class _NonFinite:
    """What `NaN`, `Infinity` and `-Infinity` parse to: refused per value, not per line."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def is_metric_line(line: str) -> bool:
    """Whether a log line is meant as a metrics report (valid or not): backends may keep only these."""
    text = line.lstrip()
    if not text.startswith(PREFIX):
        return False
    rest = text[len(PREFIX):]
    return not rest or rest[0].isspace() or rest[0] == "{"


@dataclass(frozen=True)
class Record:
    step: int
    values: Mapping[str, float]


@dataclass
class Parsed:
    records: list[Record] = field(default_factory=list)  # what is kept, in the order printed
    # The latest value of each metric over every valid line read (thinned ones too), and
    # under "step" the step of the last of them; empty when nothing valid was read.
    latest: dict[str, float | int] = field(default_factory=dict)
    ignored: dict[str, list] = field(default_factory=dict)  # why -> [count, first example]
    thinned: int = 0  # valid points left out to stay within the limit
    limit: int = 0

    @property
    def points(self) -> int:
        return sum(len(record.values) for record in self.records)

    @property
    def last_step(self) -> int | None:
        step = self.latest.get(STEP)
        return step if isinstance(step, int) else None

    def ignore(self, why: str, example: str) -> None:
        entry = self.ignored.setdefault(why, [0, example])
        entry[0] += 1

    def problems(self) -> str | None:
        """One sentence of what was ignored or left out, None when nothing was."""
        parts = [f"{count} {why} (first: {example})" for why, (count, example) in self.ignored.items()]
        text = ""
        if parts:
            total = sum(count for count, _ in self.ignored.values())
            text = f"{total} metric line(s) or value(s) ignored: " + "; ".join(parts)
        if self.thinned:
            kept = f"{self.thinned} point(s) over the limit of {self.limit} per read left out (thinned evenly)"
            text = f"{text}; {kept}" if text else kept
        return text or None


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= _EXAMPLE else text[:_EXAMPLE] + "...")


def _too_long(line: str) -> bool:
    if len(line) > MAX_LINE_BYTES:
        return True
    return len(line) * 4 > MAX_LINE_BYTES and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES


def _value_problem(value: object) -> str | None:
    if isinstance(value, _NonFinite):
        return NOT_FINITE
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NOT_NUMBER
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a float's range
        return NOT_FINITE
    return None if math.isfinite(number) else NOT_FINITE  # 1e400 parses as inf


def parse_metric_lines(lines: Iterable[str], last_step: int | None = None, limit: int = 1000,
                       known: Collection[str] = ()) -> Parsed:
    """The records of the metric lines among `lines` (others are skipped silently).

    `last_step`: the attempt's last step before these lines (None: none yet); `known`: the
    metric names the attempt reported before (they count towards MAX_NAMES); `limit`: the
    most points kept.
    """
    parsed = Parsed(limit=limit)
    names = set(known)
    step = last_step
    for line in lines:
        if not is_metric_line(line):
            continue
        if _too_long(line):
            parsed.ignore(TOO_LONG, f"{len(line)} characters")
            continue
        text = line.strip()[len(PREFIX):].strip()
        try:
            data = json.loads(text, parse_constant=_NonFinite)
        except (ValueError, RecursionError):
            parsed.ignore(NOT_JSON, _quote(line))
            continue
        if not isinstance(data, dict):
            parsed.ignore(NOT_OBJECT, _quote(line))
            continue
        if STEP in data:
            given = data.pop(STEP)
            if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= MAX_STEP:
                parsed.ignore(BAD_STEP, _quote(line))
                continue
            this_step = given
        else:
            this_step = 0 if step is None else min(step + 1, MAX_STEP)
        values: dict[str, float] = {}
        for name, value in data.items():
            if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
                parsed.ignore(BAD_NAME, _quote(name))
                continue
            problem = _value_problem(value)
            if problem:
                shown = value.text if isinstance(value, _NonFinite) else json.dumps(value)
                parsed.ignore(problem, f"{name!r}: {_quote(shown)}")
                continue
            if name not in names:
                if len(names) >= MAX_NAMES:
                    parsed.ignore(TOO_MANY_NAMES, repr(name))
                    continue
                names.add(name)
            values[name] = float(value)
        if not values:
            if not data:
                parsed.ignore(NO_VALUES, _quote(line))
            continue
        step = this_step
        parsed.records.append(Record(this_step, values))
        parsed.latest.update(values)
        parsed.latest[STEP] = this_step
    total = parsed.points
    if total > limit:
        parsed.records = _thin(parsed.records, limit, total)
        parsed.thinned = total - parsed.points
    return parsed


def _evenly(count: int, keep: int) -> set[int]:
    """`keep` of the indices 0..count-1, evenly spread, the last one always among them."""
    if keep >= count:
        return set(range(count))
    if keep <= 0:
        return set()
    if keep == 1:
        return {count - 1}
    return {round(i * (count - 1) / (keep - 1)) for i in range(keep)}


def _thin(records: list[Record], limit: int, total: int) -> list[Record]:
    """At most `limit` points: each metric keeps its share of them, evenly spread over its points."""
    positions: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        for name in record.values:
            positions.setdefault(name, []).append(index)
    quotas = {name: limit * len(where) // total for name, where in positions.items()}
    room = limit - sum(quotas.values())
    for name in positions:  # a metric with a tiny share keeps at least its last point, while room remains
        if quotas[name] == 0 and room > 0:
            quotas[name], room = 1, room - 1
    kept: dict[int, dict[str, float]] = {}
    for name, where in positions.items():
        for i in _evenly(len(where), quotas[name]):
            kept.setdefault(where[i], {})[name] = records[where[i]].values[name]
    return [Record(records[index].step, {name: records[index].values[name]
                                         for name in records[index].values if name in kept[index]})
            for index in sorted(kept)]

