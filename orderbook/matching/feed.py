"""QuantCup-format feeds: read a feed CSV into columns, replay it through either engine, write the results.

A feed is ``msg,kind,symbol,trader,side,price,size_or_cancel_id``: ``kind`` is ``limit`` or ``cancel``, a limit
has a side (0 buy, 1 sell), a price tick in 1..65535 and a size of at least 1; a cancel has price 0 and names an
order id in its last column. ``msg`` numbers the messages and must increase; the outputs name messages by it.

The writers produce the QuantCup harness's files byte for byte: ``msg,order_id`` for the id each limit got,
``msg,symbol,trader,side,price,size`` for executions (the buyer's row, then the seller's, per fill) and
``side,price,level_size,order_count,queue(order_id:trader:size)`` for the final book (bids high to low, then asks
low to high; the queue space-separated in time priority). Every line ends in ``\\n``.

Pure: no Django. The feed holds one symbol, as the QuantCup harness does: both engines keep a single book, so a
feed naming several symbols is refused rather than matched across symbols.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orderbook.matching.reference import MAX_PRICE, MIN_PRICE, BookLevel, ReferenceEngine

FEED_HEADER = "msg,kind,symbol,trader,side,price,size_or_cancel_id"
ORDER_IDS_HEADER = "msg,order_id"
EXECUTIONS_HEADER = "msg,symbol,trader,side,price,size"
FINAL_BOOK_HEADER = "side,price,level_size,order_count,queue(order_id:trader:size)"

KIND_LIMIT = 0
KIND_CANCEL = 1
KINDS = {"limit": KIND_LIMIT, "cancel": KIND_CANCEL}
KIND_NAMES = {code: name for name, code in KINDS.items()}
ENGINES = ("compiled", "reference")
INT64_MAX = 2**63 - 1
# Names go unquoted into CSV rows and into the book's ``id:trader:size`` queue, so these would make them ambiguous.
NAME_FORBIDDEN = frozenset(',:"') | frozenset(" \t\r\n\f\v")

EngineName = Literal["compiled", "reference"]
PriceRule = Literal["maker", "aggressor"]
# (msg, symbol, trader, side, price, size): one side of a fill, named by the feed message that caused it.
ExecutionRow = tuple[int, str, str, int, int, int]


class FeedError(ValueError):
    """A feed that is not a valid QuantCup feed; the message names the line (1 is the header) and the problem."""


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed's messages as columns, one entry per message, in feed order.

    ``sizes_or_ids`` holds a limit's size or the id a cancel names. A cancel's side is kept as the feed wrote it;
    its price is always 0.
    """

    msgs: array[int]  # 'q'
    kinds: array[int]  # 'b': KIND_LIMIT or KIND_CANCEL
    symbols: list[str]
    traders: list[str]
    sides: array[int]  # 'b'
    prices: array[int]  # 'i'
    sizes_or_ids: array[int]  # 'q'

    def __len__(self) -> int:
        return len(self.msgs)


@dataclass(frozen=True, slots=True)
class ExecutionColumns:
    """Executions as columns, two rows per fill (buyer then seller), in the order the engine reported them."""

    msgs: Sequence[int]
    symbols: Sequence[str]
    traders: Sequence[str]
    sides: Sequence[int]
    prices: Sequence[int]
    sizes: Sequence[int]

    def __len__(self) -> int:
        return len(self.msgs)

    def rows(self) -> list[ExecutionRow]:
        return list(zip(self.msgs, self.symbols, self.traders, self.sides, self.prices, self.sizes, strict=True))


@dataclass(frozen=True, slots=True)
class ReplayResult:
    order_ids: list[tuple[int, int]]  # (msg, order id) for each limit message, in feed order
    executions: ExecutionColumns
    book: list[BookLevel]
    messages: int
    engine_seconds: float  # time spent inside the engine's limit/cancel (or replay) calls only

    @property
    def resting_orders(self) -> int:
        return sum(len(queue) for _, _, queue in self.book)


def _integer(text: str, line: int, column: str) -> int:
    # Stricter than int(): no spaces, underscores, "+" signs or non-ASCII digits.
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise FeedError(f"line {line}: {column} must be an integer, got {text!r}")
    return int(text)


def _name_check(name: str, line: int, column: str) -> None:
    if not name:
        raise FeedError(f"line {line}: {column} is empty")
    if not name.isprintable() or not NAME_FORBIDDEN.isdisjoint(name):
        raise FeedError(f"line {line}: {column} {name!r} contains a space, comma, colon, quote or control character")


