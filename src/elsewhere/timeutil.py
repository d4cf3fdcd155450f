"""Time values at the edges: parse what users type, always return aware UTC datetimes."""

from __future__ import annotations

import datetime as dt

from elsewhere.errors import InputError


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(text: str, *, where: str = "--at") -> dt.datetime:
    """Parse an RFC 3339 / ISO 8601 time ('2024-05-01T12:00:00Z', '2024-05-01') as UTC.

    A time without a zone is taken as UTC; 'now' is the current time.
    """
    value = text.strip()
    if value.lower() == "now":
        return utcnow()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            "time", where, f"{text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
