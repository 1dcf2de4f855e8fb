"""Fake venues on 127.0.0.1 (aiohttp.web) that play a scripted book over each venue's documented wire format,
with faults injected on the way.

A :class:`Script` is the venue's truth: a first book and a list of updates (level changes with the venue's update
ids). A :class:`Plan` says what each connection puts on the wire: ``send`` an update, ``skip`` one (it happens at
the venue but the client never sees it), ``corrupt`` it, re-send an old one (``stale``), ``hold`` until the
client has asked for its n-th snapshot (Binance: REST depth requests; Bybit and Coinbase: subscriptions), or
``close`` the connection. A snapshot is always the venue's truth as of the last update that happened there, so a
client that resyncs correctly ends with exactly the book of the unfaulted script.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from orderbook.l2.captures import Direction, capture_read, captures_interleave

Change = tuple[str, str, str]  # ("bid" | "ask", price, size) as the venue wrote them; size "0" removes


@dataclass(frozen=True)
class Update:
    changes: tuple[Change, ...]
    first_id: int  # Binance U
    final_id: int  # Binance u, Bybit u
    time: str = "2021-04-17T16:43:37.000000Z"


@dataclass
class Script:
    bids: list[tuple[str, str]]  # the first book, best first
    asks: list[tuple[str, str]]
    snapshot_id: int
    updates: list[Update]

    def book_at(self, position: int) -> tuple[dict[Decimal, tuple[str, str]], dict[Decimal, tuple[str, str]]]:
        """The venue's book after the first ``position`` updates (those past the first snapshot's id)."""
        sides: dict[str, dict[Decimal, tuple[str, str]]] = {
            "bid": {Decimal(p): (p, s) for p, s in self.bids},
            "ask": {Decimal(p): (p, s) for p, s in self.asks},
        }
        for update in self.updates[:position]:
            if update.final_id <= self.snapshot_id:
                continue
            for side, price, size in update.changes:
                if Decimal(size) == 0:
                    sides[side].pop(Decimal(price), None)
                else:
                    sides[side][Decimal(price)] = (price, size)
        return sides["bid"], sides["ask"]

    def id_at(self, position: int) -> int:
        return max([self.snapshot_id] + [u.final_id for u in self.updates[:position]])

    def final_levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The unfaulted script's last book as (price, size) decimals, best first: what every test expects."""
        bids, asks = self.book_at(len(self.updates))
        return (
            [(price, Decimal(bids[price][1])) for price in sorted(bids, reverse=True)],
            [(price, Decimal(asks[price][1])) for price in sorted(asks)],
        )


def sorted_levels(side: dict[Decimal, tuple[str, str]], *, descending: bool) -> list[list[str]]:
    return [list(side[price]) for price in sorted(side, reverse=descending)]


# --- scripts ----------------------------------------------------------------------------------------------------


def binance_capture_script(captures: Path, symbol: str) -> Script:
    """The recorded REST snapshot and the symbol's recorded depth events (ids as Binance sent them)."""
    snapshot: Any = None
    updates = []
    for record in captures_interleave(captures / "BINANCE.ws.1.0", captures / "BINANCE.http.0.0"):
        payload: Any = record.payload
        if record.direction is Direction.HTTP and record.url and f"symbol={symbol}&" in record.url:
            snapshot = payload
        elif record.direction is Direction.RECEIVED and payload["data"].get("e") == "depthUpdate":
            data = payload["data"]
            if data["s"] == symbol:
                changes = tuple(("bid", p, s) for p, s in data["b"]) + tuple(("ask", p, s) for p, s in data["a"])
                updates.append(Update(changes, data["U"], data["u"]))
    assert snapshot is not None, f"no recorded snapshot of {symbol}"
    return Script(
        [tuple(level) for level in snapshot["bids"]],  # type: ignore[misc]
        [tuple(level) for level in snapshot["asks"]],  # type: ignore[misc]
        snapshot["lastUpdateId"],
        updates,
    )


