"""Issue 13, item 2 against the real Safe (eth-tester): a stolen session or API token cannot empty the depositor's
holdings by linking wallets of its own, and a wallet authorises withdrawals only 48 h after its link unless a wallet
linked 48 h before vouched for it. Deposits from a new wallet are still credited at once.

Every refusal checks the rows (proposal, its signatures, the withdrawal, the wallets) and that no token moved.
Execution commits its submission before broadcasting, so the file runs with real commits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from rest_framework.test import APIClient

from accounts.models import Wallet
from tests.accounts.conftest import reauthenticate
from tests.factories import operator_session
from tests.vaults.custody.conftest import Custody, Deposits
from tests.vaults.custody.test_custody_services import assert_untouched
from vaults.custody import chain
from vaults.custody.safe_tx import hash_sign
from vaults.models import ChainTransfer, Deposit, ProposalSignature, SafeProposal, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)

PAYOUT = 250 * 10**6
CUSTODY = "/api/v1/custody"


def personal_sign(account: LocalAccount, text: str) -> str:
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def typed_sign(typed_data: dict[str, Any], wallet: LocalAccount) -> str:
    """What a browser wallet's eth_signTypedData_v4 returns for the typed data the API gave."""
    return "0x" + bytes(Account.sign_message(encode_typed_data(full_message=typed_data), wallet.key).signature).hex()


def session(user: Any, *, reauthenticated: bool = False) -> APIClient:
    client = APIClient()
    client.force_login(user)
    if reauthenticated:
        reauthenticate(client)
    return client


def state(c: Custody) -> dict[str, Any]:
    """Every row an attack could change: proposals, their signatures, withdrawals, the depositor's wallets."""
    return {
        "proposals": list(
            SafeProposal.objects.order_by("pk").values_list("pk", "state", "state_code", "authorised_at")
        ),
        "signatures": list(ProposalSignature.objects.order_by("pk").values_list("pk", "kind", "signer")),
        "withdrawals": list(Withdrawal.objects.order_by("pk").values_list("pk", "state", "payout")),
        "wallets": list(Wallet.objects.filter(user=c.depositor).order_by("pk").values_list("address", "created_at")),
    }


def request_withdrawal(client: APIClient, c: Custody, destination: str) -> Any:
    payload = {"vault": c.vault.slug, "amount": str(PAYOUT), "destination": destination}
    return client.post(f"{CUSTODY}/withdrawals/", payload, format="json")


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.json()
    return str(response.json()["error"]["message"])


# -- (a) a stolen session: no fresh re-authentication ------------------------------------------------------------


def test_a_stolen_session_cannot_link_two_wallets_and_withdraw_with_them(custody: Custody) -> None:
    c = custody
    stolen = session(c.depositor)  # signed in, never re-authenticated
    attacker_1, attacker_2 = Account.create(), Account.create()
    wallets_before = state(c)["wallets"]

    # the attacker tries to link two fresh wallets over the API (the web page's forms: tests/accounts)
    for account in (attacker_1, attacker_2):
        response = stolen.post("/api/v1/wallets/nonce/", {"address": account.address, "chain_id": 1}, format="json")
        error(response, 403, "reauthentication_required")
    assert state(c)["wallets"] == wallets_before

    # so a withdrawal to one of them is refused before any share is burned
    error(request_withdrawal(stolen, c, attacker_1.address), 400, "destination_not_registered")
    assert Withdrawal.objects.count() == 0

    # a withdrawal to the depositor's own wallet gets a proposal, but the attacker's signatures do not count
    proposal = request_withdrawal(stolen, c, c.wallet_a.address).json()
    before = state(c)
    url = f"{CUSTODY}/proposals/{proposal['id']}/signatures/"
    for account in (attacker_1, attacker_2):
        response = stolen.post(
            url, {"signature": typed_sign(proposal["request"]["typed_data"], account)}, format="json"
        )
        assert error(response, 400, "signer_not_linked").startswith(f"the signature recovers to {account.address}")

    assert state(c) == before
    assert SafeProposal.objects.get(pk=proposal["id"]).state == SafeProposal.State.PROPOSED
    assert_untouched(c, c.wallet_a.address, attacker_1.address, attacker_2.address)


