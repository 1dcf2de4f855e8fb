"""The issue's custody cases on the real Safe v1.4.1 bytecode (eth-tester + py-evm) with an ERC-20 vault asset.

Each negative case checks the refusal's code and that no token moved; "forced on chain" cases send the bad
signature set anyway and show the Safe itself reverts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.vaults.custody.conftest import VAULT_FUNDS, Evm
from vaults.custody import chain
from vaults.custody.call_policy import CallPolicy
from vaults.custody.calls import erc20_transfer_data, function_selector
from vaults.custody.cosigner import (
    COSIGNER_KEY_VARIABLE,
    CoSignature,
    CosignerConfigurationError,
    CosignerRefusal,
    PolicyCosigner,
)
from vaults.custody.policy import Operation, OperationKind, PolicyContext
from vaults.custody.safe_tx import OwnerSignature, SafeTx, hash_sign, safe_tx_hash, signatures_pack
from vaults.custody.withdrawal_request import (
    Authorisation,
    Refusal,
    WithdrawalRequest,
    withdrawal_authorisation_check,
    withdrawal_request_sign,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AMOUNT = 250 * 10**6  # 250 tUSD in base units


@dataclass
class Withdrawal:
    """A depositor with two linked wallets withdrawing AMOUNT from the vault Safe."""

    evm: Evm
    wallet_a: LocalAccount
    wallet_b: LocalAccount
    request: WithdrawalRequest
    tx: SafeTx

    @property
    def linked(self) -> frozenset[str]:
        return frozenset({self.wallet_a.address, self.wallet_b.address})

    @property
    def safe_tx_hash(self) -> bytes:
        return safe_tx_hash(self.evm.chain_id, self.evm.safe, self.tx)

    def authorise(self, *wallets: LocalAccount, used_nonces: frozenset[int] = frozenset(), now: datetime = NOW):
        signatures = [withdrawal_request_sign(self.request, wallet.key) for wallet in wallets]
        return withdrawal_authorisation_check(
            self.request, signatures, self.linked, now, used_nonces, chain_id=self.evm.chain_id, vault=self.evm.safe
        )

    def operation(self, kind: OperationKind = OperationKind.WITHDRAWAL_TO_LINKED_WALLET) -> Operation:
        return Operation(kind=kind, chain_id=self.evm.chain_id, safe=self.evm.safe, tx=self.tx)

    def context(self, authorisation: Authorisation | None) -> PolicyContext:
        return PolicyContext(
            now=NOW, asset=self.evm.token, authorisation=authorisation, linked_wallets=self.linked, payout=AMOUNT
        )

    def owner_signature(self, owner: LocalAccount, digest: bytes | None = None) -> OwnerSignature:
        return OwnerSignature(owner.address, hash_sign(digest or self.safe_tx_hash, owner.key))


def withdrawal_make(evm: Evm, *, destination: str | None = None, nonce: int = 1) -> Withdrawal:
    wallet_a, wallet_b = Account.create(), Account.create()
    to = destination or wallet_a.address
    request = WithdrawalRequest(
        vault=evm.safe, depositor=7, shares=0, amount=AMOUNT, destination=to, nonce=nonce,
        deadline=int((NOW + timedelta(minutes=30)).timestamp()), chain_id=evm.chain_id,
    )  # fmt: skip
    tx = SafeTx(
        to=evm.token,
        value=0,
        data=erc20_transfer_data(to, AMOUNT),
        operation=0,
        nonce=chain.safe_nonce(evm.w3, evm.safe),
    )
    return Withdrawal(evm, wallet_a, wallet_b, request, tx)


def executor(evm: Evm, store: chain.SubmissionStore | None = None) -> chain.ProposalExecutor:
    return chain.ProposalExecutor(
        evm.w3,
        chain_id=evm.chain_id,
        safe_address=evm.safe,
        sender=evm.deployer,
        store=store or chain.SubmissionMemoryStore(),
    )


def assert_untouched(evm: Evm, *holders: str) -> None:
    assert evm.balance(evm.safe) == VAULT_FUNDS
    for holder in holders:
        assert evm.balance(holder) == 0
    assert chain.safe_nonce(evm.w3, evm.safe) == 0


def forced_on_chain(evm: Evm, tx: SafeTx, packed: bytes) -> str | None:
    """Send the set anyway (fixed gas, no simulation): returns the simulated revert code; the receipt must fail."""
    code = chain.safe_exec_simulate(evm.w3, evm.safe, tx, packed, evm.deployer.address)
    receipt = chain.safe_exec(evm.w3, evm.safe, tx, packed, evm.deployer, gas=600_000)
    assert receipt["status"] == 0
    return code


def test_vault_safe_has_the_documented_owners_and_threshold(evm: Evm) -> None:
    owners = [evm.cosigner.address, *(operator.address for operator in evm.operators), evm.recovery.address]
    assert chain.safe_owners(evm.w3, evm.safe) == owners
    assert chain.safe_threshold(evm.w3, evm.safe) == 2
    with pytest.raises(chain.ChainError) as raised:
        chain.vault_safe_deploy(
            evm.w3, evm.infrastructure, cosigner=owners[0], operators=owners[1:3], recovery=owners[3], threshold=1,
            deployer=evm.deployer, salt_nonce=1,
        )  # fmt: skip
    assert raised.value.code == "threshold_too_low"


def test_two_depositor_signatures_cosigner_and_operator_move_the_funds(evm: Evm) -> None:
    w = withdrawal_make(evm)
    authorisation = w.authorise(w.wallet_a, w.wallet_b)
    assert isinstance(authorisation, Authorisation)
    cosigned = PolicyCosigner(evm.cosigner.key).sign(w.operation(), w.context(authorisation))
    assert isinstance(cosigned, CoSignature)
    assert cosigned.safe_tx_hash == chain.safe_tx_hash_onchain(evm.w3, evm.safe, w.tx)
    packed = signatures_pack(w.safe_tx_hash, [cosigned.owner_signature, w.owner_signature(evm.operators[0])])

    outcome = executor(evm).execute(w.tx, packed)

    assert (outcome.status, outcome.resumed) == ("executed", False)
    assert evm.balance(w.wallet_a.address) == AMOUNT
    assert evm.balance(evm.safe) == VAULT_FUNDS - AMOUNT
    assert chain.safe_nonce(evm.w3, evm.safe) == 1


def test_one_signature_is_refused_and_reverts_gs020_on_chain(evm: Evm) -> None:
    w = withdrawal_make(evm)
    refusal = w.authorise(w.wallet_a)
    assert isinstance(refusal, Refusal) and refusal.code == "signatures_too_few"
    cosigned = PolicyCosigner(evm.cosigner.key).sign(w.operation(), w.context(authorisation=None))
    assert isinstance(cosigned, CosignerRefusal)
    assert [r.code for r in cosigned.decision.reasons] == ["depositor_signatures"]

    packed = signatures_pack(w.safe_tx_hash, [w.owner_signature(evm.operators[0])])
    outcome = executor(evm).execute(w.tx, packed)
    assert (outcome.status, outcome.code) == ("refused", "signatures_too_few")
    assert forced_on_chain(evm, w.tx, packed) == "GS020"
    assert_untouched(evm, w.wallet_a.address)


def test_two_signatures_from_the_same_wallet(evm: Evm) -> None:
    w = withdrawal_make(evm)
    refusal = w.authorise(w.wallet_a, w.wallet_a)
    assert isinstance(refusal, Refusal) and refusal.code == "signer_repeated"
    # The Safe layer has the same rule: one owner twice is not two owners.
    twice = w.owner_signature(evm.operators[0]).signature * 2
    outcome = executor(evm).execute(w.tx, twice)
    assert (outcome.status, outcome.code) == ("refused", "signatures_unsorted")
    assert forced_on_chain(evm, w.tx, twice) == "GS026"
    assert_untouched(evm, w.wallet_a.address)


def test_unsorted_signatures_are_refused_and_revert_on_chain(evm: Evm) -> None:
    w = withdrawal_make(evm)
    signed = [w.owner_signature(evm.cosigner), w.owner_signature(evm.operators[0])]
    descending = sorted(signed, key=lambda item: int(item.owner, 16), reverse=True)
    packed = b"".join(item.signature for item in descending)
    store = chain.SubmissionMemoryStore()
    outcome = executor(evm, store).execute(w.tx, packed)
    assert (outcome.status, outcome.code) == ("refused", "signatures_unsorted")
    assert store.submissions == {}
    assert forced_on_chain(evm, w.tx, packed) == "GS026"
    assert_untouched(evm, w.wallet_a.address)


def test_a_non_owner_signature(evm: Evm) -> None:
    w = withdrawal_make(evm)
    stranger = Account.create()
    packed = signatures_pack(w.safe_tx_hash, [w.owner_signature(evm.cosigner), w.owner_signature(stranger)])
    outcome = executor(evm).execute(w.tx, packed)
    assert (outcome.status, outcome.code) == ("refused", "signer_not_owner")
    assert stranger.address in outcome.reason
    assert forced_on_chain(evm, w.tx, packed) == "GS026"
    assert_untouched(evm, w.wallet_a.address)


@pytest.mark.parametrize("other", ["nonce", "chain"])
def test_signatures_over_another_nonce_or_chain(evm: Evm, other: str) -> None:
    w = withdrawal_make(evm)
    # Depositor layer: the wallets signed a request for another nonce / chain.
    other_request = replace(w.request, nonce=2) if other == "nonce" else replace(w.request, chain_id=5)
    signatures = [withdrawal_request_sign(other_request, wallet.key) for wallet in (w.wallet_a, w.wallet_b)]
    refusal = withdrawal_authorisation_check(
        w.request, signatures, w.linked, NOW, frozenset(), chain_id=evm.chain_id, vault=evm.safe
    )
    assert isinstance(refusal, Refusal) and refusal.code == "signer_not_linked"
    # Safe layer: the owners signed the SafeTx for another Safe nonce / chain.
    digest = (
        safe_tx_hash(evm.chain_id, evm.safe, replace(w.tx, nonce=1))
        if other == "nonce"
        else safe_tx_hash(5, evm.safe, w.tx)
    )
    owners = [evm.cosigner, evm.operators[0]]
    packed = signatures_pack(digest, [w.owner_signature(owner, digest) for owner in owners])
    outcome = executor(evm).execute(w.tx, packed)
    assert (outcome.status, outcome.code) == ("refused", "signer_not_owner")
    assert forced_on_chain(evm, w.tx, packed) == "GS026"
    assert_untouched(evm, w.wallet_a.address)


def test_a_replayed_set_is_refused(evm: Evm) -> None:
    w = withdrawal_make(evm)
    authorisation = w.authorise(w.wallet_a, w.wallet_b)
    assert isinstance(authorisation, Authorisation)
    packed = signatures_pack(w.safe_tx_hash, [w.owner_signature(evm.cosigner), w.owner_signature(evm.operators[0])])
    first = executor(evm).execute(w.tx, packed)
    assert first.status == "executed"

    # The same depositor signatures again: the request nonce is used.
    replay = w.authorise(w.wallet_a, w.wallet_b, used_nonces=frozenset({w.request.nonce}))
    assert isinstance(replay, Refusal) and replay.code == "nonce_used"
    # The same Safe signatures again (a fresh executor, so no stored submission): the Safe nonce moved on, and the
    # Safe's ExecutionSuccess says by this very SafeTx: reported executed, by the first transaction; nothing sent.
    outcome = executor(evm).execute(w.tx, packed)
    assert (outcome.status, outcome.code, outcome.tx_hash) == ("executed", "executed", first.tx_hash)
    assert forced_on_chain(evm, w.tx, packed) == "GS026"  # the Safe hashes with its new nonce
    assert evm.balance(w.wallet_a.address) == AMOUNT
    assert evm.balance(evm.safe) == VAULT_FUNDS - AMOUNT


def test_an_expired_deadline(evm: Evm) -> None:
    w = withdrawal_make(evm)
    refusal = w.authorise(w.wallet_a, w.wallet_b, now=NOW + timedelta(minutes=30))
    assert isinstance(refusal, Refusal) and refusal.code == "deadline_passed"
    cosigned = PolicyCosigner(evm.cosigner.key).sign(w.operation(), w.context(authorisation=None))
    assert isinstance(cosigned, CosignerRefusal)
    assert_untouched(evm, w.wallet_a.address)


def test_a_destination_not_linked(evm: Evm) -> None:
    stranger = Account.create().address
    w = withdrawal_make(evm, destination=stranger)
    authorisation = w.authorise(w.wallet_a, w.wallet_b)
    assert isinstance(authorisation, Authorisation)  # the depositor did sign it...
    cosigned = PolicyCosigner(evm.cosigner.key).sign(w.operation(), w.context(authorisation))
    assert isinstance(cosigned, CosignerRefusal)  # ...but an unregistered address is not a linked wallet
    assert [r.code for r in cosigned.decision.reasons] == ["destination_not_linked"]
    assert stranger in cosigned.message
    assert_untouched(evm, stranger)


def test_a_cosigner_asked_to_sign_outside_its_policy(evm: Evm) -> None:
    thief = Account.create().address
    tx = SafeTx(to=evm.token, value=0, data=erc20_transfer_data(thief, AMOUNT), operation=0, nonce=0)
    # Labelled a strategy trade, approved by one operator, on an allowlisted token: a token transfer out is no trade.
    operation = Operation(OperationKind.STRATEGY_TRADE, evm.chain_id, evm.safe, tx)
    policy = CallPolicy(
        tokens={evm.token: AMOUNT}, trade_contracts={}, unwind_contracts={}, period=timedelta(days=1),
        max_slippage=Decimal("0.01"), value_loss_tolerance=0, mark_max_age=timedelta(hours=1),
    )  # fmt: skip
    context = PolicyContext(
        now=NOW, asset=evm.token, call_policy=policy, operator_approvals=frozenset({evm.operators[0].address})
    )
    cosigned = PolicyCosigner(evm.cosigner.key).sign(operation, context)
    assert isinstance(cosigned, CosignerRefusal)
    assert cosigned.code == "policy"
    assert [r.code for r in cosigned.decision.reasons] == ["recipient_not_safe"]
    assert [
        r.code
        for r in PolicyCosigner(evm.cosigner.key).sign(operation, replace(context, call_policy=None)).decision.reasons
    ] == ["call_policy_missing"]
    assert cosigned.message.startswith("refused by the policy for strategy trade")
    # The operator alone cannot execute it.
    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    packed = signatures_pack(
        digest, [OwnerSignature(evm.operators[0].address, hash_sign(digest, evm.operators[0].key))]
    )
    assert forced_on_chain(evm, tx, packed) == "GS020"
    assert_untouched(evm, thief)


def _threshold_change(evm: Evm, threshold: int) -> Operation:
    data = function_selector("changeThreshold(uint256)") + threshold.to_bytes(32, "big")
    tx = SafeTx(to=evm.safe, value=0, data=data, operation=0, nonce=chain.safe_nonce(evm.w3, evm.safe))
    return Operation(OperationKind.CONTROL_CHANGE, evm.chain_id, evm.safe, tx)


def test_a_threshold_change_without_the_delay_is_refused(evm: Evm) -> None:
    operation = _threshold_change(evm, 3)
    approvals = frozenset({evm.operators[0].address, evm.operators[1].address})
    context = PolicyContext(now=NOW, operator_approvals=approvals, announced_at=NOW - timedelta(hours=24))
    cosigned = PolicyCosigner(evm.cosigner.key).sign(operation, context)
    assert isinstance(cosigned, CosignerRefusal)
    assert [r.code for r in cosigned.decision.reasons] == ["delay_not_elapsed"]
    assert chain.safe_threshold(evm.w3, evm.safe) == 2
    assert_untouched(evm)


def test_a_threshold_change_after_the_delay_executes(evm: Evm) -> None:
    operation = _threshold_change(evm, 3)
    approvals = frozenset({evm.operators[0].address, evm.operators[1].address})
    context = PolicyContext(now=NOW, operator_approvals=approvals, announced_at=NOW - timedelta(hours=72))
    cosigned = PolicyCosigner(evm.cosigner.key).sign(operation, context)
    assert isinstance(cosigned, CoSignature)
    operator = evm.operators[1]
    packed = signatures_pack(
        cosigned.safe_tx_hash,
        [cosigned.owner_signature, OwnerSignature(operator.address, hash_sign(cosigned.safe_tx_hash, operator.key))],
    )
    assert executor(evm).execute(operation.tx, packed).status == "executed"
    assert chain.safe_threshold(evm.w3, evm.safe) == 3


class CrashAfterRecording(chain.SubmissionMemoryStore):
    """Stores the submission, then the process 'dies' before broadcasting."""

    def submission_record(self, submission: chain.Submission) -> None:
        super().submission_record(submission)
        raise KeyboardInterrupt("crash between signed and sent")


def _signed_withdrawal(evm: Evm, **fields: object) -> tuple[Withdrawal, bytes]:
    w = withdrawal_make(evm, **fields)  # type: ignore[arg-type]
    packed = signatures_pack(w.safe_tx_hash, [w.owner_signature(evm.cosigner), w.owner_signature(evm.operators[0])])
    return w, packed


def test_a_crash_before_broadcast_recovers_without_a_second_transfer(evm: Evm) -> None:
    w, packed = _signed_withdrawal(evm)
    sender_nonce = evm.w3.eth.get_transaction_count(evm.deployer.address)
    crashing = CrashAfterRecording()
    with pytest.raises(KeyboardInterrupt):
        executor(evm, crashing).execute(w.tx, packed)
    assert evm.balance(w.wallet_a.address) == 0  # recorded, never sent
    restarted_store = chain.SubmissionMemoryStore()
    restarted_store.submissions = dict(crashing.submissions)

    outcome = executor(evm, restarted_store).execute(w.tx, packed)
    again = executor(evm, restarted_store).execute(w.tx, packed)

    stored = restarted_store.submissions[w.safe_tx_hash]
    assert (outcome.status, outcome.resumed, outcome.tx_hash) == ("executed", True, stored.tx_hash)
    assert (again.status, again.resumed, again.tx_hash) == ("executed", True, stored.tx_hash)
    assert evm.balance(w.wallet_a.address) == AMOUNT
    assert evm.balance(evm.safe) == VAULT_FUNDS - AMOUNT
    assert evm.w3.eth.get_transaction_count(evm.deployer.address) == sender_nonce + 1


def test_a_crash_after_broadcast_reads_the_receipt_instead_of_sending(evm: Evm) -> None:
    w, packed = _signed_withdrawal(evm)
    store = chain.SubmissionMemoryStore()
    first = executor(evm, store).execute(w.tx, packed)
    sender_nonce = evm.w3.eth.get_transaction_count(evm.deployer.address)

    restarted = executor(evm, store).execute(w.tx, packed)

    assert (first.status, first.resumed) == ("executed", False)
    assert (restarted.status, restarted.resumed, restarted.tx_hash) == ("executed", True, first.tx_hash)
    assert evm.w3.eth.get_transaction_count(evm.deployer.address) == sender_nonce
    assert evm.balance(w.wallet_a.address) == AMOUNT


def test_a_nonce_taken_by_another_transaction_invalidates_the_proposal(evm: Evm) -> None:
    first, first_packed = _signed_withdrawal(evm)
    second, second_packed = _signed_withdrawal(evm)
    assert first.tx.nonce == second.tx.nonce == 0
    stale_store = CrashAfterRecording()
    with pytest.raises(KeyboardInterrupt):  # the first proposal was recorded, never sent
        executor(evm, stale_store).execute(first.tx, first_packed)
    assert executor(evm).execute(second.tx, second_packed).status == "executed"
    sender_nonce = evm.w3.eth.get_transaction_count(evm.deployer.address)
    resumed_store = chain.SubmissionMemoryStore()
    resumed_store.submissions = dict(stale_store.submissions)

    outcome = executor(evm, resumed_store).execute(first.tx, first_packed)

    assert (outcome.status, outcome.code) == ("invalidated", "nonce_taken")
    assert "nonce 0 was used by another transaction" in outcome.reason
    assert evm.w3.eth.get_transaction_count(evm.deployer.address) == sender_nonce  # the stale bytes were not sent
    assert evm.balance(first.wallet_a.address) == 0
    assert evm.balance(second.wallet_a.address) == AMOUNT


def test_a_future_nonce_is_not_sent(evm: Evm) -> None:
    w, _ = _signed_withdrawal(evm)
    future = replace(w.tx, nonce=1)
    digest = safe_tx_hash(evm.chain_id, evm.safe, future)
    packed = signatures_pack(
        digest, [w.owner_signature(evm.cosigner, digest), w.owner_signature(evm.operators[0], digest)]
    )
    store = chain.SubmissionMemoryStore()
    outcome = executor(evm, store).execute(future, packed)
    assert (outcome.status, outcome.code) == ("refused", "nonce_future")
    assert store.submissions == {}
    assert_untouched(evm, w.wallet_a.address)


def test_cosigner_key_from_the_environment() -> None:
    key = Account.create().key
    cosigner = PolicyCosigner.from_environment({COSIGNER_KEY_VARIABLE: "0x" + key.hex()})
    assert cosigner.address == Account.from_key(key).address
    assert key.hex() not in repr(cosigner)
    for environ, message in [
        ({}, "is not set"),
        ({COSIGNER_KEY_VARIABLE: "0xzz"}, "is not hex"),
        ({COSIGNER_KEY_VARIABLE: "0x" + "11" * 31}, "must be 32 bytes, got 31"),
        ({COSIGNER_KEY_VARIABLE: "0x" + "00" * 32}, "valid secp256k1 key"),
    ]:
        with pytest.raises(CosignerConfigurationError, match=message):
            PolicyCosigner.from_environment(environ)


def test_a_stored_transaction_whose_sender_nonce_was_spent_is_refused_not_replaced(evm: Evm) -> None:
    w, packed = _signed_withdrawal(evm)
    stale_store = CrashAfterRecording()
    with pytest.raises(KeyboardInterrupt):
        executor(evm, stale_store).execute(w.tx, packed)
    # The executor's account sends something else with that account nonce (an operator's manual top-up, say).
    chain.transaction_send(evm.w3, evm.deployer, {"to": evm.recovery.address, "value": 1})
    resumed_store = chain.SubmissionMemoryStore()
    resumed_store.submissions = dict(stale_store.submissions)

    outcome = executor(evm, resumed_store).execute(w.tx, packed)

    assert (outcome.status, outcome.code, outcome.resumed) == ("refused", "rebroadcast_failed", True)
    assert_untouched(evm, w.wallet_a.address)
