"""The public klines websocket through the real ASGI application (origin check) and the Redis channel layer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from hftplatform.asgi import application
from marketdata.broadcasts import kline_group, klines_broadcast
from marketdata.consumers import CLOSE_UNKNOWN_MARKET
from marketdata.core.candles import Candle, candle_payload
from tests.marketdata.factories import InstrumentFactory

pytestmark = pytest.mark.django_db(transaction=True)

SITE_ORIGIN = "http://testserver"
T0 = 1_570_752_000_000  # 2019-10-11 00:00:00 UTC


def klines_socket(instrument_id: int, *, origin: str = SITE_ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    return WebsocketCommunicator(application, f"/ws/klines/{instrument_id}/", headers=headers)


def test_group_name_is_per_market_and_valid_for_channels() -> None:
    assert kline_group(7) == "marketdata.klines.7"
    assert kline_group(8) != kline_group(7)


def test_anonymous_visitor_receives_each_broadcast_of_its_market_only(redis_namespace) -> None:
    watched, other = InstrumentFactory(), InstrumentFactory()
    open_candle = Candle(T0, "1.10", "1.20", "1.00", "1.15", "10.5", closed=False)
    closed_candle = Candle(T0, "1.10", "1.25", "1.00", "1.2", "12.75000000", closed=True)

    async def scenario() -> tuple[Any, list[dict[str, Any]], bool]:
        communicator = klines_socket(watched.pk)
        connected = await communicator.connect()
        try:
            # A broadcast for another market must not reach this socket
            await sync_to_async(klines_broadcast)(instrument_id=other.pk, interval="1m", candles=[closed_candle])
            await sync_to_async(klines_broadcast)(instrument_id=watched.pk, interval="1m", candles=[open_candle])
            await sync_to_async(klines_broadcast)(instrument_id=watched.pk, interval="1m", candles=[closed_candle])
            received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
            silent = await communicator.receive_nothing(timeout=0.3)
        finally:
            await communicator.disconnect()
        return connected, received, silent

    connected, received, silent = async_to_sync(scenario)()

    assert connected == (True, None)
    assert received == [
        {"type": "klines", "instrument_id": watched.pk, "interval": "1m", "candles": [candle_payload(open_candle)]},
        {"type": "klines", "instrument_id": watched.pk, "interval": "1m", "candles": [candle_payload(closed_candle)]},
    ]
    assert received[1]["candles"][0]["volume"] == "12.75000000"
    assert silent is True


def test_broadcast_sends_candles_ascending_and_nothing_for_an_empty_list(redis_namespace) -> None:
    market = InstrumentFactory()
    later = Candle(T0 + 300_000, "2", "2", "2", "2", "0")
    earlier = Candle(T0, "1", "1", "1", "1", "0")

    async def scenario() -> tuple[dict[str, Any], bool]:
        communicator = klines_socket(market.pk)
        await communicator.connect()
        try:
            await sync_to_async(klines_broadcast)(instrument_id=market.pk, interval="5m", candles=[])
            await sync_to_async(klines_broadcast)(instrument_id=market.pk, interval="5m", candles=[later, earlier])
            message = await communicator.receive_json_from(timeout=5)
            silent = await communicator.receive_nothing(timeout=0.3)
        finally:
            await communicator.disconnect()
        return message, silent

    message, silent = async_to_sync(scenario)()

    assert [c["open_time_ms"] for c in message["candles"]] == [T0, T0 + 300_000]
    assert message["interval"] == "5m"
    assert silent is True


def test_unknown_interval_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="unknown interval '7m'"):
        klines_broadcast(instrument_id=1, interval="7m", candles=[Candle(T0, "1", "1", "1", "1", "0")])


def test_unknown_market_is_closed_with_4404_and_gets_nothing(redis_namespace) -> None:
    market = InstrumentFactory()
    missing = market.pk + 1000

    async def scenario() -> tuple[Any, dict[str, Any], bool]:
        communicator = klines_socket(missing)
        connected = await communicator.connect()
        closing = await communicator.receive_output(timeout=5)
        await sync_to_async(klines_broadcast)(
            instrument_id=missing, interval="1m", candles=[Candle(T0, "1", "1", "1", "1", "0")]
        )
        silent = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return connected, closing, silent

    connected, closing, silent = async_to_sync(scenario)()

    assert connected == (True, None)
    assert closing == {"type": "websocket.close", "code": CLOSE_UNKNOWN_MARKET}
    assert silent is True


def test_client_frames_are_ignored_and_the_socket_stays_open(redis_namespace) -> None:
    market = InstrumentFactory()

    async def scenario() -> tuple[bool, dict[str, Any]]:
        communicator = klines_socket(market.pk)
        await communicator.connect()
        try:
            await communicator.send_to(text_data="not json {")
            await communicator.send_json_to({"type": "klines.update", "candles": []})
            silent = await communicator.receive_nothing(timeout=0.3)
            await sync_to_async(klines_broadcast)(
                instrument_id=market.pk, interval="1h", candles=[Candle(T0, "3", "3", "3", "3", "1")]
            )
            message = await communicator.receive_json_from(timeout=5)
        finally:
            await communicator.disconnect()
        return silent, message

    silent, message = async_to_sync(scenario)()

    assert silent is True
    assert message["candles"][0]["close"] == "3"


def test_foreign_origin_is_refused(redis_namespace) -> None:
    market = InstrumentFactory()

    async def scenario() -> Any:
        communicator = klines_socket(market.pk, origin="http://evil.example")
        connected = await communicator.connect()
        await communicator.disconnect()
        return connected

    connected, _ = async_to_sync(scenario)()
    assert connected is False
