"""Deposit detection on the in-process EVM (real Safe v1.4.1, OpenZeppelin ERC-20 test token): confirmations,
idempotent crediting, unattributed senders, reorganisations before and after crediting, paged log reads."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from safe_eth.eth.contracts import get_example_erc20_contract

from accounts.models import Wallet
from tests.factories import UserFactory
from tests.vaults.builders import vault_new
from tests.vaults.custody.conftest import Evm
from vaults.custody import chain
from vaults.custody.deposits import DepositScan, DepositScanError, vault_safe_deposits_scan
from vaults.models import ChainTransfer, Deposit, DepositScanCursor, Lot, Vault, VaultAccount, VaultEvent, VaultSafe
from vaults.selectors import vault_engine_replay, vault_reconciliation

pytestmark = pytest.mark.django_db

State = ChainTransfer.State


@dataclass
class Deposits:
    """A vault whose Safe is the EVM's, a fresh 6-decimal token, two users with a linked wallet each, a stranger."""

    evm: Evm
    token: str
    vault: Vault
    safe: VaultSafe
    alice: Any
    bob: Any
    alice_wallet: LocalAccount
    bob_wallet: LocalAccount
    stranger: LocalAccount

    def send(self, sender: LocalAccount, amount: int) -> int:
        """Transfer ``amount`` base units from ``sender`` into the Safe; the block it was mined in."""
        receipt = chain.erc20_transfer(self.evm.w3, self.token, sender, self.safe.address, amount)
        assert receipt["status"] == 1
        return int(receipt["blockNumber"])

    def mine(self, blocks: int) -> None:
        self.evm.tester.mine_blocks(blocks)

    def scan(self, confirmations: int = 3, **options: Any) -> DepositScan:
        return vault_safe_deposits_scan(
            vault_safe_id=self.safe.pk, w3=self.evm.w3, confirmations=confirmations, **options
        )

    def transfer(self, pk: int) -> ChainTransfer:
        return ChainTransfer.objects.get(pk=pk)


@pytest.fixture
def deposits(evm: Evm) -> Deposits:
    w3 = evm.w3
    alice_wallet, bob_wallet, stranger = (Account.create() for _ in range(3))
    token = chain.erc20_test_token_deploy(w3, evm.deployer, holder=evm.deployer.address, amount=10**15)
    for holder in (alice_wallet, bob_wallet, stranger):
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": holder.address, "value": 10**18})
        chain.erc20_transfer(w3, token, evm.deployer, holder.address, 10**12)
    alice, bob = UserFactory(), UserFactory()
    Wallet.objects.create(user=alice, address=alice_wallet.address, chain_id=evm.chain_id)
    Wallet.objects.create(user=bob, address=bob_wallet.address, chain_id=evm.chain_id)
    vault = vault_new()
    safe = VaultSafe.objects.create(
        vault=vault,
        chain_id=evm.chain_id,
        address=evm.safe,
        asset_contract=token,
        owners=[evm.cosigner.address, *(o.address for o in evm.operators), evm.recovery.address],
        threshold=2,
        cosigner=evm.cosigner.address,
        deployed_block=w3.eth.block_number,
    )
    return Deposits(evm, token, vault, safe, alice, bob, alice_wallet, bob_wallet, stranger)


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
