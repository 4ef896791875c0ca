"""Plans in words, for people: the CLI summary (and later the dashboard)."""

from __future__ import annotations

from .plan import OpSpec, ScheduleSpec

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def describe_seconds(seconds: int) -> str:
    for size, unit in _UNITS:
        if seconds % size == 0:
            count = seconds // size
            return f"{unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"  # unreachable: 1 divides everything


def _moment(value, minutes: bool = False) -> str:
    if not value:
        return "when applied"
    return value.strftime("%Y-%m-%d %H:%M %Z" if minutes else "%Y-%m-%d %H:%M:%S %Z").strip()


def describe_schedule(schedule: ScheduleSpec | None, *, minutes: bool = False) -> str:
    """The schedule in words. `minutes` gives times to the minute, for short summaries (the dashboard):
    "every 2 minutes from 2019-06-24 21:20 UTC, depends on past"."""
    at = {"minutes": minutes}
    if schedule is None:
        return "none (runs only when triggered)"
    if schedule.kind == "interval":
        text = f"every {describe_seconds(schedule.frequency)} from {_moment(schedule.start_at, **at)}"
    elif schedule.kind == "cron":
        text = f"cron '{schedule.cron}' ({schedule.timezone}) from {_moment(schedule.start_at, **at)}"
    elif schedule.kind == "exact_time":
        text = f"once at {_moment(schedule.start_at, **at)}"
    else:
        text = f"{schedule.limit} runs one after another from {_moment(schedule.start_at, **at)}"
    parts = [text]
    if schedule.end_at:
        parts.append(f"until {_moment(schedule.end_at, **at)}")
    if schedule.max_runs:
        parts.append(f"at most {schedule.max_runs} runs")
    if schedule.depends_on_past:
        parts.append("depends on past")
    if schedule.catchup:
        parts.append("catches up")
    if schedule.kind in ("interval", "cron") and schedule.max_active_runs != 1:
        parts.append(f"{schedule.max_active_runs} active runs at most")
    return ", ".join(parts)


def describe_template_source(op: OpSpec) -> str:
    if op.action is not None:
        version = "latest" if op.action.version is None else f"v{op.action.version}"
        return f"action {op.action.name} ({version})"
    text = f"template {op.template_name}"
    if op.template and op.template.build:
        text += f" (built from {op.template.build.dockerfile})"
    return text
