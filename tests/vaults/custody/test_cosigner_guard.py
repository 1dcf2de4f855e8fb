"""The vault Safe cannot execute anything without the policy co-signer: attacks on the real Safe v1.4.1 bytecode
guarded by our ``CosignerGuard`` (contracts/CosignerGuard.vy, compiled by the set-up), on eth-tester + py-evm.

Every attack is sent on chain with a fixed gas (no simulation that could hide a success) and must revert; afterwards
the Safe still holds all its tokens, the thief none, and the Safe's nonce, owners, threshold, guard and modules are
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from itertools import combinations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.vaults.custody.conftest import VAULT_FUNDS, Custody, Evm
from vaults.custody import chain, guard
from vaults.custody.calls import erc20_transfer_data, function_selector
from vaults.custody.safe_tx import ZERO_ADDRESS, OwnerSignature, SafeTx, hash_sign, safe_tx_hash, signatures_pack

WEEK = 7 * 24 * 3600


def _non_cosigner_key_sets(evm: Evm) -> list[tuple[LocalAccount, ...]]:
    """Every set of two or more owner keys that lacks the co-signer (one key is below the threshold anyway)."""
    keys = [*evm.operators, evm.recovery]
    return [subset for size in range(2, len(keys) + 1) for subset in combinations(keys, size)]


def _drain(evm: Evm, thief: str, *, nonce: int | None = None, **fields: object) -> SafeTx:
    defaults: dict[str, object] = {
        "to": evm.token,
        "value": 0,
        "data": erc20_transfer_data(thief, VAULT_FUNDS),
        "operation": 0,
        "nonce": chain.safe_nonce(evm.w3, evm.safe) if nonce is None else nonce,
    }
    defaults.update(fields)
    return SafeTx(**defaults)  # type: ignore[arg-type]


def _signed(evm: Evm, tx: SafeTx, signers: Iterable[LocalAccount]) -> bytes:
    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    return signatures_pack(digest, [OwnerSignature(key.address, hash_sign(digest, key.key)) for key in signers])


def _eth_signed(evm: Evm, tx: SafeTx, signers: Iterable[LocalAccount]) -> bytes:
    """Signatures in the Safe's ``eth_sign`` flavour (EIP-191 prefix, v + 4), sorted by owner."""
    from eth_account.messages import encode_defunct

    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    parts = []
    for key in sorted(signers, key=lambda k: int(k.address, 16)):
        signed = Account.sign_message(encode_defunct(primitive=digest), key.key)
        parts.append(signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v + 4]))
    return b"".join(parts)


def _approved(evm: Evm, tx: SafeTx, approvers: Iterable[LocalAccount]) -> bytes:
    """Each approver calls ``approveHash`` on chain; the pre-validated signatures (v = 1, r = owner), sorted."""
    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    safe = chain.safe_contract(evm.w3, evm.safe)
    ordered = sorted(approvers, key=lambda k: int(k.address, 16))
    for approver in ordered:
        _fund(evm, approver.address)
        receipt = chain._call_send(evm.w3, approver, safe.functions.approveHash(digest), gas=100_000)
        assert receipt["status"] == 1
    return b"".join(int(a.address, 16).to_bytes(32, "big") + bytes(32) + b"\x01" for a in ordered)


def _fund(evm: Evm, address: str) -> None:
    if evm.w3.eth.get_balance(address) < 10**17:  # type: ignore[arg-type]
        evm.w3.eth.send_transaction({"from": evm.w3.eth.accounts[0], "to": address, "value": 10**18})  # type: ignore[typeddict-item]


def _forced(evm: Evm, tx: SafeTx, packed: bytes, sender: LocalAccount | None = None) -> int:
    """Send ``execTransaction`` with a fixed gas, so it is mined whatever it does; the receipt's status."""
    sender = sender or evm.deployer
    _fund(evm, sender.address)
    return int(chain.safe_exec(evm.w3, evm.safe, tx, packed, sender, gas=900_000)["status"])


