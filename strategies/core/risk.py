"""The risk layer between a strategy and its venue: every order passes :meth:`RiskEngine.check` before it is sent
and :meth:`RiskEngine.check_fill` when its price is known; every refusal is recorded with its reason.

Limits: per market (position quantity and notional), gross leverage, each strategy family's share of the
portfolio (GMX: at most 25 %), a maximum daily loss with a kill switch (flatten and halt), a stale-data halt, and a
price band around the last trade. Orders that only reduce a position pass every limit but the halt and stale data
(the kill switch's own flattening orders pass those too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal, localcontext
from enum import StrEnum

from strategies.core.intents import Order, Side
from strategies.core.markets import Market
from strategies.core.portfolio import ACCOUNTING, ZERO, Portfolio

DAY_MS = 86_400_000

# The share of a portfolio each family may hold (gross notional / portfolio NAV); the GMX issue's cap.
FAMILY_CAPS: dict[str, Decimal] = {"gmx": Decimal("0.25")}


class RefusalReason(StrEnum):
    HALTED = "halted"
    STALE_DATA = "stale_data"
    PRICE_BAND = "price_band"
    POSITION_LIMIT = "position_limit"
    NOTIONAL_LIMIT = "notional_limit"
    GROSS_LEVERAGE = "gross_leverage"
    FAMILY_CAP = "family_cap"
    INSUFFICIENT_CASH = "insufficient_cash"
    INSUFFICIENT_POSITION = "insufficient_position"
    NO_PRICE = "no_price"
    NO_FILL = "no_fill"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Refusal:
    time_ms: int
    market: str
    side: str
    quantity: str
    reason: RefusalReason
    detail: str

    def json(self) -> dict[str, object]:
        return {
            "time_ms": self.time_ms,
            "market": self.market,
            "side": self.side,
            "quantity": self.quantity,
            "reason": self.reason.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RiskLimits:
    """``None`` turns a limit off. Fractions are of NAV (``max_daily_loss`` 0.05: a 5 % loss since the UTC day's
    first NAV halts). ``stale_after_ms``: a market whose latest bar closed longer ago takes no new exposure.
    ``price_band``: a fill (or limit) further than this fraction from the last close is refused."""

    max_position: Mapping[str, Decimal] = field(default_factory=dict)  # by Market.key, base units
    max_notional: Mapping[str, Decimal] = field(default_factory=dict)  # by Market.key, numeraire
    max_gross_leverage: Decimal | None = Decimal(1)
    family_caps: Mapping[str, Decimal] = field(default_factory=lambda: dict(FAMILY_CAPS))
    max_daily_loss: Decimal | None = None
    stale_after_ms: int | None = None
    price_band: Decimal | None = None

    def json(self) -> dict[str, object]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "max_position": {k: str(v) for k, v in self.max_position.items()},
            "max_notional": {k: str(v) for k, v in self.max_notional.items()},
            "max_gross_leverage": text(self.max_gross_leverage),
            "family_caps": {k: str(v) for k, v in self.family_caps.items()},
            "max_daily_loss": text(self.max_daily_loss),
            "stale_after_ms": self.stale_after_ms,
            "price_band": text(self.price_band),
        }


RISK_LIMIT_KEYS = tuple(f.name for f in fields(RiskLimits))  # the limits' names, in the order json() writes them


@dataclass
class RiskEngine:
    limits: RiskLimits
    family: str
    refusals: list[Refusal] = field(default_factory=list)
    halted: bool = False
    halted_reason: str = ""
    _day: int = -1
    _day_open_nav: Decimal = ZERO

    def refuse(self, time_ms: int, order: Order, reason: RefusalReason, detail: str) -> Refusal:
        quantity = order.quantity if order.quantity is not None else order.quote_amount
        refusal = Refusal(time_ms, order.market.key, order.side.value, str(quantity), reason, detail)
        self.refusals.append(refusal)
        return refusal

    # -- the kill switch ------------------------------------------------------------------------------------

    def on_nav(self, time_ms: int, nav: Decimal) -> bool:
        """Watch NAV; returns True once, at the step the daily loss limit is breached (flatten, then halt)."""
        day = time_ms // DAY_MS
        if day != self._day:
            self._day, self._day_open_nav = day, nav
            return False
        limit = self.limits.max_daily_loss
        if self.halted or limit is None or self._day_open_nav <= 0:
            return False
        with localcontext(ACCOUNTING):
            loss = (self._day_open_nav - nav) / self._day_open_nav
        if loss > limit:
            self.halted = True
            self.halted_reason = f"daily loss {loss:.4%} above {limit:%} at {time_ms}"
            return True
        return False

    # -- orders ---------------------------------------------------------------------------------------------

    def reduces(self, order: Order, portfolio: Portfolio) -> bool:
        held = portfolio.position(order.market)
        return (
            order.quantity is not None
            and held != 0
            and (held > 0) != (order.side is Side.BUY)
            and order.quantity <= abs(held)
        )

    def check(
        self,
        *,
        time_ms: int,
        order: Order,
        portfolio: Portfolio,
        marks: Mapping[Market, Decimal],
        last_close_ms: int | None,
        external_family_exposure: Decimal = ZERO,
        portfolio_nav: Decimal | None = None,
        pending: Sequence[Order] = (),
    ) -> Refusal | None:
        """Check an order at decision time against the last closes ``marks``. ``portfolio_nav`` is the NAV the
        family caps are measured against (the whole vault's; this portfolio's own when None), and
        ``external_family_exposure`` what other strategies of this family already hold. ``pending``: orders
        accepted earlier and not filled yet; they count as filled, so orders that each pass a limit alone cannot
        pass it together (several in one step, or queued behind a latency)."""
        reducing = order.reduce_only or self.reduces(order, portfolio)
        if self.halted and not order.tag.startswith("kill-switch"):
            return self.refuse(time_ms, order, RefusalReason.HALTED, self.halted_reason or "halted")
        mark = marks.get(order.market)
        if mark is None or last_close_ms is None:
            return self.refuse(time_ms, order, RefusalReason.NO_PRICE, "no closed bar yet")
        stale = self.limits.stale_after_ms
        if stale is not None and not reducing and time_ms - last_close_ms > stale:
            return self.refuse(
                time_ms, order, RefusalReason.STALE_DATA, f"last bar closed {time_ms - last_close_ms} ms ago"
            )
        band = self.limits.price_band
        if band is not None and order.limit_price is not None and abs(order.limit_price - mark) > band * mark:
            return self.refuse(time_ms, order, RefusalReason.PRICE_BAND, f"limit {order.limit_price} vs last {mark}")
        if reducing:
            return None
        with localcontext(ACCOUNTING):
            quantity = order.quantity if order.quantity is not None else (order.quote_amount or ZERO) / mark
            projected = self._projected(portfolio, marks, pending)
            held = projected.get(order.market, portfolio.position(order.market))
            after = held + quantity * order.side.sign
            # A quote-amount buy's notional is its amount (dividing and multiplying by the mark would round).
            added = order.quote_amount if order.quote_amount is not None else quantity * mark
            key = order.market.key
            cap = self.limits.max_position.get(key)
            if cap is not None and abs(after) > cap:
                return self.refuse(time_ms, order, RefusalReason.POSITION_LIMIT, f"position {after} above {cap}")
            cap = self.limits.max_notional.get(key)
            if cap is not None and abs(after) * mark > cap:
                return self.refuse(
                    time_ms, order, RefusalReason.NOTIONAL_LIMIT, f"notional {abs(after) * mark} above {cap}"
                )
            nav = portfolio.nav(marks)
            current = portfolio.gross_exposure(marks) if not projected else self._gross(portfolio, marks, projected)
            gross = current + added if held * order.side.sign >= 0 else current - abs(held) * mark + abs(after) * mark
            lever = self.limits.max_gross_leverage
            if lever is not None and (nav <= 0 or gross > lever * nav):
                return self.refuse(
                    time_ms, order, RefusalReason.GROSS_LEVERAGE, f"gross {gross} above {lever} x NAV {nav}"
                )
            share = self.limits.family_caps.get(self.family)
            if share is not None:
                base = nav if portfolio_nav is None else portfolio_nav
                exposure = gross + external_family_exposure
                if base <= 0 or exposure > share * base:
                    return self.refuse(
                        time_ms,
                        order,
                        RefusalReason.FAMILY_CAP,
                        f"{self.family} exposure {exposure} above {share} of portfolio NAV {base}",
                    )
        return None

    @staticmethod
    def _projected(
        portfolio: Portfolio, marks: Mapping[Market, Decimal], pending: Sequence[Order]
    ) -> dict[Market, Decimal]:
        """The positions of the markets with pending orders, as if those orders had filled."""
        projected: dict[Market, Decimal] = {}
        for other in pending:
            mark = marks.get(other.market)
            if mark is None:
                continue
            size = other.quantity if other.quantity is not None else (other.quote_amount or ZERO) / mark
            held = projected.get(other.market, portfolio.position(other.market))
            projected[other.market] = held + size * other.side.sign
        return projected

    @staticmethod
    def _gross(portfolio: Portfolio, marks: Mapping[Market, Decimal], projected: Mapping[Market, Decimal]) -> Decimal:
        markets = [m for m, h in portfolio.positions.items() if h.quantity and m not in projected]
        gross = sum((abs(portfolio.position(m)) * marks[m] for m in markets), ZERO)
        return gross + sum((abs(quantity) * marks[m] for m, quantity in projected.items()), ZERO)

    def check_fill(self, *, time_ms: int, order: Order, reference: Decimal, last_close: Decimal) -> Refusal | None:
        """At fill time: the price band against the last close the strategy saw."""
        band = self.limits.price_band
        if band is not None and abs(reference - last_close) > band * last_close:
            return self.refuse(
                time_ms, order, RefusalReason.PRICE_BAND, f"fill reference {reference} vs last close {last_close}"
            )
        return None
