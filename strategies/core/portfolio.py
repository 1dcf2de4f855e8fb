"""Cash, positions and the ledger. Every change of cash or position is a :class:`LedgerEntry`; the portfolio is the
fold of its ledger (:func:`portfolio_replay` rebuilds it from the entries alone).

Accounting is exact ``Decimal`` in :data:`ACCOUNTING` (34 significant digits, half-even), in one numeraire (the
quote asset the run is valued in). Spot: a buy pays ``quantity * price + fee`` from the venue's cash and adds the
quantity; a sell the reverse; no short spot position. Perpetual: no notional changes hands; a position has an
average entry price, reducing it realises ``closed * (price - entry) * sign`` into cash, and it is marked at
``quantity * (mark - entry)``. Funding: a position pays ``quantity * mark * rate`` (positive rate: longs pay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum

from hftplatform.core.decimal_text import decimal_text_trim_zeros as text
from strategies.core.intents import Side
from strategies.core.markets import Market, MarketKind

ACCOUNTING = Context(prec=34, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)
NAV_QUANTUM = Decimal("1e-8")  # NAV and money as reported: to 1e-8 of the numeraire, half-even


def quantity_affordable(amount: Decimal, price: Decimal, rate: Decimal = ZERO) -> Decimal:
    """The most ``amount`` buys at ``price`` with a fee ``rate`` on top: ``amount / (price (1 + rate))`` to 34
    significant digits, rounded down so that the notional and the fee, computed back, never exceed ``amount``."""
    floor = ACCOUNTING.copy()
    floor.rounding = ROUND_FLOOR
    quantity = floor.divide(amount, ACCOUNTING.multiply(price, 1 + rate))
    with localcontext(ACCOUNTING):
        while quantity * price * (1 + rate) > amount:  # the product's own rounding: a step or two at most
            quantity = quantity.next_minus(floor)
    return quantity


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    TRADE = "trade"
    FUNDING = "funding"
    INTEREST = "interest"
    GAS = "gas"


class PortfolioError(ValueError):
    """A ledger entry the portfolio refuses: a spot sale of more than is held, a second numeraire."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change: a trade (``quantity`` at ``price`` with ``fee`` in ``fee_asset``), or a cash flow ``amount``
    (deposit, funding, interest, gas; negative is paid). ``reference_price`` is the price before slippage, and
    ``slippage`` what the fill cost against it (``quantity * |price - reference|``)."""

    seq: int
    time_ms: int
    kind: EntryKind
    venue: str
    symbol: str = ""
    side: Side | None = None
    quantity: Decimal = ZERO
    price: Decimal = ZERO
    fee: Decimal = ZERO
    fee_asset: str = ""
    amount: Decimal = ZERO
    reference_price: Decimal = ZERO
    slippage: Decimal = ZERO
    tag: str = ""

    @property
    def market(self) -> Market:
        return Market(self.venue, self.symbol)

    def json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time_ms": self.time_ms,
            "kind": self.kind.value,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side.value if self.side else "",
            "quantity": text(self.quantity),
            "price": text(self.price),
            "fee": text(self.fee),
            "fee_asset": self.fee_asset,
            "amount": text(self.amount),
            "reference_price": text(self.reference_price),
            "slippage": text(self.slippage),
            "tag": self.tag,
        }


@dataclass(slots=True)
class Position:
    quantity: Decimal = ZERO  # signed base units; spot never below zero
    entry_price: Decimal = ZERO  # perpetuals: average entry of the open quantity


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position from flat back to flat, with every cash flow on the way (fees and funding included)."""

    market: Market
    opened_ms: int
    closed_ms: int
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class Attribution:
    """PnL split: ``price`` is what the trades made at their reference prices; the others are costs (negative) or
    flows. ``price + fees + slippage + funding + interest + gas`` is the total PnL exactly."""

    total: Decimal
    price: Decimal
    fees: Decimal
    slippage: Decimal
    funding: Decimal
    interest: Decimal
    gas: Decimal

    def json(self) -> dict[str, str]:
        return {name: text(getattr(self, name)) for name in self.__slots__}


