"""The live connectors against fake venues on 127.0.0.1: the recorded Binance and Coinbase sessions (and generated
books, so the suite stands without ../shared), every fault detected on the message that reveals it, resynced the
way the venue requires, and the final book equal to the unfaulted script's.

Coinbase's recording is of the Exchange feed; the fake replays its snapshot and ``l2update`` changes in the
Advanced Trade envelope (``l2_data`` events with ``sequence_num``), the feed the connector speaks.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from orderbook.l2.book import L2Book, ResyncReason, Side
from orderbook.live.connectors import (
    Backoff,
    BinanceConnector,
    BookConnector,
    BybitConnector,
    CoinbaseConnector,
    ConnectorState,
    venue_symbol_default,
)
from tests.orderbook.live.fakes import (
    FakeBinance,
    FakeBybit,
    FakeCoinbase,
    FakeVenue,
    Script,
    binance_capture_script,
    coinbase_capture_script,
    fake_serve,
    generated_script,
    plan_for,
)

FAST = {
    "backoff": Backoff(base=0.01, cap=0.05, rng=random.Random(7)),  # noqa: S311 - jitter, not secrets
    "receive_timeout": 10.0,
}
FAULT_AT = 40  # the update a fault hits (the recorded NKNUSDT session has 150 events, SKL-USD 2,592 updates)


def levels(book: L2Book | None) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]] | None:
    return None if book is None else (book.levels(Side.BID), book.levels(Side.ASK))


class Witness:
    """Called on every change: what was published must never be crossed or come from an unsynced core."""

    def __init__(self) -> None:
        self.published = 0
        self.states: list[ConnectorState] = []

    def __call__(self, connector: BookConnector) -> None:
        book = connector.book
        if book is not None:
            assert not book.is_crossed()
            assert connector._core_book() is book
            self.published += 1
        if not self.states or self.states[-1] is not connector.state:
            self.states.append(connector.state)


async def run_to_end(connector: BookConnector, fake: FakeVenue, script: Script, *, timeout: float = 20) -> None:
    """Run until the fake has played its plan and the connector's book is the unfaulted script's final book."""
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    expected = script.final_levels()
    try:
        async with asyncio.timeout(timeout):
            while not (fake.finished.is_set() and levels(connector.book) == expected):
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(
            f"not converged: finished={fake.finished.is_set()} state={connector.state} {connector.counters}"
        ) from None
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert connector.state is ConnectorState.STOPPED


def binance_run(script: Script, symbol: str, fault: str) -> tuple[BinanceConnector, FakeBinance, Witness]:
    async def scenario() -> tuple[BinanceConnector, FakeBinance, Witness]:
        fake = FakeBinance(script, plan_for(fault, len(script.updates), FAULT_AT, first_hold=True))
        runner, address = await fake_serve(fake.app(symbol))
        witness = Witness()
        connector = BinanceConnector(
            symbol,
            ws_url=f"ws://{address}",
            rest_url=f"http://{address}",
            snapshot_retry_seconds=0.01,
            on_change=witness,
            **FAST,  # type: ignore[arg-type]
        )
        try:
            await run_to_end(connector, fake, script)
        finally:
            await runner.cleanup()
        return connector, fake, witness

    return asyncio.run(scenario())


# --- Binance: the recorded session ----------------------------------------------------------------------------


@pytest.fixture
def nknusdt(l2_captures_dir: Path) -> Script:
    return binance_capture_script(l2_captures_dir, "NKNUSDT")


def test_recorded_binance_session_is_mirrored_exactly(nknusdt: Script) -> None:
    assert (len(nknusdt.updates), nknusdt.snapshot_id) == (150, 499869752)

    connector, fake, witness = binance_run(nknusdt, "NKNUSDT", "none")

    assert connector.counters.messages == 150
    assert connector.counters.snapshots_requested == 1
    assert connector.counters.resyncs == Counter()
    assert (connector.counters.reconnects, connector.counters.stale_dropped) == (0, 0)
    assert fake.snapshot_requests == 1
    # The first event was buffered before the snapshot: nothing was published until the snapshot bridged it.
    assert witness.states[:2] == [ConnectorState.SYNCING, ConnectorState.LIVE]
    assert connector.sync.last_update_id == nknusdt.updates[-1].final_id
    assert witness.published >= 150


@pytest.mark.parametrize(
    ("fault", "resyncs", "refused", "stale", "snapshots", "reconnects", "messages"),
    [
        ("dropped", {ResyncReason.SEQUENCE_GAP: 1}, {}, 0, 2, 0, 149),
        ("swapped", {ResyncReason.SEQUENCE_GAP: 1}, {}, 1, 2, 0, 150),
        ("stale", {}, {}, 1, 1, 0, 151),
        ("corrupted", {ResyncReason.BAD_NUMBER: 1}, {}, 0, 2, 0, 150),
        ("too_old", {}, {ResyncReason.SNAPSHOT_TOO_OLD: 1}, 0, 2, 0, 150),
        ("connection_drop", {}, {}, 0, 2, 1, 148),
    ],
)
def test_binance_fault_is_detected_resynced_and_the_final_book_is_exact(
    nknusdt: Script,
    fault: str,
    resyncs: dict[ResyncReason, int],
    refused: dict[ResyncReason, int],
    stale: int,
    snapshots: int,
    reconnects: int,
    messages: int,
) -> None:
    connector, fake, witness = binance_run(nknusdt, "NKNUSDT", fault)

    counters = connector.counters
    assert counters.resyncs == Counter(resyncs)
    assert counters.snapshots_refused == Counter(refused)
    assert counters.stale_dropped == stale
    assert (counters.snapshots_requested, fake.snapshot_requests) == (snapshots, snapshots)
    assert (counters.reconnects, fake.connections) == (reconnects, 1 + reconnects)
    assert counters.messages == messages
    if resyncs or reconnects:
        # The book went dark while it was rebuilt, then came back.
        assert ConnectorState.LIVE in witness.states[witness.states.index(ConnectorState.LIVE) + 1 :]


def test_binance_generated_book_with_a_gap(tmp_path: Path) -> None:
    script = generated_script(seed=11, updates=200)

    connector, fake, _ = binance_run(script, "GENUSDT", "dropped")

    assert connector.counters.resyncs == Counter({ResyncReason.SEQUENCE_GAP: 1})
    assert fake.snapshot_requests == 2
    assert levels(connector.book) == script.final_levels()


# --- Bybit: generated books (no recording exists) ---------------------------------------------------------------


def bybit_run(script: Script, fault: str) -> tuple[BybitConnector, FakeBybit]:
    async def scenario() -> tuple[BybitConnector, FakeBybit]:
        fake = FakeBybit(script, plan_for(fault, len(script.updates), FAULT_AT, first_hold=False))
        runner, address = await fake_serve(fake.app("orderbook.50.GENUSDT"))
        connector = BybitConnector("GENUSDT", ws_url=f"ws://{address}", depth=50, on_change=Witness(), **FAST)  # type: ignore[arg-type]
        try:
            await run_to_end(connector, fake, script)
        finally:
            await runner.cleanup()
        return connector, fake

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("fault", "resyncs", "subscriptions", "reconnects"),
    [
        ("none", {}, 1, 0),
        ("dropped", {ResyncReason.SEQUENCE_GAP: 1}, 2, 0),
        # The late delta reaches a book already rebuilt past it: Bybit's core treats any u but last + 1 as a gap.
        ("swapped", {ResyncReason.SEQUENCE_GAP: 2}, 3, 0),
        ("stale", {ResyncReason.SEQUENCE_GAP: 1}, 2, 0),
        ("corrupted", {ResyncReason.BAD_NUMBER: 1}, 2, 0),
        ("connection_drop", {}, 2, 1),
    ],
)
def test_bybit_fault_resubscribes_and_the_final_book_is_exact(
    fault: str, resyncs: dict[ResyncReason, int], subscriptions: int, reconnects: int
) -> None:
    script = generated_script(seed=5)

    connector, fake = bybit_run(script, fault)

    assert connector.counters.resyncs == Counter(resyncs)
    assert connector.counters.reconnects == reconnects
    subscribes = [m for m in fake.received if m.get("op") == "subscribe"]
    assert subscribes == [{"op": "subscribe", "args": ["orderbook.50.GENUSDT"]}] * subscriptions
    assert [m for m in fake.received if m.get("op") == "unsubscribe"] == [
        {"op": "unsubscribe", "args": ["orderbook.50.GENUSDT"]}
    ] * sum(resyncs.values())


# --- Coinbase Advanced Trade: the recorded Exchange session in the Advanced Trade envelope -----------------------


def coinbase_run(script: Script, product: str, fault: str) -> tuple[CoinbaseConnector, FakeCoinbase]:
    async def scenario() -> tuple[CoinbaseConnector, FakeCoinbase]:
        fake = FakeCoinbase(script, plan_for(fault, len(script.updates), FAULT_AT, first_hold=False))
        runner, address = await fake_serve(fake.app(product))
        connector = CoinbaseConnector(product, ws_url=f"ws://{address}/", on_change=Witness(), **FAST)  # type: ignore[arg-type]
        try:
            await run_to_end(connector, fake, script, timeout=40)
        finally:
            await runner.cleanup()
        return connector, fake

    return asyncio.run(scenario())


@pytest.fixture
def skl_usd(l2_captures_dir: Path) -> Script:
    return coinbase_capture_script(l2_captures_dir, "SKL-USD")


@pytest.mark.parametrize(
    ("fault", "resyncs", "stale", "level2_subscriptions", "reconnects"),
    [
        ("none", {}, 0, 1, 0),
        ("dropped", {ResyncReason.SEQUENCE_GAP: 1}, 0, 2, 0),
        ("swapped", {ResyncReason.SEQUENCE_GAP: 1}, 1, 2, 0),
        ("stale", {}, 1, 1, 0),
        ("corrupted", {ResyncReason.BAD_NUMBER: 1}, 0, 2, 0),
        ("connection_drop", {}, 0, 2, 1),
    ],
)
def test_recorded_coinbase_session_with_fault(
    skl_usd: Script,
    fault: str,
    resyncs: dict[ResyncReason, int],
    stale: int,
    level2_subscriptions: int,
    reconnects: int,
) -> None:
    connector, fake = coinbase_run(skl_usd, "SKL-USD", fault)

    assert connector.counters.resyncs == Counter(resyncs)
    assert connector.counters.stale_dropped == stale
    assert connector.counters.reconnects == reconnects
    level2 = [m for m in fake.received if m.get("channel") == "level2"]
    assert level2.count({"type": "subscribe", "product_ids": ["SKL-USD"], "channel": "level2"}) == level2_subscriptions
    assert level2.count({"type": "unsubscribe", "product_ids": ["SKL-USD"], "channel": "level2"}) == sum(
        resyncs.values()
    )


def test_coinbase_generated_book_with_a_dropped_message() -> None:
    script = generated_script(seed=3, updates=150, first_id=0)

    connector, _ = coinbase_run(script, "GEN-USD", "dropped")

    assert connector.counters.resyncs == Counter({ResyncReason.SEQUENCE_GAP: 1})


# --- pieces -----------------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_is_capped_and_jittered_in_the_upper_half() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(1))  # noqa: S311
    delays = [backoff.delay(attempt) for attempt in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays[4:])) == 4  # jittered: capped delays differ


def test_venue_symbol_convention() -> None:
    assert venue_symbol_default("binance", "BTC/USDT") == "BTCUSDT"
    assert venue_symbol_default("bybit", "eth/usdc") == "ETHUSDC"
    assert venue_symbol_default("coinbase", "BTC/USD") == "BTC-USD"
    with pytest.raises(ValueError, match="perpetual"):
        venue_symbol_default("binance", "BTC/USDT:USDT")


def test_an_unreachable_venue_is_retried_with_backoff_and_stops_cleanly() -> None:
    async def scenario() -> BinanceConnector:
        connector = BinanceConnector(
            "BTCUSDT",
            ws_url="ws://127.0.0.1:9",
            rest_url="http://127.0.0.1:9",
            **FAST,  # type: ignore[arg-type]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        async with asyncio.timeout(5):
            while connector.counters.reconnects < 3:
                await asyncio.sleep(0.01)
        assert connector.book is None
        stop.set()
        await asyncio.wait_for(task, 5)
        return connector

    connector = asyncio.run(scenario())
    assert connector.state is ConnectorState.STOPPED
    assert connector.counters.messages == 0
