"""Issue 13, item 2 on the accounts side: a stolen session or API token cannot link wallets.

Linking needs allauth's re-authentication (password, and TOTP when the account has it) within
ACCOUNT_REAUTHENTICATION_TIMEOUT; an API token never links; a link may be vouched for by a wallet linked 48 h
before; every link and unlink is emailed. Each refusal checks that no wallet or nonce row changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rest_framework.test import APIClient

from accounts import services
from accounts.core import siwe, wallet_vouch
from accounts.models import ApiToken, User, Wallet, WalletNonce
from tests.accounts.conftest import REQUEST_HOST, REQUEST_URI, reauthenticate, reauthenticate_mfa, sign
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NONCE_URL = "/api/v1/wallets/nonce/"
WALLETS_URL = "/api/v1/wallets/"
TOKENS_URL = "/api/v1/tokens/"
REAUTH_NEXT = "?next=%2Faccount%2F%23wallets"


def _issue(user: User, account: LocalAccount) -> str:
    _, message = services.wallet_nonce_create(
        user=user, address=account.address, chain_id=1, domain=REQUEST_HOST, uri=REQUEST_URI
    )
    return message


def _rows(user: User) -> tuple[list[Any], list[Any]]:
    """The user's wallets and nonces, as the values a refusal must leave untouched."""
    wallets = list(Wallet.objects.filter(user=user).order_by("pk").values_list("pk", "address", "created_at"))
    nonces = list(WalletNonce.objects.filter(user=user).order_by("pk").values_list("pk", "nonce", "used_at"))
    return wallets, nonces


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


# -- (a) a signed-in session that did not re-authenticate ------------------------------------------------------


def test_a_stolen_session_cannot_link_two_wallets_on_the_web_page(user: User) -> None:
    # given a session cookie (signed in, never re-authenticated) and two attacker wallets with valid link messages
    stolen = Client()
    stolen.force_login(user)
    attacker_1, attacker_2 = Account.create(), Account.create()
    messages = [_issue(user, attacker_1), _issue(user, attacker_2)]
    before = _rows(user)

    # when the attacker asks for a message and posts both signed messages through the page's forms
    nonce = stolen.post(reverse("account_wallet_nonce"), {"address": attacker_1.address, "chain_id": "1"})
    links = [
        stolen.post(reverse("account_wallet_link"), {"message": message, "signature": sign(account, message)})
        for message, account in ((messages[0], attacker_1), (messages[1], attacker_2))
    ]

    # then each is sent to allauth's password re-authentication, and nothing was written
    for response in (nonce, *links):
        assert response.status_code == 302
        assert response["Location"] == reverse("account_reauthenticate") + REAUTH_NEXT
    assert _rows(user) == before
    assert Wallet.objects.count() == 0
    assert mail.outbox == []


def test_a_stolen_session_cannot_link_two_wallets_over_the_api(user: User) -> None:
    stolen = APIClient()
    stolen.force_login(user)
    attacker_1, attacker_2 = Account.create(), Account.create()
    messages = [_issue(user, attacker_1), _issue(user, attacker_2)]
    before = _rows(user)

    message = _error(
        stolen.post(NONCE_URL, {"address": attacker_1.address, "chain_id": 1}, format="json"),
        403,
        "reauthentication_required",
    )
    assert message == (
        f"Confirm your password at {reverse('account_reauthenticate')}{REAUTH_NEXT} first, then link the wallet."
    )
    for text, account in ((messages[0], attacker_1), (messages[1], attacker_2)):
        response = stolen.post(WALLETS_URL, {"message": text, "signature": sign(account, text)}, format="json")
        _error(response, 403, "reauthentication_required")

    assert _rows(user) == before
    assert Wallet.objects.count() == 0


def test_a_re_authentication_older_than_the_window_does_not_count(user: User, settings: Any) -> None:
    client = APIClient()
    client.force_login(user)
    reauthenticate(client)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0  # the confirmation is now older than the window
    account = Account.create()
    text = _issue(user, account)
    before = _rows(user)

    response = client.post(WALLETS_URL, {"message": text, "signature": sign(account, text)}, format="json")

    _error(response, 403, "reauthentication_required")
    assert _rows(user) == before


