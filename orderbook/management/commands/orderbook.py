"""``manage.py orderbook replay FEED.csv``: run a QuantCup feed through a matching engine and write its results.

``manage.py orderbook watch BTC/USDT --exchanges binance,bybit,coinbase``: mirror the market live on each venue,
draw the consolidated book in the terminal, and publish it (Redis and the market's Channels group) for the API
and the depth page. ``--once`` draws the first complete book and exits; ``--seconds N`` stops after N seconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError

from orderbook.matching.feed import (
    ENGINES,
    EngineName,
    FeedError,
    PriceRule,
    executions_csv,
    feed_read,
    feed_replay,
    final_book_csv,
    order_ids_csv,
)
from orderbook.matching.reference import PRICE_RULES

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Command(BaseCommand):
    help = (
        "Order-book tools. 'replay': match a QuantCup feed and write order ids, executions and the final book. "
        "'watch': mirror a market live across venues and draw its consolidated book."
    )

    def add_arguments(self, parser: Any) -> None:
        # The usage text "{replay}" is pinned by tests/orderbook/test_conformance.py; 'watch' is listed in --help.
        actions = parser.add_subparsers(dest="action", required=True, metavar="{replay,watch}")
        replay = actions.add_parser(
            "replay", help="replay a feed CSV (msg,kind,symbol,trader,side,price,size_or_cancel_id)"
        )
        replay.add_argument("feed", type=Path, help="the feed CSV")
        replay.add_argument(
            "--price-rule",
            required=True,
            choices=PRICE_RULES,
            help="execution price: the resting order's (maker) or the incoming order's limit (aggressor)",
        )
        replay.add_argument("--engine", choices=ENGINES, default="compiled", help="default: compiled")
        replay.add_argument("--executions", type=Path, help="write msg,symbol,trader,side,price,size here")
        replay.add_argument("--order-ids", type=Path, help="write msg,order_id here")
        replay.add_argument("--final-book", type=Path, help="write the resting orders per price level here")
        watch = actions.add_parser("watch", help="mirror a market live on several venues and draw its book")
        watch.add_argument("symbol", help="unified spot symbol, e.g. BTC/USDT")
        watch.add_argument(
            "--exchanges", default="binance,bybit,coinbase", help="comma-separated venues (default: all three)"
        )
        watch.add_argument("--rows", type=int, default=10, help="aggregated levels drawn a side (default 10)")
        watch.add_argument("--interval", type=float, default=0.5, help="seconds between redraws (default 0.5)")
        watch.add_argument("--seconds", type=float, help="stop after this many seconds")
        watch.add_argument("--once", action="store_true", help="draw the first book every venue is live in, exit")
        watch.add_argument("--no-publish", action="store_true", help="only draw: publish nothing to Redis")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "replay":
            self.replay(**options)
        elif action == "watch":
            self.watch(**options)

    def watch(
        self,
        *,
        symbol: str,
        exchanges: str,
        rows: int,
        interval: float,
        seconds: float | None,
        once: bool,
        no_publish: bool,
        **options: Any,
    ) -> None:
        # Imported here: replay must not need the live stack (aiohttp, channels) to run.
        from marketdata.core.venues import SymbolError, Venue, unified_symbol_split
        from orderbook import selectors, services
        from orderbook.live.snapshots import snapshot_render

        symbol = symbol.upper()
        try:
            if unified_symbol_split(symbol)[2] is not None:
                raise CommandError(f"{symbol}: live books are spot markets (BASE/QUOTE)")
        except SymbolError as error:
            raise CommandError(str(error)) from None
        try:
            venues = [Venue(name.strip().lower()) for name in exchanges.split(",") if name.strip()]
        except ValueError as error:
            raise CommandError(f"--exchanges: {error}; choose from {', '.join(v.value for v in Venue)}") from None
        if not venues:
            raise CommandError("--exchanges names no venue")
        if once and seconds is None:
            seconds = 30.0  # --once must end even if a venue never comes live
        venue_symbols = {venue: selectors.venue_symbol_get(venue=venue, symbol=symbol) for venue in venues}
        interactive = self.stdout.isatty()

        def draw(snapshot: dict[str, Any]) -> None:
            if once and not all(venue["bid"] is not None for venue in snapshot["venues"]):
                return  # --once draws one complete book only
            self.stdout.write((CLEAR_SCREEN if interactive else "") + snapshot_render(snapshot, rows=rows))

        last = asyncio.run(
            services.orderbook_watch(
                symbol=symbol,
                venue_symbols=venue_symbols,
                seconds=seconds,
                once=once,
                interval=interval,
                publish=not no_publish,
                on_snapshot=draw,
            )
        )
        if once and (last is None or not all(venue["bid"] is not None for venue in last["venues"])):
            states = ", ".join(f"{v['venue']} {v['state']}" for v in last["venues"]) if last else "no snapshot"
            raise CommandError(f"{symbol}: not every venue came live within {seconds:g} s ({states})")

    def replay(
        self,
        *,
        feed: Path,
        price_rule: PriceRule,
        engine: EngineName,
        executions: Path | None,
        order_ids: Path | None,
        final_book: Path | None,
        **options: Any,
    ) -> None:
        try:
            messages = feed_read(feed)
        except FileNotFoundError:
            raise CommandError(f"{feed}: no such file") from None
        except FeedError as error:
            raise CommandError(f"{feed}: {error}") from None
        except OSError as error:
            raise CommandError(f"{feed}: cannot read it ({error.strerror or error})") from None
        try:
            result = feed_replay(messages, price_rule=price_rule, engine=engine)
        except FeedError as error:
            raise CommandError(f"{feed}: {error}") from None
        outputs = (
            (order_ids, lambda: order_ids_csv(result.order_ids)),
            (executions, lambda: executions_csv(result.executions)),
            (final_book, lambda: final_book_csv(result.book)),
        )
        for path, render in outputs:
            if path is None:
                continue
            try:
                path.write_text(render(), encoding="utf-8", newline="\n")
            except OSError as error:
                raise CommandError(f"{path}: cannot write it ({error.strerror or error})") from None
        rate = result.messages / result.engine_seconds if result.engine_seconds > 0 else 0.0
        self.stdout.write(
            f"{result.messages} messages, {len(result.executions)} executions, {result.resting_orders} resting orders, "
            f"{rate:,.0f} messages/s ({engine} engine, {price_rule} price)"
        )
