"""``hold``: the benchmark. Buys the first market at the first bar's open with all the cash (taker fee and slippage
applied) and holds to the end.

Closed form, with ``s`` the slippage in bps / 10,000 and ``f`` the taker fee rate, ``O`` the first bar's open and
``C`` the last close: quantity ``q = cash / (O (1 + s) (1 + f))`` (34 significant digits, rounded down), fee
``cash - q O (1 + s)``, final NAV ``q * C`` (the cash left is zero), reported to 1e-8 half-even.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strategies.core.intents import Intent, Order, Side
from strategies.core.markets import Market
from strategies.core.strategy import Strategy, View, strategy_register


@dataclass(frozen=True)
class HoldParams:
    pass


@strategy_register
class Hold(Strategy[HoldParams]):
    name = "hold"
    family = "cex"
    description = "Buy the first market with all cash at the first bar's open and hold (the benchmark)."
    Params = HoldParams

    def traded(self) -> Sequence[Market]:
        return self.markets[:1]

    def warmup_bars(self) -> int:
        return 1

    def on_start(self, view: View) -> Sequence[Intent]:
        market = self.markets[0]
        return [Order(market, Side.BUY, quote_amount=view.cash(market.venue), tag="hold")]

    def on_bar(self, view: View) -> Sequence[Intent]:
        return ()
