"""The custody flow through the services and the database, on the real Safe v1.4.1 bytecode (eth-tester): a
withdrawal, the depositor's two wallet signatures, the co-signer, an operator's owner signature, execution.

Every negative case checks the stored state and reason and that no token moved. Execution commits its submission
before broadcasting, so these tests run with real commits (``transaction=True``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from eth_account import Account

from tests.vaults.custody.conftest import DEPOSITED, VAULT_FUNDS, Custody
from vaults import selectors as vault_selectors
from vaults.custody import chain
from vaults.custody import services as cs
from vaults.custody.calls import erc20_transfer_data, function_selector
from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE
from vaults.custody.destination_registration import DestinationRegistration, destination_registration_sign
from vaults.custody.errors import CustodyError
from vaults.custody.safe_tx import OwnerSignature, SafeTx, hash_sign, safe_tx_hash, signatures_pack
from vaults.custody.selectors import proposal_request, proposal_safe_tx
from vaults.custody.withdrawal_request import withdrawal_request_sign
from vaults.models import ProposalSignature, SafeProposal, VaultAccount, VaultSafe, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)

PAYOUT = 250 * 10**6
S = SafeProposal.State


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def propose(c: Custody, destination: str | None = None, minutes: int = 30, withdrawal: Withdrawal | None = None):  # type: ignore[no-untyped-def]
    withdrawal = withdrawal or c.withdraw(PAYOUT)
    return cs.withdrawal_proposal_create(
        withdrawal_id=withdrawal.pk,
        destination=destination or c.wallet_a.address,
        deadline=timezone.now() + timedelta(minutes=minutes),
        w3=c.evm.w3,
    )


def depositor_sign(proposal: SafeProposal, wallet, **changes: int | str) -> str:  # type: ignore[no-untyped-def]
    request = replace(proposal_request(proposal), **changes)
    return _hex(withdrawal_request_sign(request, wallet.key))


def owner_sign(proposal: SafeProposal, owner) -> str:  # type: ignore[no-untyped-def]
    return _hex(hash_sign(bytes.fromhex(proposal.safe_tx_hash[2:]), owner.key))


def authorise(c: Custody, proposal: SafeProposal) -> SafeProposal:
    cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    return cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_b))


def signed(c: Custody, **kwargs) -> SafeProposal:  # type: ignore[no-untyped-def]
    proposal = authorise(c, propose(c, **kwargs))
    return cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))


def execute(c: Custody, proposal: SafeProposal, **kwargs) -> SafeProposal:  # type: ignore[no-untyped-def]
    return cs.proposal_execute(proposal_id=proposal.pk, sender=c.evm.deployer, w3=c.evm.w3, **kwargs)


def assert_untouched(c: Custody, *holders: str) -> None:
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS
    for holder in holders:
        assert c.evm.balance(holder) == 0
    assert chain.safe_nonce(c.evm.w3, c.evm.safe) == 0


class _Raises:
    """``with _Raises(code):`` — a CustodyError with exactly this code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __enter__(self) -> _Raises:
        return self

    def __exit__(self, kind, error, traceback) -> bool:  # type: ignore[no-untyped-def]
        assert isinstance(error, CustodyError), f"expected CustodyError {self.code}, got {error!r}"
        assert error.code == self.code, (error.code, error.message)
        return True


def test_the_stored_safe_tx_hash_is_the_contracts(custody: Custody) -> None:
    proposal = propose(custody)
    tx = proposal_safe_tx(proposal)
    assert tx == SafeTx(
        to=custody.evm.token, value=0, data=erc20_transfer_data(custody.wallet_a.address, PAYOUT), operation=0, nonce=0
    )
    assert proposal.safe_tx_hash == _hex(chain.safe_tx_hash_onchain(custody.evm.w3, custody.evm.safe, tx))
    assert (proposal.kind, proposal.state, int(proposal.nonce), proposal.amount) == (
        "withdrawal_linked_wallet", "proposed", 0, Decimal(PAYOUT),
    )  # fmt: skip
    request = proposal_request(proposal)
    assert (request.amount, request.destination, request.nonce, request.chain_id) == (
        PAYOUT, custody.wallet_a.address, 1, custody.evm.chain_id,
    )  # fmt: skip


