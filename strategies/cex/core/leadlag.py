"""``leadlag``: trade the follower venue on the leader venue's move.

At each close of the leader, when its return over the last ``lookback`` bars passes ``threshold``, the strategy
enters the follower in that direction (long only on spot; short too on a perpetual) with ``size`` of its cash. The
entry fills at the open of the follower's next bar. The exit is decided at the close of the ``hold_bars``-th follower
bar since that open (so ``hold_bars=1`` holds one bar, open to next open), or at an earlier close that moved ``stop``
against the fill price; it fills at the next open. Signals are statistics (floats); orders and accounting are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from strategies.core.intents import Intent, Order, Side
from strategies.core.markets import Market, MarketKind
from strategies.core.params import ParamError
from strategies.core.portfolio import quantity_affordable
from strategies.core.strategy import Strategy, View, strategy_register


@dataclass(frozen=True)
class LeadLagParams:
    leader: str = field(default="", metadata={"help": "Leader venue; empty: the latest stored lead-lag run's"})
    follower: str = field(default="", metadata={"help": "Follower venue, the one traded"})
    lookback: int = field(default=1, metadata={"help": "Bars of the leader's return"})
    threshold: Decimal = field(default=Decimal("0.001"), metadata={"help": "Return that triggers (fraction)"})
    hold_bars: int = field(default=5, metadata={"help": "Follower bars to hold"})
    stop: Decimal = field(default=Decimal("0.01"), metadata={"help": "Adverse move that exits (fraction)"})
    size: Decimal = field(default=Decimal(1), metadata={"help": "Share of cash per entry, 0 < size <= 1"})

    def __post_init__(self) -> None:
        if self.lookback < 1:
            raise ParamError("lookback must be at least 1 bar")
        if self.hold_bars < 1:
            raise ParamError("hold_bars must be at least 1 bar")
        if not self.threshold > 0:
            raise ParamError("threshold must be positive")
        if not self.stop > 0:
            raise ParamError("stop must be positive")
        if not (0 < self.size <= 1):
            raise ParamError("size must be in (0, 1]")
        if self.leader and self.leader == self.follower:
            raise ParamError("leader and follower must be different venues")


@strategy_register
class LeadLag(Strategy[LeadLagParams]):
    name = "leadlag"
    family = "cex"
    description = "Trade the follower venue when the leader venue's return over lookback bars passes threshold."
    Params = LeadLagParams

    def __init__(self, params: LeadLagParams, markets: Sequence[Market]) -> None:
        super().__init__(params, markets)
        by_venue = {m.venue: m for m in markets}
        if not params.leader or not params.follower:
            raise ParamError("leadlag needs leader and follower venues (given, or from a stored lead-lag run)")
        for role, venue in (("leader", params.leader), ("follower", params.follower)):
            if venue not in by_venue:
                raise ParamError(f"{role} {venue!r} is not among the run's venues ({', '.join(sorted(by_venue))})")
        self.leader = by_venue[params.leader]
        self.follower = by_venue[params.follower]
        self.can_short = self.follower.kind is MarketKind.PERP
        self._threshold = float(params.threshold)
        self._stop = float(params.stop)

    def traded(self) -> Sequence[Market]:
        return [self.follower]

    def warmup_bars(self) -> int:
        return self.params.lookback + 1  # the leader's close lookback bars back, and the latest

    def on_bar(self, view: View) -> Sequence[Intent]:
        follower, leader, state = self.follower, self.leader, self.state
        if view.pending(follower):
            return ()
        held = view.position(follower)
        if held:
            if "entry_bars" not in state:  # filled since the last step, at the open of a bar that has now closed
                fill = view.last_fill(follower)
                state["entry_bars"] = view.bars_before(follower, fill.time_ms) if fill else view.bars(follower)
                state["entry_price"] = str(fill.price) if fill else str(view.close(follower))
            held_bars = view.bars(follower) - state["entry_bars"]  # bars closed since the fill
            entry = float(state["entry_price"])
            move = view.close_float(follower) / entry - 1.0
            adverse = -move if held > 0 else move
            if held_bars >= self.params.hold_bars or adverse >= self._stop:
                state.clear()
                side = Side.SELL if held > 0 else Side.BUY
                return [Order(follower, side, quantity=abs(held), reduce_only=True, tag="exit")]
            return ()
        state.clear()
        if not view.updated(leader) or view.bars(leader) <= self.params.lookback or not view.bars(follower):
            return ()
        ret = view.close_float(leader) / view.close_float(leader, self.params.lookback) - 1.0
        cash = view.cash(follower.venue)
        if ret > self._threshold and cash > 0:
            if follower.kind is MarketKind.SPOT:
                return [Order(follower, Side.BUY, quote_amount=cash * self.params.size, tag="entry long")]
            quantity = quantity_affordable(cash * self.params.size, view.close(follower))
            return [Order(follower, Side.BUY, quantity=quantity, tag="entry long")]
        if ret < -self._threshold and self.can_short and cash > 0:
            quantity = quantity_affordable(cash * self.params.size, view.close(follower))
            return [Order(follower, Side.SELL, quantity=quantity, tag="entry short")]
        return ()
