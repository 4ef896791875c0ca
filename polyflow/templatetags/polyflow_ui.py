"""Filters of the dashboard's templates: {% load polyflow_ui %}."""

from django import template

from ..ui.timeline import duration

register = template.Library()


@register.filter
def label(value) -> str:
    """A status or reason for people: upstream_failed -> upstream failed."""
    return str(value or "").replace("_", " ")


@register.filter
def seconds(value) -> str:
    """A duration in seconds as 1m 30s."""
    return duration(value)


@register.filter
def between(end, start) -> str:
    """{{ finished_at|between:started_at }}: the time from start to end, as 1m 30s."""
    if not end or not start:
        return ""
    return duration((end - start).total_seconds())