def test_a_stolen_api_token_cannot_link_a_wallet_to_withdraw_with(custody: Custody) -> None:
    from accounts import services as account_services

    c = custody
    _, plaintext = account_services.api_token_create(user=c.depositor, name="leaked", scopes=["read", "custody"])
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    attacker = Account.create()
    before = state(c)

    response = token.post("/api/v1/wallets/nonce/", {"address": attacker.address, "chain_id": 1}, format="json")

    error(response, 403, "token_not_allowed")
    error(request_withdrawal(token, c, attacker.address), 400, "destination_not_registered")
    assert state(c) == before
    assert_untouched(c, attacker.address)


# -- (c) wallets linked an hour ago cannot sign, in either position --------------------------------------------


def test_wallets_linked_an_hour_ago_cannot_sign_a_withdrawal(custody: Custody) -> None:
    c = custody
    linked_at = timezone.now() - timedelta(hours=1)
    young_1, young_2 = Account.create(), Account.create()
    for account in (young_1, young_2):
        Wallet.objects.create(user=c.depositor, address=account.address, chain_id=c.evm.chain_id, created_at=linked_at)
    ready = linked_at + timedelta(hours=48)
    depositor = session(c.depositor)
    proposal = request_withdrawal(depositor, c, c.wallet_a.address).json()
    typed = proposal["request"]["typed_data"]
    url = f"{CUSTODY}/proposals/{proposal['id']}/signatures/"
    before = state(c)

    # first position: refused at once, saying from when it can sign
    message = error(
        depositor.post(url, {"signature": typed_sign(typed, young_1)}, format="json"), 400, "signer_not_yet_usable"
    )
    assert message == (
        f"{young_1.address}, linked less than 48 h ago: it can authorise withdrawals from {ready:%Y-%m-%d %H:%M} UTC "
        "(or link it again, vouched for by a wallet linked 48 h or more ago)"
    )
    assert state(c) == before

    # second position, after a valid first signature: refused too; the proposal keeps waiting with one signature
    assert depositor.post(url, {"signature": typed_sign(typed, c.wallet_a)}, format="json").status_code == 200
    after_one = state(c)
    error(depositor.post(url, {"signature": typed_sign(typed, young_2)}, format="json"), 400, "signer_not_yet_usable")

    assert state(c) == after_one
    assert list(ProposalSignature.objects.values_list("kind", "signer")) == [("depositor", c.wallet_a.address)]
    assert Withdrawal.objects.get().state == Withdrawal.State.AWAITING_SIGNATURES
    assert SafeProposal.objects.get().state == SafeProposal.State.PROPOSED
    assert_untouched(c, c.wallet_a.address, young_1.address, young_2.address)


def test_a_wallet_linked_an_hour_ago_cannot_be_paid_yet_either(custody: Custody) -> None:
    c = custody
    young = Account.create()
    linked_at = timezone.now() - timedelta(hours=1)
    Wallet.objects.create(user=c.depositor, address=young.address, chain_id=c.evm.chain_id, created_at=linked_at)

    response = request_withdrawal(session(c.depositor), c, young.address)

    assert error(response, 400, "destination_not_yet_usable") == (
        f"{young.address} was linked less than 48 h ago: it can receive withdrawals from "
        f"{linked_at + timedelta(hours=48):%Y-%m-%d %H:%M} UTC (or link it again, vouched for by a wallet linked "
        "48 h or more ago)"
    )
    assert Withdrawal.objects.count() == 0 and SafeProposal.objects.count() == 0
    assert_untouched(c, young.address)


