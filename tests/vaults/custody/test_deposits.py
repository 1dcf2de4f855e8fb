"""Deposit detection on the in-process EVM (real Safe v1.4.1, OpenZeppelin ERC-20 test token): confirmations,
idempotent crediting, unattributed senders, reorganisations before and after crediting, paged log reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from safe_eth.eth.contracts import get_example_erc20_contract

from tests.factories import OperatorFactory, UserFactory
from tests.vaults.custody.conftest import Deposits
from vaults.custody import chain
from vaults.custody.deposits import (
    ChainTransferAttributionError,
    DepositScanError,
    chain_transfer_attribution_approve,
    chain_transfer_attribution_request,
    vault_safe_deposits_scan,
)
from vaults.models import (
    ChainTransfer,
    Deposit,
    DepositScanCursor,
    Lot,
    ManualCredit,
    Vault,
    VaultAccount,
    VaultEvent,
    VaultSafe,
)
from vaults.selectors import vault_engine_replay, vault_reconciliation

pytestmark = pytest.mark.django_db

State = ChainTransfer.State


def test_a_transfer_is_seen_at_once_and_credited_only_after_the_confirmations(deposits: Deposits) -> None:
    block = deposits.send(deposits.alice_wallet, 1_234_567)
    deposits.mine(2)  # two blocks on top: one short of three confirmations

    early = deposits.scan(confirmations=3)

    [transfer] = ChainTransfer.objects.all()
    assert early.seen == [transfer.pk] and early.credited == []
    assert (transfer.state, transfer.block_number, transfer.amount) == (State.SEEN, block, Decimal(1_234_567))
    assert (transfer.sender, transfer.recipient, transfer.token) == (
        deposits.alice_wallet.address,
        deposits.safe.address,
        deposits.token,
    )
    assert transfer.block_hash == "0x" + bytes(deposits.evm.w3.eth.get_block(block)["hash"]).hex()
    assert not Deposit.objects.exists()

    deposits.mine(1)
    credited = deposits.scan(confirmations=3)

    transfer.refresh_from_db()
    deposit = Deposit.objects.get()
    assert credited.credited == [transfer.pk] and credited.seen == []
    assert (transfer.state, transfer.deposit, transfer.depositor, transfer.lot) == (
        State.CREDITED,
        deposit,
        deposits.alice,
        deposit.lot,
    )
    assert (deposit.source, deposit.chain_id, deposit.tx_hash, deposit.log_index) == (
        Deposit.Source.ONCHAIN,
        deposits.evm.chain_id,
        transfer.tx_hash,
        transfer.log_index,
    )
    assert (deposit.depositor, deposit.amount, deposit.shares) == (deposits.alice, 1_234_567, Decimal(1_234_567))
    assert deposit.occurred_at == transfer.occurred_at is not None

    again = deposits.scan(confirmations=3)

    assert (again.seen, again.credited, again.requests) == ([], [], 0)
    assert Deposit.objects.count() == 1 and VaultEvent.objects.filter(kind="deposit").count() == 1
    assert Vault.objects.get().value == 1_234_567


def test_the_amount_is_the_logs_uint256_exactly(deposits: Deposits) -> None:
    huge = 10**12 - 1  # the wallet's whole balance but one unit, far beyond a float's exact integers
    deposits.send(deposits.alice_wallet, huge)

    deposits.scan(confirmations=0)

    assert Deposit.objects.get().amount == huge
    assert Vault.objects.get().value == huge


def test_a_sender_no_user_linked_is_unattributed_and_never_credited(deposits: Deposits) -> None:
    deposits.send(deposits.stranger, 5_000_000)

    scan = deposits.scan(confirmations=0)
    deposits.scan(confirmations=0)

    transfer = ChainTransfer.objects.get()
    assert scan.unattributed == [transfer.pk]
    assert (transfer.state, transfer.depositor, transfer.deposit) == (State.UNATTRIBUTED, None, None)
    assert transfer.note == f"sender {deposits.stranger.address} is no user's linked wallet"
    assert not Deposit.objects.exists() and Vault.objects.get().value == 0


def test_a_zero_transfer_from_a_linked_wallet_is_rejected(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 0)

    scan = deposits.scan(confirmations=0)

    transfer = ChainTransfer.objects.get()
    assert scan.rejected == [transfer.pk] and transfer.state == State.REJECTED
    assert not Deposit.objects.exists()


def test_other_transfers_of_the_token_are_ignored(deposits: Deposits) -> None:
    chain.erc20_transfer(deposits.evm.w3, deposits.token, deposits.alice_wallet, deposits.bob_wallet.address, 7)

    scan = deposits.scan(confirmations=0)

    assert scan.requests == 1 and not ChainTransfer.objects.exists()


def test_a_reorg_before_crediting_orphans_the_transfer(deposits: Deposits) -> None:
    fork = deposits.evm.tester.take_snapshot()
    block = deposits.send(deposits.alice_wallet, 2_000_000)
    deposits.scan(confirmations=3)
    transfer = ChainTransfer.objects.get()
    assert transfer.state == State.SEEN

    deposits.evm.tester.revert_to_snapshot(fork)  # the block with the transfer is replaced by a longer chain
    deposits.mine(5)
    scan = deposits.scan(confirmations=3)

    transfer.refresh_from_db()
    assert scan.fork_block == block - 1
    assert scan.orphaned == [transfer.pk] and scan.credited == []
    assert transfer.state == State.ORPHANED
    assert transfer.note.startswith(f"block {block} (")
    assert not Deposit.objects.exists() and Vault.objects.get().value == 0
    cursor = DepositScanCursor.objects.get()
    assert (cursor.block_number, cursor.reorgs) == (deposits.evm.w3.eth.block_number, 1)
    assert chain_funds(deposits) == 0  # on the canonical chain the Safe never received it


def test_a_reorg_to_a_shorter_chain_orphans_what_is_above_its_head(deposits: Deposits) -> None:
    fork = deposits.evm.tester.take_snapshot()
    fork_block = deposits.evm.w3.eth.block_number
    deposits.send(deposits.alice_wallet, 2_000_000)
    deposits.mine(3)
    deposits.scan(confirmations=10)

    deposits.evm.tester.revert_to_snapshot(fork)  # the new chain ends at the fork point itself
    scan = deposits.scan(confirmations=10)

    transfer = ChainTransfer.objects.get()
    assert (scan.fork_block, scan.orphaned, transfer.state) == (fork_block, [transfer.pk], State.ORPHANED)
    assert DepositScanCursor.objects.get().block_number == fork_block


def chain_funds(deposits: Deposits) -> int:
    """The Safe's balance of the test token: what the canonical chain says it received."""
    return chain.erc20_balance(deposits.evm.w3, deposits.token, deposits.safe.address)