def coinbase_capture_script(captures: Path, product: str) -> Script:
    """The recorded Exchange-feed snapshot and ``l2update`` changes of one product, ids counted from 1."""
    snapshot: Any = None
    updates: list[Update] = []
    for record in capture_read(captures / "COINBASE.ws.28.0"):
        payload: Any = record.payload
        if record.direction is not Direction.RECEIVED or payload.get("product_id") != product:
            continue
        if payload["type"] == "snapshot":
            snapshot = payload
        elif payload["type"] == "l2update" and snapshot is not None:
            changes = tuple(("bid" if s == "buy" else "ask", p, q) for s, p, q in payload["changes"])
            updates.append(Update(changes, len(updates) + 1, len(updates) + 1, payload["time"]))
    assert snapshot is not None, f"no recorded snapshot of {product}"
    return Script(
        [tuple(level) for level in snapshot["bids"]],  # type: ignore[misc]
        [tuple(level) for level in snapshot["asks"]],  # type: ignore[misc]
        0,
        updates,
    )


def generated_script(
    *, seed: int, updates: int = 300, levels: int = 20, first_id: int = 1000, center_cents: int = 10_000
) -> Script:
    """A random book around ``center_cents`` (100.00) that can never cross (bids below, asks above), 0.01 tick."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets

    def price(side: str, ticks: int) -> str:
        cents = center_cents - ticks if side == "bid" else center_cents + ticks
        return f"{cents // 100}.{cents % 100:02d}"

    def size() -> str:
        return f"{rng.randint(1, 50_000) / 1000:.3f}"

    bids = [(price("bid", tick), size()) for tick in range(1, levels + 1)]
    asks = [(price("ask", tick), size()) for tick in range(1, levels + 1)]
    script_updates = []
    for index in range(updates):
        changes = []
        for _ in range(rng.randint(1, 3)):
            side = rng.choice(("bid", "ask"))
            changes.append((side, price(side, rng.randint(1, levels + 10)), "0" if rng.random() < 0.3 else size()))
        update_id = first_id + 1 + index
        # The first event overlaps the first book's id, as Binance's does, so that book can be bridged.
        script_updates.append(Update(tuple(changes), update_id - 1 if index == 0 else update_id, update_id))
    return Script(bids, asks, first_id, script_updates)


# --- plans ------------------------------------------------------------------------------------------------------

# ("send" | "skip" | "corrupt" | "stale" | "early" | "late" | "lost" | "hold" | "close", argument)
Op = tuple[str, int]


@dataclass
class Plan:
    connections: list[list[Op]]
    too_old_first_snapshot: bool = False  # Binance: the first REST snapshot is older than anything buffered


def plan_for(fault: str, total: int, k: int, *, first_hold: bool) -> Plan:
    """The wire plan of one fault at update ``k`` (a fault-free plan for ``"none"``).

    ``first_hold``: hold after the first update until the first snapshot was asked for (Binance, as recorded: the
    snapshot arrived after one buffered event), so every run takes the same path.
    """
    head: list[Op] = [("send", 0), ("hold", 1)] if first_hold else []
    start = 1 if first_hold else 0

    def sends(a: int, b: int) -> list[Op]:
        return [("send", i) for i in range(a, b)]

    if fault == "none":
        return Plan([head + sends(start, total)])
    if fault == "too_old":
        return Plan([[("send", 0), ("hold", 2), *sends(1, total)]], too_old_first_snapshot=True)
    if fault == "dropped":
        return Plan([head + sends(start, k) + [("skip", k), ("send", k + 1), ("hold", 2)] + sends(k + 2, total)])
    if fault == "swapped":
        # The two travel with their own ids / sequence numbers: k + 1 arrives first, k after the resync started.
        swapped: list[Op] = [("early", k + 1), ("hold", 2), ("late", k)]
        return Plan([head + sends(start, k) + swapped + sends(k + 2, total)])
    if fault == "stale":
        return Plan([head + sends(start, k + 1) + [("stale", k - 1)] + sends(k + 1, total)])
    if fault == "corrupted":
        return Plan([head + sends(start, k) + [("corrupt", k), ("hold", 2)] + sends(k + 1, total)])
    if fault == "connection_drop":
        # Two updates happen at the venue while the client is away.
        second: list[Op] = [("lost", k), ("lost", k + 1)]
        second += [("send", k + 2), ("hold", 2)] if first_hold else []
        second += sends(k + 3 if first_hold else k + 2, total)
        return Plan([head + sends(start, k) + [("close", 0)], second])
    raise ValueError(fault)


CORRUPT_SIZE = "1.5.0"  # not a number: the core must resync on this very message


@dataclass
class FakeVenue:
    """What every fake shares: the script, the plan, the venue's position, and the client's snapshot requests."""

    script: Script
    plan: Plan
    position: int = 0  # updates that happened at the venue
    snapshot_requests: int = 0
    connections: int = 0
    received: list[Any] = field(default_factory=list)  # what clients sent (subscriptions)
    requested: asyncio.Condition = field(default_factory=asyncio.Condition)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def request_count(self) -> None:
        async with self.requested:
            self.snapshot_requests += 1
            self.requested.notify_all()

    async def hold(self, count: int) -> None:
        async with self.requested:
            await asyncio.wait_for(self.requested.wait_for(lambda: self.snapshot_requests >= count), 10)

    async def play(self, send: Callable[[int, str], Any]) -> bool:
        """Play this connection's plan through ``send(update index, how)``; False when it closes the connection."""
        ops = self.plan.connections[min(self.connections - 1, len(self.plan.connections) - 1)]
        for op, argument in ops:
            if op == "hold":
                await self.hold(argument)
            elif op == "close":
                return False
            elif op == "lost":  # happened at the venue while no client was connected: no wire effect at all
                self.position = max(self.position, argument + 1)
                continue
            else:
                await send(argument, op)
                if op != "stale":  # advanced once it is on the wire: a snapshot taken meanwhile must not include it
                    self.position = max(self.position, argument + 1)
            await asyncio.sleep(0)
        self.finished.set()
        return True


