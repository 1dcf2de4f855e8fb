from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from marketdata.models import Instrument
from tests.conftest import shared_fixture_dir
from tests.marketdata.factories import InstrumentFactory


@pytest.fixture
def instrument(db: None) -> Instrument:
    return InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")


@pytest.fixture
def klines_fixtures() -> Path:
    """The real recorded candles in ../shared/fixtures/klines (skips in a user's clone, fails under CI)."""
    return shared_fixture_dir("klines")


def archive_zip(name: str, csv_bytes: bytes) -> tuple[bytes, str]:
    """A Binance-style archive ``{name}.zip`` holding ``{name}.csv`` and its ``.CHECKSUM`` text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", csv_bytes)
    data = buffer.getvalue()
    return data, f"{hashlib.sha256(data).hexdigest()}  {name}.zip\n"
