"""The runs pages' filters as the viewer types them: From/To in their own time zone, a param value."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.dateparse import parse_datetime

from ..exceptions import InvalidInput
from ..selectors.run_search import ParamFilter, parse_param_filter

MAX_PARAM_TEXT = 1000


def viewer_zone(name: str | None) -> dt.tzinfo:
    """The zone the page's script reports (an IANA name, `Europe/Paris`); UTC when there is none
    (no script) or it is no zone this server knows."""
    if not name or len(name) > 64:
        return dt.UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def zone_name(zone: dt.tzinfo) -> str:
    return "UTC" if zone is dt.UTC else str(zone)


def moment(text: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    """A `datetime-local` field's value, a wall-clock time of `zone` (or an ISO 8601 time with its
    own offset); None for nothing or what is no time."""
    if not text or not text.strip():
        return None
    try:
        value = parse_datetime(text.strip())
    except ValueError:
        return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def param_filters(texts: list[str]) -> tuple[list[ParamFilter], str]:
    """The `OP.NAME=VALUE` searches typed (blank ones left out), and what is wrong with one, if any
    (then none is applied: the page says why rather than show runs the viewer did not ask for)."""
    found = []
    for text in texts:
        if not text.strip():
            continue
        if len(text) > MAX_PARAM_TEXT:
            return [], f"param search longer than {MAX_PARAM_TEXT} characters"
        try:
            found.append(parse_param_filter(text.strip()))
        except InvalidInput as error:
            return [], error.message
    return found, ""