def test_a_wrong_password_on_the_re_authentication_page_does_not_open_linking(user: User) -> None:
    client = APIClient()
    client.force_login(user)
    response = client.post(reverse("account_reauthenticate"), {"password": "not-the-password-1"})
    assert response.status_code == 200  # the form again, with its error

    account = Account.create()
    response = client.post(NONCE_URL, {"address": account.address, "chain_id": 1}, format="json")

    _error(response, 403, "reauthentication_required")
    assert WalletNonce.objects.count() == 0


def test_with_totp_the_password_alone_is_not_enough(user: User) -> None:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = APIClient()
    client.force_login(user)
    reauthenticate(client)
    account = Account.create()

    # the API says which step is missing; the page sends the user to allauth's MFA re-authentication
    message = _error(
        client.post(NONCE_URL, {"address": account.address, "chain_id": 1}, format="json"),
        403,
        "mfa_reauthentication_required",
    )
    assert message == (
        f"Confirm a code from your authenticator app at {reverse('mfa_reauthenticate')}{REAUTH_NEXT} first."
    )
    page = client.post(reverse("account_wallet_nonce"), {"address": account.address, "chain_id": "1"})
    assert (page.status_code, page["Location"]) == (302, reverse("mfa_reauthenticate") + REAUTH_NEXT)
    assert WalletNonce.objects.count() == 0

    # with the TOTP code confirmed too, the link goes through
    reauthenticate_mfa(client, secret)
    body = client.post(NONCE_URL, {"address": account.address, "chain_id": 1}, format="json").json()
    response = client.post(
        WALLETS_URL, {"message": body["message"], "signature": sign(account, body["message"])}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert list(Wallet.objects.values_list("user", "address")) == [(user.pk, account.address)]


def test_with_totp_the_code_alone_is_not_enough(user: User) -> None:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = APIClient()
    client.force_login(user)
    reauthenticate_mfa(client, secret)

    response = client.post(NONCE_URL, {"address": Account.create().address, "chain_id": 1}, format="json")

    _error(response, 403, "reauthentication_required")
    assert WalletNonce.objects.count() == 0


# -- (b) API tokens never link wallets nor make tokens ----------------------------------------------------------


def test_an_api_token_with_every_scope_cannot_link_wallets_or_create_tokens(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="stolen", scopes=["read", "trade", "custody"])
    mine = Wallet.objects.create(user=user, address=Account.create().address, chain_id=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    attacker = Account.create()
    text = _issue(user, attacker)
    before = _rows(user)

    refused = [
        client.post(NONCE_URL, {"address": attacker.address, "chain_id": 1}, format="json"),
        client.post(WALLETS_URL, {"message": text, "signature": sign(attacker, text)}, format="json"),
        client.delete(f"{WALLETS_URL}{mine.pk}/"),
        client.post(TOKENS_URL, {"name": "another", "scopes": ["custody"]}, format="json"),
        client.delete(f"{TOKENS_URL}{token.pk}/"),
    ]

    for response in refused:
        message = _error(response, 403, "token_not_allowed")
        assert message == (
            "API tokens cannot do this (create tokens, link or unlink wallets): use the account page, signed in."
        )
    assert _rows(user) == before
    assert list(ApiToken.objects.values_list("pk", "revoked_at")) == [(token.pk, None)]
    assert mail.outbox == []
    # reading stays possible with the read scope
    assert client.get(WALLETS_URL).json()["results"][0]["address"] == mine.address


# -- vouching: a wallet linked 48 h before signs the link's vouch text ------------------------------------------


def test_a_link_vouched_for_by_a_wallet_linked_48_h_ago_authorises_withdrawals_at_once(
    user: User, user_api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    old = Account.create()
    Wallet.objects.create(
        user=user, address=old.address, chain_id=1, created_at=timezone.now() - timedelta(hours=48, seconds=1)
    )
    new = Account.create()
    body = user_api_client.post(NONCE_URL, {"address": new.address, "chain_id": 1}, format="json").json()
    assert body["vouch_message"] == wallet_vouch.vouch_text(siwe.parse(body["message"]))

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api_client.post(
            WALLETS_URL,
            {
                "message": body["message"],
                "signature": sign(new, body["message"]),
                "vouch_signature": sign(old, body["vouch_message"]),
            },
            format="json",
        )

    assert response.status_code == 201, response.json()
    wallet = Wallet.objects.get(address=new.address)
    assert wallet.vouched_by == old.address
    assert response.json()["vouched_by"] == old.address
    assert response.json()["withdrawals_from"] == wallet.created_at.isoformat().replace("+00:00", "Z")
    assert [m.subject for m in mail.outbox] == ["A wallet was linked to your HFT Bot account"]
    assert f"It can authorise withdrawals at once: {old.address}, linked 48 h or more before" in mail.outbox[0].body


@pytest.mark.parametrize("voucher_age", [timedelta(hours=47, minutes=59), timedelta(0)])
def test_a_vouch_by_a_wallet_linked_less_than_48_h_ago_is_refused(
    user: User, user_api_client: APIClient, voucher_age: timedelta
) -> None:
    linked_at = timezone.now() - voucher_age
    young = Account.create()
    Wallet.objects.create(user=user, address=young.address, chain_id=1, created_at=linked_at)
    new = Account.create()
    body = user_api_client.post(NONCE_URL, {"address": new.address, "chain_id": 1}, format="json").json()
    before = _rows(user)

    response = user_api_client.post(
        WALLETS_URL,
        {
            "message": body["message"],
            "signature": sign(new, body["message"]),
            "vouch_signature": sign(young, body["vouch_message"]),
        },
        format="json",
    )

    message = _error(response, 400, "wallet_vouch_invalid")
    ready = linked_at + timedelta(hours=48)
    assert message == (
        f"{young.address} was linked at {linked_at:%Y-%m-%d %H:%M} UTC: a wallet may vouch once it has been "
        f"linked 48 h, from {ready:%Y-%m-%d %H:%M} UTC."
    )
    assert _rows(user) == before  # no wallet, and the nonce still unused


def test_a_vouch_over_another_text_or_by_another_accounts_wallet_is_refused(
    user: User, user_api_client: APIClient
) -> None:
    long_ago = timezone.now() - timedelta(days=10)
    mine, theirs = Account.create(), Account.create()
    Wallet.objects.create(user=user, address=mine.address, chain_id=1, created_at=long_ago)
    Wallet.objects.create(user=UserFactory(), address=theirs.address, chain_id=1, created_at=long_ago)
    new, other_new = Account.create(), Account.create()
    body = user_api_client.post(NONCE_URL, {"address": new.address, "chain_id": 1}, format="json").json()
    other = user_api_client.post(NONCE_URL, {"address": other_new.address, "chain_id": 1}, format="json").json()
    before = _rows(user)

    for vouch in (sign(mine, other["vouch_message"]), sign(theirs, body["vouch_message"])):
        response = user_api_client.post(
            WALLETS_URL,
            {"message": body["message"], "signature": sign(new, body["message"]), "vouch_signature": vouch},
            format="json",
        )
        assert _error(response, 400, "wallet_vouch_invalid").endswith(
            "which is not one of your linked wallets (or it was made over another text: sign this link's vouch "
            "message exactly)."
        )
    assert _rows(user) == before


def test_the_page_shows_the_vouch_message_and_links_with_a_vouch(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(user)
    reauthenticate(client)
    old, new = Account.create(), Account.create()
    Wallet.objects.create(user=user, address=old.address, chain_id=1, created_at=timezone.now() - timedelta(days=3))

    page = client.post(reverse("account_wallet_nonce"), {"address": new.address, "chain_id": "1"})
    message = page.context["link_form"].initial["message"]
    vouch = page.context["vouch_message"]
    assert vouch == wallet_vouch.vouch_text(siwe.parse(message))
    assert 'id="wallet-vouch-message"' in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("account_wallet_link"),
            {"message": message, "signature": sign(new, message), "vouch_signature": sign(old, vouch)},
        )

    assert response.status_code == 302
    assert Wallet.objects.get(address=new.address).vouched_by == old.address
    shown = client.get(reverse("account_settings"))
    assert [str(m) for m in shown.context["messages"]] == [
        f"Wallet {new.address} linked. It can authorise withdrawals at once."
    ]
    assert f"(vouched for by <code>{old.address}</code>)" in shown.content.decode()


# -- the delay is shown where it applies ------------------------------------------------------------------------


def test_the_account_page_says_until_when_a_new_wallet_cannot_authorise_withdrawals(user: User) -> None:
    client = Client()
    client.force_login(user)
    now = timezone.now()
    fresh = Wallet.objects.create(user=user, address=Account.create().address, chain_id=1, created_at=now)
    Wallet.objects.create(user=user, address=Account.create().address, chain_id=1, created_at=now - timedelta(days=3))

    content = client.get(reverse("account_settings")).content.decode()

    ready = fresh.created_at + timedelta(hours=48)
    assert (
        f'<td class="wallet-usable">from <time datetime="{ready.isoformat()}">{ready:%Y-%m-%d %H:%M} UTC</time></td>'
    ) in content
    assert '<td class="wallet-usable">yes</td>' in content
    # not re-authenticated: the page says linking needs it, and where
    assert f'<a href="{reverse("account_reauthenticate")}{REAUTH_NEXT}">confirm now</a>' in content


# -- emails -------------------------------------------------------------------------------------------------------


def test_every_link_and_unlink_emails_the_account(
    user: User, user_api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    account = Account.create()
    body = user_api_client.post(NONCE_URL, {"address": account.address, "chain_id": 1}, format="json").json()

    with django_capture_on_commit_callbacks(execute=True):
        linked = user_api_client.post(
            WALLETS_URL, {"message": body["message"], "signature": sign(account, body["message"])}, format="json"
        )
    wallet = Wallet.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        unlinked = user_api_client.delete(f"{WALLETS_URL}{wallet.pk}/")

    assert (linked.status_code, unlinked.status_code) == (201, 204)
    ready = wallet.created_at + timedelta(hours=48)
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("A wallet was linked to your HFT Bot account", [user.email]),
        ("A wallet was unlinked from your HFT Bot account", [user.email]),
    ]
    assert mail.outbox[0].body == (
        f"The wallet {account.address} (chain 1) was linked to your account at {wallet.created_at:%Y-%m-%d %H:%M} "
        f"UTC.\nIt can authorise withdrawals from {ready:%Y-%m-%d %H:%M} UTC (48 h after the link). Deposits from "
        "it are credited to you at once.\n\nIf this was not you, change your password now (that also revokes your "
        "API tokens) and unlink the wallet on your account page.\n"
    )
    assert mail.outbox[1].body.startswith(f"The wallet {account.address} (chain 1) was unlinked from your account at ")


def test_a_refused_link_or_unlink_sends_no_email(
    user: User, user_api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    account, other = Account.create(), Account.create()
    body = user_api_client.post(NONCE_URL, {"address": account.address, "chain_id": 1}, format="json").json()
    theirs = Wallet.objects.create(user=UserFactory(), address=Account.create().address, chain_id=1)

    with django_capture_on_commit_callbacks(execute=True):
        wrong = user_api_client.post(
            WALLETS_URL, {"message": body["message"], "signature": sign(other, body["message"])}, format="json"
        )
        not_mine = user_api_client.delete(f"{WALLETS_URL}{theirs.pk}/")

    assert (wrong.status_code, not_mine.status_code) == (400, 404)
    assert mail.outbox == []
    assert list(Wallet.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_the_delay_is_the_destination_registrations() -> None:
    from vaults.custody.policy import DESTINATION_REGISTRATION_DELAY

    assert wallet_vouch.WALLET_WITHDRAWAL_DELAY == DESTINATION_REGISTRATION_DELAY == timedelta(hours=48)
