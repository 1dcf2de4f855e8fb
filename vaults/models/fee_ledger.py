"""The fee ledger: every management accrual and every performance crystallisation (the transfer of fee shares
from a lot to the fee account) is one row, exactly as the pure engine (:mod:`fees.core.vault`) produced it.
The fee account's shares equal ``Σ fee_shares`` over a vault's rows at every moment (:mod:`vaults.selectors`
checks it), less the shares fee collections burned (:class:`FeeCollection`). Written only by the vaults services,
in the transaction that changes the vault's state.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from hftplatform.fields import ExactNumericField
from vaults.models.vault import Lot, Vault, VaultEvent


class FeeLedgerEntry(models.Model):
    class Kind(models.TextChoices):
        MANAGEMENT = "management", "Management accrual"
        PERFORMANCE = "performance", "Performance crystallisation"

    class Reason(models.TextChoices):
        WITHDRAWAL = "withdrawal"
        YEAR_END = "year_end", "Year end"
        REQUESTED = "requested"

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="fee_ledger")
    sequence = models.BigIntegerField(help_text="The engine's sequence number within the vault.")
    at = models.DateTimeField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    fee_value = ExactNumericField(help_text="Base units, exact.")
    fee_shares = ExactNumericField(help_text="Shares minted to or moved to the fee account.")
    price = ExactNumericField(help_text="P (price scale), base units per share.")
    # management accrual
    seconds = ExactNumericField(null=True, blank=True)
    factor = ExactNumericField(null=True, blank=True, help_text="K(dt) = 0.99 ** dt")
    shares_outstanding = ExactNumericField(null=True, blank=True)
    depositor_shares = ExactNumericField(null=True, blank=True)
    fee_per_share = ExactNumericField(null=True, blank=True)
    fee_index = ExactNumericField(null=True, blank=True)
    # performance crystallisation
    reason = models.CharField(max_length=12, choices=Reason.choices, blank=True)
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="fee_rows")
    depositor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="fee_rows"
    )
    shares = ExactNumericField(null=True, blank=True, help_text="Shares crystallised.")
    hwm_before = ExactNumericField(null=True, blank=True)
    hwm_after = ExactNumericField(null=True, blank=True)

    class Meta:
        ordering = ["vault_id", "sequence"]
        db_table = "fees_feeledgerentry"  # created by the fees app, whose model this was (no data moved)
        verbose_name_plural = "fee ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["vault", "sequence"], name="fee_ledger_vault_sequence_unique"),
            models.CheckConstraint(condition=models.Q(fee_value__gte=0), name="fee_ledger_fee_nonnegative"),
            models.CheckConstraint(condition=models.Q(fee_shares__gte=0), name="fee_ledger_shares_nonnegative"),
        ]
        indexes = [models.Index(fields=["vault", "depositor", "at"], name="fee_ledger_depositor_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.sequence} of vault {self.vault_id}"


class FeeCollection(models.Model):
    """Fees paid out of the vault's Safe to the platform, booked when the fee-collection proposal executed on chain:
    ``amount`` base units left the vault's value and its cash, and ``shares`` (``amount / price`` rounded up to the
    share unit) left the fee account, burned (the engine's ``FeeCollectionFlow``). Once per proposal."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="fee_collections")
    proposal = models.OneToOneField(
        "vaults.SafeProposal", on_delete=models.PROTECT, related_name="fee_collection_booked"
    )
    event = models.OneToOneField(VaultEvent, on_delete=models.PROTECT, related_name="fee_collection")
    sequence = models.BigIntegerField(help_text="The engine's sequence number within the vault.")
    at = models.DateTimeField()
    amount = ExactNumericField(help_text="Base units paid to the platform.")
    shares = ExactNumericField(help_text="Fee account shares burned.")
    price = ExactNumericField(help_text="P just before (price scale), base units per share.")

    class Meta:
        ordering = ["vault_id", "sequence"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="fee_collection_amount_positive"),
            models.CheckConstraint(condition=models.Q(shares__gte=0), name="fee_collection_shares_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"fee collection of {self.amount} from vault {self.vault_id}"
