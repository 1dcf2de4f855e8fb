"""Vault state: the vault and its fee state, depositor accounts, lots, deposits, withdrawals, the event log, NAV
snapshots, positions and valuations.

Every number of the fee engine (``fees.core``) is stored exactly in an unconstrained ``NUMERIC``
(:class:`hftplatform.fields.ExactNumericField`): asset amounts as whole base units, shares at 18 places, prices and
fee values at the engine's own scale. Nothing here is written except by :mod:`vaults.services`, under the row
locks of :mod:`vaults.lock_objects`.
"""

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
    """A withdrawal request, in shares or in a net asset amount. The fees are crystallised on the withdrawn shares
    and the exact payout fixed when it is requested; the payout itself needs the Safe custody flow (issue 6),
    which does not exist yet, so the request waits in ``awaiting_custody`` and is never paid."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AWAITING_CUSTODY = "awaiting_custody", "Awaiting custody (Safe co-signing not yet available)"

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
            models.CheckConstraint(condition=Q(state__in=["requested", "awaiting_custody"]), name="withdrawal_state"),
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


class Position(models.Model):
    """A holding of the vault on one venue or protocol, in asset units (exact decimal). It is marked to market
    with the latest stored close of ``instrument`` (quoted in the vault's base asset); a holding of the base
    asset itself (``instrument`` empty) is worth its quantity."""

    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="positions")
    asset = models.CharField(max_length=32)
    venue = models.CharField(max_length=32, help_text="Exchange or protocol holding it; 'vault' for idle cash.")
    quantity = ExactNumericField(help_text="Asset units (not base units).")
    instrument = models.ForeignKey(
        "marketdata.Instrument", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    interval = models.CharField(max_length=4, default="1m", help_text="Kline interval whose close marks it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["vault_id", "asset", "venue"]
        constraints = [models.UniqueConstraint(fields=["vault", "asset", "venue"], name="position_unique")]

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