@dataclass
class Portfolio:
    numeraire: str
    cash: dict[str, Decimal] = field(default_factory=dict)  # by venue, in the numeraire
    positions: dict[Market, Position] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    round_trips: list[RoundTrip] = field(default_factory=list)
    deposits: Decimal = ZERO
    fees: Decimal = ZERO
    slippage: Decimal = ZERO
    funding: Decimal = ZERO
    interest: Decimal = ZERO
    gas: Decimal = ZERO
    _trip_open: dict[Market, tuple[int, Decimal]] = field(default_factory=dict)

    # -- reads ----------------------------------------------------------------------------------------------

    def position(self, market: Market) -> Decimal:
        held = self.positions.get(market)
        return held.quantity if held else ZERO

    def cash_at(self, venue: str) -> Decimal:
        return self.cash.get(venue, ZERO)

    def total_cash(self) -> Decimal:
        with localcontext(ACCOUNTING):
            return sum(self.cash.values(), ZERO)

    def market_value(self, market: Market, mark: Decimal) -> Decimal:
        """What the position adds to NAV at ``mark``."""
        held = self.positions.get(market)
        if held is None or not held.quantity:
            return ZERO
        with localcontext(ACCOUNTING):
            if market.kind is MarketKind.PERP:
                return held.quantity * (mark - held.entry_price)
            return held.quantity * mark

    def nav(self, marks: Mapping[Market, Decimal]) -> Decimal:
        """Cash plus every position marked at ``marks`` (exact, unrounded)."""
        with localcontext(ACCOUNTING):
            total = self.total_cash()
            for market, held in self.positions.items():
                if held.quantity:
                    total += self.market_value(market, marks[market])
            return total

    def gross_exposure(self, marks: Mapping[Market, Decimal]) -> Decimal:
        with localcontext(ACCOUNTING):
            return sum((abs(h.quantity) * marks[m] for m, h in self.positions.items() if h.quantity), ZERO)

    def attribution(self, nav: Decimal) -> Attribution:
        with localcontext(ACCOUNTING):
            total = nav - self.deposits
            fees, slippage = -self.fees, -self.slippage
            price = total - fees - slippage - self.funding - self.interest - self.gas
            return Attribution(total, price, fees, slippage, self.funding, self.interest, self.gas)

    # -- writes (each appends one ledger entry) -------------------------------------------------------------

    def _append(self, entry: LedgerEntry) -> LedgerEntry:
        self.ledger.append(entry)
        return entry

    def _check_asset(self, asset: str) -> None:
        if asset != self.numeraire:
            raise PortfolioError(f"this portfolio is valued in {self.numeraire}; {asset} cash is not supported")

    def deposit(self, *, time_ms: int, venue: str, amount: Decimal) -> LedgerEntry:
        if not amount > 0:
            raise PortfolioError("a deposit must be positive")
        with localcontext(ACCOUNTING):
            self.cash[venue] = self.cash_at(venue) + amount
            self.deposits += amount
        return self._append(
            LedgerEntry(len(self.ledger), time_ms, EntryKind.DEPOSIT, venue, amount=amount, fee_asset=self.numeraire)
        )

    def trade(
        self,
        *,
        time_ms: int,
        market: Market,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
        reference_price: Decimal,
        tag: str = "",
    ) -> LedgerEntry:
        """Book a fill. Raises :class:`PortfolioError` (and books nothing) for a spot sale beyond the holding."""
        self._check_asset(market.quote)
        if not quantity > 0 or not price > 0 or fee < 0:
            raise PortfolioError("a fill needs a positive quantity and price and a non-negative fee")
        with localcontext(ACCOUNTING):
            before = self.position(market)
            signed = quantity * side.sign
            if market.kind is MarketKind.SPOT and before + signed < 0:
                raise PortfolioError(f"spot sale of {quantity} {market.base} with {before} held on {market}")
            held = self.positions.setdefault(market, Position())
            if market.kind is MarketKind.SPOT:
                flow = -signed * price - fee
                held.quantity = before + signed
            else:
                flow = -fee
                if before and (before > 0) != (signed > 0):  # reducing (maybe flipping)
                    closed = min(abs(before), quantity)
                    flow += closed * (price - held.entry_price) * (1 if before > 0 else -1)
                    remaining = before + signed
                    if remaining == 0:
                        held.entry_price = ZERO
                    elif (remaining > 0) != (before > 0):  # flipped: the rest opens at this price
                        held.entry_price = price
                    held.quantity = remaining
                else:
                    total = abs(before) + quantity
                    held.entry_price = (abs(before) * held.entry_price + quantity * price) / total
                    held.quantity = before + signed
            self.cash[market.venue] = self.cash_at(market.venue) + flow
            self.fees += fee
            slip = quantity * abs(price - reference_price)
            self.slippage += slip
            self._trip(market, time_ms, before, held.quantity, flow, fee, quantity)
        return self._append(
            LedgerEntry(
                len(self.ledger),
                time_ms,
                EntryKind.TRADE,
                market.venue,
                market.symbol,
                side,
                quantity,
                price,
                fee,
                market.quote,
                flow,
                reference_price,
                slip,
                tag,
            )
        )

    def _trip(
        self,
        market: Market,
        time_ms: int,
        before: Decimal,
        after: Decimal,
        flow: Decimal,
        fee: Decimal,
        quantity: Decimal,
    ) -> None:
        opened, pnl = self._trip_open.get(market, (time_ms, ZERO))
        pnl += flow
        if before and (after == 0 or (after > 0) != (before > 0)):  # flat again, or flipped: the trip ends
            self._trip_open.pop(market, None)
            if after:  # flipped: the fee on the quantity that opens the next trip belongs to it
                opening_fee = fee * abs(after) / quantity
                self.round_trips.append(RoundTrip(market, opened, time_ms, pnl + opening_fee))
                self._trip_open[market] = (time_ms, -opening_fee)
            else:
                self.round_trips.append(RoundTrip(market, opened, time_ms, pnl))
        else:
            self._trip_open[market] = (opened, pnl)

    def cash_flow(
        self, *, time_ms: int, kind: EntryKind, market: Market, amount: Decimal, tag: str = ""
    ) -> LedgerEntry:
        """Funding, interest or gas: ``amount`` in the numeraire, negative when paid."""
        if kind not in (EntryKind.FUNDING, EntryKind.INTEREST, EntryKind.GAS):
            raise PortfolioError(f"{kind} is not a cash flow")
        self._check_asset(market.quote)
        with localcontext(ACCOUNTING):
            self.cash[market.venue] = self.cash_at(market.venue) + amount
            if kind is EntryKind.FUNDING:
                self.funding += amount
            elif kind is EntryKind.INTEREST:
                self.interest += amount
            else:
                self.gas += amount
            if market in self._trip_open:
                opened, pnl = self._trip_open[market]
                self._trip_open[market] = (opened, pnl + amount)
        return self._append(
            LedgerEntry(
                len(self.ledger),
                time_ms,
                kind,
                market.venue,
                market.symbol,
                amount=amount,
                fee_asset=self.numeraire,
                tag=tag,
            )
        )


def portfolio_replay(numeraire: str, entries: Iterable[LedgerEntry]) -> Portfolio:
    """The portfolio that ``entries`` (in order) make, rebuilt from the ledger alone."""
    portfolio = Portfolio(numeraire)
    for entry in entries:
        if entry.kind is EntryKind.DEPOSIT:
            portfolio.deposit(time_ms=entry.time_ms, venue=entry.venue, amount=entry.amount)
        elif entry.kind is EntryKind.TRADE:
            assert entry.side is not None
            portfolio.trade(
                time_ms=entry.time_ms,
                market=entry.market,
                side=entry.side,
                quantity=entry.quantity,
                price=entry.price,
                fee=entry.fee,
                reference_price=entry.reference_price,
                tag=entry.tag,
            )
        else:
            portfolio.cash_flow(
                time_ms=entry.time_ms, kind=entry.kind, market=entry.market, amount=entry.amount, tag=entry.tag
            )
    return portfolio