def test_a_reorg_after_crediting_reverses_the_deposit_exactly(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 3_000_000)
    deposits.scan(confirmations=1)
    deposits.mine(1)
    deposits.scan(confirmations=1)  # Alice's deposit credited
    before = Vault.objects.get()
    alice_lot = Lot.objects.get(depositor=deposits.alice)
    fork = deposits.evm.tester.take_snapshot()
    deposits.send(deposits.bob_wallet, 1_500_000)
    deposits.mine(1)
    credited = deposits.scan(confirmations=1)
    bob_deposit = Deposit.objects.get(depositor=deposits.bob)
    assert len(credited.credited) == 1

    deposits.evm.tester.revert_to_snapshot(fork)  # Bob's block is reorganised away after it was credited
    deposits.mine(4)
    scan = deposits.scan(confirmations=1)

    transfer = ChainTransfer.objects.get(pk=credited.credited[0])
    vault = Vault.objects.get()
    event = VaultEvent.objects.get(kind=VaultEvent.Kind.REVERSAL)
    assert scan.reversed == [transfer.pk]
    assert (transfer.state, transfer.deposit, transfer.reversal_event) == (State.REVERSED, None, event)
    assert not Deposit.objects.filter(pk=bob_deposit.pk).exists()
    assert Lot.objects.get(pk=bob_deposit.lot_id).shares == 0
    assert VaultAccount.objects.get(depositor=deposits.bob).shares == 0
    assert VaultAccount.objects.get(depositor=deposits.bob).deposited == 0
    # Exactly what Bob's deposit added leaves again; Alice's lot is untouched.
    assert vault.value == before.value == 3_000_000
    assert vault.shares_outstanding - vault.fee_account_shares == before.shares_outstanding - before.fee_account_shares
    assert Lot.objects.get(pk=alice_lot.pk).shares == alice_lot.shares
    assert event.payload["amount"] == "1500000" and event.payload["tx_hash"] == transfer.tx_hash
    assert event.payload["shares"] == str(bob_deposit.shares)
    replay = vault_engine_replay(vault_id=vault.pk)
    assert (replay.value, replay.shares_outstanding, replay.fee_account_shares) == (
        vault.value,
        vault.shares_outstanding,
        vault.fee_account_shares,
    )
    assert vault_reconciliation(vault_id=vault.pk).ok
    assert chain_funds(deposits) == 3_000_000 == vault.value  # the ledger agrees with the chain again

    deposits.mine(3)
    assert deposits.scan(confirmations=1).reversed == []  # a later scan changes nothing


