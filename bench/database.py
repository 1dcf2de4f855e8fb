"""Django and a scratch database for the benchmarks that measure PostgreSQL work (created, then dropped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hftplatform.settings")
    import django

    django.setup()


@contextmanager
def scratch_database() -> Iterator[None]:
    """A fresh, migrated ``test_<name>`` database of the configured server for the duration of a benchmark."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    config = setup_databases(verbosity=0, interactive=False, keepdb=False, aliases={"default"})
    try:
        connection.ensure_connection()
        yield
    finally:
        teardown_databases(config, verbosity=0)


def spot_instrument_create(exchange: str, *, quote: str = "USDT", venue_symbol: str = "BTCUSDT") -> Any:
    """A BTC spot market of ``exchange`` quoted in ``quote`` (cent ticks), for benchmarks that store candles."""
    from marketdata.models import Instrument

    return Instrument.objects.create(
        exchange=exchange,
        market_type="spot",
        symbol=f"BTC/{quote}",
        venue_symbol=venue_symbol,
        base="BTC",
        quote=quote,
        tick_size="0.01",
        lot_size="0.00001",
    )


def klines_copy(lines: str) -> None:
    """COPY candles given as text lines (instrument id, interval, open time, open, high, low, close, volume,
    closed; tab-separated) into the kline table."""
    from django.db import connection

    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY marketdata_kline (instrument_id, interval, open_time, open, high, low, close, volume, closed)"
            " FROM STDIN"
        ) as copy,
    ):
        copy.write(lines.encode())


def klines_analyze() -> None:
    """Fresh planner statistics after a bulk COPY, as autovacuum would give them later."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE marketdata_kline")
