"""Filters of the dashboard's templates: {% load polyflow_ui %}."""

import datetime as dt

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


# Formats of `when`: the server writes UTC; ui.js rewrites the text in the viewer's zone
# (the same fields, its zone's abbreviation), keeping UTC in the title.
_WHEN = {"full": "Y-m-d H:i:s", "minute": "Y-m-d H:i", "short": "M j, H:i:s", "time": "H:i:s", "ms": "H:i:s.u"}


@register.filter
def when(value, style: str = "full"):
    """{{ run.created_at|when:"minute" }}: a <time> with its ISO datetime, shown in UTC and
    marked UTC (the page's script shows it in the viewer's zone); "—" for none."""
    from django.utils import timezone
    from django.utils.dateformat import format as date_format
    from django.utils.html import format_html

    if not value:
        return "—"
    utc = timezone.localtime(value, dt.UTC) if timezone.is_aware(value) else value
    text = date_format(utc, _WHEN.get(style, _WHEN["full"]))
    if style == "ms":
        text = text[:12]
    iso = utc.isoformat()
    return format_html('<time datetime="{}" data-local="{}" title="{}">{} UTC</time>', iso, style,
                       iso.replace("+00:00", "Z"), text)