def _bob_transfer_signed(deposits: Deposits, amount: int) -> tuple[bytes, bytes]:
    """Bob's transfer into the Safe, signed but not sent: ``(tx hash, raw transaction)``."""
    call = get_example_erc20_contract(deposits.evm.w3, deposits.token).functions.transfer(deposits.safe.address, amount)
    transaction = call.build_transaction({"from": deposits.bob_wallet.address, "gas": 100_000})
    return chain.transaction_sign(deposits.evm.w3, deposits.bob_wallet, dict(transaction))


def test_a_credited_transfer_mined_again_in_another_block_stays_credited(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 3_000_000)
    deposits.scan(confirmations=0)
    fork = deposits.evm.tester.take_snapshot()
    tx_hash, raw = _bob_transfer_signed(deposits, 700_000)
    deposits.evm.w3.eth.send_raw_transaction(raw)
    deposits.scan(confirmations=0)
    deposit = Deposit.objects.get(depositor=deposits.bob)

    deposits.evm.tester.revert_to_snapshot(fork)
    deposits.mine(2)
    deposits.evm.w3.eth.send_raw_transaction(raw)  # the same signed transaction, in a later block of the new chain
    scan = deposits.scan(confirmations=0)

    transfer = ChainTransfer.objects.get(tx_hash="0x" + tx_hash.hex())
    assert scan.fork_block is not None and (scan.reversed, scan.orphaned, scan.credited) == ([], [], [])
    assert transfer.block_number == deposits.evm.w3.eth.block_number
    assert transfer.state == State.CREDITED and transfer.deposit == deposit
    assert Vault.objects.get().value == 3_700_000 == chain_funds(deposits)


def test_a_reversed_transfer_mined_again_later_is_credited_again(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 3_000_000)
    deposits.scan(confirmations=0)
    fork = deposits.evm.tester.take_snapshot()
    tx_hash, raw = _bob_transfer_signed(deposits, 700_000)
    deposits.evm.w3.eth.send_raw_transaction(raw)
    deposits.scan(confirmations=0)
    [first] = Deposit.objects.filter(depositor=deposits.bob)
    deposits.evm.tester.revert_to_snapshot(fork)
    deposits.mine(2)
    reversed_scan = deposits.scan(confirmations=0)
    assert Vault.objects.get().value == 3_000_000

    deposits.evm.w3.eth.send_raw_transaction(raw)  # the same signed transaction is mined after all
    scan = deposits.scan(confirmations=0)

    transfer = ChainTransfer.objects.get(tx_hash="0x" + tx_hash.hex())
    again = Deposit.objects.get(depositor=deposits.bob)
    assert reversed_scan.reversed == [transfer.pk]
    assert scan.seen == [transfer.pk] and scan.credited == [transfer.pk]
    assert transfer.state == State.CREDITED and transfer.deposit == again and again.pk != first.pk
    assert transfer.note.endswith(f"mined again in block {transfer.block_number}")
    assert Vault.objects.get().value == 3_700_000 == chain_funds(deposits)
    assert vault_reconciliation(vault_id=deposits.vault.pk).ok


