"""Aware UTC datetimes and integer milliseconds, exactly: integer and timedelta arithmetic, never a float.

A float timestamp (``datetime.timestamp() * 1000``) rounds some instants to the wrong millisecond; here every
conversion is ``(moment - EPOCH) // 1 ms``, which floors exactly (before 1970 too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def utc_aware(moment: datetime, *, what: str = "at") -> datetime:
    """``moment`` as an aware UTC datetime (the same instant); ``ValueError`` naming ``what`` when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (with a UTC offset), not the naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def utc_from_ms(ms: int) -> datetime:
    """Integer milliseconds since the epoch as an aware UTC datetime."""
    return EPOCH + ms * _MILLISECOND


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` (``2019-10-11T00:00:00.123000Z``; no fraction when none)."""
    return utc_aware(moment, what="the moment").isoformat().replace("+00:00", "Z")


def utc_ms(moment: datetime) -> int:
    """An aware datetime as integer milliseconds since the epoch (floored: sub-millisecond parts are dropped)."""
    return (utc_aware(moment, what="the moment") - EPOCH) // _MILLISECOND


def utc_ms_parse(text: str) -> int:
    """A date (``2019-10-11``) or ISO 8601 datetime (``2019-10-11T12:30:00.123Z``, ``…+02:00``) as integer
    milliseconds UTC; text without an offset is read as UTC, surrounding whitespace is ignored.

    Raises ``ValueError`` with one clear message for anything else.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - EPOCH) // _MILLISECOND
    except ValueError:
        raise ValueError(f"not a date or ISO datetime: {text!r} (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)") from None
