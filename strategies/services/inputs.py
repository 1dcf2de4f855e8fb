"""The inputs every kind of run shares, parsed from JSON (an API body, a command's options, a stored run): the cost
model and the risk limits, their amounts exact decimals (:func:`strategies.core.params.decimal_parse`). Each parser
raises ``ValueError`` (or :class:`~strategies.core.costs.CostError`) for a bad value; the calling service turns it
into its own error.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from strategies.core.costs import CostModel, FeeModel, FeeSchedule
from strategies.core.params import decimal_parse
from strategies.core.risk import RISK_LIMIT_KEYS, RiskLimits


def _decimal_map(raw: object, *, what: str) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} must be an object of market key to decimal")
    return {str(key): decimal_parse(value, what=f"{what}[{key}]") for key, value in raw.items()}


def _optional_decimal(raw: object, *, what: str) -> Decimal | None:
    return None if raw is None else decimal_parse(raw, what=what)


def risk_limits_parse(raw: Mapping[str, object] | None) -> RiskLimits:
    """Risk limits from JSON (:meth:`RiskLimits.json`'s shape; missing keys keep their defaults); ``ValueError``
    for an unknown key or a bad value."""
    if not raw:
        return RiskLimits()
    unknown = sorted(set(raw) - set(RISK_LIMIT_KEYS))
    if unknown:
        raise ValueError(f"unknown risk limit(s) {', '.join(unknown)}; known: {', '.join(RISK_LIMIT_KEYS)}")
    kwargs: dict[str, Any] = {}
    for key in ("max_position", "max_notional", "family_caps"):
        if key in raw:
            kwargs[key] = _decimal_map(raw[key], what=key)
    for key in ("max_gross_leverage", "max_daily_loss", "price_band"):
        if key in raw:
            value = _optional_decimal(raw[key], what=key)
            if value is not None and value <= 0:
                raise ValueError(f"{key} must be positive (or null: no limit)")
            kwargs[key] = value
    if "stale_after_ms" in raw:
        stale = raw["stale_after_ms"]
        if stale is not None and (isinstance(stale, bool) or not isinstance(stale, int) or stale <= 0):
            raise ValueError("stale_after_ms must be a positive integer (or null: no limit)")
        kwargs["stale_after_ms"] = stale
    return RiskLimits(**kwargs)


def cost_model_parse(raw: Mapping[str, object]) -> CostModel:
    """A cost model from JSON (:meth:`CostModel.json`'s shape); ``ValueError`` (or :class:`CostError`) for a bad
    value."""
    try:
        fee_model = FeeModel(str(raw.get("fee_model", FeeModel.VENUE.value)))
    except ValueError:
        raise ValueError(f"fee model must be one of {', '.join(m.value for m in FeeModel)}") from None
    latency = raw.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int):
        raise ValueError(f"latency must be a whole number of milliseconds, not {latency!r}")
    overrides_raw = raw.get("fee_overrides") or {}
    if not isinstance(overrides_raw, Mapping):
        raise ValueError("fee_overrides must be an object")
    overrides = {}
    for key, schedule in overrides_raw.items():
        if not isinstance(schedule, Mapping):
            raise ValueError(f"fee_overrides[{key}] must be an object with maker and taker")
        maker = decimal_parse(schedule.get("maker"), what=f"fee_overrides[{key}].maker")
        taker = decimal_parse(schedule.get("taker"), what=f"fee_overrides[{key}].taker")
        if maker < 0 or taker < 0:
            raise ValueError(f"fee_overrides[{key}]: fees must not be negative")
        overrides[str(key)] = FeeSchedule(maker, taker, "override")
    return CostModel(
        fee_model=fee_model,
        slippage_bps=decimal_parse(raw.get("slippage_bps", 0), what="slippage_bps"),
        latency_ms=latency,
        funding=bool(raw.get("funding", True)),
        fee_overrides=overrides,
    )
