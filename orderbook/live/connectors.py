"""Asyncio websocket connectors that keep one venue market's L2 book live by driving its pure sync core.

Each connector owns one websocket (aiohttp's client), subscribes, feeds every frame to the venue's core from
:mod:`orderbook.l2`, and acts on the :class:`~orderbook.l2.book.Action` it answers:

* **Binance** (``<symbol>@depth@100ms`` on ``BINANCE_WS_URL/ws/...``): NEED_SNAPSHOT and RESYNC fetch
  ``GET BINANCE_REST_URL/api/v3/depth`` in a task while the stream keeps being read (the core buffers); a refused
  snapshot (too old, crossed, unreadable) is fetched again after ``snapshot_retry_seconds``.
* **Bybit v5** (``orderbook.{depth}.{symbol}`` on ``BYBIT_WS_URL/v5/public/<category>``): Bybit sends its
  snapshots on the stream, so RESYNC unsubscribes and subscribes again; ``{"op": "ping"}`` every 20 s as Bybit asks.
* **Coinbase Advanced Trade** (``level2`` + ``heartbeats`` on ``COINBASE_WS_URL``): ``sequence_num`` is checked on
  every message of the connection; RESYNC resubscribes ``level2`` and waits for the snapshot event. ``heartbeats``
  keeps the connection open (Coinbase closes quiet channels after 60-90 s) and makes any loss visible within 1 s.

A dropped connection, a receive timeout or a frame that is not JSON ends the connection; the connector reconnects
after an exponential backoff with jitter (:class:`Backoff`), starting a fresh core (a new connection's stream
cannot be bridged to the old book). The book is handed out (:attr:`BookConnector.book`) only while the core is in
sync and the book is not crossed; ``on_change`` is called after every message that changed what would be published.

No Django here: base URLs and symbols are arguments (the ``orderbook watch`` command and the services read them
from settings and instruments). Prices and sizes stay exact ``Decimal``; JSON is read with ``parse_float=Decimal``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

import aiohttp

from marketdata.core.venues import Venue, unified_symbol_split
from orderbook.l2.binance import BinanceBookSync
from orderbook.l2.book import Action, ActionKind, L2Book, ResyncReason
from orderbook.l2.bybit import BybitBookSync
from orderbook.l2.coinbase import AdvancedTradeConnection

logger = logging.getLogger(__name__)


def venue_symbol_default(venue: Venue | str, symbol: str) -> str:
    """The venue's own spot symbol by its obvious convention: ``BTC/USDT`` → ``BTCUSDT`` (Binance, Bybit),
    ``BTC-USDT`` (Coinbase). Used when no :class:`~marketdata.models.Instrument` row names it."""
    base, quote, settle = unified_symbol_split(symbol)
    if settle is not None:
        raise ValueError(f"live order books are spot markets; {symbol!r} is a perpetual")
    return f"{base}-{quote}" if Venue(venue) is Venue.COINBASE else f"{base}{quote}"


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``base * factor**attempt`` capped at ``cap`` seconds, the upper half jittered (so many
    clients that lost the venue together do not come back in step, and no delay is ever zero)."""

    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(attempt, 64))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


class ConnectorState(StrEnum):
    CONNECTING = "connecting"  # no websocket yet, or waiting to reconnect
    SYNCING = "syncing"  # connected; the book is being (re)built and is not published
    LIVE = "live"  # connected and in sync: the book is published
    STOPPED = "stopped"


@dataclass(slots=True)
class ConnectorCounters:
    """One connector's counts since it was created, across its connections."""

    messages: int = 0  # websocket text frames received
    changes: int = 0  # messages after which the publishable book changed
    snapshots_requested: int = 0  # REST snapshots fetched (Binance) or resubscriptions sent for one (others)
    snapshots_refused: Counter[ResyncReason] = field(default_factory=Counter)  # snapshots the core refused, by why
    resyncs: Counter[ResyncReason] = field(default_factory=Counter)  # books dropped, by why
    reconnects: int = 0
    stale_dropped: int = 0  # updates already covered by the book (duplicates, stragglers)


