"""Issue 13 item 5: the books match the Safe. An executed fee collection burns the fee account's shares worth the
fee and takes it out of the cash, exactly; and the reconciliation (book cash + reserved payouts + uncredited
transfers against ``balanceOf(safe)``) agrees to the base unit after every kind of operation: deposits (unconfirmed,
credited, unattributed), a reversal after a reorganisation, a withdrawal paid, a cancelled and a failed proposal,
a fee collection. Everything runs on the real Safe v1.4.1 bytecode; every token moved is read back on chain."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, localcontext
from typing import Any

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount

from accounts.models import Wallet
from fees.core.numbers import FEE_CONTEXT, shares_up
from tests.factories import OperatorFactory
from tests.vaults.custody.conftest import Deposits
from tests.vaults.custody.test_custody_services import _Raises, depositor_sign, owner_sign
from vaults import selectors as vault_selectors
from vaults import services as vault_services
from vaults.custody import services as cs
from vaults.custody.calls import erc20_transfer_data
from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE
from vaults.custody.management.commands.safe import custody_main
from vaults.custody.services import proposal_steps
from vaults.custody.services.reconciliation import SafeReconciliation
from vaults.models import FeeCollection, Position, SafeProposal, Vault, VaultEvent, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
S = SafeProposal.State


@dataclass
class Books:
    """The ``deposits`` fixture (a fresh token, the Safe holding none of it, Alice and Bob with a linked wallet
    each, a stranger) made a custody vault: a second linked wallet each, the co-signer's key, two operators, the
    platform's fee address."""

    d: Deposits
    alice_second: LocalAccount
    bob_second: LocalAccount
    operators: list[Any]
    fee_address: str

    def balance(self, holder: str) -> int:
        from vaults.custody.chain import erc20_balance

        return erc20_balance(self.d.evm.w3, self.d.token, holder)

    def credit(self, sender: LocalAccount, amount: int) -> None:
        self.d.send(sender, amount)
        self.d.mine(1)
        self.d.scan(confirmations=1)

    def reconcile(self) -> SafeReconciliation:
        return cs.safe_books_reconcile(vault_id=self.d.vault.pk, w3=self.d.evm.w3)

    def agree(self, *, cash: int, reserved: int, uncredited: int) -> SafeReconciliation:
        """The books and the Safe agree to the base unit, with these terms; the share invariants hold."""
        r = self.reconcile()
        assert (r.book_cash, r.reserved_payouts, r.uncredited_transfers) == (cash, reserved, uncredited)
        assert r.onchain_balance == self.balance(self.d.safe.address) == cash + reserved + uncredited
        assert (r.difference, r.matches, r.in_flight) == (0, True, ())
        assert vault_selectors.vault_reconciliation(vault_id=self.d.vault.pk).ok
        return r

    def request(self, user: Any, wallet: LocalAccount, amount: int, minutes: int = 30) -> SafeProposal:
        return cs.custody_withdrawal_request(
            vault_id=self.d.vault.pk, depositor_id=user.pk, destination=wallet.address,
            deadline=timezone.now() + timedelta(minutes=minutes), amount=amount,
        )  # fmt: skip

    def authorise(self, proposal: SafeProposal, first: LocalAccount, second: LocalAccount) -> SafeProposal:
        cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, first))
        return cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, second))

    def operator_signs(self, proposal: SafeProposal) -> SafeProposal:
        return cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, self.d.evm.operators[0]))

    def execute(self, proposal: SafeProposal) -> SafeProposal:
        return cs.proposal_execute(proposal_id=proposal.pk, sender=self.d.evm.deployer, w3=self.d.evm.w3)

    def fee_collection(self, amount: int) -> SafeProposal:
        proposal = cs.operation_proposal_create(
            vault_id=self.d.vault.pk, kind="fee_collection", to=self.d.token,
            data=erc20_transfer_data(self.fee_address, amount), proposer_id=self.operators[0].pk, w3=self.d.evm.w3,
        )  # fmt: skip
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=self.operators[1].pk, approve=True)
        authorised = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=self.operators[2].pk, approve=True)
        assert authorised.state == S.AUTHORISED and authorised.signatures.count() == 1  # co-signed
        return self.operator_signs(authorised)

    def cash(self) -> int:
        vault = Vault.objects.get(pk=self.d.vault.pk)
        quantity = Position.objects.get(vault=vault, venue="vault").quantity
        return int(quantity.scaleb(vault.asset_decimals))


