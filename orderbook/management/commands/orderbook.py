"""``manage.py orderbook replay FEED.csv``: run a QuantCup feed through a matching engine and write its results."""

from __future__ import annotations

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


class Command(BaseCommand):
    help = "Order-book tools. 'replay': match a QuantCup feed and write order ids, executions and the final book."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{replay}")
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

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "replay":
            self.replay(**options)

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
