"""Setting what the vault holds: a manual position, or one read from the Safe's ERC-20 balance at each valuation."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from chains.addresses import AddressError, address_normalise
from fees.core.numbers import ZERO
from marketdata.core.intervals import interval_get
from vaults.errors import (
    VaultServiceError,
)
from vaults.models import (
    Position,
    VaultSafe,
)
from vaults.models.positions import CASH_VENUE
from vaults.services.operations import vault_locked


def position_set(
    *, vault_id: int, asset: str, venue: str, quantity: Decimal, instrument_id: int | None = None, interval: str = "1m"
) -> Position:
    """Set a holding (asset units, exact) of the vault on a venue or protocol; it is valued with the latest
    stored close of ``instrument_id`` (quoted in the vault's base asset), or at 1 for the base asset itself.
    An on-chain position on that asset and venue becomes a manual one again."""
    _interval_check(interval)
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise VaultServiceError(f"quantity must be a finite Decimal, got {quantity!r}")
    with transaction.atomic():
        vault = vault_locked(vault_id)
        if instrument_id is None and asset.upper() != vault.base_asset:
            raise VaultServiceError(f"a {asset} position needs an instrument quoted in {vault.base_asset} to value it")
        position, _ = Position.objects.update_or_create(
            vault=vault,
            asset=asset.upper(),
            venue=venue,
            defaults={
                "quantity": quantity,
                "instrument_id": instrument_id,
                "interval": interval,
                "source": Position.Source.MANUAL,
                "token_contract": "",
            },
        )
        return position


def _interval_check(interval: str) -> None:
    if interval_get(interval).is_monthly:
        raise VaultServiceError("a monthly candle is too coarse to mark a position")


def position_onchain_set(
    *,
    vault_id: int,
    asset: str,
    token_contract: str | None = None,
    venue: str = CASH_VENUE,
    instrument_id: int | None = None,
    interval: str = "1m",
) -> Position:
    """Make a holding of the vault one whose quantity is read on chain at each valuation: the ERC-20 balance of
    ``token_contract`` held by the vault's Safe, in asset units (base units / 10^decimals, decimals read on chain).

    The base asset is the Safe's ``asset_contract`` and is the vault's cash position (venue ``vault``): its
    on-chain balance replaces the cash book, less the payouts reserved but not yet paid and the deposits not yet
    credited (:func:`vault_valuation_record`). Another token needs ``instrument_id`` (quoted in the base asset) to
    price it. The stored ``quantity`` is kept (the book figure; 0 for a new position)."""
    _interval_check(interval)
    with transaction.atomic():
        vault = vault_locked(vault_id)
        safe = VaultSafe.objects.filter(vault=vault).first()
        if safe is None:
            raise VaultServiceError(
                f"vault {vault.slug} has no Safe: an on-chain position is the Safe's balance", code="no_safe"
            )
        asset = asset.upper()
        if asset == vault.base_asset:
            if venue != CASH_VENUE:
                raise VaultServiceError(
                    f"the {asset} held by the Safe is the vault's cash: its position is on venue {CASH_VENUE!r}"
                )
            if instrument_id is not None:
                raise VaultServiceError(f"{asset} is the vault's base asset: it is worth its quantity")
            token = safe.asset_contract
            if token_contract is not None and _token_normalise(token_contract) != token:
                raise VaultServiceError(f"the vault's {asset} on chain {safe.chain_id} is the token {token}")
        else:
            if token_contract is None:
                raise VaultServiceError(f"an on-chain {asset} position needs its token contract")
            if instrument_id is None:
                raise VaultServiceError(
                    f"a {asset} position needs an instrument quoted in {vault.base_asset} to value it"
                )
            token = _token_normalise(token_contract)
        onchain = {
            "instrument_id": instrument_id,
            "interval": interval,
            "source": Position.Source.ONCHAIN_BALANCE,
            "token_contract": token,
        }
        position, _ = Position.objects.update_or_create(
            vault=vault, asset=asset, venue=venue, defaults=onchain, create_defaults={**onchain, "quantity": ZERO}
        )
        return position


def _token_normalise(token: str) -> str:
    try:
        return address_normalise(token, field="token_contract")
    except AddressError as error:
        raise VaultServiceError(str(error), code=error.code) from None