def changes_with_corruption(update: Update, how: str) -> Iterator[Change]:
    for index, (side, price, size) in enumerate(update.changes):
        yield (side, price, CORRUPT_SIZE if how == "corrupt" and index == 0 else size)


# --- Binance ----------------------------------------------------------------------------------------------------


class FakeBinance(FakeVenue):
    """``/ws/<symbol>@depth@100ms`` diff-depth events and ``/api/v3/depth`` snapshots."""

    symbol = ""

    def app(self, symbol: str) -> web.Application:
        self.symbol = symbol
        app = web.Application()
        app.router.add_get("/ws/{stream}", self.stream)
        app.router.add_get("/api/v3/depth", self.depth)
        return app

    async def depth(self, request: web.Request) -> web.Response:
        if request.query.get("symbol") != self.symbol:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        first = self.snapshot_requests == 0
        if first:
            bids, asks = self.script.book_at(0)
            last_id = self.script.snapshot_id
            if self.plan.too_old_first_snapshot:
                last_id = self.script.updates[0].first_id - 2
        else:
            bids, asks = self.script.book_at(self.position)
            last_id = self.script.id_at(self.position)
        body = {
            "lastUpdateId": last_id,
            "bids": sorted_levels(bids, descending=True),
            "asks": sorted_levels(asks, descending=False),
        }
        await self.request_count()
        return web.json_response(body)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1

        async def send(index: int, how: str) -> None:
            update = self.script.updates[index]
            if how == "skip":
                return
            changes = list(changes_with_corruption(update, how))
            event = {
                "e": "depthUpdate",
                "E": 1633998512068,
                "s": self.symbol,
                "U": update.first_id,
                "u": update.final_id,
                "b": [[p, s] for side, p, s in changes if side == "bid"],
                "a": [[p, s] for side, p, s in changes if side == "ask"],
            }
            await ws.send_str(json.dumps(event))

        if await self.play(send):
            async for _ in ws:  # keep the stream open until the client leaves
                pass
        await ws.close()
        return ws


# --- Bybit ------------------------------------------------------------------------------------------------------