class ConnectionLost(Exception):
    """The connection cannot go on (closed by the venue, refused subscription, unreadable frame): reconnect."""


ChangeCallback = Callable[["BookConnector"], None]


class BookConnector(ABC):
    """One market's live book on one venue; subclasses speak the venue's protocol. Run with :meth:`run`."""

    venue: ClassVar[Venue]

    def __init__(
        self,
        venue_symbol: str,
        *,
        on_change: ChangeCallback | None = None,
        backoff: Backoff | None = None,
        receive_timeout: float = 30.0,
    ) -> None:
        self.venue_symbol = venue_symbol
        self.on_change = on_change
        self.backoff = backoff or Backoff()
        self.receive_timeout = receive_timeout
        self.counters = ConnectorCounters()
        self.state = ConnectorState.CONNECTING
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._was_live = False

    # -- what the publisher reads ------------------------------------------------------------------------------

    @property
    def book(self) -> L2Book | None:
        """The book while in sync and not crossed, else None (never a book that is being rebuilt)."""
        book = self._core_book()
        if book is None or book.is_crossed():
            return None
        return book

    @abstractmethod
    def _core_book(self) -> L2Book | None: ...

    # -- the connection loop -----------------------------------------------------------------------------------

    @abstractmethod
    def ws_url(self) -> str: ...

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Connect, stream, and reconnect with backoff until ``stop`` is set (or forever)."""
        stop = stop or asyncio.Event()
        attempt = 0
        async with aiohttp.ClientSession() as http:
            self._http = http
            try:
                while not stop.is_set():
                    self._state_set(ConnectorState.CONNECTING)
                    try:
                        async with http.ws_connect(
                            self.ws_url(),
                            timeout=aiohttp.ClientWSTimeout(ws_receive=self.receive_timeout),
                            autoping=True,
                        ) as ws:
                            self._ws = ws
                            self._was_live = False
                            self._connection_start()
                            self._state_set(ConnectorState.SYNCING)
                            await self._subscribe(ws)
                            await self._stream(ws, stop)
                    except (aiohttp.ClientError, TimeoutError, ConnectionError, ConnectionLost) as error:
                        logger.warning("%s %s: connection ended: %r", self.venue, self.venue_symbol, error)
                    finally:
                        self._ws = None
                        await self._connection_end()
                    if stop.is_set():
                        break
                    # A connection that reached a live book was healthy: the next failure starts the backoff over.
                    attempt = 0 if self._was_live else attempt + 1
                    self.counters.reconnects += 1
                    self._state_set(ConnectorState.CONNECTING)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.backoff.delay(attempt))
            finally:
                self._http = None
                self._state_set(ConnectorState.STOPPED)

    async def _stream(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await receive
                    return
                frame = receive.result()
                if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    raise ConnectionLost(f"closed by the venue ({ws.close_code})")
                if frame.type is aiohttp.WSMsgType.ERROR:
                    raise ConnectionLost(f"websocket error: {ws.exception()!r}")
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                self.counters.messages += 1
                try:
                    message = json.loads(frame.data, parse_float=Decimal)
                except json.JSONDecodeError as error:
                    raise ConnectionLost(f"a frame that is not JSON: {error}") from None
                before = self._published_marker()
                await self._on_message(message)
                self._after_message(before)
        finally:
            stopper.cancel()

    def _published_marker(self) -> object:
        return (self.book is not None, self.counters.resyncs.total())

    def _after_message(self, before: object) -> None:
        book = self.book
        self._state_set(ConnectorState.LIVE if book is not None else ConnectorState.SYNCING)
        if book is not None:
            self._was_live = True
        # Every applied message changes the book; a resync changes what is published (nothing) too.
        if book is not None or before != self._published_marker():
            self.counters.changes += 1
            if self.on_change is not None:
                self.on_change(self)

    def _state_set(self, state: ConnectorState) -> None:
        if state is self.state:
            return
        self.state = state
        if state is not ConnectorState.LIVE and self.on_change is not None:
            self.on_change(self)

    def _action_count(self, action: Action) -> None:
        if action.kind is ActionKind.RESYNC and action.reason is not None:
            self.counters.resyncs[action.reason] += 1
            logger.info("%s %s: resync (%s): %s", self.venue, self.venue_symbol, action.reason, action.detail)
        elif action.kind is ActionKind.DROPPED_STALE:
            self.counters.stale_dropped += 1

    async def _send(self, payload: Mapping[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(payload))

    # -- the venue's part --------------------------------------------------------------------------------------

    @abstractmethod
    def _connection_start(self) -> None:
        """A new connection: start a fresh core."""

    async def _connection_end(self) -> None:
        """The connection is gone: cancel what belonged to it."""
        return None

    @abstractmethod
    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None: ...

    @abstractmethod
    async def _on_message(self, message: object) -> None: ...


class BinanceConnector(BookConnector):
    """Binance spot diff-depth stream plus REST snapshots (:class:`~orderbook.l2.binance.BinanceBookSync`)."""

    venue = Venue.BINANCE

    def __init__(
        self,
        venue_symbol: str,
        *,
        ws_url: str,
        rest_url: str,
        snapshot_limit: int = 1000,
        snapshot_retry_seconds: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(venue_symbol.upper(), **options)
        self.base_ws_url = ws_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.snapshot_limit = snapshot_limit
        self.snapshot_retry_seconds = snapshot_retry_seconds
        self.sync = BinanceBookSync(self.venue_symbol)
        self._snapshot_task: asyncio.Task[None] | None = None

    def ws_url(self) -> str:
        return f"{self.base_ws_url}/ws/{self.venue_symbol.lower()}@depth@100ms"

    def _core_book(self) -> L2Book | None:
        return self.sync.book

    def _connection_start(self) -> None:
        self.sync = BinanceBookSync(self.venue_symbol)

    async def _connection_end(self) -> None:
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._snapshot_task
            self._snapshot_task = None

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        return None  # the stream is named in the URL

    async def _on_message(self, message: object) -> None:
        action = self.sync.on_message(message)
        self._action_count(action)
        if action.kind in (ActionKind.NEED_SNAPSHOT, ActionKind.RESYNC):
            self._snapshot_fetch_start()

    def _snapshot_fetch_start(self) -> None:
        # One fetch at a time: a snapshot already on its way is checked against the buffer as it is when it lands,
        # and the core answers NEED_SNAPSHOT again if it cannot bridge it.
        if self._snapshot_task is None or self._snapshot_task.done():
            self._snapshot_task = asyncio.create_task(self._snapshot_fetch(self.sync))

    async def _snapshot_fetch(self, sync: BinanceBookSync) -> None:
        assert self._http is not None
        url = f"{self.rest_url}/api/v3/depth"
        params = {"symbol": self.venue_symbol, "limit": str(self.snapshot_limit)}
        attempt = 0
        while sync is self.sync:
            self.counters.snapshots_requested += 1
            try:
                async with self._http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=10)) as response:
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status, message=await response.text()
                        )
                    payload = json.loads(await response.text(), parse_float=Decimal)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as error:
                logger.warning("binance %s: depth snapshot failed: %r", self.venue_symbol, error)
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
                continue
            before = self._published_marker()
            action = sync.on_snapshot_payload(payload)
            self._action_count(action)
            if action.kind is ActionKind.NEED_SNAPSHOT and action.reason is not None:
                self.counters.snapshots_refused[action.reason] += 1
            self._after_message(before)
            if action.kind in (ActionKind.APPLIED, ActionKind.DROPPED_STALE):
                return
            # Refused (the REST replica lags the stream) or a buffered event broke the new book: ask again soon.
            await asyncio.sleep(self.snapshot_retry_seconds)


class BybitConnector(BookConnector):
    """Bybit v5 ``orderbook.{depth}.{symbol}`` (:class:`~orderbook.l2.bybit.BybitBookSync`)."""

    venue = Venue.BYBIT
    PING_SECONDS = 20.0  # Bybit asks for a ping every 20 s to keep the connection

    def __init__(
        self, venue_symbol: str, *, ws_url: str, category: str = "spot", depth: int = 50, **options: Any
    ) -> None:
        super().__init__(venue_symbol.upper(), **options)
        self.base_ws_url = ws_url.rstrip("/")
        self.category = category
        self.depth = depth
        self.sync = BybitBookSync(self.venue_symbol, depth=depth)
        self._pinger: asyncio.Task[None] | None = None

    def ws_url(self) -> str:
        return f"{self.base_ws_url}/v5/public/{self.category}"

    def _core_book(self) -> L2Book | None:
        return self.sync.book

    def _connection_start(self) -> None:
        self.sync = BybitBookSync(self.venue_symbol, depth=self.depth)

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await self._send({"op": "subscribe", "args": [self.sync.topic]})
        self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.PING_SECONDS)
            await self._send({"op": "ping"})

    async def _connection_end(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None

    async def _on_message(self, message: object) -> None:
        if isinstance(message, dict) and "op" in message:
            if message.get("op") == "subscribe" and message.get("success") is False:
                raise ConnectionLost(f"subscription refused: {message.get('ret_msg')!r}")
            return  # pong and subscription acknowledgements
        action = self.sync.on_message(message)
        self._action_count(action)
        if action.kind is ActionKind.RESYNC:
            # Bybit answers a subscription with a snapshot: subscribe again to rebuild the book.
            self.counters.snapshots_requested += 1
            await self._send({"op": "unsubscribe", "args": [self.sync.topic]})
            await self._send({"op": "subscribe", "args": [self.sync.topic]})


class CoinbaseConnector(BookConnector):
    """Coinbase Advanced Trade ``level2`` (:class:`~orderbook.l2.coinbase.AdvancedTradeConnection`)."""

    venue = Venue.COINBASE

    def __init__(self, venue_symbol: str, *, ws_url: str, **options: Any) -> None:
        super().__init__(venue_symbol.upper(), **options)
        self.base_ws_url = ws_url.rstrip("/")
        self.connection = AdvancedTradeConnection([self.venue_symbol])

    def ws_url(self) -> str:
        return self.base_ws_url

    def _core_book(self) -> L2Book | None:
        return self.connection.products[self.venue_symbol].book

    def _connection_start(self) -> None:
        self.connection = AdvancedTradeConnection([self.venue_symbol])

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # One subscribe message per channel, as Coinbase requires.
        await self._send({"type": "subscribe", "product_ids": [self.venue_symbol], "channel": "level2"})
        await self._send({"type": "subscribe", "product_ids": [self.venue_symbol], "channel": "heartbeats"})

    async def _on_message(self, message: object) -> None:
        if isinstance(message, dict) and message.get("type") == "error":
            raise ConnectionLost(f"Coinbase error: {message.get('message')!r}")
        actions = self.connection.on_message(message)
        action = actions.get(self.venue_symbol)
        if action is None:
            return
        self._action_count(action)
        if action.kind is ActionKind.RESYNC:
            self.counters.snapshots_requested += 1
            await self._send({"type": "unsubscribe", "product_ids": [self.venue_symbol], "channel": "level2"})
            await self._send({"type": "subscribe", "product_ids": [self.venue_symbol], "channel": "level2"})


def connector_create(
    venue: Venue | str,
    venue_symbol: str,
    *,
    urls: Mapping[str, str],
    **options: Any,
) -> BookConnector:
    """A connector for ``venue``; ``urls`` holds ``BINANCE_WS_URL``, ``BINANCE_REST_URL``, ``BYBIT_WS_URL`` and
    ``COINBASE_WS_URL`` (the settings of the same names)."""
    venue = Venue(venue)
    if venue is Venue.BINANCE:
        return BinanceConnector(
            venue_symbol, ws_url=urls["BINANCE_WS_URL"], rest_url=urls["BINANCE_REST_URL"], **options
        )
    if venue is Venue.BYBIT:
        return BybitConnector(venue_symbol, ws_url=urls["BYBIT_WS_URL"], **options)
    return CoinbaseConnector(venue_symbol, ws_url=urls["COINBASE_WS_URL"], **options)