def test_the_proposal_api_and_pages_say_when_a_wallet_can_sign(custody: Custody) -> None:
    from django.test import Client

    c = custody
    young = Account.create()
    linked_at = timezone.now() - timedelta(hours=1)
    Wallet.objects.create(user=c.depositor, address=young.address, chain_id=c.evm.chain_id, created_at=linked_at)
    proposal = request_withdrawal(session(c.depositor), c, c.wallet_a.address).json()

    wallets = proposal["request"]["wallets"]
    old_from = Wallet.objects.get(address=c.wallet_a.address).created_at + timedelta(hours=48)
    assert {w["address"]: w["withdrawals_from"] for w in wallets} == {
        c.wallet_a.address: old_from.isoformat(),
        c.wallet_b.address: (
            Wallet.objects.get(address=c.wallet_b.address).created_at + timedelta(hours=48)
        ).isoformat(),
        young.address: (linked_at + timedelta(hours=48)).isoformat(),
    }
    browser = Client()
    browser.force_login(c.depositor)
    ready = linked_at + timedelta(hours=48)
    withdraw_page = browser.get(f"/vaults/{c.vault.slug}/withdraw/").content.decode()
    assert f'<code>{young.address}</code> from\n          <time datetime="{ready.isoformat()}">' in withdraw_page
    proposal_page = browser.get(f"/vaults/proposals/{proposal['id']}/").content.decode()
    assert f'linked less than 48 h ago: signs withdrawals from <time datetime="{ready.isoformat()}">' in proposal_page


# -- (d) a link vouched for by a wallet linked 48 h before signs at once ---------------------------------------


def test_a_wallet_vouched_for_by_an_old_wallet_signs_and_is_paid_at_once(custody: Custody) -> None:
    c = custody
    owner = session(c.depositor, reauthenticated=True)  # the depositor: password confirmed just now
    new = Account.create()
    nonce = owner.post("/api/v1/wallets/nonce/", {"address": new.address, "chain_id": 1}, format="json").json()
    linked = owner.post(
        "/api/v1/wallets/",
        {
            "message": nonce["message"],
            "signature": personal_sign(new, nonce["message"]),
            "vouch_signature": personal_sign(c.wallet_a, nonce["vouch_message"]),  # linked three days ago
        },
        format="json",
    )
    assert linked.status_code == 201, linked.json()
    assert linked.json()["vouched_by"] == c.wallet_a.address

    # paid to the new wallet, signed by the new wallet and the other old one
    proposal = request_withdrawal(owner, c, new.address).json()
    url = f"{CUSTODY}/proposals/{proposal['id']}/signatures/"
    typed = proposal["request"]["typed_data"]
    assert owner.post(url, {"signature": typed_sign(typed, new)}, format="json").status_code == 200
    authorised = owner.post(url, {"signature": typed_sign(typed, c.wallet_b)}, format="json")
    assert authorised.status_code == 200, authorised.json()
    assert authorised.json()["state"] == "authorised"
    # the hash the co-signer signed (the nonce is given at co-signing); an operator adds their signature to it
    digest = bytes.fromhex(authorised.json()["safe_tx_hash"][2:])
    signature = "0x" + hash_sign(digest, c.evm.operators[0].key).hex()
    operator = operator_session(c.operators[0])  # operator actions: a session with MFA confirmed in 15 minutes
    signed = operator.post(
        f"{CUSTODY}/proposals/{proposal['id']}/owner-signatures/", {"signature": signature}, format="json"
    )
    assert signed.json()["state"] == "signed"

    from vaults.custody import services as cs

    executed = cs.proposal_execute(proposal_id=proposal["id"], sender=c.evm.deployer, w3=c.evm.w3)

    assert executed.state == SafeProposal.State.EXECUTED
    assert c.evm.balance(new.address) == PAYOUT


# -- (f) deposits from a wallet linked a minute ago are credited at once ---------------------------------------


def test_a_deposit_from_a_wallet_linked_a_minute_ago_is_credited(deposits: Deposits) -> None:
    d = deposits
    new = Account.create()
    d.evm.w3.eth.send_transaction({"from": d.evm.w3.eth.accounts[0], "to": new.address, "value": 10**18})
    chain.erc20_transfer(d.evm.w3, d.token, d.evm.deployer, new.address, 5_000_000)
    wallet = Wallet.objects.create(
        user=d.alice, address=new.address, chain_id=d.evm.chain_id, created_at=timezone.now() - timedelta(minutes=1)
    )

    d.send(new, 4_321_000)
    d.mine(3)
    scan = d.scan(confirmations=3)

    [transfer] = ChainTransfer.objects.all()
    deposit = Deposit.objects.get()
    assert scan.credited == [transfer.pk]
    assert (transfer.state, transfer.sender, transfer.depositor) == (
        ChainTransfer.State.CREDITED,
        wallet.address,
        d.alice,
    )
    assert (deposit.depositor, int(deposit.amount)) == (d.alice, 4_321_000)