def _state(evm: Evm) -> tuple[object, ...]:
    return (
        chain.erc20_balance(evm.w3, evm.token, evm.safe),
        chain.safe_nonce(evm.w3, evm.safe),
        tuple(chain.safe_owners(evm.w3, evm.safe)),
        chain.safe_threshold(evm.w3, evm.safe),
        guard.safe_guard(evm.w3, evm.safe),
        tuple(guard.safe_modules(evm.w3, evm.safe)),
        guard.guard_cosigner(evm.w3, guard.safe_guard(evm.w3, evm.safe)),
    )


def _assert_untouched(evm: Evm, before: tuple[object, ...], thief: str) -> None:
    assert _state(evm) == before
    assert chain.erc20_balance(evm.w3, evm.token, evm.safe) == VAULT_FUNDS
    assert chain.erc20_balance(evm.w3, evm.token, thief) == 0


# -- the guard is there from the Safe's first block -----------------------------------------------------------------


def test_the_vault_safe_is_guarded_from_its_creation(evm: Evm) -> None:
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    assert guard_address != ZERO_ADDRESS
    assert guard.guard_cosigner(evm.w3, guard_address) == evm.cosigner.address
    assert guard.guard_safe(evm.w3, guard_address) == evm.safe
    assert guard.guard_recovery_delay(evm.w3, guard_address) == WEEK
    assert guard.safe_modules(evm.w3, evm.safe) == []
    assert chain.safe_nonce(evm.w3, evm.safe) == 0  # installed by the Safe's own setup, not by a transaction


def test_a_recovery_delay_under_seven_days_cannot_be_deployed(evm: Evm) -> None:
    with pytest.raises(chain.ChainError):
        chain.vault_safe_deploy(
            evm.w3, evm.infrastructure, cosigner=evm.cosigner.address,
            operators=[o.address for o in evm.operators], recovery=evm.recovery.address, threshold=2,
            deployer=evm.deployer, salt_nonce=7, recovery_delay_s=WEEK - 1,
        )  # fmt: skip


# -- no key set without the co-signer moves anything ----------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["ecdsa", "eth_sign", "approve_hash"])
def test_no_owner_key_set_without_the_cosigner_can_drain_the_safe(evm: Evm, flavour: str) -> None:
    thief = Account.create().address
    for subset in _non_cosigner_key_sets(evm):
        before = _state(evm)
        tx = _drain(evm, thief)
        if flavour == "ecdsa":
            packed = _signed(evm, tx, subset)
        elif flavour == "eth_sign":
            packed = _eth_signed(evm, tx, subset)
        else:
            packed = _approved(evm, tx, subset)
        assert _forced(evm, tx, packed) == 0, f"{[k.address for k in subset]} moved funds by {flavour}"
        _assert_untouched(evm, before, thief)


def test_an_owner_executing_himself_with_another_owners_approval_is_refused(evm: Evm) -> None:
    """``msg.sender == owner`` counts as that owner's signature in the Safe; it is no co-signer either."""
    thief = Account.create().address
    operator_a, operator_b = evm.operators
    before = _state(evm)
    tx = _drain(evm, thief)
    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    packed = _approved(evm, tx, [operator_b])
    own = int(operator_a.address, 16).to_bytes(32, "big") + bytes(32) + b"\x01"
    entries = sorted([packed, own], key=lambda entry: entry[:32])
    assert _forced(evm, tx, b"".join(entries), sender=operator_a) == 0
    _assert_untouched(evm, before, thief)
    assert digest  # the hash the approval was for


def test_a_forged_cosigner_entry_appended_to_the_signatures_is_refused(evm: Evm) -> None:
    """The Safe reads only ``threshold`` entries; an extra "approved by the co-signer" entry it never checks must not
    satisfy the guard, which verifies every entry it counts (here: no approveHash by the co-signer exists)."""
    thief = Account.create().address
    before = _state(evm)
    tx = _drain(evm, thief)
    packed = _signed(evm, tx, evm.operators)
    fake = int(evm.cosigner.address, 16).to_bytes(32, "big") + bytes(32) + b"\x01"
    assert _forced(evm, tx, packed + fake) == 0
    _assert_untouched(evm, before, thief)


