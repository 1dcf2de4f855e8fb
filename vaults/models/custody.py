"""Safe custody state: the vault's Safe, on-chain transfers into it and the scan's cursor, proposals with their
signatures and operator approvals, registered withdrawal destinations."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from hftplatform.fields import ExactNumericField
from vaults.models.flows import Deposit, Withdrawal
from vaults.models.vault import Lot, Vault, VaultEvent

ZERO = Decimal(0)
_HEX_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
_HEX_HASH = r"^0x[0-9a-f]{64}$"


class VaultSafe(models.Model):
    """The Safe (v1.4.1 proxy) holding a vault's assets on one chain, as the platform deployed it: its owner set
    (the policy co-signer, operator keys, a cold recovery key) and on-chain threshold (at least 2), and the ERC-20
    token of the vault's base asset there. Deposits are read from that token's ``Transfer`` logs into ``address``
    from ``deployed_block`` on; payouts are Safe transactions proposed through :mod:`vaults.custody`."""

    vault = models.OneToOneField(Vault, on_delete=models.PROTECT, related_name="safe")
    chain_id = models.BigIntegerField(help_text="EIP-155 chain ID; its RPC URL is settings.CHAIN_RPC_URLS[chain_id].")
    address = models.CharField(max_length=42, help_text="Checksummed Safe proxy address.")
    asset_contract = models.CharField(max_length=42, help_text="Checksummed ERC-20 address of the base asset.")
    owners = models.JSONField(default=list, help_text="Checksummed owner addresses as deployed.")
    threshold = models.PositiveSmallIntegerField()
    cosigner = models.CharField(max_length=42, help_text="The policy co-signer's address (one of the owners).")
    guard = models.CharField(
        max_length=42,
        blank=True,
        help_text="Checksummed CosignerGuard the Safe runs on every transaction (contracts/CosignerGuard.vy): nothing "
        "executes without the co-signer. Blank only for a Safe recorded before guards.",
    )
    deployed_block = models.BigIntegerField(help_text="Block of the Safe's creation: deposit scanning starts here.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vault_id"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "address"], name="vault_safe_chain_address_unique"),
            models.CheckConstraint(condition=Q(threshold__gte=2), name="vault_safe_threshold_at_least_two"),
            models.CheckConstraint(
                condition=Q(address__regex=r"^0x[0-9a-fA-F]{40}$") & Q(asset_contract__regex=r"^0x[0-9a-fA-F]{40}$"),
                name="vault_safe_addresses_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"Safe {self.address} of vault {self.vault_id} on chain {self.chain_id}"


class CosignerRecovery(models.Model):
    """A replacement of the vault Safe's co-signer announced on its guard without the co-signer (the recovery path
    for a lost co-signer key): public on the vault's page from its announcement, executable no earlier than
    ``executable_at`` (the guard's delay, at least 7 days), cancellable by the co-signer until then. Mirrored from
    the guard's events (``RecoveryAnnounced``, ``RecoveryCancelled``, ``CosignerReplaced``) by
    :func:`vaults.custody.services.recoveries.vault_safe_recoveries_sync`; the chain is the truth."""

    class State(models.TextChoices):
        PENDING = "pending", "Announced, pending"
        CANCELLED = "cancelled", "Cancelled by the co-signer"
        EXECUTED = "executed", "Executed: co-signer replaced"

    vault_safe = models.ForeignKey(VaultSafe, on_delete=models.PROTECT, related_name="cosigner_recoveries")
    new_cosigner = models.CharField(max_length=42)
    announced_by = models.CharField(max_length=42, help_text="The Safe owner who announced it.")
    announced_at = models.DateTimeField(help_text="Time of the announcing block.")
    executable_at = models.DateTimeField(help_text="Earliest execution, as the guard enforces it.")
    announce_tx = models.CharField(max_length=66)
    announce_log_index = models.PositiveIntegerField()
    block_number = models.BigIntegerField()
    state = models.CharField(max_length=9, choices=State.choices, default=State.PENDING)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Time of the cancelling or executing block.")
    close_tx = models.CharField(max_length=66, blank=True)

    class Meta:
        ordering = ["-announced_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vault_safe", "announce_tx", "announce_log_index"], name="cosigner_recovery_event_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"co-signer recovery to {self.new_cosigner} ({self.state})"


class ChainTransfer(models.Model):
    """An ERC-20 ``Transfer`` of a vault's asset into its Safe, as read from the chain's logs, and what became of it.

    ``seen`` until it has ``settings.DEPOSIT_CONFIRMATIONS`` blocks on top; then ``credited`` (a :class:`Deposit` for
    the user whose linked wallet sent it), ``unattributed`` (the sender is no user's linked wallet: kept for an
    operator, never guessed) or ``rejected`` (not creditable: zero amount, or the vault refused it; ``note`` says
    why). A chain reorganisation that removes the log makes it ``orphaned`` (before crediting) or ``reversed`` (the
    deposit undone). ``needs_operator`` flags what the scanner could not settle alone (a reversal refused because
    the lot's shares already left)."""

    class State(models.TextChoices):
        SEEN = "seen", "Seen, awaiting confirmations"
        CREDITED = "credited", "Credited"
        UNATTRIBUTED = "unattributed", "Unattributed (sender not a linked wallet)"
        REJECTED = "rejected", "Rejected (not creditable)"
        ORPHANED = "orphaned", "Orphaned by a reorganisation before crediting"
        REVERSED = "reversed", "Reversed after a reorganisation"

    vault_safe = models.ForeignKey(VaultSafe, on_delete=models.PROTECT, related_name="transfers")
    chain_id = models.BigIntegerField()
    tx_hash = models.CharField(max_length=66, help_text="0x and 64 lowercase hex digits.")
    log_index = models.IntegerField()
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66, help_text="The block the log was last seen in.")
    token = models.CharField(max_length=42, help_text="Checksummed ERC-20 contract that emitted the log.")
    sender = models.CharField(max_length=42, help_text="Checksummed 'from' of the Transfer.")
    recipient = models.CharField(max_length=42, help_text="Checksummed 'to' of the Transfer (the Safe).")
    amount = ExactNumericField(help_text="The log's uint256 value: base units, exact.")
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="The block's timestamp (UTC).")
    state = models.CharField(max_length=12, choices=State.choices, default=State.SEEN)
    depositor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    deposit = models.OneToOneField(
        Deposit, on_delete=models.SET_NULL, null=True, blank=True, related_name="chain_transfer"
    )
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reversal_event = models.ForeignKey(VaultEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    needs_operator = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["chain_id", "block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "tx_hash", "log_index"], name="chain_transfer_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="chain_transfer_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(state__in=["seen", "credited", "unattributed", "rejected", "orphaned", "reversed"]),
                name="chain_transfer_state",
            ),
        ]
        indexes = [models.Index(fields=["vault_safe", "state", "block_number"], name="chain_transfer_state_idx")]

    def __str__(self) -> str:
        return f"transfer {self.tx_hash}:{self.log_index} of {self.amount} ({self.state})"


