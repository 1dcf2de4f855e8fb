"""Running the engine in the tests: one call with zero-cost, no-limit defaults the tests override."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from strategies.core.costs import CostModel, FeeModel
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig, EngineResult
from strategies.core.markets import Market
from strategies.core.risk import RiskLimits
from strategies.core.strategy import Strategy

FREE = CostModel(fee_model=FeeModel.ZERO)
NO_LIMITS = RiskLimits(max_gross_leverage=None, family_caps={})


def engine_run(
    strategy: Strategy,  # type: ignore[type-arg]
    *series: BarSeries,
    cash: str = "10000",
    costs: CostModel = FREE,
    limits: RiskLimits = NO_LIMITS,
    funding: Mapping[Market, Sequence[tuple[int, Decimal]]] | None = None,
    **config: object,
) -> tuple[Engine, EngineResult]:
    engine = Engine(
        strategy=strategy,
        data=MarketData(series),
        config=EngineConfig(cash=Decimal(cash), costs=costs, limits=limits, **config),  # type: ignore[arg-type]
        funding=funding,
    )
    return engine, engine.run()


def ledger_json(result: EngineResult) -> list[dict[str, object]]:
    return [entry.json() for entry in result.ledger]