def feed_parse(lines: Iterable[str]) -> Feed:
    """Validate and load a feed from its lines (with or without their ``\\n`` / ``\\r\\n`` endings)."""
    msgs: array[int] = array("q")
    kinds: array[int] = array("b")
    sides: array[int] = array("b")
    prices: array[int] = array("i")
    sizes_or_ids: array[int] = array("q")
    symbols: list[str] = []
    traders: list[str] = []
    names: dict[str, str] = {}  # one str object per distinct name, checked once
    previous_msg: int | None = None
    line = 0
    for line, raw in enumerate(lines, start=1):
        text = raw.rstrip("\n").removesuffix("\r")
        if line == 1:
            if text.removeprefix("\ufeff") != FEED_HEADER:
                raise FeedError(f"line 1: the header must be {FEED_HEADER!r}, got {text!r}")
            continue
        fields = text.split(",")
        if len(fields) != 7:
            raise FeedError(f"line {line}: expected 7 comma-separated fields, got {len(fields)}")
        msg_text, kind_text, symbol, trader, side_text, price_text, last_text = fields
        msg = _integer(msg_text, line, "msg")
        if not 0 <= msg <= INT64_MAX:
            raise FeedError(f"line {line}: msg {msg} is outside 0..{INT64_MAX}")
        if previous_msg is not None and msg <= previous_msg:
            raise FeedError(f"line {line}: msg {msg} does not increase (previous {previous_msg})")
        previous_msg = msg
        kind = KINDS.get(kind_text)
        if kind is None:
            raise FeedError(f"line {line}: kind must be 'limit' or 'cancel', got {kind_text!r}")
        for name, column in ((symbol, "symbol"), (trader, "trader")):
            if name not in names:
                _name_check(name, line, column)
                names[name] = name
        side = _integer(side_text, line, "side")
        if side not in (0, 1):
            raise FeedError(f"line {line}: side must be 0 (buy) or 1 (sell), got {side}")
        price = _integer(price_text, line, "price")
        last = _integer(last_text, line, "size" if kind == KIND_LIMIT else "cancel id")
        if kind == KIND_LIMIT:
            if not MIN_PRICE <= price <= MAX_PRICE:
                raise FeedError(f"line {line}: a limit's price must be in {MIN_PRICE}..{MAX_PRICE}, got {price}")
            if not 1 <= last <= INT64_MAX:
                raise FeedError(f"line {line}: a limit's size must be in 1..{INT64_MAX}, got {last}")
        else:
            if price != 0:
                raise FeedError(f"line {line}: a cancel's price must be 0, got {price}")
            if not 0 <= last <= INT64_MAX:
                raise FeedError(f"line {line}: a cancel's order id must be in 0..{INT64_MAX}, got {last}")
        msgs.append(msg)
        kinds.append(kind)
        symbols.append(names[symbol])
        traders.append(names[trader])
        sides.append(side)
        prices.append(price)
        sizes_or_ids.append(last)
    if line == 0:
        raise FeedError(f"line 1: the feed is empty; it must start with the header {FEED_HEADER!r}")
    return Feed(msgs, kinds, symbols, traders, sides, prices, sizes_or_ids)


def feed_read(path: Path | str) -> Feed:
    """Load a feed file. Raises ``FeedError`` for bad content and ``OSError`` for a file that cannot be read."""
    with open(path, encoding="utf-8", newline="") as file:
        try:
            return feed_parse(file)
        except UnicodeDecodeError as error:
            raise FeedError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def feed_csv(feed: Feed) -> str:
    """The feed in its CSV format (``feed_parse`` reads it back)."""
    body = "".join(
        f"{msg},{KIND_NAMES[kind]},{symbol},{trader},{side},{price},{last}\n"
        for msg, kind, symbol, trader, side, price, last in zip(
            feed.msgs, feed.kinds, feed.symbols, feed.traders, feed.sides, feed.prices, feed.sizes_or_ids, strict=True
        )
    )
    return f"{FEED_HEADER}\n{body}"