def test_a_cosigner_signature_over_another_transaction_does_not_count(evm: Evm) -> None:
    thief = Account.create().address
    before = _state(evm)
    tx = _drain(evm, thief)
    other = _drain(evm, thief, data=erc20_transfer_data(thief, 1))
    other_digest = safe_tx_hash(evm.chain_id, evm.safe, other)
    stale = OwnerSignature(evm.cosigner.address, hash_sign(other_digest, evm.cosigner.key)).signature
    assert _forced(evm, tx, _signed(evm, tx, evm.operators) + stale) == 0
    _assert_untouched(evm, before, thief)


def _control_calls(evm: Evm, attacker: str) -> dict[str, bytes]:
    cosigner, operator = evm.cosigner.address, evm.operators[0].address
    owners = chain.safe_owners(evm.w3, evm.safe)
    previous = "0x" + "00" * 19 + "01" if owners[0] == cosigner else owners[owners.index(cosigner) - 1]

    def word(value: int | str) -> bytes:
        return (int(value, 16) if isinstance(value, str) else value).to_bytes(32, "big")

    return {
        "setGuard(0)": function_selector("setGuard(address)") + word(ZERO_ADDRESS),
        "enableModule": function_selector("enableModule(address)") + word(attacker),
        "changeThreshold(1)": function_selector("changeThreshold(uint256)") + word(1),
        "swapOwner(co-signer)": function_selector("swapOwner(address,address,address)")
        + word(previous) + word(cosigner) + word(attacker),
        "removeOwner(co-signer)": function_selector("removeOwner(address,address,uint256)")
        + word(previous) + word(cosigner) + word(2),
        "addOwner": function_selector("addOwnerWithThreshold(address,uint256)") + word(attacker) + word(1),
        "setFallbackHandler": function_selector("setFallbackHandler(address)") + word(attacker),
        "operator as owner twice": function_selector("addOwnerWithThreshold(address,uint256)")
        + word(operator) + word(2),
    }  # fmt: skip


def test_operators_cannot_change_the_safes_controls_without_the_cosigner(evm: Evm) -> None:
    attacker = Account.create().address
    for name, data in _control_calls(evm, attacker).items():
        before = _state(evm)
        tx = _drain(evm, attacker, to=evm.safe, data=data)
        assert _forced(evm, tx, _signed(evm, tx, evm.operators)) == 0, name
        _assert_untouched(evm, before, attacker)


def test_operators_cannot_replace_the_cosigner_without_a_matured_announcement(evm: Evm) -> None:
    attacker = Account.create()
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    before = _state(evm)
    tx = _drain(evm, attacker.address, to=guard_address, data=guard.cosigner_replace_data(attacker.address))
    assert _forced(evm, tx, _signed(evm, tx, evm.operators)) == 0
    _assert_untouched(evm, before, attacker.address)


def test_the_guard_refuses_modules_and_delegatecalls_even_with_the_cosigner(evm: Evm) -> None:
    """v1.4.1 module transactions skip the guard, a DELEGATECALL can rewrite the Safe's storage (its guard, modules
    and owners), and a fallback handler would answer EIP-1271 signature checks from the owners alone, so the guard
    allows none of them, whoever signs."""
    attacker = Account.create().address
    enable = _control_calls(evm, attacker)["enableModule"]
    handler = _control_calls(evm, attacker)["setFallbackHandler"]
    for tx in (
        _drain(evm, attacker, to=evm.safe, data=enable),
        _drain(evm, attacker, operation=1),
        # A fallback handler answering EIP-1271 isValidSignature checks owners' signatures only, never the guard:
        # the owners could then sign token permits (EIP-2612 with contract signatures, Permit2) without the co-signer.
        _drain(evm, attacker, to=evm.safe, data=handler),
    ):
        before = _state(evm)
        assert _forced(evm, tx, _signed(evm, tx, [evm.cosigner, evm.operators[0]])) == 0
        _assert_untouched(evm, before, attacker)