def test_full_flow_pays_the_withdrawal(custody: Custody) -> None:
    c = custody
    withdrawal = c.withdraw(PAYOUT)
    account_shares = VaultAccount.objects.get(vault=c.vault, depositor=c.depositor).shares
    assert account_shares == Decimal(DEPOSITED - PAYOUT)  # burned when requested
    proposal = propose(c, withdrawal=withdrawal)

    after_one = cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    assert after_one.state == S.PROPOSED
    after_two = cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_b))
    # authorised, and the co-signer signed at once; the threshold (2) needs one more owner
    assert after_two.state == S.AUTHORISED
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.IN_CUSTODY
    owners = list(after_two.signatures.filter(kind="owner").values_list("signer", flat=True))
    assert owners == [c.evm.cosigner.address]
    done = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))
    assert done.state == S.SIGNED

    executed = execute(c, done)

    assert executed.state == S.EXECUTED
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - PAYOUT
    paid = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (paid.state, paid.paid_tx_hash) == (Withdrawal.State.PAID, executed.submission_tx_hash)
    assert paid.paid_at is not None
    receipt = c.evm.w3.eth.get_transaction_receipt(executed.submission_tx_hash)
    assert receipt["status"] == 1
    # the books were closed at the request: nothing changed at payment, and they reconcile
    assert VaultAccount.objects.get(vault=c.vault, depositor=c.depositor).shares == account_shares
    assert vault_selectors.vault_reconciliation(vault_id=c.vault.pk).ok
    # executing again is a no-op
    assert execute(c, executed).state == S.EXECUTED
    assert c.evm.balance(c.wallet_a.address) == PAYOUT


def test_one_depositor_signature_is_not_enough(custody: Custody) -> None:
    c = custody
    proposal = propose(c)
    cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    with _Raises("proposal_state"):
        cs.proposal_cosign(proposal_id=proposal.pk)
    with _Raises("proposal_state"):
        cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))
    with _Raises("proposal_state"):
        execute(c, proposal)
    assert SafeProposal.objects.get(pk=proposal.pk).state == S.PROPOSED
    assert_untouched(c, c.wallet_a.address)


def test_the_same_wallet_twice(custody: Custody) -> None:
    c = custody
    proposal = propose(c)
    cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    with _Raises("signer_repeated"):
        cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    assert (SafeProposal.objects.get(pk=proposal.pk).state, proposal.signatures.count()) == (S.PROPOSED, 1)
    assert_untouched(c, c.wallet_a.address)


def test_a_wallet_not_linked(custody: Custody) -> None:
    c = custody
    proposal = propose(c)
    stranger = Account.create()
    with _Raises("signer_not_linked"):
        cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, stranger))
    assert proposal.signatures.count() == 0
    assert_untouched(c, c.wallet_a.address)


@pytest.mark.parametrize("other", [{"nonce": 2}, {"chain_id": 1}, {"amount": PAYOUT + 1}])
def test_a_signature_over_another_nonce_chain_or_amount(custody: Custody, other: dict[str, int]) -> None:
    c = custody
    proposal = propose(c)
    cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    with _Raises("signer_not_linked"):
        cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_b, **other))
    assert (SafeProposal.objects.get(pk=proposal.pk).state, proposal.signatures.count()) == (S.PROPOSED, 1)
    assert_untouched(c, c.wallet_a.address)


def test_a_replayed_signature_set(custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    c = custody
    monkeypatch.delenv(COSIGNER_KEY_VARIABLE)  # cancelled before the co-signer signs: no Safe nonce to use up
    first = authorise(c, propose(c))
    replayed = list(first.signatures.filter(kind="depositor").values_list("signature", flat=True))
    cs.proposal_cancel(proposal_id=first.pk, user_id=c.depositor.pk)
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + c.evm.cosigner.key.hex())
    withdrawal = Withdrawal.objects.get(pk=first.withdrawal_id)
    assert (withdrawal.state, withdrawal.state_code) == (Withdrawal.State.AWAITING_SIGNATURES, "cancelled")
    second = propose(c, withdrawal=withdrawal)
    assert proposal_request(second).nonce == 2
    for signature in replayed:
        with _Raises("signer_not_linked"):
            cs.depositor_signature_add(proposal_id=second.pk, signature=signature)
    # the very same signature bytes can never be stored for a second proposal
    assert second.signatures.count() == 0
    assert ProposalSignature.objects.filter(signature__in=replayed).count() == 2
    assert_untouched(c, c.wallet_a.address)


