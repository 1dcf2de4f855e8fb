"""The vault, its depositors' accounts and lots, the event log and NAV snapshots: the fee engine's state."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from hftplatform.fields import ExactNumericField

ZERO = Decimal(0)


class Vault(models.Model):
    """A vault: one strategy allocation, a base asset, and the fee engine's state (the ``Vault`` of
    :mod:`fees.core.vault`): gross value in base units, shares outstanding (fee account's included), the fee
    account's shares, the management fee index, the time the management fee was last settled."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    base_asset = models.CharField(max_length=16, help_text="Symbol of the asset deposits and payouts are in: USDC.")
    asset_decimals = models.PositiveSmallIntegerField(help_text="Base units per asset unit = 10^decimals.")
    allocation = models.JSONField(
        default=dict,
        blank=True,
        help_text='Strategy weights and limits as decimal text: {"gmx": {"weight": "0.2", "max": "0.25"}}.',
    )
    public = models.BooleanField(default=True, help_text="NAV series and performance visible without signing in.")
    created_at = models.DateTimeField(auto_now_add=True)
    # -- fee state: written only by vaults.services under the vault's row lock --------------------------------
    started_at = models.DateTimeField()
    settled_at = models.DateTimeField(help_text="UTC; the management fee is settled up to here.")
    value = ExactNumericField(default=ZERO, help_text="Gross value in base units (price scale).")
    shares_outstanding = ExactNumericField(default=ZERO, help_text="All shares, the fee account's included.")
    fee_account_shares = ExactNumericField(default=ZERO)
    fee_index = ExactNumericField(default=ZERO, help_text="Management fee per depositor share since the start.")
    sequence = models.BigIntegerField(default=0, help_text="Last engine sequence number (ledger rows and flows).")
    lot_count = models.IntegerField(default=0)
    event_count = models.BigIntegerField(default=0)
    crystallised_year = models.IntegerField(
        null=True, blank=True, help_text="Last calendar year (UTC) whose year-end crystallisation ran."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="vault_value_nonnegative"),
            models.CheckConstraint(condition=Q(fee_account_shares__gte=0), name="vault_fee_shares_nonnegative"),
            models.CheckConstraint(
                condition=Q(shares_outstanding__gte=models.F("fee_account_shares")),
                name="vault_fee_shares_within_outstanding",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class VaultAccount(models.Model):
    """One depositor's totals in one vault (the engine's ``DepositorAccount``). ``management_fee`` is brought up
    to date lazily: the fee since ``fee_index_mark`` is ``shares · (vault.fee_index - fee_index_mark)``."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="accounts")
    depositor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vault_accounts")
    created_at = models.DateTimeField(auto_now_add=True)
    shares = ExactNumericField(default=ZERO)
    deposited = ExactNumericField(default=ZERO, help_text="Base units.")
    paid_out = ExactNumericField(default=ZERO, help_text="Base units owed or paid by withdrawals.")
    management_fee = ExactNumericField(default=ZERO, help_text="Base units, exact.")
    performance_fee = ExactNumericField(default=ZERO, help_text="Base units crystallised, exact.")
    fee_index_mark = ExactNumericField(default=ZERO)

    class Meta:
        ordering = ["vault_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["vault", "depositor"], name="vault_account_unique"),
            models.CheckConstraint(condition=Q(shares__gte=0), name="vault_account_shares_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.vault_id}/{self.depositor_id}"


class Lot(models.Model):
    """The shares of one deposit with their own high-water mark (base units per share, never decreasing).
    ``number`` is the engine's lot id: 1, 2, ... in the vault's deposit order."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="lots")
    depositor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vault_lots")
    number = models.IntegerField()
    shares = ExactNumericField()
    hwm = ExactNumericField()
    opened_at = models.DateTimeField()

    class Meta:
        ordering = ["vault_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["vault", "number"], name="lot_vault_number_unique"),
            models.CheckConstraint(condition=Q(shares__gte=0), name="lot_shares_nonnegative"),
        ]
        indexes = [models.Index(fields=["vault", "depositor", "number"], name="lot_vault_depositor_idx")]

    def __str__(self) -> str:
        return f"lot {self.number} of vault {self.vault_id}"


class VaultEvent(models.Model):
    """The vault's event log, in the order the engine applied it: replaying it through a fresh engine
    reproduces the stored state exactly (statements and the consistency check do). ``payload`` holds exact text."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        WITHDRAW = "withdraw"
        SETTLE = "settle"
        CRYSTALLISE = "crystallise"
        RETURN = "return"
        VALUATION = "valuation"
        REVERSAL = "reversal"  # a credited on-chain deposit whose transfer a chain reorganisation removed
        FEE_COLLECTION = "fee_collect"  # fees paid out of the Safe to the platform: the fee account's shares burned

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="events")
    number = models.BigIntegerField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["vault_id", "number"]
        constraints = [models.UniqueConstraint(fields=["vault", "number"], name="vault_event_number_unique")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.number} of vault {self.vault_id}"


class NavSnapshot(models.Model):
    """The vault's state after an event (or a beat's NAV publication): ``price`` is P rounded down to the
    engine's price scale, in base units per share."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="nav_snapshots")
    event = models.OneToOneField(VaultEvent, on_delete=models.PROTECT, related_name="nav_snapshot")
    at = models.DateTimeField()
    price = ExactNumericField()
    value = ExactNumericField()
    shares_outstanding = ExactNumericField()
    fee_account_shares = ExactNumericField()

    class Meta:
        ordering = ["vault_id", "at", "id"]
        indexes = [models.Index(fields=["vault", "at"], name="nav_snapshot_vault_at_idx")]

    def __str__(self) -> str:
        return f"NAV {self.price} of vault {self.vault_id} at {self.at:%Y-%m-%d %H:%M}"
