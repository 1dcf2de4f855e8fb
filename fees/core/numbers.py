"""The numbers of the 1-and-5 fee model (:mod:`fees.core`): the decimal context, the units, the rounding, K(dt).

Units used throughout the fee engine:

- **asset amounts** (deposits, payouts, holdings' values) are integer *base units* of the vault's asset (USDC has
  6 decimals, so 1.000000 USDC is 1000000). An amount that is paid or held is rounded down to one base unit.
- **shares** have 18 decimal places (:data:`SHARE_QUANTUM`); shares minted to a depositor and fee shares are
  rounded down to that unit.
- **prices** (the NAV per share ``P``, high-water marks) are base units per share; fee values are base units.
  Both are carried at :data:`PRICE_PLACES` decimal places: that is the engine's exact scale for them, far below
  anything that can be paid, and it lets a database store them as ``NUMERIC(p, 50)`` without loss.

Every operation runs in :data:`FEE_CONTEXT` (100 significant digits) through :func:`decimal.localcontext`; the
thread's own decimal context is never changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

# 100 digits: an amount of 10^20 base units at 50 decimal places still fits with room to spare, and
# 0.99 ** dt computed at this precision makes accrual path independent far below the share unit.
FEE_CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

SECONDS_PER_YEAR = 31_536_000  # 365 days (the fee model's "Units": fees.core)
MANAGEMENT_KEEP_PER_YEAR = Decimal("0.99")  # K(1): one year keeps 99% (1% management fee)
PERFORMANCE_RATE = Decimal("0.05")  # 5% of the gain above the lot's high-water mark

SHARE_PLACES = 18
SHARE_QUANTUM = Decimal(1).scaleb(-SHARE_PLACES)
PRICE_PLACES = 50
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
ZERO = Decimal(0)
ONE = Decimal(1)


def exact_seconds(start: datetime, end: datetime) -> Decimal:
    """Seconds from ``start`` to ``end`` (aware datetimes), exact to the microsecond."""
    delta: timedelta = end - start
    whole = delta.days * 86_400 + delta.seconds
    return Decimal(whole) + Decimal(delta.microseconds).scaleb(-6)


def years(seconds: Decimal) -> Decimal:
    """``Decimal(seconds) / 31536000`` at the fee context's precision."""
    with localcontext(FEE_CONTEXT):
        return seconds / SECONDS_PER_YEAR


def management_factor(seconds: Decimal) -> Decimal:
    """``K(dt) = 0.99 ** dt`` for ``dt = seconds / YEAR``: the fraction of value the management fee leaves."""
    with localcontext(FEE_CONTEXT):
        return MANAGEMENT_KEEP_PER_YEAR ** years(seconds)


def management_mint_rate(seconds: Decimal) -> Decimal:
    """``0.99 ** -dt - 1``: new fee shares per outstanding share over ``seconds``."""
    with localcontext(FEE_CONTEXT):
        return MANAGEMENT_KEEP_PER_YEAR ** -years(seconds) - ONE


def shares_down(value: Decimal) -> Decimal:
    """Round down to the share unit (10^-18): shares minted to a depositor and fee shares charged."""
    return value.quantize(SHARE_QUANTUM, rounding=ROUND_FLOOR, context=FEE_CONTEXT)


def shares_up(value: Decimal) -> Decimal:
    """Round up to the share unit: the shares a withdrawal of an asset amount must burn (the vault's favour)."""
    return value.quantize(SHARE_QUANTUM, rounding=ROUND_CEILING, context=FEE_CONTEXT)


def units_down(value: Decimal) -> int:
    """Round down to one base unit: payouts and the value of a holding."""
    return int(value.to_integral_value(rounding=ROUND_FLOOR, context=FEE_CONTEXT))


def price_down(value: Decimal) -> Decimal:
    """Round down to the price scale (10^-50): fee values per share and per lot (the depositor's favour)."""
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_DOWN, context=FEE_CONTEXT)


def price_up(value: Decimal) -> Decimal:
    """Round up to the price scale: a new high-water mark, so a lot is never charged again at the same ``P``."""
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_CEILING, context=FEE_CONTEXT)


def shares_text(value: Decimal) -> str:
    """Shares as fixed-point text with exactly 18 decimal places."""
    return format(value.quantize(SHARE_QUANTUM, context=FEE_CONTEXT), "f")