class DepositScanCursor(models.Model):
    """How far a vault Safe's deposits have been read: every block up to ``block_number`` (inclusive), and the
    hashes of the last blocks scanned (``recent_blocks``: ``[[number, hash], ...]``, oldest first) to find the
    fork point when a reorganisation replaces them."""

    vault_safe = models.OneToOneField(VaultSafe, on_delete=models.PROTECT, related_name="deposit_cursor")
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66, blank=True)
    recent_blocks = models.JSONField(default=list, blank=True)
    reorgs = models.IntegerField(default=0, help_text="Reorganisations detected so far.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["vault_safe_id"]

    def __str__(self) -> str:
        return f"deposit scan of {self.vault_safe_id} at block {self.block_number}"


# -- custody: Safe proposals (vaults.custody.services writes them) ------------------------------------------------


class SafeProposal(models.Model):
    """One Safe transaction of a vault Safe, from proposal to execution, with everything the policy needs.

    ``to`` ... ``nonce`` are the SafeTx exactly as ``execTransaction`` takes it (uint256 values as exact
    ``NUMERIC``, ``data`` as 0x-hex); ``safe_tx_hash`` is its EIP-712 hash (``vaults.custody.safe_tx``), equal to
    the Safe's ``getTransactionHash``. Withdrawal kinds also hold the ``WithdrawalRequest`` the depositor signs
    (``request_*``). The chain transaction that carries it (``submission_*``) is written and committed before it is
    broadcast, so a crash can always find what was sent. ``state_code``/``state_reason`` say why it failed, was
    refused or is waiting, in words shown to the depositor.

    Lifecycle: ``proposed`` → ``authorised`` (2 depositor signatures, or the operator approvals of its kind) →
    ``signed`` (the co-signer's and enough other owner signatures for the Safe's threshold) → ``submitted`` →
    ``executed`` | ``failed``; ``cancelled`` before submission.

    ``nonce`` is provisional until the co-signer signs: it is fixed then (``signed_block`` records the chain's head),
    and the other owners sign after. A proposal closed unexecuted after that is invalidated on chain by a
    ``nonce_invalidation`` no-op at its nonce (``invalidates`` points back to it).
    """

    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed: waiting for authorisation"
        AUTHORISED = "authorised", "Authorised: Safe owners signing"
        SIGNED = "signed", "Signed: ready to execute"
        SUBMITTED = "submitted", "Submitted to the chain"
        EXECUTED = "executed", "Executed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):  # the values of vaults.custody.policy.OperationKind
        WITHDRAWAL_LINKED_WALLET = "withdrawal_linked_wallet", "Withdrawal to a linked wallet"
        WITHDRAWAL_OTHER_ADDRESS = "withdrawal_other_address", "Withdrawal to a registered address"
        STRATEGY_TRADE = "strategy_trade", "Strategy trade"
        FEE_COLLECTION = "fee_collection", "Fee collection"
        CONTROL_CHANGE = "control_change", "Owner, threshold, module or guard change"
        EMERGENCY_UNWIND = "emergency_unwind", "Emergency unwind"
        NONCE_INVALIDATION = "nonce_invalidation", "No-op using the nonce of a closed signed proposal"

    LIVE_STATES = ("proposed", "authorised", "signed", "submitted")
    WITHDRAWAL_KINDS = ("withdrawal_linked_wallet", "withdrawal_other_address")

    safe = models.ForeignKey(VaultSafe, on_delete=models.PROTECT, related_name="proposals")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PROPOSED)
    state_code = models.CharField(max_length=40, blank=True, help_text="Stable code of the last refusal or failure.")
    state_reason = models.TextField(
        blank=True, help_text="Why it failed, was refused or waits; shown to the depositor."
    )
    proposer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # -- the SafeTx ---------------------------------------------------------------------------------------------
    to = models.CharField(max_length=42)
    value = ExactNumericField(default=ZERO, help_text="wei")
    data = models.TextField(default="0x", help_text="Call data, 0x-hex.")
    operation = models.PositiveSmallIntegerField(default=0, help_text="0 CALL, 1 DELEGATECALL.")
    safe_tx_gas = ExactNumericField(default=ZERO)
    base_gas = ExactNumericField(default=ZERO)
    gas_price = ExactNumericField(default=ZERO)
    gas_token = models.CharField(max_length=42, default="0x0000000000000000000000000000000000000000")
    refund_receiver = models.CharField(max_length=42, default="0x0000000000000000000000000000000000000000")
    nonce = ExactNumericField(help_text="The Safe nonce this transaction is valid for.")
    safe_tx_hash = models.CharField(max_length=66, db_index=True)
    amount = ExactNumericField(null=True, blank=True, help_text="Asset base units an ERC-20 transfer moves.")
    announced_at = models.DateTimeField(
        null=True, blank=True, help_text="Control changes: shown on the vault's public page from this time."
    )
    # -- withdrawals: the linked withdrawal and the WithdrawalRequest the depositor signs ---------------------------
    withdrawal = models.ForeignKey(
        Withdrawal, on_delete=models.PROTECT, null=True, blank=True, related_name="proposals"
    )
    depositor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    request_nonce = ExactNumericField(null=True, blank=True, help_text="Single use per depositor and vault Safe.")
    request_deadline = models.BigIntegerField(null=True, blank=True, help_text="Unix seconds (UTC).")
    request_destination = models.CharField(max_length=42, blank=True)
    request_shares = ExactNumericField(null=True, blank=True, help_text="Share base units (0: an amount request).")
    request_amount = ExactNumericField(null=True, blank=True, help_text="Asset base units.")
    request_hash = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001  (None: not a withdrawal)
    signed_block = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The chain's head when the co-signer signed at ``nonce``: the SafeTx cannot have executed before.",
    )
    invalidates = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invalidations",
        help_text="A nonce invalidation: the closed, co-signed proposal whose Safe nonce this no-op uses up.",
    )
    # -- submission: written and committed before broadcasting ----------------------------------------------------
    submission_tx_hash = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001
    submission_raw = models.TextField(blank=True, help_text="The signed chain transaction, 0x-hex.")
    # -- times --------------------------------------------------------------------------------------------------
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Executed, failed or cancelled.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=["proposed", "authorised", "signed", "submitted", "executed", "failed", "cancelled"]
                ),
                name="safe_proposal_state",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "withdrawal_linked_wallet",
                        "withdrawal_other_address",
                        "strategy_trade",
                        "fee_collection",
                        "control_change",
                        "emergency_unwind",
                        "nonce_invalidation",
                    ]
                ),
                name="safe_proposal_kind",
            ),
            models.CheckConstraint(condition=Q(operation__in=[0, 1]), name="safe_proposal_operation"),
            models.CheckConstraint(
                condition=Q(value__gte=0, safe_tx_gas__gte=0, base_gas__gte=0, gas_price__gte=0, nonce__gte=0),
                name="safe_proposal_uints_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(to__regex=_HEX_ADDRESS, gas_token__regex=_HEX_ADDRESS, refund_receiver__regex=_HEX_ADDRESS)
                & Q(data__regex=r"^0x([0-9a-f]{2})*$")
                & Q(safe_tx_hash__regex=_HEX_HASH),
                name="safe_proposal_hex",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["withdrawal_linked_wallet", "withdrawal_other_address"])
                    & Q(withdrawal__isnull=False, depositor__isnull=False, request_nonce__isnull=False)
                    & Q(request_deadline__isnull=False, request_hash__regex=_HEX_HASH)
                )
                | (
                    ~Q(kind__in=["withdrawal_linked_wallet", "withdrawal_other_address"])
                    & Q(withdrawal__isnull=True, request_hash__isnull=True)
                ),
                name="safe_proposal_withdrawal_fields",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["submitted", "executed"]) | Q(submission_tx_hash__isnull=False),
                name="safe_proposal_submission_recorded",
            ),
            # A re-proposed identical SafeTx (same Safe nonce, after a cancelled one) has the same hash: unique
            # among the proposals that can still execute or did.
            models.UniqueConstraint(
                fields=["safe_tx_hash"],
                condition=Q(state__in=["proposed", "authorised", "signed", "submitted", "executed"]),
                name="safe_proposal_hash_unique_live",
            ),
            models.UniqueConstraint(
                fields=["request_hash"], condition=Q(request_hash__isnull=False), name="safe_proposal_request_unique"
            ),
            models.UniqueConstraint(
                fields=["safe", "depositor", "request_nonce"],
                condition=Q(request_nonce__isnull=False),
                name="safe_proposal_request_nonce_unique",
            ),
            # One live proposal per withdrawal: a second one waits until the first is closed.
            models.UniqueConstraint(
                fields=["withdrawal"],
                condition=Q(withdrawal__isnull=False, state__in=["proposed", "authorised", "signed", "submitted"]),
                name="safe_proposal_one_live_per_withdrawal",
            ),
        ]
        indexes = [models.Index(fields=["safe", "state", "nonce"], name="safe_proposal_state_idx")]

    def __str__(self) -> str:
        return f"proposal {self.pk} ({self.kind}, {self.state}) nonce {self.nonce}"

    @property
    def is_withdrawal(self) -> bool:
        return self.kind in self.WITHDRAWAL_KINDS