def test_an_expired_deadline_fails_the_proposal(custody: Custody) -> None:
    c = custody
    proposal = propose(c, minutes=1)
    later = timezone.now() + timedelta(minutes=2)
    with _Raises("deadline_passed"):
        cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a), now=later)
    stored = SafeProposal.objects.get(pk=proposal.pk)
    assert (stored.state, stored.state_code) == (S.FAILED, "deadline_passed")
    withdrawal = Withdrawal.objects.get(pk=proposal.withdrawal_id)
    assert (withdrawal.state, withdrawal.state_code) == (Withdrawal.State.AWAITING_SIGNATURES, "deadline_passed")
    assert "expired" in withdrawal.state_reason
    assert_untouched(c, c.wallet_a.address)
    # nothing is lost: a fresh request can be signed
    assert propose(c, withdrawal=withdrawal).state == S.PROPOSED


def test_a_destination_neither_linked_nor_registered_is_refused(custody: Custody) -> None:
    c = custody
    withdrawal = c.withdraw(PAYOUT)
    elsewhere = Account.create().address
    with _Raises("destination_not_registered"):
        propose(c, destination=elsewhere, withdrawal=withdrawal)
    assert SafeProposal.objects.count() == 0
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.AWAITING_SIGNATURES
    assert_untouched(c, elsewhere)


def register(c: Custody, address: str, hours_ago: float) -> None:
    registration = DestinationRegistration(
        depositor=c.depositor.pk, destination=address, nonce=1, chain_id=c.evm.chain_id
    )
    cs.withdrawal_destination_register(
        depositor_id=c.depositor.pk,
        chain_id=c.evm.chain_id,
        address=address,
        nonce=1,
        signatures=[_hex(destination_registration_sign(registration, w.key)) for w in (c.wallet_a, c.wallet_b)],
        now=timezone.now() - timedelta(hours=hours_ago),
    )


def test_a_destination_registered_less_than_48_hours_ago_is_refused_by_the_cosigner(custody: Custody) -> None:
    c = custody
    elsewhere = Account.create().address
    register(c, elsewhere, hours_ago=47)
    proposal = authorise(c, propose(c, destination=elsewhere))
    assert proposal.kind == "withdrawal_other_address"
    assert (proposal.state, proposal.state_code) == (S.FAILED, "destination_too_recent")
    assert not proposal.signatures.filter(kind="owner").exists()
    withdrawal = Withdrawal.objects.get(pk=proposal.withdrawal_id)
    assert (withdrawal.state, withdrawal.state_code) == (Withdrawal.State.AWAITING_SIGNATURES, "destination_too_recent")
    assert elsewhere in withdrawal.state_reason
    assert_untouched(c, elsewhere)


def test_a_destination_registered_48_hours_ago_is_paid(custody: Custody) -> None:
    c = custody
    elsewhere = Account.create().address
    register(c, elsewhere, hours_ago=48)
    proposal = signed(c, destination=elsewhere)
    assert execute(c, proposal).state == S.EXECUTED
    assert c.evm.balance(elsewhere) == PAYOUT


def test_the_cosigner_refuses_outside_its_policy(custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    c = custody
    monkeypatch.delenv(COSIGNER_KEY_VARIABLE)
    proposal = authorise(c, propose(c))
    assert (proposal.state, proposal.state_code) == (S.AUTHORISED, "custody_unavailable")  # waits for its co-signer
    # Someone with write access to the row makes it pay more than the withdrawal's payout.
    tx = replace(proposal_safe_tx(proposal), data=erc20_transfer_data(c.wallet_a.address, PAYOUT + 1))
    SafeProposal.objects.filter(pk=proposal.pk).update(
        data=_hex(tx.data), safe_tx_hash=_hex(safe_tx_hash(c.evm.chain_id, c.evm.safe, tx))
    )
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + c.evm.cosigner.key.hex())

    with _Raises("amount_above_payout"):
        cs.proposal_cosign(proposal_id=proposal.pk)

    stored = SafeProposal.objects.get(pk=proposal.pk)
    assert (stored.state, stored.state_code) == (S.FAILED, "amount_above_payout")
    assert "exceeds the computed payout" in stored.state_reason
    assert not stored.signatures.filter(kind="owner").exists()
    assert Withdrawal.objects.get(pk=proposal.withdrawal_id).state == Withdrawal.State.AWAITING_SIGNATURES
    assert_untouched(c, c.wallet_a.address)


def test_owner_signatures_must_come_from_other_owners(custody: Custody) -> None:
    c = custody
    proposal = authorise(c, propose(c))
    with _Raises("signer_not_owner"):
        cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, Account.create()))
    with _Raises("cosigner_by_policy"):
        cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.cosigner))
    assert SafeProposal.objects.get(pk=proposal.pk).state == S.AUTHORISED
    assert_untouched(c, c.wallet_a.address)


