"""step_time: the time a custody step runs at, aware UTC; a naive time is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vaults.custody.errors import CustodyError
from vaults.custody.services.proposal_steps import step_time


def test_a_given_time_is_the_same_instant_in_utc() -> None:
    paris = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert step_time(paris) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert step_time(paris).tzinfo is UTC


def test_no_time_is_now_and_aware() -> None:
    before = datetime.now(UTC)
    now = step_time(None)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(CustodyError, match="time must be an aware datetime"):
        step_time(datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001  (the naive time under test)