class ProposalSignature(models.Model):
    """A signature collected for a proposal, verified on arrival: ``depositor`` — an EIP-712 ``WithdrawalRequest``
    signature from one of the depositor's linked wallets (over ``request_hash``); ``owner`` — a Safe owner's
    signature over ``safe_tx_hash`` (the policy co-signer's, or an operator key's). ``signature`` is ``r|s|v``
    0x-hex with v 27/28 (or 31/32 for an owner's ``eth_sign``)."""

    class Kind(models.TextChoices):
        DEPOSITOR = "depositor", "Depositor (EIP-712 withdrawal request)"
        OWNER = "owner", "Safe owner (safeTxHash)"

    proposal = models.ForeignKey(SafeProposal, on_delete=models.PROTECT, related_name="signatures")
    kind = models.CharField(max_length=9, choices=Kind.choices)
    signer = models.CharField(max_length=42, help_text="The recovered, checksummed signer.")
    signature = models.CharField(max_length=132)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["proposal_id", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "kind", "signer"], name="proposal_signature_signer_unique"),
            # A depositor signature counts for one request only: no replay onto another proposal.
            models.UniqueConstraint(
                fields=["signature"], condition=Q(kind="depositor"), name="proposal_signature_no_replay"
            ),
            models.CheckConstraint(condition=Q(kind__in=["depositor", "owner"]), name="proposal_signature_kind"),
            models.CheckConstraint(
                condition=Q(signature__regex=r"^0x[0-9a-f]{130}$") & Q(signer__regex=_HEX_ADDRESS),
                name="proposal_signature_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} signature of {self.signer} on proposal {self.proposal_id}"


class OperatorApproval(models.Model):
    """An operator's approval or rejection of an operator-approved proposal (trade, fee collection, control change,
    emergency unwind); each operator decides once."""

    proposal = models.ForeignKey(SafeProposal, on_delete=models.PROTECT, related_name="approvals")
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField(help_text="False: rejected.")
    at = models.DateTimeField()

    class Meta:
        ordering = ["proposal_id", "at", "id"]
        constraints = [models.UniqueConstraint(fields=["proposal", "operator"], name="operator_approval_unique")]

    def __str__(self) -> str:
        verb = "approved" if self.approved else "rejected"
        return f"{verb} by {self.operator_id} on proposal {self.proposal_id}"


class WithdrawalDestination(models.Model):
    """A withdrawal address that is not one of the depositor's linked wallets, registered by an EIP-712
    ``DestinationRegistration`` (``vaults.custody.destination_registration``) signed by two distinct linked
    wallets. The policy pays it only from ``registered_at`` + 48 h on."""

    depositor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawal_destinations"
    )
    chain_id = models.BigIntegerField()
    address = models.CharField(max_length=42, help_text="Checksummed.")
    nonce = ExactNumericField(help_text="The registration's nonce, single use per depositor.")
    registration_hash = models.CharField(max_length=66, unique=True)
    signers = models.JSONField(default=list, help_text="The two (or more) linked wallets that signed, ascending.")
    signatures = models.JSONField(default=list, help_text="Their signatures, 0x-hex, in the same order.")
    registered_at = models.DateTimeField()

    class Meta:
        ordering = ["depositor_id", "-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["depositor", "chain_id", "address"], name="withdrawal_destination_unique"),
            models.UniqueConstraint(fields=["depositor", "nonce"], name="withdrawal_destination_nonce_unique"),
            models.CheckConstraint(
                condition=Q(address__regex=_HEX_ADDRESS) & Q(registration_hash__regex=_HEX_HASH),
                name="withdrawal_destination_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} for {self.depositor_id} on chain {self.chain_id}"


# -- custody: the contract-call policy of strategy trades and unwinds (vaults.custody.call_policy) -----------------


class SafeCallPolicy(models.Model):
    """What a vault Safe's strategy trades and emergency unwinds may call (:mod:`vaults.custody.call_policy`):
    the allowlisted tokens with their allowance per period, the contracts each kind may call as which protocol and
    functions, the maximum slippage a swap's minimum output may give up, and the cumulative value loss tolerated
    per period. Written only through :func:`vaults.custody.services.safe_call_policy_set`, which validates it; a
    Safe without one signs no trade and no unwind."""

    safe = models.OneToOneField(VaultSafe, on_delete=models.PROTECT, related_name="call_policy")
    tokens = models.JSONField(default=dict, help_text='{"0xToken": "allowance per period in base units"}')
    trade_contracts = models.JSONField(
        default=dict, help_text='{"0xContract": {"protocol": "uniswap_v2_router", "functions": ["..."]}}'
    )
    unwind_contracts = models.JSONField(default=dict, help_text="As trade_contracts, for emergency unwinds.")
    period = models.DurationField(help_text="The rolling window of allowances and the value-loss tolerance.")
    max_slippage = ExactNumericField(help_text="Fraction of a swap's marked value its minimum output may give up.")
    value_loss_tolerance = ExactNumericField(help_text="Base units of the vault asset per period.")
    mark_max_age = models.DurationField(help_text="A marked price older than this is no price.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["safe_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_slippage__gte=0, max_slippage__lt=1, value_loss_tolerance__gte=0),
                name="safe_call_policy_bounds",
            ),
        ]

    def __str__(self) -> str:
        return f"call policy of {self.safe_id}"


class SafeCallUsage(models.Model):
    """What one co-signed strategy trade or unwind uses of its Safe's call policy, recorded when the co-signer
    signs: ``spent`` per token (``{"0xToken": "base units"}``) against the allowances and ``value_loss`` (base
    units of the vault asset, worst case at marked prices) against the tolerance. It counts for the period after
    ``at`` until its SafeTx can never execute (:func:`vaults.custody.selectors.call_usage_in_period`)."""

    proposal = models.OneToOneField(SafeProposal, on_delete=models.PROTECT, related_name="call_usage")
    safe = models.ForeignKey(VaultSafe, on_delete=models.PROTECT, related_name="call_usages")
    at = models.DateTimeField()
    spent = models.JSONField(default=dict)
    value_loss = ExactNumericField()

    class Meta:
        ordering = ["safe_id", "at", "id"]
        constraints = [models.CheckConstraint(condition=Q(value_loss__gte=0), name="safe_call_usage_loss_nonnegative")]
        indexes = [models.Index(fields=["safe", "at"], name="safe_call_usage_period_idx")]

    def __str__(self) -> str:
        return f"call usage of proposal {self.proposal_id}"
