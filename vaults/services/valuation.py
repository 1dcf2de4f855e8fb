"""Value: market moves, valuations (positions marked to market, on-chain ones read from the Safe), NAV snapshots."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from django.db import transaction

from fees.core import VaultError
from fees.core.numbers import FEE_CONTEXT, ZERO, units_down
from marketdata.core.intervals import interval_get
from marketdata.selectors import klines_read
from vaults.errors import (
    VaultServiceError,
    engine_refusal,
)
from vaults.fee_engine_store import (
    session_open,
    session_store,
)
from vaults.models import (
    NavSnapshot,
    Position,
    Valuation,
    Vault,
    VaultEvent,
)
from vaults.services.onchain import (
    in_flight_refuse,
    onchain_balances_read,
    onchain_quantity,
    safe_outflows,
)
from vaults.services.operations import operation_begin, operation_time, time_or_now, vault_locked, year_ends_catch_up

VALUATION_LOOKBACK_MS = 86_400_000  # a price older than a day is no mark to market


def vault_return_record(*, vault_id: int, gross: Decimal, at: datetime | None = None) -> NavSnapshot:
    """The vault's holdings moved by ``gross`` (0.2 = +20%) at ``at``: after settling, the gross value is
    multiplied by ``1 + gross`` (rounded down to the price scale). For operator corrections and simulations;
    live vaults use :func:`vault_valuation_record`."""
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault, when = operation_begin(vault_id, at)
        session = session_open(vault, [], [])
        try:
            session.engine.apply_return(at=when, gross=gross)
        except VaultError as error:
            raise engine_refusal(error) from None
        event = session_store(session, kind=VaultEvent.Kind.RETURN, at=when, payload={"gross": format(gross, "f")})
        return event.nav_snapshot


def _kline_mark(position: Position, instrument_id: int, at_ms: int) -> dict[str, Any]:
    """The latest close of ``instrument_id`` closed by ``at_ms``: price, instrument, interval, open time."""
    step = interval_get(position.interval).length_ms or 0
    candles = klines_read(
        instrument_id=instrument_id,
        interval=position.interval,
        start_ms=at_ms - VALUATION_LOOKBACK_MS,
        end_ms=at_ms - step + 1,  # candles closed by ``at``
    )
    closed = [candle for candle in candles if candle.closed]
    if not closed:
        raise VaultServiceError(
            f"no closed {position.interval} candle of instrument {position.instrument_id} in the day before "
            f"the valuation: {position.asset} on {position.venue} cannot be marked"
        )
    candle = closed[-1]
    return {
        "price": candle.close,
        "instrument": position.instrument_id,
        "interval": position.interval,
        "open_time": candle.open_time,
    }


def _position_mark(
    vault: Vault, position: Position, at_ms: int, onchain: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry of ``Valuation.sources``. ``onchain``: what :func:`onchain_quantity` made of the chain read
    (quantity and its provenance) for an on-chain position; a manual one is valued at its stored quantity."""
    mark: dict[str, Any] = {"asset": position.asset, "venue": position.venue}
    if onchain is None:
        mark["quantity"] = format(position.quantity, "f")
    else:
        mark.update(onchain)
    if position.instrument_id is None:
        mark["price"] = "1"
        price_source = "base asset"
    else:
        mark.update(_kline_mark(position, position.instrument_id, at_ms))
        price_source = "kline close"
    if onchain is None:
        mark["source"] = price_source
    else:
        mark["price_source"] = price_source
    return mark


def vault_valuation_record(*, vault_id: int, at: datetime | None = None) -> Valuation:
    """Mark the vault's positions to market at ``at`` and make that its gross value: Σ quantity · price ·
    10^decimals, rounded down to a base unit, each price the last stored close (``sources`` says which).

    On-chain positions (:func:`position_onchain_set`) take their quantity from the Safe's token balances, read
    before the vault is locked (no RPC under a lock), all at one block, recorded in ``sources`` with the raw
    balance, decimals and what was taken off (:func:`onchain_quantity`). Refused, with nothing written, when the
    chain cannot be read, when a Safe transaction is submitted but its outcome not recorded, or when a payout or
    deposit was recorded between the read and the lock (retry)."""
    at = None if at is None else time_or_now(at)
    reads = onchain_balances_read(vault_id)
    with transaction.atomic():
        vault, when = operation_begin(vault_id, at)
        at_ms = int(when.timestamp() * 1000)
        positions = list(Position.objects.filter(vault=vault).order_by("id"))
        if not positions:
            raise VaultServiceError("the vault has no positions to value")
        onchain: dict[int, dict[str, Any]] = {}
        if reads is not None:
            outflows = safe_outflows(reads.safe)
            in_flight_refuse(outflows)
            if outflows != reads.outflows:
                raise VaultServiceError(
                    "a Safe transaction was recorded during the valuation's balance read: retry", code="raced"
                )
        for position in positions:
            if position.source == Position.Source.ONCHAIN_BALANCE:
                if reads is None:
                    raise VaultServiceError("the vault's on-chain positions changed during the valuation: retry")
                onchain[position.pk] = onchain_quantity(vault, position, reads)
        sources = [_position_mark(vault, position, at_ms, onchain.get(position.pk)) for position in positions]
        with localcontext(FEE_CONTEXT):
            total = sum((Decimal(s["quantity"]) * Decimal(s["price"]) for s in sources), ZERO)
            value = units_down(total.scaleb(vault.asset_decimals))
        if value < 0:
            raise VaultServiceError(f"the positions are worth {value} base units: a vault's value cannot be negative")
        session = session_open(vault, [], [])
        try:
            session.engine.settle(at=when)
        except VaultError as error:
            raise engine_refusal(error) from None
        session.engine.value = Decimal(value)
        event = session_store(session, kind=VaultEvent.Kind.VALUATION, at=when, payload={"value": str(value)})
        return Valuation.objects.create(vault=vault, event=event, at=when, value=Decimal(value), sources=sources)


def vault_nav_snapshot(*, vault_id: int, at: datetime | None = None) -> NavSnapshot:
    """Publish the NAV at ``at``: the management fee is settled up to then (fees.core) and a snapshot taken.
    A vault already settled past ``at`` gets a snapshot at its settled time."""
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault = vault_locked(vault_id)
        when = max(operation_time(at, vault), vault.settled_at)
        year_ends_catch_up(vault, when)
        session = session_open(vault, [], [])
        session.engine.settle(at=when)
        return session_store(session, kind=VaultEvent.Kind.SETTLE, at=when, payload={}).nav_snapshot
