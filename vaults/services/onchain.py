"""On-chain balances for a valuation: the Safe's token balances read at the block the deposit scan has reached,
with no lock held, and what the books do not count as the vault's taken off them under the lock."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from web3.exceptions import Web3Exception

from chains.addresses import AddressError
from chains.erc20 import TokenBalance, token_balance_read
from chains.rpc import ChainNotConfigured, chain_web3
from fees.core.numbers import ZERO
from vaults.errors import (
    VaultServiceError,
)
from vaults.models import (
    ChainTransfer,
    DepositScanCursor,
    Position,
    SafeProposal,
    Vault,
    VaultSafe,
    Withdrawal,
)

# On-chain balances are read at the block the deposit scan has reached (so every transfer in them is a known
# ChainTransfer); a scan further behind the head than this is refused rather than read from old state.
VALUATION_SCAN_LAG_BLOCKS = 64


@dataclass(frozen=True)
class SafeOutflows:
    """What may have moved tokens out of the Safe: the proposals executed so far (terminal, so their count only
    grows) and those submitted whose outcome is not recorded yet."""

    executed: int
    submitted: tuple[int, ...]


def safe_outflows(safe: VaultSafe) -> SafeOutflows:
    states = SafeProposal.objects.filter(safe=safe)
    return SafeOutflows(
        executed=states.filter(state=SafeProposal.State.EXECUTED).count(),
        submitted=tuple(states.filter(state=SafeProposal.State.SUBMITTED).order_by("id").values_list("id", flat=True)),
    )


def in_flight_refuse(outflows: SafeOutflows) -> None:
    if outflows.submitted:
        ids = ", ".join(str(pk) for pk in outflows.submitted)
        raise VaultServiceError(
            f"Safe proposal(s) {ids} submitted and not yet recorded: the Safe's balance may or may not include "
            "them; value the vault once they are",
            code="safe_transaction_in_flight",
        )


@dataclass(frozen=True)
class OnchainReads:
    safe: VaultSafe
    outflows: SafeOutflows
    scanned_to: int | None  # the deposit scan's cursor when the balances were read
    balances: dict[int, TokenBalance]  # by Position id


def onchain_balances_read(vault_id: int) -> OnchainReads | None:
    """Read, with no transaction or lock held, the balances of the vault's on-chain positions, all at one block:
    the block the deposit scan has reached (the head when the Safe was never scanned). None when it has none."""
    positions = list(Position.objects.filter(vault_id=vault_id, source=Position.Source.ONCHAIN_BALANCE).order_by("id"))
    if not positions:
        return None
    safe = VaultSafe.objects.filter(vault_id=vault_id).first()
    if safe is None:
        raise VaultServiceError(
            f"vault {vault_id} has on-chain positions but no Safe to read them from", code="no_safe"
        )
    outflows = safe_outflows(safe)
    in_flight_refuse(outflows)
    scanned_to = DepositScanCursor.objects.filter(vault_safe=safe).values_list("block_number", flat=True).first()
    try:
        w3 = chain_web3(safe.chain_id)
        served = w3.eth.chain_id
        if served != safe.chain_id:
            raise VaultServiceError(
                f"the RPC for chain {safe.chain_id} serves chain {served}: no balance read", code="chain_mismatch"
            )
        head = int(w3.eth.block_number)
        block = head
        if scanned_to is not None:
            if head - scanned_to > VALUATION_SCAN_LAG_BLOCKS:
                raise VaultServiceError(
                    f"the Safe's deposit scan is {head - scanned_to} blocks behind the head (block {scanned_to}): "
                    "deposits not yet scanned would count as value; value the vault once it has caught up",
                    code="deposit_scan_behind",
                )
            block = min(head, scanned_to)
        balances = {
            position.pk: token_balance_read(
                w3, chain_id=safe.chain_id, token=position.token_contract, holder=safe.address, block=block
            )
            for position in positions
        }
    except (ChainNotConfigured, Web3Exception, AddressError, OSError) as error:  # OSError: unreachable (requests)
        raise VaultServiceError(
            f"chain {safe.chain_id} could not be read ({type(error).__name__}: {error}): no valuation recorded",
            code="chain_unavailable",
        ) from None
    return OnchainReads(safe=safe, outflows=outflows, scanned_to=scanned_to, balances=balances)


def onchain_quantity(vault: Vault, position: Position, reads: OnchainReads) -> dict[str, Any]:
    """The position's quantity from its balance read, and where it came from. For the base asset, the Safe also
    holds what the books no longer (or not yet) count as the vault's: the payouts of withdrawals requested but not
    paid (their value left the vault when requested) and the transfers in the block read not credited as deposits
    (seen, unattributed, rejected); both are taken off. The vault is locked."""
    balance = reads.balances.get(position.pk)
    if balance is None or balance.token != position.token_contract:
        raise VaultServiceError("the vault's on-chain positions changed during the valuation: retry", code="raced")
    held = balance.raw
    mark: dict[str, Any] = {
        "source": "onchain balance",
        "chain_id": balance.chain_id,
        "token": balance.token,
        "holder": balance.holder,
        "block_number": balance.block_number,
        "block_hash": balance.block_hash,
        "deposits_scanned_to": reads.scanned_to,
        "raw_balance": str(balance.raw),
        "decimals": balance.decimals,
    }
    if position.asset == vault.base_asset:
        if balance.decimals != vault.asset_decimals:
            raise VaultServiceError(
                f"token {balance.token} has {balance.decimals} decimals on chain, the vault's {vault.base_asset} "
                f"{vault.asset_decimals}",
                code="decimals_mismatch",
            )
        reserved = Withdrawal.objects.filter(
            vault=vault,
            state__in=[
                Withdrawal.State.REQUESTED,
                Withdrawal.State.AWAITING_SIGNATURES,
                Withdrawal.State.IN_CUSTODY,
            ],
        ).order_by("id")
        transfers = ChainTransfer.objects.filter(vault_safe=reads.safe, token=balance.token)
        if transfers.filter(state=ChainTransfer.State.CREDITED, block_number__gt=balance.block_number).exists():
            raise VaultServiceError(
                f"a deposit above block {balance.block_number} was credited during the valuation: retry",
                code="raced",
            )
        uncredited = transfers.filter(
            state__in=[ChainTransfer.State.SEEN, ChainTransfer.State.UNATTRIBUTED, ChainTransfer.State.REJECTED],
            block_number__lte=balance.block_number,
        ).order_by("id")
        reserved_units = int(sum((w.payout for w in reserved), ZERO))
        uncredited_units = int(sum((t.amount for t in uncredited), ZERO))
        held -= reserved_units + uncredited_units
        mark["reserved_payouts"] = str(reserved_units)
        mark["reserved_withdrawals"] = [w.pk for w in reserved]
        mark["uncredited_deposits"] = str(uncredited_units)
        mark["uncredited_transfers"] = [t.pk for t in uncredited]
    mark["quantity"] = format(Decimal(held).scaleb(-balance.decimals), "f")
    return mark