def test_the_guard_answers_only_its_safe(evm: Evm) -> None:
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    contract = guard.guard_contract(evm.w3, guard_address)
    tx = _drain(evm, Account.create().address)
    packed = _signed(evm, tx, [evm.cosigner, evm.operators[0]])
    call = contract.functions.checkTransaction(
        tx.to, tx.value, tx.data, tx.operation, 0, 0, 0, ZERO_ADDRESS, ZERO_ADDRESS, packed, evm.deployer.address
    )
    with pytest.raises(Exception, match="only the guarded Safe"):
        call.call({"from": evm.deployer.address})


# -- the co-signer's own paths work ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["ecdsa", "eth_sign", "approve_hash"])
def test_the_cosigner_with_any_other_owner_moves_funds(evm: Evm, flavour: str) -> None:
    recipient = Account.create().address
    other = evm.recovery
    tx = _drain(evm, recipient, data=erc20_transfer_data(recipient, 5 * 10**6))
    digest = safe_tx_hash(evm.chain_id, evm.safe, tx)
    if flavour == "ecdsa":
        packed = _signed(evm, tx, [evm.cosigner, other])
    elif flavour == "eth_sign":
        packed = _eth_signed(evm, tx, [evm.cosigner, other])
    else:
        approved = _approved(evm, tx, [evm.cosigner])
        own = OwnerSignature(other.address, hash_sign(digest, other.key))
        entries = sorted([(int(evm.cosigner.address, 16), approved), (int(other.address, 16), own.signature)])
        packed = b"".join(entry for _, entry in entries)
    assert _forced(evm, tx, packed) == 1
    assert chain.erc20_balance(evm.w3, evm.token, recipient) == 5 * 10**6
    assert chain.erc20_balance(evm.w3, evm.token, evm.safe) == VAULT_FUNDS - 5 * 10**6


# -- recovery: public, time-locked, cancellable ---------------------------------------------------------------------


