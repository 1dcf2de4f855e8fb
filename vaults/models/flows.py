"""Money in and out: deposits (each opens a lot) and withdrawals with their per-lot parts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from hftplatform.fields import ExactNumericField
from vaults.models.vault import Lot, Vault


class Deposit(models.Model):
    """A credited deposit: once per on-chain transfer (chain id, tx hash, log index) or per operator idempotency
    key for off-chain funding. ``at`` is when it was credited (the engine's time); ``occurred_at`` the transfer's
    own time when known."""

    class Source(models.TextChoices):
        ONCHAIN = "onchain", "On-chain transfer"
        OFFCHAIN = "offchain", "Off-chain (operator)"

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="deposits")
    depositor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vault_deposits")
    source = models.CharField(max_length=8, choices=Source.choices)
    chain_id = models.BigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001  (None: off-chain)
    log_index = models.IntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001  (None: on-chain)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = ExactNumericField(help_text="Base units.")
    at = models.DateTimeField()
    occurred_at = models.DateTimeField(null=True, blank=True)
    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="deposit")
    price = ExactNumericField(help_text="P at the deposit (price scale).")
    shares = ExactNumericField()
    sequence = models.BigIntegerField()

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "tx_hash", "log_index"], name="deposit_onchain_unique"),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False), name="deposit_key_unique"
            ),
            models.CheckConstraint(
                condition=(
                    Q(source="onchain", chain_id__isnull=False, tx_hash__isnull=False, log_index__isnull=False)
                    & Q(idempotency_key__isnull=True)
                )
                | (
                    Q(source="offchain", idempotency_key__isnull=False) & Q(chain_id__isnull=True, tx_hash__isnull=True)
                ),
                name="deposit_source_keys",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"deposit {self.pk} of {self.amount} to vault {self.vault_id}"


class Withdrawal(models.Model):
    """A withdrawal request, in shares or in a net asset amount.

    When it is requested the fees crystallise on the withdrawn shares (fees.core: fees crystallise at the
    withdrawal), the shares are burned and the exact payout is fixed and reserved out of the vault's cash; from
    then on the vault's books are final and only the payment is left. It waits in ``awaiting_signatures`` for the
    depositor to sign a ``WithdrawalRequest`` from two distinct linked wallets (a :class:`SafeProposal`); once they
    have, it is ``in_custody`` while the Safe owners sign and the transaction is submitted; the proposal's execution
    on chain closes it: ``paid``, with ``paid_tx_hash`` and ``paid_at``. If a proposal fails or is cancelled, the
    withdrawal goes back to ``awaiting_signatures`` with the proposal's reason in ``state_code``/``state_reason``,
    so a fresh request can be signed: nothing is lost, the payout stays reserved."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AWAITING_SIGNATURES = "awaiting_signatures", "Awaiting the depositor's two wallet signatures"
        IN_CUSTODY = "in_custody", "In custody: Safe signing and submission in progress"
        PAID = "paid", "Paid"

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="withdrawals")
    depositor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vault_withdrawals")
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    requested_shares = ExactNumericField(null=True, blank=True)
    requested_amount = ExactNumericField(null=True, blank=True, help_text="Base units, net of fees.")
    requested_lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=20, choices=State.choices, default=State.REQUESTED)
    at = models.DateTimeField()
    price = ExactNumericField(help_text="P at the request (price scale).")
    shares = ExactNumericField(help_text="Shares taken from the lots, fee shares included.")
    fee_shares = ExactNumericField(help_text="Of those, moved to the fee account as performance fee.")
    performance_fee = ExactNumericField(help_text="Base units, exact.")
    payout = ExactNumericField(help_text="Base units owed to the depositor, rounded down.")
    state_code = models.CharField(max_length=40, blank=True, help_text="Why the last custody proposal failed.")
    state_reason = models.TextField(blank=True)
    paid_tx_hash = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001  (None: not paid)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vault", "depositor", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="withdrawal_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(requested_shares__isnull=True) ^ Q(requested_amount__isnull=True),
                name="withdrawal_shares_xor_amount",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["requested", "awaiting_signatures", "in_custody", "paid"]),
                name="withdrawal_state",
            ),
            models.CheckConstraint(
                condition=~Q(state="paid") | Q(paid_tx_hash__isnull=False, paid_at__isnull=False),
                name="withdrawal_paid_has_tx",
            ),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk} ({self.state})"


class WithdrawalPart(models.Model):
    """The shares one withdrawal took from one lot (the engine's ``WithdrawalFlow``)."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="parts")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="withdrawal_parts")
    sequence = models.BigIntegerField()
    shares = ExactNumericField()
    price = ExactNumericField()
    fee_shares = ExactNumericField()
    payout = ExactNumericField(help_text="Base units.")

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"{self.shares} shares of lot {self.lot_id}"


class ManualCredit(models.Model):
    """A deposit credited by operators instead of detected on chain: an off-chain funding of a vault **without** a
    Safe (``offchain``), or the ``attribution`` of a confirmed transfer into a vault's Safe whose sender no user
    linked. One operator requests it; it is applied (the :class:`Deposit` written) only when a second, distinct
    operator approves — each acting from a session with MFA confirmed in the last 15 minutes, each holding the role
    for at least 72 h. Every request, approval and rejection is public on the vault's page and in its API (operators
    by a public handle, the depositor by a pseudonym)."""

    class Kind(models.TextChoices):
        OFFCHAIN = "offchain", "Off-chain funding"
        ATTRIBUTION = "attribution", "Attribution of an on-chain transfer"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a second operator"
        APPLIED = "applied", "Approved and credited"
        REJECTED = "rejected", "Rejected"

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="manual_credits")
    kind = models.CharField(max_length=11, choices=Kind.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    depositor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = ExactNumericField(help_text="Base units.")
    reason = models.TextField(help_text="Why (public on the vault's page).")
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001  (None: attribution)
    chain_transfer = models.ForeignKey(
        "vaults.ChainTransfer", on_delete=models.PROTECT, null=True, blank=True, related_name="manual_credits"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # SET_NULL: a credited transfer a deep reorganisation removed has its deposit row deleted (the log keeps it).
    deposit = models.OneToOneField(
        Deposit, on_delete=models.SET_NULL, null=True, blank=True, related_name="manual_credit"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False), name="manual_credit_key_unique"
            ),
            models.UniqueConstraint(
                fields=["chain_transfer"], condition=Q(state="pending"), name="manual_credit_one_pending_attribution"
            ),
            models.CheckConstraint(
                condition=(Q(kind="offchain", idempotency_key__isnull=False, chain_transfer__isnull=True))
                | Q(kind="attribution", idempotency_key__isnull=True, chain_transfer__isnull=False),
                name="manual_credit_kind_keys",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="manual_credit_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")) | Q(state="rejected"),
                name="manual_credit_second_operator",
            ),
            models.CheckConstraint(
                condition=Q(state="pending", decided_by__isnull=True)
                | Q(state__in=["applied", "rejected"], decided_by__isnull=False, decided_at__isnull=False),
                name="manual_credit_decided",
            ),
        ]

    def __str__(self) -> str:
        return f"manual credit {self.pk} ({self.kind}, {self.state}) of {self.amount} to vault {self.vault_id}"
