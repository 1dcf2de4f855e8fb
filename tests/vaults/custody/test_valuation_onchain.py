"""Valuation with on-chain positions, on the real Safe v1.4.1 bytecode and ERC-20 (eth-tester): the vault's cash is
the Safe's token balance read at valuation time, less the payouts reserved but not yet paid and the transfers not
yet credited; the sources say what was read where. A chain that cannot be read refuses with nothing written.

The payout tests execute a proposal, which commits before broadcasting: they run with real commits.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account

from tests.vaults.builders import at, vault_new
from tests.vaults.custody.conftest import DEPOSITED, VAULT_FUNDS, Custody, Deposits
from tests.vaults.custody.test_custody_services import PAYOUT, authorise, execute, owner_sign, propose
from vaults import errors, services
from vaults.custody import chain
from vaults.custody import services as cs
from vaults.custody.safe_tx import OwnerSignature, signatures_pack
from vaults.custody.selectors import proposal_safe_tx
from vaults.models import NavSnapshot, Position, SafeProposal, Valuation, Vault, VaultEvent, VaultSafe, Withdrawal
from vaults.services import onchain


def books_hold_the_safe(c: Custody) -> None:
    """The books now hold what the Safe holds: the rest of its funding (minted to it at deploy) credited as an
    on-chain deposit — a vault with a Safe credits nothing off chain. The tx hash is a stand-in: no scan runs here."""
    services.vault_deposit_record(
        vault_id=c.vault.pk, depositor_id=c.depositor.pk, amount=VAULT_FUNDS - DEPOSITED, at=at(0),
        chain_id=c.evm.chain_id, tx_hash="0x" + "ab" * 32, log_index=0,
    )  # fmt: skip


def _chain_is(monkeypatch: pytest.MonkeyPatch, w3) -> None:  # type: ignore[no-untyped-def]
    """The valuation reaches the chain through chain_web3(chain_id): here, the in-process EVM."""
    monkeypatch.setattr(onchain, "chain_web3", lambda chain_id: w3)


def _nothing_written(vault: Vault, events: int) -> None:
    assert Valuation.objects.filter(vault=vault).count() == 0
    assert VaultEvent.objects.filter(vault=vault).count() == events
    assert Vault.objects.get(pk=vault.pk).value == vault.value


# -- deposits on chain --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_deposit_on_chain_is_valued_at_exactly_the_safes_balance(
    deposits: Deposits, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deposits
    _chain_is(monkeypatch, d.evm.w3)
    d.send(d.alice_wallet, 1_234_567_891)
    d.mine(3)
    d.scan()
    assert d.vault.deposits.count() == 1  # credited: 1,234.567891 tUSD of shares
    position = services.position_onchain_set(vault_id=d.vault.pk, asset="usdc")
    assert (position.venue, position.source, position.token_contract) == ("vault", "onchain_balance", d.token)
    head = d.evm.w3.eth.get_block("latest")

    valuation = services.vault_valuation_record(vault_id=d.vault.pk)

    assert valuation.value == Decimal(1_234_567_891) == Decimal(chain.erc20_balance(d.evm.w3, d.token, d.safe.address))
    assert Vault.objects.get(pk=d.vault.pk).value == Decimal(1_234_567_891)
    assert valuation.sources == [
        {
            "asset": "USDC",
            "venue": "vault",
            "source": "onchain balance",
            "chain_id": d.evm.chain_id,
            "token": d.token,
            "holder": d.safe.address,
            "block_number": head["number"],
            "block_hash": "0x" + bytes(head["hash"]).hex(),
            "deposits_scanned_to": head["number"],
            "raw_balance": "1234567891",
            "decimals": 6,
            "reserved_payouts": "0",
            "reserved_withdrawals": [],
            "uncredited_deposits": "0",
            "uncredited_transfers": [],
            "quantity": "1234.567891",
            "price": "1",
            "price_source": "base asset",
        }
    ]


@pytest.mark.django_db
def test_transfers_not_credited_are_not_the_vaults(deposits: Deposits, monkeypatch: pytest.MonkeyPatch) -> None:
    d = deposits
    _chain_is(monkeypatch, d.evm.w3)
    d.send(d.alice_wallet, 500_000_000)
    d.send(d.stranger, 7_000_000)  # nobody linked the sender: unattributed, never credited
    d.mine(3)
    d.scan()
    d.send(d.bob_wallet, 9_000_000)  # seen, not confirmed yet
    d.scan()
    services.position_onchain_set(vault_id=d.vault.pk, asset="USDC")

    valuation = services.vault_valuation_record(vault_id=d.vault.pk)

    assert chain.erc20_balance(d.evm.w3, d.token, d.safe.address) == 516_000_000
    assert valuation.value == Decimal(500_000_000)
    (source,) = valuation.sources
    assert (source["raw_balance"], source["uncredited_deposits"], source["quantity"]) == (
        "516000000",
        "16000000",
        "500.000000",
    )
    assert len(source["uncredited_transfers"]) == 2


# -- payouts: reserved when requested, out of the Safe when executed -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_payout_requested_then_paid_is_never_counted_twice(custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    c = custody
    _chain_is(monkeypatch, c.evm.w3)
    books_hold_the_safe(c)
    services.position_onchain_set(vault_id=c.vault.pk, asset="USDC")
    assert services.vault_valuation_record(vault_id=c.vault.pk, at=at(0)).value == Decimal(VAULT_FUNDS)

    withdrawal = c.withdraw(PAYOUT)  # P = 1: the payout is PAYOUT base units, reserved out of the vault's value
    assert Vault.objects.get(pk=c.vault.pk).value == Decimal(VAULT_FUNDS - PAYOUT)
    requested = services.vault_valuation_record(vault_id=c.vault.pk, at=at(0))

    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS  # still in the Safe
    assert requested.value == Decimal(VAULT_FUNDS - PAYOUT)
    (source,) = requested.sources
    assert (source["raw_balance"], source["reserved_payouts"], source["reserved_withdrawals"]) == (
        str(VAULT_FUNDS), str(PAYOUT), [withdrawal.pk],
    )  # fmt: skip

    proposal = authorise(c, propose(c, withdrawal=withdrawal))
    proposal = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))
    assert execute(c, proposal).state == SafeProposal.State.EXECUTED
    paid = services.vault_valuation_record(vault_id=c.vault.pk, at=at(0))

    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.PAID
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS - PAYOUT
    assert paid.value == Decimal(VAULT_FUNDS - PAYOUT)
    (source,) = paid.sources
    assert (source["raw_balance"], source["reserved_payouts"]) == (str(VAULT_FUNDS - PAYOUT), "0")
    assert NavSnapshot.objects.filter(event=paid.event).get().price == Decimal(1)


@pytest.mark.django_db(transaction=True)
def test_a_payout_executed_but_not_recorded_refuses_the_valuation(
    custody: Custody, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = custody
    _chain_is(monkeypatch, c.evm.w3)
    books_hold_the_safe(c)
    services.position_onchain_set(vault_id=c.vault.pk, asset="USDC")
    proposal = authorise(c, propose(c))
    proposal = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, c.evm.operators[0]))
    # Broadcast and mined, and the process dies before recording the outcome: the withdrawal is still in custody
    # but its payout has left the Safe; taking it off the balance again would count it twice.
    executor = chain.ProposalExecutor(
        c.evm.w3,
        chain_id=c.evm.chain_id,
        safe_address=c.evm.safe,
        sender=c.evm.deployer,
        store=cs.ProposalSubmissionStore(proposal.pk),
    )
    packed = signatures_pack(
        bytes.fromhex(proposal.safe_tx_hash[2:]),
        [OwnerSignature(s.signer, bytes.fromhex(s.signature[2:])) for s in proposal.signatures.filter(kind="owner")],
    )
    assert executor.execute(proposal_safe_tx(proposal), packed).status == "executed"
    assert Withdrawal.objects.get(pk=proposal.withdrawal_id).state == Withdrawal.State.IN_CUSTODY
    vault = Vault.objects.get(pk=c.vault.pk)
    events = VaultEvent.objects.filter(vault=vault).count()

    with pytest.raises(errors.VaultServiceError) as refused:
        services.vault_valuation_record(vault_id=vault.pk, at=at(0))

    assert refused.value.code == "safe_transaction_in_flight"
    _nothing_written(vault, events)
    assert execute(c, proposal).state == SafeProposal.State.EXECUTED  # the outcome recorded: valued exactly
    assert services.vault_valuation_record(vault_id=vault.pk, at=at(0)).value == Decimal(VAULT_FUNDS - PAYOUT)


# -- refusals -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("urls", ["unreachable", "not configured"])
def test_a_chain_that_cannot_be_read_refuses_with_nothing_written(custody: Custody, settings, urls: str) -> None:  # type: ignore[no-untyped-def]
    c = custody
    # The real chain_web3: a closed local port, or no RPC URL for the Safe's chain.
    settings.CHAIN_RPC_URLS = {c.evm.chain_id: "http://127.0.0.1:9"} if urls == "unreachable" else {}
    services.position_onchain_set(vault_id=c.vault.pk, asset="USDC")
    vault = Vault.objects.get(pk=c.vault.pk)
    events = VaultEvent.objects.filter(vault=vault).count()

    with pytest.raises(errors.VaultServiceError) as refused:
        services.vault_valuation_record(vault_id=vault.pk, at=at(0))

    assert refused.value.code == "chain_unavailable"
    assert f"chain {c.evm.chain_id} could not be read" in refused.value.message
    _nothing_written(vault, events)


@pytest.mark.django_db
def test_an_onchain_position_needs_a_safe() -> None:
    vault = vault_new()

    with pytest.raises(errors.VaultServiceError) as refused:
        services.position_onchain_set(vault_id=vault.pk, asset="USDC")

    assert refused.value.code == "no_safe"
    assert not Position.objects.filter(vault=vault).exists()


@pytest.mark.django_db
def test_a_token_whose_decimals_are_not_the_vaults_is_refused(evm, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _chain_is(monkeypatch, evm.w3)
    vault = vault_new(decimals=18)  # the Safe's token has 6
    VaultSafe.objects.create(
        vault=vault,
        chain_id=evm.chain_id,
        address=evm.safe,
        asset_contract=evm.token,
        owners=chain.safe_owners(evm.w3, evm.safe),
        threshold=2,
        cosigner=evm.cosigner.address,
        deployed_block=0,
    )
    services.position_onchain_set(vault_id=vault.pk, asset="USDC")

    with pytest.raises(errors.VaultServiceError) as refused:
        services.vault_valuation_record(vault_id=vault.pk, at=at(0))

    assert refused.value.code == "decimals_mismatch"
    _nothing_written(vault, 0)


@pytest.mark.django_db
def test_a_base_asset_position_is_the_safes_token_on_the_cash_venue(custody: Custody) -> None:
    c = custody
    other = Account.create().address

    with pytest.raises(errors.VaultServiceError, match="cash"):
        services.position_onchain_set(vault_id=c.vault.pk, asset="USDC", venue="safe")
    with pytest.raises(errors.VaultServiceError, match="is the token"):
        services.position_onchain_set(vault_id=c.vault.pk, asset="USDC", token_contract=other)

    cash = Position.objects.get(vault=c.vault, venue="vault")
    assert (cash.source, cash.token_contract, cash.quantity) == ("manual", "", Decimal(DEPOSITED).scaleb(-6))
