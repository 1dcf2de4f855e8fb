"""Issue 13 items 6 and 8(d): Safe nonces. A proposal gets its Safe nonce when the co-signer signs it, so a proposal
cancelled, expired or refused before that holds none; one closed after it (its signatures could still execute) is
invalidated on chain by a no-op Safe transaction at its nonce, co-signed through the normal flow, which also fills the
gap for the proposals after it. Its withdrawal gets no new proposal before that nonce is used on chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from tests.vaults.custody.test_custody_services import (
    _Raises,
    authorise,
    depositor_sign,
    execute,
    owner_sign,
    propose,
)
from vaults.custody import chain
from vaults.custody import services as cs
from vaults.custody.safe_tx import OwnerSignature, signatures_pack
from vaults.custody.selectors import proposal_safe_tx
from vaults.models import SafeProposal, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
S = SafeProposal.State
EACH = 100 * 10**6


def operator_signs(c: Custody, proposal: SafeProposal) -> SafeProposal:
    return cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))


def fully_signed(c: Custody, withdrawal: Withdrawal) -> SafeProposal:
    return operator_signs(c, authorise(c, propose(c, withdrawal=withdrawal)))


def invalidation_of(proposal: SafeProposal) -> SafeProposal:
    return SafeProposal.objects.get(invalidates=proposal)


def executions(c: Custody, proposals: list[SafeProposal]) -> list[tuple[int, int]]:
    """(Safe nonce, block) of each proposal's ExecutionSuccess, read from the Safe's logs."""
    head = c.evm.w3.eth.block_number
    found = []
    for proposal in proposals:
        event = chain.safe_execution_find(
            c.evm.w3, c.evm.safe, bytes.fromhex(proposal.safe_tx_hash[2:]), from_block=0, to_block=head
        )
        assert event is not None and event.succeeded, proposal
        found.append((int(proposal.nonce), event.block_number))
    return found


def test_cancelling_the_lowest_of_five_waiting_proposals_lets_the_other_four_execute(custody: Custody) -> None:
    # given five signed withdrawals at Safe nonces 0..4, the last four waiting for the first
    c = custody
    proposals = [fully_signed(c, c.withdraw(EACH)) for _ in range(5)]
    assert [int(p.nonce) for p in proposals] == [0, 1, 2, 3, 4]
    assert all(p.state == S.SIGNED for p in proposals)
    for waiting in proposals[1:]:
        stored = execute(c, waiting)
        assert (stored.state, stored.state_code) == (S.SIGNED, "nonce_future")

    # when the depositor cancels the lowest
    cancelled = cs.proposal_cancel(proposal_id=proposals[0].pk, user_id=c.depositor.pk)

    # then a no-op at its nonce is proposed and co-signed at once (the Safe's threshold needs one operator more)
    assert cancelled.state == S.CANCELLED
    noop = invalidation_of(cancelled)
    assert (noop.kind, noop.state, int(noop.nonce), noop.to, noop.data, int(noop.value)) == (
        "nonce_invalidation", S.AUTHORISED, 0, c.evm.safe, "0x", 0,
    )  # fmt: skip
    assert list(noop.signatures.filter(kind="owner").values_list("signer", flat=True)) == [c.evm.cosigner.address]
    noop = operator_signs(c, noop)
    assert noop.state == S.SIGNED
    # and the beat's order (by nonce) executes all: the no-op, then the four waiting
    for proposal in [noop, *proposals[1:]]:
        assert execute(c, SafeProposal.objects.get(pk=proposal.pk)).state == S.EXECUTED
    assert chain.safe_nonce(c.evm.w3, c.evm.safe) == 5
    done = executions(c, [noop, *[SafeProposal.objects.get(pk=p.pk) for p in proposals[1:]]])
    assert [nonce for nonce, _ in done] == [0, 1, 2, 3, 4]  # contiguous, each executed once, in order
    assert [block for _, block in done] == sorted(block for _, block in done)
    assert c.evm.balance(c.wallet_a.address) == 4 * EACH
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - 4 * EACH
    assert Withdrawal.objects.get(pk=proposals[0].withdrawal_id).state == Withdrawal.State.AWAITING_SIGNATURES


def test_proposals_closed_before_the_cosigner_signs_hold_no_nonce(custody: Custody) -> None:
    # given five proposed withdrawals (nobody signed the Safe transactions yet)
    c = custody
    proposals = [propose(c, withdrawal=c.withdraw(EACH)) for _ in range(5)]
    # when the first is cancelled and the second expires before its signatures
    cs.proposal_cancel(proposal_id=proposals[0].pk, user_id=c.depositor.pk)
    with _Raises("deadline_passed"):
        cs.depositor_signature_add(
            proposal_id=proposals[1].pk, signature=depositor_sign(proposals[1], c.wallet_a),
            now=timezone.now() + timedelta(days=1),
        )  # fmt: skip
    # then the other three take nonces 0, 1, 2 when co-signed, in the order they are signed, and all execute
    signed = [operator_signs(c, authorise(c, p)) for p in reversed(proposals[2:])]
    assert [int(p.nonce) for p in signed] == [0, 1, 2]
    assert not SafeProposal.objects.filter(kind="nonce_invalidation").exists()
    for proposal in signed:
        assert execute(c, proposal).state == S.EXECUTED
    assert chain.safe_nonce(c.evm.w3, c.evm.safe) == 3
    assert c.evm.balance(c.wallet_a.address) == 3 * EACH


def test_operators_sign_after_the_cosigner_fixed_the_nonce(custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE

    c = custody
    monkeypatch.delenv(COSIGNER_KEY_VARIABLE)
    proposal = authorise(c, propose(c, withdrawal=c.withdraw(EACH)))
    assert (proposal.state, proposal.state_code) == (S.AUTHORISED, "custody_unavailable")
    with _Raises("cosigner_first"):
        operator_signs(c, proposal)
    assert not proposal.signatures.filter(kind="owner").exists()


def test_a_cancelled_signed_proposal_blocks_its_withdrawal_until_its_nonce_is_used(custody: Custody) -> None:
    # given a withdrawal's proposal with every signature, cancelled
    c = custody
    withdrawal = c.withdraw(EACH)
    first = fully_signed(c, withdrawal)
    cs.proposal_cancel(proposal_id=first.pk, user_id=c.depositor.pk)
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.AWAITING_SIGNATURES

    # when a new proposal is asked for before the nonce is used: refused, nothing written
    with _Raises("nonce_not_invalidated"):
        propose(c, withdrawal=withdrawal)
    assert SafeProposal.objects.filter(withdrawal=withdrawal).count() == 1

    # then once the no-op used the nonce, the new proposal is made and pays once; the old signatures are dead
    noop = operator_signs(c, invalidation_of(first))
    assert execute(c, noop).state == S.EXECUTED
    second = operator_signs(c, authorise(c, propose(c, withdrawal=withdrawal)))
    assert int(second.nonce) == 1
    assert execute(c, second).state == S.EXECUTED
    packed = signatures_pack(
        bytes.fromhex(first.safe_tx_hash[2:]),
        [OwnerSignature(s.signer, bytes.fromhex(s.signature[2:])) for s in first.signatures.filter(kind="owner")],
    )
    assert chain.safe_exec_simulate(c.evm.w3, c.evm.safe, proposal_safe_tx(first), packed, c.evm.deployer.address)
    assert c.evm.balance(c.wallet_a.address) == EACH
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - EACH
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.PAID


def test_a_cancelled_signed_proposal_executed_by_someone_else_pays_its_withdrawal_once(custody: Custody) -> None:
    # given a cancelled proposal whose signatures someone outside the platform executes anyway
    c = custody
    withdrawal = c.withdraw(EACH)
    first = fully_signed(c, withdrawal)
    cs.proposal_cancel(proposal_id=first.pk, user_id=c.operators[0].pk)
    packed = signatures_pack(
        bytes.fromhex(first.safe_tx_hash[2:]),
        [OwnerSignature(s.signer, bytes.fromhex(s.signature[2:])) for s in first.signatures.filter(kind="owner")],
    )
    receipt = chain.safe_exec(c.evm.w3, c.evm.safe, proposal_safe_tx(first), packed, c.evm.deployer)
    assert receipt["status"] == 1 and c.evm.balance(c.wallet_a.address) == EACH

    # when the depositor asks for a new proposal
    with _Raises("withdrawal_paid"):
        propose(c, withdrawal=withdrawal)

    # then the Safe's event marked the withdrawal paid by that transaction, and no second payout can be proposed
    paid = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (paid.state, paid.paid_tx_hash) == (Withdrawal.State.PAID, "0x" + bytes(receipt["transactionHash"]).hex())
    assert SafeProposal.objects.get(pk=first.pk).state == S.EXECUTED
    assert SafeProposal.objects.filter(withdrawal=withdrawal).count() == 1
    # the no-op, signed and executed later, finds its nonce taken: it fails, and nothing moves
    noop = operator_signs(c, invalidation_of(first))
    assert (execute(c, noop).state, SafeProposal.objects.get(pk=noop.pk).state_code) == (S.FAILED, "nonce_taken")
    assert c.evm.balance(c.wallet_a.address) == EACH


def test_identical_proposals_co_signed_out_of_order_both_execute(custody: Custody) -> None:
    """Two equal withdrawals (same depositor, amount, destination) have equal Safe transactions but for the nonce.
    When the later one is co-signed first it takes the lowest nonce, which is the earlier one's provisional nonce:
    the earlier one, signed by no owner yet, moves to a free provisional nonce instead of the two clashing."""
    c = custody
    earlier, later = (propose(c, withdrawal=c.withdraw(EACH)) for _ in range(2))
    assert [int(earlier.nonce), int(later.nonce)] == [0, 1]  # provisional

    later = operator_signs(c, authorise(c, later))
    earlier = SafeProposal.objects.get(pk=earlier.pk)
    assert int(later.nonce) == 0 and later.state == S.SIGNED
    assert int(earlier.nonce) == 2 and earlier.safe_tx_hash != later.safe_tx_hash  # provisional: after every live one
    assert earlier.safe_tx_hash == "0x" + proposal_safe_tx_hash(c, earlier).hex()
    earlier = operator_signs(c, authorise(c, earlier))
    assert int(earlier.nonce) == 1 and earlier.state == S.SIGNED

    for proposal in (later, earlier):
        assert execute(c, SafeProposal.objects.get(pk=proposal.pk)).state == S.EXECUTED
    assert c.evm.balance(c.wallet_a.address) == 2 * EACH
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - 2 * EACH


def proposal_safe_tx_hash(c: Custody, proposal: SafeProposal) -> bytes:
    from vaults.custody.safe_tx import safe_tx_hash

    return safe_tx_hash(c.evm.chain_id, c.evm.safe, proposal_safe_tx(proposal))
