"""Calendar fee years (UTC): when one ends, and which ends a vault still has to crystallise. Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def year_end(year: int) -> datetime:
    """The instant calendar year ``year`` ends: 1 January of the next year, 00:00 UTC."""
    return datetime(year + 1, 1, 1, tzinfo=UTC)


def year_ends_due(*, started_at: datetime, crystallised_year: int | None, until: datetime) -> list[int]:
    """Calendar years (UTC) whose end is at or before ``until``, after ``started_at``, later than
    ``crystallised_year`` (the last one crystallised, None for none)."""
    year = crystallised_year + 1 if crystallised_year is not None else started_at.year
    due = []
    while year_end(year) <= until:
        if year_end(year) > started_at:
            due.append(year)
        year += 1
    return due