def _announce(evm: Evm, by: LocalAccount, new_cosigner: str, *, expect: int = 1) -> int:
    contract = guard.guard_contract(evm.w3, guard.safe_guard(evm.w3, evm.safe))
    _fund(evm, by.address)
    receipt = chain._call_send(evm.w3, by, contract.functions.recovery_announce(new_cosigner), gas=200_000)
    assert receipt["status"] == expect
    return int(evm.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def _cancel(evm: Evm, by: LocalAccount, new_cosigner: str, *, expect: int = 1) -> None:
    contract = guard.guard_contract(evm.w3, guard.safe_guard(evm.w3, evm.safe))
    _fund(evm, by.address)
    receipt = chain._call_send(evm.w3, by, contract.functions.recovery_cancel(new_cosigner), gas=200_000)
    assert receipt["status"] == expect


def _time_travel(evm: Evm, seconds: int) -> None:
    now = int(evm.w3.eth.get_block("latest")["timestamp"])
    evm.tester.time_travel(now + seconds)
    evm.tester.mine_blocks(1)


def _replace_by_operators(evm: Evm, new_cosigner: str, **fields: object) -> int:
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    tx = _drain(evm, new_cosigner, to=guard_address, data=guard.cosigner_replace_data(new_cosigner), **fields)
    return _forced(evm, tx, _signed(evm, tx, evm.operators))


def test_a_lost_cosigner_is_replaced_after_a_public_week(evm: Evm) -> None:
    new_cosigner = Account.create()
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    announced = _announce(evm, evm.operators[0], new_cosigner.address)
    pending = guard.recovery_pending(evm.w3, guard_address)
    assert [(p.new_cosigner, p.executable_at - p.announced_at) for p in pending] == [(new_cosigner.address, WEEK)]
    assert pending[0].announced_at == announced
    _time_travel(evm, WEEK - 60)
    before = _state(evm)
    assert _replace_by_operators(evm, new_cosigner.address) == 0  # a minute early
    _assert_untouched(evm, before, new_cosigner.address)
    _time_travel(evm, 120)
    assert _replace_by_operators(evm, new_cosigner.address) == 1
    assert guard.guard_cosigner(evm.w3, guard_address) == new_cosigner.address
    assert guard.recovery_pending(evm.w3, guard_address) == []
    # From now on the new co-signer is required and the old one is not enough.
    recipient = Account.create().address
    old = _drain(evm, recipient, data=erc20_transfer_data(recipient, 10**6))
    assert _forced(evm, old, _signed(evm, old, [evm.cosigner, evm.operators[0]])) == 0
    new = _drain(evm, recipient, data=erc20_transfer_data(recipient, 10**6))
    packed = (
        _signed(evm, new, evm.operators)
        + OwnerSignature(
            new_cosigner.address, hash_sign(safe_tx_hash(evm.chain_id, evm.safe, new), new_cosigner.key)
        ).signature
    )
    assert _forced(evm, new, packed) == 1
    assert chain.erc20_balance(evm.w3, evm.token, recipient) == 10**6


def test_the_cosigner_cancels_a_rogue_recovery(evm: Evm) -> None:
    rogue = Account.create()
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    _announce(evm, evm.operators[0], rogue.address)
    _cancel(evm, evm.operators[1], rogue.address, expect=0)  # only the co-signer (or the Safe) cancels
    _cancel(evm, evm.cosigner, rogue.address)
    assert guard.recovery_pending(evm.w3, guard_address) == []
    _time_travel(evm, WEEK + 60)
    before = _state(evm)
    assert _replace_by_operators(evm, rogue.address) == 0
    _assert_untouched(evm, before, rogue.address)


def test_only_an_owner_announces_a_recovery(evm: Evm) -> None:
    stranger, rogue = Account.create(), Account.create()
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    _announce(evm, stranger, rogue.address, expect=0)
    _announce(evm, evm.operators[0], ZERO_ADDRESS, expect=0)
    assert guard.recovery_pending(evm.w3, guard_address) == []


def test_a_matured_recovery_allows_the_replacement_call_and_nothing_else(evm: Evm) -> None:
    """After the week, the operators may run exactly ``cosigner_replace(announced)``: not a transfer, not a refund of
    "gas" paid in the vault's token, not a DELEGATECALL, not the replacement of someone else."""
    new_cosigner, thief = Account.create(), Account.create()
    guard_address = guard.safe_guard(evm.w3, evm.safe)
    _announce(evm, evm.operators[0], new_cosigner.address)
    _time_travel(evm, WEEK + 60)
    attempts = {
        "transfer": _drain(evm, thief.address),
        "refund in tokens": _drain(
            evm, thief.address, to=guard_address, data=guard.cosigner_replace_data(new_cosigner.address),
            base_gas=VAULT_FUNDS // 2, gas_price=1, gas_token=evm.token, refund_receiver=thief.address,
        ),
        "delegatecall": _drain(
            evm, thief.address, to=guard_address, data=guard.cosigner_replace_data(new_cosigner.address), operation=1
        ),
        "another co-signer": _drain(
            evm, thief.address, to=guard_address, data=guard.cosigner_replace_data(thief.address)
        ),
    }  # fmt: skip
    for name, tx in attempts.items():
        before = _state(evm)
        assert _forced(evm, tx, _signed(evm, tx, evm.operators)) == 0, name
        _assert_untouched(evm, before, thief.address)


# -- the platform mirrors recoveries onto the vault's public page ----------------------------------------------------


@pytest.mark.django_db
def test_a_recovery_is_on_the_vault_page_from_its_announcement_until_it_closes(custody: Custody) -> None:
    from django.test import Client
    from django.urls import reverse

    from vaults.custody.services import vault_safe_recoveries_sync
    from vaults.models import CosignerRecovery, VaultSafe

    evm = custody.evm
    rogue, new_cosigner = Account.create(), Account.create()
    page_url = reverse("vault_detail", args=[custody.vault.slug])
    assert "No recovery pending" in Client().get(page_url).content.decode()

    _announce(evm, evm.operators[0], rogue.address)
    synced = vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3)
    assert (synced.pending, synced.cancelled, synced.executed) == (1, 0, 0)
    row = CosignerRecovery.objects.get()
    assert (row.new_cosigner, row.announced_by, row.state) == (rogue.address, evm.operators[0].address, "pending")
    assert row.executable_at - row.announced_at == timedelta(seconds=WEEK)
    page = Client().get(page_url).content.decode()  # signed out: public
    assert rogue.address in page and "Announced, pending" in page
    assert row.executable_at.strftime("%Y-%m-%d %H:%M") in page

    _cancel(evm, evm.cosigner, rogue.address)
    _announce(evm, evm.operators[1], new_cosigner.address)
    _time_travel(evm, WEEK + 60)
    assert _replace_by_operators(evm, new_cosigner.address) == 1
    synced = vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3)
    again = vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3)
    assert synced == again
    assert (synced.cosigner, synced.pending, synced.cancelled, synced.executed) == (new_cosigner.address, 0, 1, 1)
    states = dict(CosignerRecovery.objects.values_list("new_cosigner", "state"))
    assert states == {rogue.address: "cancelled", new_cosigner.address: "executed"}
    assert VaultSafe.objects.get(pk=custody.safe.pk).cosigner == new_cosigner.address
    page = Client().get(page_url).content.decode()
    assert "Cancelled by the co-signer" in page and "Executed: co-signer replaced" in page


