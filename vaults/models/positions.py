"""What the vault holds and what it was worth: positions and the valuations that marked them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from hftplatform.fields import ExactNumericField
from vaults.models.vault import Vault, VaultEvent

CASH_VENUE = "vault"  # the Position holding the vault's idle base asset


class Position(models.Model):
    """A holding of the vault on one venue or protocol, in asset units (exact decimal). It is marked to market
    with the latest stored close of ``instrument`` (quoted in the vault's base asset); a holding of the base
    asset itself (``instrument`` empty) is worth its quantity.

    ``source`` says where the quantity comes from at a valuation: ``manual`` — the stored ``quantity`` (set by an
    operator, or the cash book the deposits and withdrawals move); ``onchain_balance`` — the ERC-20 balance of
    ``token_contract`` held by the vault's Safe, read on chain at each valuation (``quantity`` then stays the
    book figure and is not used to value it)."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Stored quantity"
        ONCHAIN_BALANCE = "onchain_balance", "ERC-20 balance of the vault's Safe, read at each valuation"

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="positions")
    asset = models.CharField(max_length=32)
    venue = models.CharField(max_length=32, help_text="Exchange or protocol holding it; 'vault' for idle cash.")
    quantity = ExactNumericField(help_text="Asset units (not base units).")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    token_contract = models.CharField(
        max_length=42, blank=True, help_text="On-chain positions: checksummed ERC-20 address on the Safe's chain."
    )
    instrument = models.ForeignKey(
        "marketdata.Instrument", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    interval = models.CharField(max_length=4, default="1m", help_text="Kline interval whose close marks it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["vault_id", "asset", "venue"]
        constraints = [
            models.UniqueConstraint(fields=["vault", "asset", "venue"], name="position_unique"),
            models.CheckConstraint(
                condition=Q(source="manual", token_contract="")
                | Q(source="onchain_balance", token_contract__regex=r"^0x[0-9a-fA-F]{40}$"),  # noqa: S106  (an address)
                name="position_source_token",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.asset} on {self.venue}"


class Valuation(models.Model):
    """A mark to market of the vault's positions: the value (base units, rounded down) and, per position, the
    price source (instrument, interval, candle open time) and price used."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="valuations")
    event = models.OneToOneField(VaultEvent, on_delete=models.PROTECT, related_name="valuation")
    at = models.DateTimeField()
    value = ExactNumericField(help_text="Base units.")
    sources = models.JSONField(default=list)

    class Meta:
        ordering = ["vault_id", "-at"]

    def __str__(self) -> str:
        return f"valuation {self.value} of vault {self.vault_id}"
