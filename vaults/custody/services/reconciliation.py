"""The books against the Safe: for a vault with a Safe, what its books say the Safe holds of the vault's asset, term by
term, against the Safe's ERC-20 balance read on chain. A read only: nothing is written and no lock is taken; the
chain is read first, outside any transaction, then the books.

Units: every amount is an ``int`` of the asset's base units (``10 ** asset_decimals`` per unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum
from web3 import Web3
from web3.exceptions import Web3Exception

from vaults.custody.chain import erc20_balance
from vaults.custody.errors import CustodyUnavailableError
from vaults.custody.services.proposal_steps import safe_web3
from vaults.models import ChainTransfer, DepositScanCursor, Position, SafeProposal, VaultSafe, Withdrawal
from vaults.models.positions import CASH_VENUE

RESERVED_STATES = (
    Withdrawal.State.REQUESTED,
    Withdrawal.State.AWAITING_SIGNATURES,
    Withdrawal.State.IN_CUSTODY,
)
# Transfers into the Safe the chain still has and the books have not credited as deposits.
UNCREDITED_STATES = (ChainTransfer.State.SEEN, ChainTransfer.State.UNATTRIBUTED, ChainTransfer.State.REJECTED)


@dataclass(frozen=True)
class SafeReconciliation:
    """One vault's books against its Safe, in base units of the vault's asset.

    - ``book_cash``: the vault's cash position (the ``vault`` venue's base-asset quantity in base units): what the
      books say the Safe holds free for the vault. Deposits add to it when credited; a withdrawal takes its payout
      out when it is requested (the payout is then reserved, below); an executed fee collection takes its amount
      out when booked; a deposit reversal takes its amount back out.
    - ``reserved_payouts``: the payouts of withdrawals requested but not yet paid (requested, awaiting signatures,
      in custody): already out of ``book_cash``, still in the Safe until their proposal executes. Cancelled and
      failed proposals leave their withdrawal waiting, so their payout stays here.
    - ``uncredited_transfers``: transfers of the asset into the Safe that the chain has and the books did not
      credit: ``seen`` (awaiting confirmations), ``unattributed`` (no user's linked wallet sent them) and
      ``rejected``. Orphaned and reversed transfers are not counted: a reorganisation removed them from the chain,
      so they are in neither the books nor the balance.
    - ``onchain_balance``: ``balanceOf(safe)`` of the asset at ``block_number`` (the head when read).
    - ``difference``: ``onchain_balance - (book_cash + reserved_payouts + uncredited_transfers)``; zero when the
      books match the Safe to the base unit. Positive: the Safe holds more than the books know (a transfer above
      the deposit scan's cursor, ``scanned_to``, is not known yet); negative: the books count tokens the Safe no
      longer has.
    - ``in_flight``: ids of proposals submitted whose outcome is not recorded yet: until it is, the balance may or
      may not include their transfers, so a difference of their amounts is expected.
    """

    vault_id: int
    vault_slug: str
    chain_id: int
    safe: str
    token: str
    block_number: int
    scanned_to: int | None
    book_cash: int
    reserved_payouts: int
    uncredited_transfers: int
    onchain_balance: int
    in_flight: tuple[int, ...]

    @property
    def book_total(self) -> int:
        return self.book_cash + self.reserved_payouts + self.uncredited_transfers

    @property
    def difference(self) -> int:
        return self.onchain_balance - self.book_total

    @property
    def matches(self) -> bool:
        return self.difference == 0


def safe_books_reconcile(*, vault_id: int, w3: Web3 | None = None) -> SafeReconciliation:
    """The reconciliation of one vault with a Safe (see :class:`SafeReconciliation`). Raises
    ``VaultSafe.DoesNotExist`` for a vault without one, :class:`CustodyUnavailableError` if the chain cannot be
    read."""
    safe = VaultSafe.objects.select_related("vault").get(vault_id=vault_id)
    vault = safe.vault
    client = safe_web3(safe, w3)
    try:  # the chain first, outside any transaction
        block = int(client.eth.block_number)
        balance = erc20_balance(client, safe.asset_contract, safe.address, block=block)
    except (Web3Exception, OSError, ValueError) as error:
        raise CustodyUnavailableError(f"chain {safe.chain_id} could not be read: {error}") from None
    cash = (
        Position.objects.filter(vault=vault, asset=vault.base_asset, venue=CASH_VENUE)
        .values_list("quantity", flat=True)
        .first()
    )
    reserved = Withdrawal.objects.filter(vault=vault, state__in=RESERVED_STATES).aggregate(total=Sum("payout"))
    uncredited = ChainTransfer.objects.filter(
        vault_safe=safe, token=safe.asset_contract, state__in=UNCREDITED_STATES, block_number__lte=block
    ).aggregate(total=Sum("amount"))
    in_flight = SafeProposal.objects.filter(safe=safe, state=SafeProposal.State.SUBMITTED).order_by("id")
    return SafeReconciliation(
        vault_id=vault.pk,
        vault_slug=vault.slug,
        chain_id=safe.chain_id,
        safe=safe.address,
        token=safe.asset_contract,
        block_number=block,
        scanned_to=DepositScanCursor.objects.filter(vault_safe=safe).values_list("block_number", flat=True).first(),
        book_cash=_base_units(Decimal(0) if cash is None else Decimal(cash).scaleb(vault.asset_decimals)),
        reserved_payouts=_base_units(reserved["total"] or Decimal(0)),
        uncredited_transfers=_base_units(uncredited["total"] or Decimal(0)),
        onchain_balance=balance,
        in_flight=tuple(in_flight.values_list("id", flat=True)),
    )


def safes_books_reconcile(*, w3: Web3 | None = None) -> list[SafeReconciliation]:
    """:func:`safe_books_reconcile` for every vault with a Safe, by vault id."""
    vault_ids = VaultSafe.objects.order_by("vault_id").values_list("vault_id", flat=True)
    return [safe_books_reconcile(vault_id=vault_id, w3=w3) for vault_id in vault_ids]


def _base_units(amount: Decimal) -> int:
    """An exact integer of base units; a fraction means the books hold less than a base unit somewhere, which
    must show, not be rounded away."""
    if amount != amount.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of base units")
    return int(amount)