@pytest.mark.django_db
def test_a_recovery_reorganised_away_leaves_the_page(custody: Custody) -> None:
    from vaults.custody.services import vault_safe_recoveries_sync
    from vaults.models import CosignerRecovery

    evm = custody.evm
    snapshot = evm.tester.take_snapshot()
    _announce(evm, evm.operators[0], Account.create().address)
    vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3)
    assert CosignerRecovery.objects.count() == 1
    evm.tester.revert_to_snapshot(snapshot)
    evm.tester.mine_blocks(3)
    assert vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3).pending == 0
    assert CosignerRecovery.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # execution commits the signed chain transaction before broadcasting
def test_after_a_recovery_the_platform_pays_with_the_new_cosigner_and_two_owners(
    custody: Custody, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new co-signer is the guard's, not a Safe owner: its signature cannot count toward the Safe's threshold
    (a non-owner among the first ``threshold`` entries reverts GS026). The platform packs the owners' signatures
    first and the co-signer's after them, and wants the threshold from owners besides the co-signer."""
    from tests.vaults.custody.test_custody_services import PAYOUT, authorise, execute, owner_sign, propose
    from vaults.custody import services as cs
    from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE
    from vaults.custody.services import vault_safe_recoveries_sync
    from vaults.models import SafeProposal

    evm, new_cosigner = custody.evm, Account.create()
    _announce(evm, evm.operators[0], new_cosigner.address)
    _time_travel(evm, WEEK + 60)
    assert _replace_by_operators(evm, new_cosigner.address) == 1
    vault_safe_recoveries_sync(vault_safe_id=custody.safe.pk, w3=evm.w3)
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + new_cosigner.key.hex())

    proposal = authorise(custody, propose(custody))
    assert proposal.signatures.filter(kind="owner", signer=new_cosigner.address).exists()
    proposal = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, evm.operators[0]))
    assert proposal.state == SafeProposal.State.AUTHORISED  # one owner: below the threshold of 2
    proposal = cs.owner_signature_add(proposal_id=proposal.pk, signature=owner_sign(proposal, evm.recovery))
    assert proposal.state == SafeProposal.State.SIGNED
    assert execute(custody, proposal).state == SafeProposal.State.EXECUTED
    assert evm.balance(custody.wallet_a.address) == PAYOUT
