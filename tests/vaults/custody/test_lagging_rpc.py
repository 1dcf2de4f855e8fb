"""Issue 13 item 8: a paid withdrawal is never paid again when the node lags. A submitted proposal whose receipt the
RPC does not return, while the Safe's nonce has moved past it, is decided by the Safe's own execution events: found,
it is executed (the withdrawal paid); only a nonce used by another SafeTx fails it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import TransactionNotFound

from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from tests.vaults.custody.test_custody_services import PAYOUT, _Raises, signed
from vaults.custody import chain
from vaults.custody import services as cs
from vaults.custody.safe_tx import OwnerSignature, signatures_pack
from vaults.custody.selectors import proposal_safe_tx
from vaults.models import SafeProposal, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
S = SafeProposal.State


class ReceiptHidingProvider(EthereumTesterProvider):
    """STAND-IN for a lagging or pruning RPC node: the real in-process chain (the same eth-tester and py-evm as
    every other call), except that ``eth_getTransactionReceipt`` answers "no receipt" for the hashes in
    ``hidden``. Blocks, state (the Safe's nonce) and logs are the real node's."""

    def __init__(self, tester: Any, hidden: set[str]) -> None:
        super().__init__(tester)
        self.hidden = hidden

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getTransactionReceipt" and str(params[0]).lower() in self.hidden:
            return {"jsonrpc": "2.0", "id": 0, "result": None}
        return super().make_request(method, params)


@pytest.fixture
def submitted(custody: Custody) -> Iterator[tuple[Custody, SafeProposal]]:
    """A signed withdrawal proposal broadcast and mined (the transfer happened), whose outcome was never recorded:
    the executor's process died after the broadcast. The proposal is ``submitted``, its withdrawal ``in_custody``."""
    c = custody
    proposal = signed(c)
    executor = chain.ProposalExecutor(
        c.evm.w3, chain_id=c.evm.chain_id, safe_address=c.evm.safe, sender=c.evm.deployer,
        store=cs.ProposalSubmissionStore(proposal.pk),
    )  # fmt: skip
    packed = signatures_pack(
        bytes.fromhex(proposal.safe_tx_hash[2:]),
        [OwnerSignature(s.signer, bytes.fromhex(s.signature[2:])) for s in proposal.signatures.filter(kind="owner")],
    )
    assert executor.execute(proposal_safe_tx(proposal), packed).status == "executed"
    yield c, SafeProposal.objects.get(pk=proposal.pk)


def test_a_hidden_receipt_with_the_nonce_used_is_found_by_the_safes_event(
    submitted: tuple[Custody, SafeProposal],
) -> None:
    # given the payout on chain, and a node that answers no receipt for its transaction
    c, proposal = submitted
    assert proposal.state == S.SUBMITTED and proposal.submission_tx_hash
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert chain.safe_nonce(c.evm.w3, c.evm.safe) == 1
    lagging = Web3(ReceiptHidingProvider(c.evm.tester, {proposal.submission_tx_hash.lower()}))
    with pytest.raises(TransactionNotFound):  # the stand-in hides it
        lagging.eth.get_transaction_receipt(proposal.submission_tx_hash)
    sender_nonce = c.evm.w3.eth.get_transaction_count(c.evm.deployer.address)

    # when execution resumes through that node
    resumed = cs.proposal_execute(proposal_id=proposal.pk, sender=c.evm.deployer, w3=lagging)

    # then the Safe's ExecutionSuccess decides: executed, the withdrawal paid by that very transaction
    assert (resumed.state, resumed.state_code) == (S.EXECUTED, "")
    withdrawal = Withdrawal.objects.get(pk=proposal.withdrawal_id)
    assert (withdrawal.state, withdrawal.paid_tx_hash) == (Withdrawal.State.PAID, proposal.submission_tx_hash)
    # and whatever comes next, nothing is sent and nothing is paid twice
    assert cs.proposal_execute(proposal_id=proposal.pk, sender=c.evm.deployer, w3=lagging).state == S.EXECUTED
    with _Raises("proposal_state"):
        cs.proposal_cancel(proposal_id=proposal.pk, user_id=c.operators[0].pk)
    with _Raises("withdrawal_state"):
        cs.withdrawal_proposal_create(
            withdrawal_id=withdrawal.pk, destination=c.wallet_a.address,
            deadline=timezone.now() + timedelta(minutes=30), w3=c.evm.w3,
        )  # fmt: skip
    assert SafeProposal.objects.filter(withdrawal_id=withdrawal.pk).count() == 1
    assert c.evm.w3.eth.get_transaction_count(c.evm.deployer.address) == sender_nonce
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - PAYOUT
    assert chain.safe_nonce(c.evm.w3, c.evm.safe) == 1


def test_the_executor_reads_the_event_whether_or_not_txhash_is_indexed(submitted: tuple[Custody, SafeProposal]) -> None:
    # given the executed payout's event, found by scanning the Safe's logs in one-block ranges
    c, proposal = submitted
    head = c.evm.w3.eth.block_number
    digest = bytes.fromhex(proposal.safe_tx_hash[2:])
    found = chain.safe_execution_find(c.evm.w3, c.evm.safe, digest, from_block=0, to_block=head)
    assert found is not None
    assert (found.succeeded, "0x" + found.tx_hash.hex()) == (True, proposal.submission_tx_hash)
    # and none for a hash the Safe never ran, nor before the block it ran in
    assert chain.safe_execution_find(c.evm.w3, c.evm.safe, b"\x01" * 32, from_block=0, to_block=head) is None
    assert (
        chain.safe_execution_find(c.evm.w3, c.evm.safe, digest, from_block=0, to_block=found.block_number - 1) is None
    )
    # the txHash is read from a topic or from the data, whichever the deployed Safe uses
    log = {"topics": [b"\x00" * 32], "data": digest + b"\x00" * 32}
    assert chain._logged_safe_tx_hash(log) == digest
    assert chain._logged_safe_tx_hash({"topics": [b"\x00" * 32, digest], "data": b"\x00" * 32}) == digest
