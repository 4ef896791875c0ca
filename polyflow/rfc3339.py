"""RFC 3339 times to the nanosecond, as the Kubernetes API server writes a log line's
(`timestamps=true`: Go's RFC3339Nano). Python's datetime keeps microseconds only, and a
log cursor must not read a line twice: these work on integer nanoseconds."""

from __future__ import annotations

import datetime as dt


def nanoseconds(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time (any number of fraction digits, `Z` or
    an offset); None when `text` is no such time."""
    text = text.strip()
    if len(text) < 20 or text[10] not in "Tt":
        return None
    try:
        if text[-1] in "Zz":
            base, offset = text[:-1], "+00:00"
        else:
            base, offset = text[:-6], text[-6:]
        fraction = 0
        if "." in base:
            base, digits = base.split(".", 1)
            if not digits.isdigit() or len(digits) > 9:
                return None
            fraction = int(digits.ljust(9, "0"))
        moment = dt.datetime.strptime(base + offset, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + fraction


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds without their trailing zeros (and no dot for none)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"