def _threshold_change(c: Custody, threshold: int, announced_hours_ago: float = 0) -> SafeProposal:
    proposal = cs.operation_proposal_create(
        vault_id=c.vault.pk,
        kind="control_change",
        to=c.evm.safe,
        data=function_selector("changeThreshold(uint256)") + threshold.to_bytes(32, "big"),
        proposer_id=c.operators[0].pk,
        now=timezone.now() - timedelta(hours=announced_hours_ago),
        w3=c.evm.w3,
    )
    cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[1].pk, approve=True)
    return cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[2].pk, approve=True)


def test_a_threshold_change_waits_for_its_72_hours(custody: Custody) -> None:
    c = custody
    proposal = _threshold_change(c, 3)
    assert (proposal.state, proposal.state_code) == (S.AUTHORISED, "delay_not_elapsed")
    assert not proposal.signatures.filter(kind="owner").exists()
    assert chain.safe_threshold(c.evm.w3, c.evm.safe) == 2
    # 72 h after the announcement the co-signer signs and the change executes
    cosigned = cs.proposal_cosign(proposal_id=proposal.pk, now=timezone.now() + timedelta(hours=72))
    assert cosigned.signatures.filter(kind="owner").count() == 1
    ready = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[1]))
    assert execute(c, ready).state == S.EXECUTED
    assert chain.safe_threshold(c.evm.w3, c.evm.safe) == 3
    assert VaultSafe.objects.get(pk=c.safe.pk).threshold == 3


def test_an_operator_rejection_cancels_and_one_approval_is_not_two(custody: Custody) -> None:
    c = custody
    proposal = cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="fee_collection", to=c.evm.token, data=erc20_transfer_data(c.evm.recovery.address, 1),
        proposer_id=c.operators[0].pk, w3=c.evm.w3,
    )  # fmt: skip
    once = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[1].pk, approve=True)
    assert once.state == S.PROPOSED
    with _Raises("already_decided"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[1].pk, approve=True)
    with _Raises("operators_only"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.depositor.pk, approve=True)
    with _Raises("proposer_cannot_approve"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[0].pk, approve=True)
    assert list(proposal.approvals.values_list("operator_id", "approved")) == [(c.operators[1].pk, True)]
    rejected = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[2].pk, approve=False)
    assert (rejected.state, rejected.state_code) == (S.CANCELLED, "rejected")
    assert_untouched(c, c.evm.recovery.address)


def test_a_nonce_taken_by_another_transaction_invalidates_the_proposal(custody: Custody) -> None:
    c = custody
    proposal = signed(c)
    # Two owners execute something else at the same Safe nonce, outside the platform (the co-signer among them:
    # the Safe's guard executes nothing without it).
    other = SafeTx(to=c.evm.token, value=0, data=erc20_transfer_data(c.evm.recovery.address, 1), operation=0, nonce=0)
    digest = safe_tx_hash(c.evm.chain_id, c.evm.safe, other)
    packed = signatures_pack(
        digest, [OwnerSignature(o.address, hash_sign(digest, o.key)) for o in (c.evm.cosigner, c.evm.recovery)]
    )
    assert chain.safe_exec(c.evm.w3, c.evm.safe, other, packed, c.evm.deployer)["status"] == 1

    failed = execute(c, proposal)

    assert (failed.state, failed.state_code) == (S.FAILED, "nonce_taken")
    withdrawal = Withdrawal.objects.get(pk=proposal.withdrawal_id)
    assert (withdrawal.state, withdrawal.state_code) == (Withdrawal.State.AWAITING_SIGNATURES, "nonce_taken")
    assert "used by another transaction" in withdrawal.state_reason
    assert c.evm.balance(c.wallet_a.address) == 0
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - 1
    # a fresh request gets the next nonce and is paid
    again = authorise(c, propose(c, withdrawal=withdrawal))
    assert int(again.nonce) == 1
    again = cs.owner_signature_add(proposal_id=again.pk, signature=owner_sign(again, c.evm.operators[0]))
    assert execute(c, again).state == S.EXECUTED
    assert c.evm.balance(c.wallet_a.address) == PAYOUT


class CrashAfterRecording(cs.ProposalSubmissionStore):
    """Records (and commits) the submission, then the process 'dies' before broadcasting."""

    def submission_record(self, submission: chain.Submission) -> None:
        super().submission_record(submission)
        raise KeyboardInterrupt("crash between recording and broadcasting")