def feed_generate(*, messages: int, seed: int, symbol: str = "SYM", traders: int = 10, mid: int = 4800) -> Feed:
    """A QuantCup-like synthetic feed: half limits in a narrow band around ``mid`` (so they cross often), half
    cancels naming mostly filled, cancelled or not-yet-issued ids. Deterministic for a given ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    names = [f"ID{number}" for number in range(traders)]
    feed = Feed(array("q"), array("b"), [], [], array("b"), array("i"), array("q"))
    issued = 0
    for msg in range(messages):
        feed.msgs.append(msg)
        feed.symbols.append(symbol)
        feed.traders.append(rng.choice(names))
        if issued == 0 or rng.random() < 0.5:
            issued += 1
            side = rng.randrange(2)
            # Buyers lean above mid and sellers below, so a good share of arrivals cross.
            price = mid + rng.randint(-8, 12) if side == 0 else mid + rng.randint(-12, 8)
            size = rng.choice((100, 100, 200, 300, 500, 1000)) if rng.random() < 0.8 else rng.randint(1, 2500)
            feed.kinds.append(KIND_LIMIT)
            feed.sides.append(side)
            feed.prices.append(price)
            feed.sizes_or_ids.append(size)
        else:
            feed.kinds.append(KIND_CANCEL)
            feed.sides.append(0)
            feed.prices.append(0)
            feed.sizes_or_ids.append(rng.randint(max(1, issued - 40), issued + 5))
    return feed


def _single_symbol(feed: Feed) -> str:
    distinct = set(feed.symbols)
    if len(distinct) > 1:
        raise FeedError(f"the feed names {len(distinct)} symbols ({', '.join(sorted(distinct))}); one book per feed")
    return distinct.pop() if distinct else ""


def _replay_compiled(feed: Feed, price_rule: PriceRule) -> ReplayResult:
    from orderbook.matching._engine import MatchingEngine

    engine = MatchingEngine(price_rule)
    codes = {name: engine.trader_code(name) for name in dict.fromkeys(feed.traders)}
    trader_codes = array("i", [codes[name] for name in feed.traders])
    start = time.perf_counter()
    ids = engine.replay(feed.kinds, trader_codes, feed.sides, feed.prices, feed.sizes_or_ids)
    engine_seconds = time.perf_counter() - start
    ex_msg, ex_trader, ex_side, ex_price, ex_size = engine.take_execution_columns()
    # The engine numbers messages 0, 1, 2… from its creation; the outputs use the feed's msg column.
    msgs = feed.msgs
    names = engine.traders
    symbols = feed.symbols
    executions = ExecutionColumns(
        msgs=[msgs[number] for number in ex_msg],
        symbols=[symbols[number] for number in ex_msg],
        traders=[names[code] for code in ex_trader],
        sides=ex_side,
        prices=ex_price,
        sizes=ex_size,
    )
    kinds = feed.kinds
    order_ids = [(msg, order_id) for msg, kind, order_id in zip(msgs, kinds, ids, strict=True) if kind == KIND_LIMIT]
    return ReplayResult(order_ids, executions, engine.book(), engine.messages, engine_seconds)


def _replay_reference(feed: Feed, price_rule: PriceRule) -> ReplayResult:
    engine = ReferenceEngine(price_rule)
    order_ids: list[tuple[int, int]] = []
    ex_msgs: list[int] = []
    ex_symbols: list[str] = []
    ex_traders: list[str] = []
    ex_sides: list[int] = []
    ex_prices: list[int] = []
    ex_sizes: list[int] = []
    engine_seconds = 0.0
    clock = time.perf_counter
    for msg, kind, symbol, trader, side, price, last in zip(
        feed.msgs, feed.kinds, feed.symbols, feed.traders, feed.sides, feed.prices, feed.sizes_or_ids, strict=True
    ):
        start = clock()
        if kind == KIND_LIMIT:
            order_id = engine.limit(trader, side, price, last)
            fills = engine.take_executions()
            engine_seconds += clock() - start
            order_ids.append((msg, order_id))
            for ex_trader, ex_side, ex_price, ex_size in fills:
                ex_msgs.append(msg)
                ex_symbols.append(symbol)
                ex_traders.append(ex_trader)
                ex_sides.append(ex_side)
                ex_prices.append(ex_price)
                ex_sizes.append(ex_size)
        else:
            engine.cancel(last)
            engine_seconds += clock() - start
    executions = ExecutionColumns(ex_msgs, ex_symbols, ex_traders, ex_sides, ex_prices, ex_sizes)
    return ReplayResult(order_ids, executions, engine.book(), len(feed), engine_seconds)


def feed_replay(feed: Feed, *, price_rule: PriceRule, engine: EngineName = "compiled") -> ReplayResult:
    """Replay the whole feed through a fresh engine: the compiled engine's batch API, or the reference engine
    one message at a time. Executions are named by the feed's msg column."""
    if price_rule not in ("maker", "aggressor"):
        raise ValueError(f"price_rule must be 'maker' or 'aggressor', got {price_rule!r}")
    _single_symbol(feed)
    if engine == "compiled":
        return _replay_compiled(feed, price_rule)
    if engine == "reference":
        return _replay_reference(feed, price_rule)
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")


def order_ids_csv(order_ids: Iterable[tuple[int, int]]) -> str:
    """``msg,order_id``: the id each limit message got."""
    return ORDER_IDS_HEADER + "\n" + "".join(f"{msg},{order_id}\n" for msg, order_id in order_ids)


def executions_csv(executions: ExecutionColumns) -> str:
    """``msg,symbol,trader,side,price,size``: both rows of every fill, buyer first."""
    body = "".join(
        f"{msg},{symbol},{trader},{side},{price},{size}\n"
        for msg, symbol, trader, side, price, size in zip(
            executions.msgs,
            executions.symbols,
            executions.traders,
            executions.sides,
            executions.prices,
            executions.sizes,
            strict=True,
        )
    )
    return f"{EXECUTIONS_HEADER}\n{body}"


def final_book_csv(book: Iterable[BookLevel]) -> str:
    """``side,price,level_size,order_count,queue(order_id:trader:size)``: one line per price level."""
    lines = [FINAL_BOOK_HEADER + "\n"]
    for side, price, queue in book:
        orders = " ".join(f"{order_id}:{trader}:{size}" for order_id, trader, size in queue)
        lines.append(f"{side},{price},{sum(size for _, _, size in queue)},{len(queue)},{orders}\n")
    return "".join(lines)