def test_a_reversal_is_refused_and_flagged_when_the_lot_was_withdrawn_from(deposits: Deposits) -> None:
    from vaults import services

    deposits.send(deposits.alice_wallet, 3_000_000)
    deposits.scan(confirmations=0)
    fork = deposits.evm.tester.take_snapshot()
    deposits.send(deposits.bob_wallet, 1_000_000)
    deposits.scan(confirmations=0)
    services.vault_withdrawal_request(vault_id=deposits.vault.pk, depositor_id=deposits.bob.pk, shares=Decimal(1))
    value_before = Vault.objects.get().value

    deposits.evm.tester.revert_to_snapshot(fork)
    deposits.mine(3)
    scan = deposits.scan(confirmations=0)

    transfer = ChainTransfer.objects.get(sender=deposits.bob_wallet.address)
    assert scan.flagged == [transfer.pk] and scan.reversed == []
    assert transfer.state == State.CREDITED and transfer.needs_operator
    assert "cannot be reversed" in transfer.note and "shares were withdrawn or crystallised" in transfer.note
    assert Vault.objects.get().value == value_before and Deposit.objects.filter(depositor=deposits.bob).exists()
    assert not VaultEvent.objects.filter(kind=VaultEvent.Kind.REVERSAL).exists()


def test_ranges_larger_than_one_request_are_paged(deposits: Deposits) -> None:
    blocks = [deposits.send(deposits.alice_wallet, amount) for amount in (100, 200, 300)]
    deposits.mine(4)
    head = deposits.evm.w3.eth.block_number
    expected_requests = -(-(head - deposits.safe.deployed_block + 1) // 2)  # ceil(blocks / 2)

    scan = deposits.scan(confirmations=0, blocks_per_request=2)

    assert (scan.from_block, scan.to_block) == (deposits.safe.deployed_block, head)
    assert scan.requests == expected_requests >= 4
    stored = ChainTransfer.objects.order_by("block_number")
    assert [(t.block_number, t.amount) for t in stored] == list(zip(blocks, (100, 200, 300), strict=True))
    assert len(scan.credited) == 3 and Vault.objects.get().value == 600


def test_a_safe_far_behind_catches_up_over_several_scans(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 100)
    deposits.mine(6)
    deposits.send(deposits.alice_wallet, 200)
    head = deposits.evm.w3.eth.block_number
    ranges = []

    while not ranges or ranges[-1][1] < head:
        scan = deposits.scan(confirmations=0, blocks_per_request=2, requests_per_scan=2)
        assert scan.requests <= 2
        ranges.append((scan.from_block, scan.to_block))

    # Consecutive ranges of at most 4 blocks, each scan continuing where the last one stopped.
    assert ranges[0][0] == deposits.safe.deployed_block
    assert all(end - start + 1 <= 4 for start, end in ranges)
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert len(ranges) >= 3
    assert sorted(ChainTransfer.objects.values_list("amount", "state")) == [(100, "credited"), (200, "credited")]
    assert Vault.objects.get().value == 300


def test_a_node_on_another_chain_is_refused(deposits: Deposits) -> None:
    VaultSafe.objects.filter(pk=deposits.safe.pk).update(chain_id=1)

    with pytest.raises(DepositScanError, match="the RPC for chain 1 serves chain"):
        vault_safe_deposits_scan(vault_safe_id=deposits.safe.pk, w3=deposits.evm.w3, confirmations=0)

    assert not DepositScanCursor.objects.exists()


# -- two operators attribute an unattributed transfer -------------------------------------------------------


def _unattributed(deposits: Deposits, amount: int, confirmations: int = 2) -> ChainTransfer:
    """The stranger's transfer of ``amount``, scanned with ``confirmations`` blocks on top: unattributed."""
    deposits.send(deposits.stranger, amount)
    deposits.mine(confirmations)
    scan = deposits.scan(confirmations=confirmations)
    [transfer_id] = scan.unattributed
    return deposits.transfer(transfer_id)


def _attribute(
    deposits: Deposits, transfer: ChainTransfer, depositor: Any, operator: Any, approver: Any = None, **options: Any
) -> ChainTransfer:
    """``operator`` requests the attribution, ``approver`` (another, seasoned operator by default) approves it."""
    note = options.pop("note", "ticket 42: Bob's exchange withdrawal, proof attached")
    options.setdefault("confirmations", 2)
    options.setdefault("w3", deposits.evm.w3)
    credit = chain_transfer_attribution_request(
        transfer_id=transfer.pk, depositor_id=depositor.pk, operator_id=operator.pk, note=note
    )
    approver = approver if approver is not None else OperatorFactory()
    chain_transfer_attribution_approve(credit_id=credit.pk, operator_id=approver.pk, **options)
    return deposits.transfer(transfer.pk)


def test_two_operators_credit_an_unattributed_transfer_to_a_depositor_once(deposits: Deposits) -> None:
    transfer = _unattributed(deposits, 4_250_001)
    operator, approver = OperatorFactory(), OperatorFactory()

    credited = _attribute(deposits, transfer, deposits.bob, operator, approver)

    deposit = Deposit.objects.get()
    assert (credited.state, credited.depositor, credited.deposit, credited.lot) == (
        State.CREDITED,
        deposits.bob,
        deposit,
        deposit.lot,
    )
    assert (deposit.source, deposit.chain_id, deposit.tx_hash, deposit.log_index) == (
        Deposit.Source.ONCHAIN,
        deposits.evm.chain_id,
        transfer.tx_hash,
        transfer.log_index,
    )
    assert (deposit.depositor, deposit.amount, deposit.recorded_by) == (deposits.bob, Decimal(4_250_001), operator)
    assert credited.note == (
        f"sender {deposits.stranger.address} is no user's linked wallet\n"
        f"attributed to {deposits.bob.email} by operator {operator.email}, approved by operator {approver.email}: "
        "ticket 42: Bob's exchange withdrawal, proof attached"
    )
    credit = ManualCredit.objects.get()
    assert (credit.kind, credit.state, credit.requested_by, credit.decided_by, credit.deposit, credit.amount) == (
        "attribution", "applied", operator, approver, deposit, Decimal(4_250_001),
    )  # fmt: skip
    assert VaultAccount.objects.get(depositor=deposits.bob).deposited == 4_250_001
    assert Vault.objects.get().value == 4_250_001 == chain_funds(deposits)

    with pytest.raises(ChainTransferAttributionError) as again:  # the form sent again after the credit
        _attribute(deposits, transfer, deposits.bob, operator)
    assert again.value.code == "not_unattributed"
    assert Deposit.objects.count() == 1 and Vault.objects.get().value == 4_250_001
    assert ManualCredit.objects.count() == 1
    deposits.mine(2)
    assert deposits.scan(confirmations=2).credited == []  # the scan leaves it as it is


def test_one_operator_alone_only_requests_an_attribution(deposits: Deposits) -> None:
    transfer = _unattributed(deposits, 1_500_000)
    operator, fresh = OperatorFactory(), OperatorFactory(role_age=timedelta(hours=71))

    credit = chain_transfer_attribution_request(
        transfer_id=transfer.pk, depositor_id=deposits.bob.pk, operator_id=operator.pk, note="ticket 9"
    )
    repeat = chain_transfer_attribution_request(
        transfer_id=transfer.pk, depositor_id=deposits.bob.pk, operator_id=operator.pk, note="ticket 9"
    )

    def untouched() -> None:
        stored = deposits.transfer(transfer.pk)
        assert (stored.state, stored.deposit, stored.depositor) == (State.UNATTRIBUTED, None, None)
        assert not Deposit.objects.exists() and Vault.objects.get().value == 0
        assert list(ManualCredit.objects.values_list("id", "state", "decided_by")) == [(credit.pk, "pending", None)]

    assert (repeat.pk, credit.state, credit.amount) == (credit.pk, "pending", Decimal(1_500_000))
    untouched()
    for approver, code in ((operator, "second_operator_required"), (fresh, "operator_role_too_new")):
        with pytest.raises(ChainTransferAttributionError) as raised:
            chain_transfer_attribution_approve(
                credit_id=credit.pk, operator_id=approver.pk, w3=deposits.evm.w3, confirmations=2
            )
        assert raised.value.code == code
        untouched()
    with pytest.raises(ChainTransferAttributionError) as other:  # another depositor while one is pending
        chain_transfer_attribution_request(
            transfer_id=transfer.pk, depositor_id=deposits.alice.pk, operator_id=operator.pk, note="no, Alice's"
        )
    assert other.value.code == "attribution_pending"
    untouched()


def test_attribution_refusals_write_nothing(deposits: Deposits, settings: Any) -> None:
    transfer = _unattributed(deposits, 1_000_000)
    operator = OperatorFactory()

    def refused(code: str, **options: Any) -> None:
        options = {"depositor": deposits.bob, "operator": operator, **options}
        with pytest.raises(ChainTransferAttributionError) as raised:
            _attribute(deposits, transfer, options.pop("depositor"), options.pop("operator"), **options)
        assert raised.value.code == code
        stored = deposits.transfer(transfer.pk)
        assert (stored.state, stored.deposit, stored.depositor) == (State.UNATTRIBUTED, None, None)
        assert not Deposit.objects.exists() and Vault.objects.get().value == 0
        assert not ManualCredit.objects.exclude(state="pending").exists()

    refused("operators_only", operator=deposits.alice)  # a depositor is no operator
    refused("note_required", note="  ")
    refused("depositor_unknown", depositor=UserFactory(is_active=False))
    refused("not_confirmed", confirmations=3)  # 2 blocks on top: one short
    settings.CHAIN_RPC_URLS = {}
    refused("chain_unavailable", w3=None)  # no RPC URL for the Safe's chain
    # Alice's own transfer was credited by the scan: never re-attributed to Bob.
    deposits.send(deposits.alice_wallet, 7)
    deposits.mine(2)
    [alices] = deposits.scan(confirmations=2).credited
    with pytest.raises(ChainTransferAttributionError) as raised:
        _attribute(deposits, deposits.transfer(alices), deposits.bob, operator)
    assert raised.value.code == "not_unattributed"
    assert "is credited" in raised.value.message and f"user {deposits.alice.pk}" in raised.value.message
    assert Deposit.objects.get().depositor == deposits.alice


def test_a_zero_transfer_is_never_attributed(deposits: Deposits) -> None:
    transfer = _unattributed(deposits, 0)

    with pytest.raises(ChainTransferAttributionError) as raised:
        _attribute(deposits, transfer, deposits.bob, OperatorFactory())

    assert raised.value.code == "amount_zero"
    assert deposits.transfer(transfer.pk).state == State.UNATTRIBUTED and not Deposit.objects.exists()


def test_a_transfer_whose_block_was_reorganised_away_is_not_attributed(deposits: Deposits) -> None:
    fork = deposits.evm.tester.take_snapshot()
    transfer = _unattributed(deposits, 2_000_000)
    deposits.evm.tester.revert_to_snapshot(fork)  # its block is gone; no scan has seen that yet
    deposits.mine(6)

    with pytest.raises(ChainTransferAttributionError) as raised:
        _attribute(deposits, transfer, deposits.bob, OperatorFactory())

    assert raised.value.code == "not_confirmed" and f"block {transfer.block_number} (" in raised.value.message
    assert deposits.transfer(transfer.pk).state == State.UNATTRIBUTED and not Deposit.objects.exists()
    assert deposits.scan(confirmations=2).orphaned == [transfer.pk]  # the next scan settles it


def test_an_attributed_deposit_reorganised_away_is_reversed_by_the_scan(deposits: Deposits) -> None:
    deposits.send(deposits.alice_wallet, 3_000_000)
    deposits.mine(2)
    assert len(deposits.scan(confirmations=2).credited) == 1  # the vault holds Alice's deposit
    fork = deposits.evm.tester.take_snapshot()
    transfer = _unattributed(deposits, 2_000_000)
    _attribute(deposits, transfer, deposits.bob, OperatorFactory())
    assert Vault.objects.get().value == 5_000_000

    deposits.evm.tester.revert_to_snapshot(fork)  # the attributed transfer's block is reorganised away
    deposits.mine(6)
    scan = deposits.scan(confirmations=2)

    assert scan.reversed == [transfer.pk]
    assert deposits.transfer(transfer.pk).state == State.REVERSED
    assert not Deposit.objects.filter(depositor=deposits.bob).exists()
    assert Vault.objects.get().value == 3_000_000 == chain_funds(deposits)
