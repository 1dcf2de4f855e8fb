"""Admin of on-chain transfers: the deposit scan's rows listed, filtered and searched, never edited, added or
deleted from the admin; an unattributed one credited to a depositor by two operators: one requests it through the
action's form, a second approves it under Manual credits (each with MFA confirmed in the last 15 minutes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from tests.factories import OperatorFactory, operator_session
from tests.vaults.builders import vault_new
from tests.vaults.custody.conftest import Deposits
from vaults.models import ChainTransfer, Deposit, ManualCredit, VaultSafe

pytestmark = pytest.mark.django_db

SAFE = "0x" + "5a" * 20
OTHER_SAFE = "0x" + "5b" * 20
TOKEN = "0x" + "70" * 20
ALICE = "0xA11CE00000000000000000000000000000000001"
STRANGER = "0x5742A46E00000000000000000000000000000002"


def _transfer(safe: VaultSafe, n: int, sender: str, state: str, **fields: Any) -> ChainTransfer:
    return ChainTransfer.objects.create(
        vault_safe=safe,
        chain_id=safe.chain_id,
        tx_hash="0x" + f"{n:064x}",
        log_index=n,
        block_number=100 + n,
        block_hash="0x" + f"{n + 1000:064x}",
        token=safe.asset_contract,
        sender=sender,
        recipient=safe.address,
        amount=Decimal(n * 1_000_000),
        state=state,
        **fields,
    )


@pytest.fixture
def transfers() -> list[ChainTransfer]:
    safe, other = (
        VaultSafe.objects.create(
            vault=vault_new(slug=slug), chain_id=31337, address=address, asset_contract=TOKEN, owners=[address],
            threshold=2, cosigner=address, deployed_block=1,
        )
        for slug, address in (("usdc-core", SAFE), ("usdc-other", OTHER_SAFE))
    )  # fmt: skip
    return [
        _transfer(safe, 1, ALICE, ChainTransfer.State.SEEN),
        _transfer(safe, 2, STRANGER, ChainTransfer.State.UNATTRIBUTED, note="sender is no user's linked wallet"),
        _transfer(safe, 3, ALICE, ChainTransfer.State.REJECTED, needs_operator=True, note="credited otherwise"),
        _transfer(other, 4, ALICE, ChainTransfer.State.CREDITED),
    ]


def _operator() -> Client:
    return operator_session(OperatorFactory(), client=Client())


def _rows(html: str, transfers: list[ChainTransfer]) -> list[int]:
    """Which of ``transfers`` the changelist shows (by their distinct tx hashes)."""
    return [t.log_index for t in transfers if t.tx_hash in html]


def test_the_changelist_lists_every_column(transfers: list[ChainTransfer]) -> None:
    page = _operator().get("/admin/vaults/chaintransfer/")

    assert page.status_code == 200
    html = page.content.decode()
    assert _rows(html, transfers) == [1, 2, 3, 4]
    for header in ("Vault safe", "Chain id", "Tx hash", "Log index", "Block number", "Sender", "Amount", "State"):
        assert f">{header}<" in html
    assert "sender is no user&#x27;s linked wallet" in html and "credited otherwise" in html
    assert "Unattributed (sender not a linked wallet)" in html


def test_filters_and_search(transfers: list[ChainTransfer]) -> None:
    client = _operator()
    url = "/admin/vaults/chaintransfer/"

    def shown(**query: Any) -> list[int]:
        page = client.get(url, query)
        assert page.status_code == 200
        return _rows(page.content.decode(), transfers)

    assert shown(state__exact="unattributed") == [2]
    assert shown(needs_operator__exact="1") == [3]
    assert shown(needs_operator__exact="0") == [1, 2, 4]
    assert shown(vault_safe__vault__id__exact=str(transfers[0].vault_safe.vault_id)) == [1, 2, 3]
    assert shown(vault_safe__vault__id__exact=str(transfers[3].vault_safe.vault_id)) == [4]
    assert shown(q=STRANGER.lower()) == [2]
    assert shown(q=transfers[2].tx_hash) == [3]


def test_nothing_is_editable_added_or_deleted(transfers: list[ChainTransfer]) -> None:
    client = _operator()
    transfer = transfers[1]

    view = client.get(f"/admin/vaults/chaintransfer/{transfer.pk}/change/")
    assert view.status_code == 200 and transfer.tx_hash in view.content.decode()
    assert 'name="state"' not in view.content.decode()  # shown, not a form field
    edit = client.post(
        f"/admin/vaults/chaintransfer/{transfer.pk}/change/",
        {"state": "credited", "amount": "999", "needs_operator": "on", "note": "edited"},
    )
    assert edit.status_code == 403
    assert client.get("/admin/vaults/chaintransfer/add/").status_code == 403
    assert client.post(f"/admin/vaults/chaintransfer/{transfer.pk}/delete/", {"post": "yes"}).status_code == 403
    stored = ChainTransfer.objects.get(pk=transfer.pk)
    assert (stored.state, stored.amount, stored.needs_operator, stored.note) == (
        "unattributed",
        Decimal(2_000_000),
        False,
        "sender is no user's linked wallet",
    )
    assert ChainTransfer.objects.count() == 4


# -- the attribution action, on the in-process EVM ---------------------------------------------------------------


def test_an_operator_attributes_an_unattributed_transfer_from_the_admin(
    deposits: Deposits, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from vaults.custody import deposits as deposit_scan

    monkeypatch.setattr(deposit_scan, "chain_web3", lambda chain_id: deposits.evm.w3)
    settings.DEPOSIT_CONFIRMATIONS = 2
    deposits.send(deposits.stranger, 3_000_000)
    deposits.mine(2)
    [transfer_id] = deposits.scan(confirmations=2).unattributed
    transfer = deposits.transfer(transfer_id)
    operator, approver = OperatorFactory(), OperatorFactory()
    client = operator_session(operator, client=Client())
    url = "/admin/vaults/chaintransfer/"
    chosen = {"action": "attribute", "_selected_action": [transfer.pk]}

    # an operator whose MFA is 20 minutes old is told to re-authenticate, and gets no form
    stale = operator_session(operator, client=Client(), mfa_age=timedelta(minutes=20))
    refused = stale.post(url, chosen, follow=True)
    assert "mfa_reauthentication_required" in refused.content.decode().lower()
    assert 'name="depositor_email"' not in refused.content.decode()

    # the action asks first: a page with the transfer and the form, nothing written
    ask = client.post(url, chosen)
    assert ask.status_code == 200
    html = ask.content.decode()
    assert transfer.tx_hash in html and deposits.stranger.address in html and 'name="depositor_email"' in html
    assert not Deposit.objects.exists()
    # an unknown email is refused on the same page
    unknown = client.post(url, {**chosen, "apply": "1", "depositor_email": "nobody@example.com", "note": "x"})
    assert unknown.status_code == 200 and "no user has this email" in unknown.content.decode()
    assert not Deposit.objects.exists()
    # a signed-in depositor cannot use the admin at all
    outsider = Client()
    outsider.force_login(deposits.alice)
    sent = {**chosen, "apply": "1", "depositor_email": deposits.alice.email, "note": "mine"}
    assert outsider.post(url, sent).status_code == 302  # to the admin's sign-in
    assert not Deposit.objects.exists()

    requested = client.post(
        url, {**chosen, "apply": "1", "depositor_email": deposits.bob.email.upper(), "note": "ticket 7"}, follow=True
    )

    # one operator only requests it: nothing credited until a second operator approves
    assert requested.status_code == 200
    credit = ManualCredit.objects.get()
    assert f"attribution to {deposits.bob.email} requested as manual credit {credit.pk}" in requested.content.decode()
    assert (credit.kind, credit.state, credit.depositor, credit.requested_by, credit.amount, credit.reason) == (
        "attribution", "pending", deposits.bob, operator, Decimal(3_000_000), "ticket 7",
    )  # fmt: skip
    assert not Deposit.objects.exists()
    assert deposits.transfer(transfer.pk).state == ChainTransfer.State.UNATTRIBUTED
    decide = {"action": "approve", "_selected_action": [credit.pk]}
    same = client.post("/admin/vaults/manualcredit/", decide, follow=True)
    assert "second_operator_required" in same.content.decode().lower()
    assert not Deposit.objects.exists() and ManualCredit.objects.get().state == "pending"

    done = operator_session(approver, client=Client()).post("/admin/vaults/manualcredit/", decide, follow=True)

    assert done.status_code == 200
    assert f"manual credit {credit.pk}: applied" in done.content.decode().lower()
    deposit = Deposit.objects.get()
    assert (deposit.depositor, deposit.amount, deposit.recorded_by, deposit.tx_hash) == (
        deposits.bob,
        Decimal(3_000_000),
        operator,
        transfer.tx_hash,
    )
    credited = deposits.transfer(transfer.pk)
    assert credited.state == ChainTransfer.State.CREDITED
    assert credited.note.endswith(
        f"attributed to {deposits.bob.email} by operator {operator.email}, approved by operator {approver.email}: "
        "ticket 7"
    )
    assert (ManualCredit.objects.get().state, ManualCredit.objects.get().decided_by) == ("applied", approver)
    # now credited: a second attribution (to someone else) is refused with the service's reason
    again = client.post(url, {**chosen, "apply": "1", "depositor_email": deposits.alice.email, "note": "no"})
    assert again.status_code == 200 and "not_unattributed: transfer" in again.content.decode()
    assert Deposit.objects.get() == deposit


def test_the_action_takes_exactly_one_transfer(transfers: list[ChainTransfer]) -> None:
    client = _operator()

    page = client.post(
        "/admin/vaults/chaintransfer/",
        {"action": "attribute", "_selected_action": [transfers[1].pk, transfers[2].pk]},
        follow=True,
    )

    assert "Select exactly one transfer to attribute" in page.content.decode()
    assert not Deposit.objects.exists()
    assert ChainTransfer.objects.get(pk=transfers[1].pk).state == ChainTransfer.State.UNATTRIBUTED