class FakeBybit(FakeVenue):
    """``/v5/public/spot``: ``orderbook.{depth}.{symbol}`` snapshot on subscription, then deltas with ``u``."""

    topic = ""

    def app(self, topic: str) -> web.Application:
        self.topic = topic
        app = web.Application()
        app.router.add_get("/v5/public/spot", self.stream)
        return app

    def push(self, kind: str, bids: list[list[str]], asks: list[list[str]], update_id: int) -> str:
        data = {"s": self.topic.rsplit(".", 1)[1], "b": bids, "a": asks, "u": update_id, "seq": 7_000 + update_id}
        return json.dumps({"topic": self.topic, "type": kind, "ts": 1671179923028, "data": data, "cts": 1671179923024})

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        subscribed = asyncio.Event()

        async def send(index: int, how: str) -> None:
            await subscribed.wait()
            update = self.script.updates[index]
            if how == "skip":
                return
            changes = list(changes_with_corruption(update, how))
            bids = [[p, s] for side, p, s in changes if side == "bid"]
            asks = [[p, s] for side, p, s in changes if side == "ask"]
            await ws.send_str(self.push("delta", bids, asks, update.final_id))

        async def read() -> None:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                self.received.append(message)
                if message.get("op") == "ping":
                    await ws.send_str(json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))
                elif message.get("op") == "subscribe":
                    await ws.send_str(json.dumps({"success": True, "ret_msg": "", "op": "subscribe"}))
                    bids, asks = self.script.book_at(self.position)
                    await ws.send_str(
                        self.push(
                            "snapshot",
                            sorted_levels(bids, descending=True),
                            sorted_levels(asks, descending=False),
                            self.script.id_at(self.position),
                        )
                    )
                    subscribed.set()
                    await self.request_count()

        reader = asyncio.create_task(read())
        if await self.play(send):
            await reader
        reader.cancel()
        await ws.close()
        return ws


# --- Coinbase Advanced Trade ------------------------------------------------------------------------------------


class FakeCoinbase(FakeVenue):
    """Advanced Trade market data: ``level2`` as ``l2_data`` events, ``sequence_num`` per connection."""

    product = ""

    def app(self, product: str) -> web.Application:
        self.product = product
        app = web.Application()
        app.router.add_get("/", self.stream)
        return app

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        sequence = 0
        subscribed = asyncio.Event()
        sent_by_index: dict[int, str] = {}

        def envelope(channel: str, events: list[dict[str, Any]], number: int) -> str:
            return json.dumps(
                {
                    "channel": channel,
                    "client_id": "",
                    "timestamp": "2023-02-09T20:32:50.714964855Z",
                    "sequence_num": number,
                    "events": events,
                }
            )

        def level(side: str, price: str, size: str, time: str) -> dict[str, str]:
            side_name = "bid" if side == "bid" else "offer"
            return {"side": side_name, "event_time": time, "price_level": price, "new_quantity": size}

        reserved: list[int] = []

        def number_take(count: int = 1) -> int:
            # Taken before any await: the numbers must go out in the order they are handed out.
            nonlocal sequence
            number = sequence
            sequence += count
            return number

        async def send(index: int, how: str) -> None:
            await subscribed.wait()
            update = self.script.updates[index]
            if how == "stale":
                await ws.send_str(sent_by_index[index])
                return
            if how == "early":  # this one carries the number after the one held back for "late"
                reserved.append(number_take(2))
                number = reserved[-1] + 1
            elif how == "late":
                number = reserved.pop()
            else:
                number = number_take()
            if how == "skip":
                return  # the number is used up: the client sees the gap
            changes = list(changes_with_corruption(update, how))
            event = {
                "type": "update",
                "product_id": self.product,
                "updates": [level(side, p, s, update.time) for side, p, s in changes],
            }
            text = envelope("l2_data", [event], number)
            sent_by_index[index] = text
            await ws.send_str(text)

        async def read() -> None:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                self.received.append(message)
                if message.get("type") != "subscribe":
                    continue
                if message.get("channel") == "heartbeats":
                    beat = {"current_time": "2023-02-09 20:32:50 +0000 UTC", "heartbeat_counter": 1}
                    await ws.send_str(envelope("heartbeats", [beat], number_take()))
                    continue
                bids, asks = self.script.book_at(self.position)
                updates = [level("bid", *bids[p], "2023-02-09T20:32:50Z") for p in sorted(bids, reverse=True)]
                updates += [level("ask", *asks[p], "2023-02-09T20:32:50Z") for p in sorted(asks)]
                snapshot = {"type": "snapshot", "product_id": self.product, "updates": updates}
                await ws.send_str(envelope("l2_data", [snapshot], number_take()))
                subscribed.set()
                await self.request_count()

        reader = asyncio.create_task(read())
        if await self.play(send):
            await reader
        reader.cancel()
        await ws.close()
        return ws


async def fake_serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start ``app`` on 127.0.0.1, a free port; returns the runner (to clean up) and the base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"127.0.0.1:{port}"