def test_a_crash_after_recording_before_broadcast_recovers_with_one_transfer(custody: Custody) -> None:
    c = custody
    proposal = signed(c)
    sender_nonce = c.evm.w3.eth.get_transaction_count(c.evm.deployer.address)
    with pytest.raises(KeyboardInterrupt):
        execute(c, proposal, store=CrashAfterRecording(proposal.pk))
    recorded = SafeProposal.objects.get(pk=proposal.pk)  # committed: a new process finds it
    assert recorded.state == S.SUBMITTED and recorded.submission_tx_hash and recorded.submission_raw
    assert c.evm.balance(c.wallet_a.address) == 0

    resumed = execute(c, recorded)
    again = execute(c, recorded)

    assert (resumed.state, again.state) == (S.EXECUTED, S.EXECUTED)
    assert resumed.submission_tx_hash == recorded.submission_tx_hash
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - PAYOUT
    assert c.evm.w3.eth.get_transaction_count(c.evm.deployer.address) == sender_nonce + 1
    assert Withdrawal.objects.get(pk=proposal.withdrawal_id).state == Withdrawal.State.PAID


def test_a_crash_after_broadcast_before_the_outcome_recovers_with_one_transfer(custody: Custody) -> None:
    c = custody
    proposal = signed(c)
    # What proposal_execute does, up to the broadcast and its receipt; the process dies before storing the outcome.
    store = cs.ProposalSubmissionStore(proposal.pk)
    executor = chain.ProposalExecutor(
        c.evm.w3, chain_id=c.evm.chain_id, safe_address=c.evm.safe, sender=c.evm.deployer, store=store
    )
    packed = signatures_pack(
        bytes.fromhex(proposal.safe_tx_hash[2:]),
        [OwnerSignature(s.signer, bytes.fromhex(s.signature[2:])) for s in proposal.signatures.filter(kind="owner")],
    )
    assert executor.execute(proposal_safe_tx(proposal), packed).status == "executed"
    assert SafeProposal.objects.get(pk=proposal.pk).state == S.SUBMITTED
    sender_nonce = c.evm.w3.eth.get_transaction_count(c.evm.deployer.address)

    resumed = execute(c, proposal)

    assert resumed.state == S.EXECUTED
    assert c.evm.w3.eth.get_transaction_count(c.evm.deployer.address) == sender_nonce  # nothing sent again
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert Withdrawal.objects.get(pk=proposal.withdrawal_id).paid_tx_hash == resumed.submission_tx_hash


def test_cancel_by_the_depositor_and_not_by_anyone_else(custody: Custody) -> None:
    c = custody
    proposal = authorise(c, propose(c))
    from tests.factories import UserFactory

    with _Raises("not_found"):
        cs.proposal_cancel(proposal_id=proposal.pk, user_id=UserFactory().pk)
    cancelled = cs.proposal_cancel(proposal_id=proposal.pk, user_id=c.depositor.pk)
    assert (cancelled.state, cancelled.state_reason) == (S.CANCELLED, "cancelled by the depositor")
    assert Withdrawal.objects.get(pk=proposal.withdrawal_id).state == Withdrawal.State.AWAITING_SIGNATURES
    with _Raises("proposal_state"):
        cs.proposal_cancel(proposal_id=proposal.pk, user_id=c.depositor.pk)
    assert_untouched(c, c.wallet_a.address)


def test_a_submitted_proposal_cannot_be_cancelled(custody: Custody) -> None:
    c = custody
    proposal = signed(c)
    with pytest.raises(KeyboardInterrupt):
        execute(c, proposal, store=CrashAfterRecording(proposal.pk))
    with _Raises("proposal_state"):
        cs.proposal_cancel(proposal_id=proposal.pk, user_id=c.operators[0].pk)


def test_the_task_executes_signed_proposals_once(custody: Custody, settings) -> None:  # type: ignore[no-untyped-def]
    from vaults.custody import tasks

    c = custody
    settings.HFT_SAFE_RELAYER_KEY = "0x" + c.evm.deployer.key.hex()
    proposal = signed(c)
    assert tasks.custody_proposal_execute.apply(args=[proposal.pk]).get() == S.EXECUTED
    assert tasks.custody_proposal_execute.apply(args=[proposal.pk]).get() == S.EXECUTED
    assert c.evm.balance(c.wallet_a.address) == PAYOUT


def test_execution_refuses_to_run_inside_a_transaction(custody: Custody) -> None:
    from django.db import transaction

    c = custody
    proposal = signed(c)
    with transaction.atomic(), _Raises("in_transaction"):
        execute(c, proposal)
    assert SafeProposal.objects.get(pk=proposal.pk).state == S.SIGNED
    assert_untouched(c, c.wallet_a.address)
