"""Strategies for the engine's tests: one that sends what a script says at given steps, and one that trades on its
view at random (seeded), both recording what they were shown."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from strategies.core.intents import Intent, Order, OrderType, Side, TargetPosition
from strategies.core.markets import Market, MarketKind
from strategies.core.strategy import Strategy, View


@dataclass(frozen=True)
class NoParams:
    pass


Script = Mapping[int, Sequence[Intent]] | Callable[[View], Sequence[Intent]]


class Scripted(Strategy[NoParams]):
    """Sends ``script[k]`` at step ``k`` (or ``script(view)`` at every step), ``start`` before the first bar.
    ``seen`` keeps, per call, the step, its time and how long the ledger was."""

    name = "scripted"
    family = "cex"
    Params = NoParams

    def __init__(
        self,
        markets: Sequence[Market],
        script: Script | None = None,
        *,
        start: Sequence[Intent] = (),
        traded: Sequence[Market] | None = None,
        family: str = "cex",
    ) -> None:
        super().__init__(NoParams(), markets)
        self.script: Script = script if script is not None else {}
        self.start = list(start)
        self._traded = list(traded) if traded is not None else list(markets)
        self.family = family  # type: ignore[misc]
        self.seen: list[tuple[int, int, int]] = []

    def traded(self) -> Sequence[Market]:
        return self._traded

    def on_start(self, view: View) -> Sequence[Intent]:
        return self.start

    def on_bar(self, view: View) -> Sequence[Intent]:
        self.seen.append((view.k, view.time_ms, len(view.portfolio.ledger)))
        if callable(self.script):
            return self.script(view)
        return self.script.get(view.k, ())


class Wanderer(Strategy[NoParams]):
    """Trades every market it is given on a two-bar momentum of the closes it can see, with seeded random sizes
    and order kinds: market orders, limits near the last close, target positions, shorts on perpetuals."""

    name = "wanderer"
    family = "cex"
    Params = NoParams

    def __init__(self, markets: Sequence[Market], *, seed: int) -> None:
        super().__init__(NoParams(), markets)
        self.seed = seed
        self.seen: list[tuple[int, int, int]] = []

    def traded(self) -> Sequence[Market]:
        return self.markets

    def on_bar(self, view: View) -> Sequence[Intent]:
        self.seen.append((view.k, view.time_ms, len(view.portfolio.ledger)))
        rng = random.Random(self.seed * 1_000_003 + view.k)  # noqa: S311 - test decisions, not secrets
        intents: list[Intent] = []
        for market in self.markets:
            if view.bars(market) < 3 or view.pending(market) > 1:
                continue
            up = view.close_float(market) > view.close_float(market, 2)
            held = view.position(market)
            size = Decimal(rng.randint(1, 40)) / 1000
            roll = rng.random()
            if roll < 0.15:
                continue
            if roll < 0.3:
                signed = size if up else -size
                if market.kind is MarketKind.SPOT:
                    signed = abs(signed)
                intents.append(TargetPosition(market, signed))
            elif roll < 0.45:
                offset = Decimal(rng.randint(-20, 20)) / 10000
                limit = (view.close(market) * (1 + offset)).quantize(Decimal("0.01"))
                side = Side.BUY if up else Side.SELL
                if side is Side.SELL and market.kind is MarketKind.SPOT:
                    if held <= 0:
                        continue
                    size = min(size, held)
                intents.append(Order(market, side, quantity=size, order_type=OrderType.LIMIT, limit_price=limit))
            elif up:
                intents.append(Order(market, Side.BUY, quantity=size))
            elif held > 0:
                intents.append(Order(market, Side.SELL, quantity=min(size, held), reduce_only=rng.random() < 0.5))
            elif market.kind is MarketKind.PERP:
                intents.append(Order(market, Side.SELL, quantity=size))
        return intents