@pytest.fixture
def books(deposits: Deposits, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Books:
    evm = deposits.evm
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + evm.cosigner.key.hex())
    monkeypatch.setattr(proposal_steps, "chain_web3", lambda chain_id: evm.w3)
    fee_address = Account.create().address
    settings.HFT_SAFE_FEE_RECIPIENT = fee_address
    alice_second, bob_second = Account.create(), Account.create()
    linked_at = timezone.now() - timedelta(days=3)  # a wallet authorises withdrawals 48 h after its link
    Wallet.objects.filter(user__in=[deposits.alice, deposits.bob]).update(created_at=linked_at)
    Wallet.objects.create(
        user=deposits.alice, address=alice_second.address, chain_id=evm.chain_id, created_at=linked_at
    )
    Wallet.objects.create(user=deposits.bob, address=bob_second.address, chain_id=evm.chain_id, created_at=linked_at)
    operators = [OperatorFactory(), OperatorFactory(), OperatorFactory()]  # the first proposes, the others approve
    return Books(deposits, alice_second, bob_second, operators, fee_address)


def _fees_accrue(b: Books) -> None:
    """A year of management fee on what the vault holds (settled; no token moves)."""
    vault_services.vault_fees_settle(vault_id=b.d.vault.pk, at=timezone.now() + timedelta(days=365))


def test_an_executed_fee_collection_burns_the_fee_accounts_shares_and_moves_the_cash_exactly(books: Books) -> None:
    # given 5 tUSD deposited on chain and a year of management fee charged in fee shares
    b = books
    b.credit(b.d.alice_wallet, 5_000_000)
    _fees_accrue(b)
    before = Vault.objects.get(pk=b.d.vault.pk)
    assert before.fee_account_shares > 0
    fee = 20_000
    with localcontext(FEE_CONTEXT):
        burned = shares_up(Decimal(fee) / (before.value / before.shares_outstanding))
    b.agree(cash=5_000_000, reserved=0, uncredited=0)

    # when the platform collects 0.02 tUSD of fees through the Safe
    executed = b.execute(b.fee_collection(fee))

    # then the fee left the Safe once, and the books took exactly that out of the cash and the fee account
    assert (executed.state, executed.state_code) == (S.EXECUTED, "")
    assert b.balance(b.fee_address) == fee
    after = Vault.objects.get(pk=b.d.vault.pk)
    assert after.value == before.value - fee
    assert after.fee_account_shares == before.fee_account_shares - burned
    assert after.shares_outstanding == before.shares_outstanding - burned
    assert b.cash() == 5_000_000 - fee
    booked = FeeCollection.objects.get(proposal=executed)
    assert (booked.amount, booked.shares, booked.event.kind) == (fee, burned, VaultEvent.Kind.FEE_COLLECTION)
    # the depositor's value is untouched by the fee leaving: P did not fall
    assert vault_selectors.vault_price(after) >= vault_selectors.vault_price(before)
    b.agree(cash=5_000_000 - fee, reserved=0, uncredited=0)
    # booking is once per proposal: recording the outcome again changes nothing
    assert b.execute(executed).state == S.EXECUTED
    assert FeeCollection.objects.filter(proposal=executed).count() == 1
    assert Vault.objects.get(pk=b.d.vault.pk).fee_account_shares == after.fee_account_shares
    # and the event log replays to the stored state, the collection included
    replay = vault_selectors.vault_engine_replay(vault_id=b.d.vault.pk)
    assert (replay.value, replay.shares_outstanding, replay.fee_account_shares) == (
        after.value, after.shares_outstanding, after.fee_account_shares,
    )  # fmt: skip
    assert replay.fee_collected_shares() == burned


def test_a_fee_collection_above_what_the_fee_account_is_worth_is_refused_by_the_cosigner(books: Books) -> None:
    b = books
    b.credit(b.d.alice_wallet, 5_000_000)
    _fees_accrue(b)
    vault = Vault.objects.get(pk=b.d.vault.pk)
    worth = int(vault.fee_account_shares * vault_selectors.vault_price(vault))
    proposal = cs.operation_proposal_create(
        vault_id=b.d.vault.pk, kind="fee_collection", to=b.d.token, data=erc20_transfer_data(b.fee_address, worth + 1),
        proposer_id=b.operators[0].pk, w3=b.d.evm.w3,
    )  # fmt: skip
    cs.operator_approval_add(proposal_id=proposal.pk, operator_id=b.operators[1].pk, approve=True)
    refused = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=b.operators[2].pk, approve=True)
    assert (refused.state, refused.state_code) == (S.FAILED, "amount_above_fee_ledger")
    assert b.balance(b.fee_address) == 0
    assert Vault.objects.get(pk=b.d.vault.pk).fee_account_shares == vault.fee_account_shares
    b.agree(cash=5_000_000, reserved=0, uncredited=0)


