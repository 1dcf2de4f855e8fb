"""Aware UTC datetimes and integer milliseconds: exact vectors, errors that say what was wrong, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftplatform.core.utc import EPOCH, utc_aware, utc_from_ms, utc_iso, utc_ms, utc_ms_parse

T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC


def test_utc_aware_returns_the_same_instant_in_utc() -> None:
    plus_two = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))

    assert utc_aware(plus_two) == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert utc_aware(plus_two).tzinfo is UTC
    assert utc_aware(EPOCH) is not None and utc_aware(EPOCH) == EPOCH


def test_utc_aware_refuses_a_naive_datetime_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^at must be an aware datetime .* naive 2024-05-01T12:30:00$"):
        utc_aware(datetime(2024, 5, 1, 12, 30))  # noqa: DTZ001
    with pytest.raises(ValueError, match=r"^listed_at must be an aware datetime"):
        utc_aware(datetime(2024, 5, 1), what="listed_at")  # noqa: DTZ001


def test_utc_ms_is_exact_and_floors_below_a_millisecond() -> None:
    assert utc_ms(EPOCH) == 0
    assert utc_ms(datetime(2019, 10, 11, tzinfo=UTC)) == T0
    assert utc_ms(datetime(2019, 10, 11, 0, 0, 0, 123_999, tzinfo=UTC)) == T0 + 123
    assert utc_ms(EPOCH - timedelta(microseconds=1)) == -1
    # float timestamps get this one wrong: 1.0e12 ms + 1 ms is not representable after * 1000 from seconds
    assert utc_ms(datetime(2286, 11, 20, 17, 46, 40, 1000, tzinfo=UTC)) == 10_000_000_000_001
    with pytest.raises(ValueError, match="aware"):
        utc_ms(datetime(2019, 10, 11))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2019-10-11", T0),
        (" 2019-10-11 ", T0),
        ("2019-10-11T00:00:00", T0),
        ("2019-10-11T00:00:00Z", T0),
        ("2019-10-11T00:00:00.123Z", T0 + 123),
        ("2019-10-11T00:00:00.123999Z", T0 + 123),
        ("2019-10-11T02:00:00+02:00", T0),
        ("2019-10-10T19:00:00-05:00", T0),
        ("2019-10-11 00:00", T0),
        ("1970-01-01", 0),
        ("1969-12-31T23:59:59.9995Z", -1),
    ],
)
def test_utc_ms_parse_reads_dates_and_iso_datetimes_as_utc(text: str, ms: int) -> None:
    assert utc_ms_parse(text) == ms


@pytest.mark.parametrize(
    "text", ["", "yesterday", "11/10/2019", "2019-13-01", "2019-10-11T25:00", "0000-01-01", "2019-10-11T00:00+25:00"]
)
def test_utc_ms_parse_refuses_anything_else_with_one_clear_message(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        utc_ms_parse(text)
    assert str(excinfo.value) == f"not a date or ISO datetime: {text!r} (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)"


# hypothesis takes naive bounds and attaches the time zone itself
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))  # noqa: DTZ001
def test_parse_of_the_iso_text_is_the_exact_millisecond(moment: datetime) -> None:
    assert utc_ms_parse(moment.isoformat()) == utc_ms(moment)
    assert EPOCH + timedelta(milliseconds=utc_ms(moment)) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000
    )


def test_utc_from_ms_and_utc_iso_are_exact() -> None:
    assert utc_from_ms(T0 + 123) == datetime(2019, 10, 11, 0, 0, 0, 123_000, tzinfo=UTC)
    assert utc_from_ms(-1) == EPOCH - timedelta(milliseconds=1)
    assert utc_iso(utc_from_ms(T0)) == "2019-10-11T00:00:00Z"
    assert utc_iso(utc_from_ms(T0 + 123)) == "2019-10-11T00:00:00.123000Z"
    assert utc_iso(datetime(2019, 10, 11, 2, tzinfo=timezone(timedelta(hours=2)))) == "2019-10-11T00:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        utc_iso(datetime(2019, 10, 11))  # noqa: DTZ001


@given(st.integers(-(10**13), 10**14))
def test_utc_ms_inverts_utc_from_ms(ms: int) -> None:
    assert utc_ms(utc_from_ms(ms)) == ms
