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
    return to_utc(parsed, where)


def to_utc(moment: dt.datetime, where: str = "time") -> dt.datetime:
    """`moment` in UTC (naive = UTC); InputError when UTC would fall outside years 1-9999,
    as 0001-01-01T00:00:00+01:00 does."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InputError(
            "time", where, f"{moment.isoformat()} is outside years 1-9999 once converted to UTC"
        ) from None


def iso(moment: dt.datetime) -> str:
    """The one text form of a time across the API and the CLI: ISO 8601 in UTC with `Z`
    (a naive value, as SQLite returns it, is UTC)."""
    return to_utc(moment).isoformat().replace("+00:00", "Z")