def test_the_books_agree_with_the_safe_after_every_operation(books: Books) -> None:
    b, d = books, books.d
    # a deposit seen, not yet confirmed: uncredited
    d.send(d.alice_wallet, 3_000_000)
    d.scan(confirmations=1)
    b.agree(cash=0, reserved=0, uncredited=3_000_000)
    # credited
    d.mine(1)
    d.scan(confirmations=1)
    b.agree(cash=3_000_000, reserved=0, uncredited=0)
    # another depositor, and a stranger's transfer nobody can attribute
    b.credit(d.bob_wallet, 2_000_000)
    b.credit(d.stranger, 7)
    b.agree(cash=5_000_000, reserved=0, uncredited=7)

    # a credited deposit reorganised away: until the scan the books count tokens the Safe no longer has
    fork = d.evm.tester.take_snapshot()
    b.credit(d.bob_wallet, 1_500_000)
    b.agree(cash=6_500_000, reserved=0, uncredited=7)
    d.evm.tester.revert_to_snapshot(fork)
    d.mine(4)
    assert b.reconcile().difference == -1_500_000
    assert d.scan(confirmations=1).reversed
    b.agree(cash=5_000_000, reserved=0, uncredited=7)

    _fees_accrue(b)
    b.agree(cash=5_000_000, reserved=0, uncredited=7)

    # a withdrawal: its payout reserved when requested, paid on execution
    paid = b.request(d.alice, d.alice_wallet, 1_000_000)
    b.agree(cash=4_000_000, reserved=1_000_000, uncredited=7)
    paid = b.operator_signs(b.authorise(paid, d.alice_wallet, b.alice_second))
    assert b.execute(paid).state == S.EXECUTED
    assert b.balance(d.alice_wallet.address) == 10**12 - 3_000_000 + 1_000_000
    b.agree(cash=4_000_000, reserved=0, uncredited=7)

    # a proposal cancelled after the co-signer signed: nothing moves; the no-op using its nonce moves nothing either
    cancelled = b.authorise(b.request(d.alice, d.alice_wallet, 500_000), d.alice_wallet, b.alice_second)
    cancelled = cs.proposal_cancel(proposal_id=cancelled.pk, user_id=d.alice.pk)
    assert cancelled.state == S.CANCELLED
    b.agree(cash=3_500_000, reserved=500_000, uncredited=7)
    noop = b.operator_signs(SafeProposal.objects.get(invalidates=cancelled))
    assert b.execute(noop).state == S.EXECUTED
    b.agree(cash=3_500_000, reserved=500_000, uncredited=7)

    # a proposal that failed (its request expired before the signatures): nothing moves
    failed = b.request(d.bob, d.bob_wallet, 300_000, minutes=1)
    with _Raises("deadline_passed"):
        cs.depositor_signature_add(
            proposal_id=failed.pk, signature=depositor_sign(failed, d.bob_wallet),
            now=timezone.now() + timedelta(minutes=2),
        )  # fmt: skip
    assert SafeProposal.objects.get(pk=failed.pk).state == S.FAILED
    b.agree(cash=3_200_000, reserved=800_000, uncredited=7)

    # a fee collection executed: out of the Safe and out of the books, the same base units
    collected = b.execute(b.fee_collection(12_345))
    assert collected.state == S.EXECUTED and b.balance(b.fee_address) == 12_345
    b.agree(cash=3_200_000 - 12_345, reserved=800_000, uncredited=7)

    # the waiting withdrawals are paid after all: the reserved payouts leave, the cash stays
    for withdrawal in Withdrawal.objects.filter(state=Withdrawal.State.AWAITING_SIGNATURES).order_by("id"):
        wallets = (d.alice_wallet, b.alice_second) if withdrawal.depositor_id == d.alice.pk else (
            d.bob_wallet, b.bob_second,
        )  # fmt: skip
        proposal = cs.withdrawal_proposal_create(
            withdrawal_id=withdrawal.pk, destination=wallets[0].address,
            deadline=timezone.now() + timedelta(minutes=30), w3=d.evm.w3,
        )  # fmt: skip
        assert b.execute(b.operator_signs(b.authorise(proposal, *wallets))).state == S.EXECUTED
    final = b.agree(cash=3_200_000 - 12_345, reserved=0, uncredited=7)
    assert final.onchain_balance == 3_200_000 - 12_345 + 7

    # and the command prints the same, exit status 0
    out, err = io.StringIO(), io.StringIO()
    assert custody_main(["reconcile", "--vault", d.vault.slug], stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert f"  book cash             {3_200_000 - 12_345}\n" in text
    assert "  uncredited transfers  7\n" in text
    assert "  difference            0  matches" in text


def test_the_command_says_when_the_books_differ(books: Books) -> None:
    b, d = books, books.d
    b.credit(d.alice_wallet, 3_000_000)
    d.send(d.bob_wallet, 5)  # above the scan's cursor: not known to the books yet
    out, err = io.StringIO(), io.StringIO()
    assert custody_main(["reconcile"], stdout=out, stderr=err) == 1
    assert "  difference            5  DIFFERS" in out.getvalue()
    assert custody_main(["reconcile", "--vault", "nope"], stdout=out, stderr=err) == 2
