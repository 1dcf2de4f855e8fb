"""The /account/ page: MFA status, wallets (manual linking flow), API tokens."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.signers.local import LocalAccount

from accounts import services
from accounts.core import siwe
from accounts.models import ApiToken, User, Wallet, WalletNonce
from tests.accounts.conftest import reauthenticate, sign
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(user: User) -> Client:
    """Signed in, and re-authenticated with the password just now (linking a wallet needs it)."""
    client = Client()
    client.force_login(user)
    reauthenticate(client)
    return client


def _messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get(reverse("account_settings"))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/account/"


def test_page_shows_mfa_wallets_and_tokens(user: User, signed_in: Client) -> None:
    wallet = Wallet.objects.create(user=user, address=Account.create().address, chain_id=42161, label="hot")
    token, plaintext = services.api_token_create(user=user, name="notebook")
    Wallet.objects.create(user=UserFactory(), address=Account.create().address, chain_id=1)

    response = signed_in.get(reverse("account_settings"))

    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == ["accounts/settings.html", "base.html"]
    content = response.content.decode()
    assert user.email in content
    assert '<dd id="mfa-totp-status">not set up</dd>' in content
    assert reverse("mfa_activate_totp") in content and reverse("mfa_index") in content
    assert list(response.context["wallets"]) == [(wallet, wallet.created_at + timedelta(hours=48))]
    assert f"<code>{wallet.address}</code>" in content and "Arbitrum One" in content
    assert reverse("account_wallet_unlink", args=[wallet.pk]) in content
    assert f"<code>{token.prefix}…</code>" in content
    assert plaintext not in content and token.key_hash not in content
    assert reverse("account_token_revoke", args=[token.pk]) in content
    assert 'src="/static/js/wallets.js"' in content
    assert 'data-nonce-url="/api/v1/wallets/nonce/"' in content


def test_page_shows_active_mfa(user: User, signed_in: Client) -> None:
    TOTP.activate(user, generate_totp_secret())
    RecoveryCodes.activate(user)

    content = signed_in.get(reverse("account_settings")).content.decode()

    assert '<dd id="mfa-totp-status">active</dd>' in content
    assert '<dd id="mfa-recovery-status">10 unused</dd>' in content
    assert reverse("mfa_view_recovery_codes") in content
    assert reverse("mfa_activate_totp") not in content


def test_manual_linking_flow(user: User, signed_in: Client, eth_key: LocalAccount) -> None:
    response = signed_in.post(reverse("account_wallet_nonce"), {"address": eth_key.address.lower(), "chain_id": "137"})

    assert response.status_code == 200
    nonce = WalletNonce.objects.get(user=user)
    message = response.context["link_form"].initial["message"]
    assert siwe.parse(message).nonce == nonce.nonce
    assert siwe.parse(message).chain_id == 137
    assert html.escape(message) in response.content.decode()

    # A browser submits the textarea with CRLF line breaks (and the user may paste a trailing newline).
    response = signed_in.post(
        reverse("account_wallet_link"),
        {"message": message.replace("\n", "\r\n") + "\r\n", "signature": sign(eth_key, message), "label": "cold"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("account_settings")
    wallet = Wallet.objects.get()
    assert (wallet.user, wallet.address, wallet.chain_id, wallet.label) == (user, eth_key.address, 137, "cold")
    usable = wallet.created_at + timedelta(hours=48)
    assert _messages(signed_in.get(reverse("account_settings"))) == [
        f"Wallet {eth_key.address} linked. It can authorise withdrawals from {usable:%Y-%m-%d %H:%M} UTC."
    ]


def test_manual_link_failure_keeps_the_message_and_the_nonce(
    user: User, signed_in: Client, eth_key: LocalAccount, other_eth_key: LocalAccount
) -> None:
    signed_in.post(reverse("account_wallet_nonce"), {"address": eth_key.address, "chain_id": "1"})
    nonce = WalletNonce.objects.get(user=user)
    message = siwe.build(
        siwe.SiweMessage(
            domain="testserver",
            address=eth_key.address,
            uri="http://testserver/",
            chain_id=1,
            nonce=nonce.nonce,
            issued_at=siwe.format_datetime(nonce.created_at),
        )
    )

    response = signed_in.post(
        reverse("account_wallet_link"), {"message": message, "signature": sign(other_eth_key, message)}
    )

    assert response.status_code == 400
    assert _messages(response) == [f"The signature was made by {other_eth_key.address}, not by {eth_key.address}."]
    assert response.context["link_form"].cleaned_data["message"] == message
    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get().used_at is None


def test_nonce_form_errors_are_shown(signed_in: Client) -> None:
    response = signed_in.post(reverse("account_wallet_nonce"), {"address": "0x12", "chain_id": "1"})

    assert response.status_code == 400
    assert _messages(response) == ["An address is 0x followed by 40 hexadecimal digits."]
    assert WalletNonce.objects.count() == 0

    response = signed_in.post(reverse("account_wallet_nonce"), {"address": "0x12", "chain_id": "5"})
    assert response.status_code == 400
    assert _messages(response) == ["Chain: Select a valid choice. 5 is not one of the available choices."]


def test_unlink(user: User, signed_in: Client) -> None:
    mine = Wallet.objects.create(user=user, address=Account.create().address, chain_id=1)
    theirs = Wallet.objects.create(user=UserFactory(), address=Account.create().address, chain_id=1)

    response = signed_in.post(reverse("account_wallet_unlink", args=[theirs.pk]), follow=True)
    assert _messages(response) == ["No such wallet."]
    response = signed_in.post(reverse("account_wallet_unlink", args=[mine.pk]), follow=True)
    assert _messages(response) == ["Wallet unlinked."]

    assert list(Wallet.objects.all()) == [theirs]


def test_create_token_shows_it_once(user: User, signed_in: Client) -> None:
    response = signed_in.post(reverse("account_token_create"), {"name": "research", "scopes": ["read", "trade"]})

    assert response.status_code == 200
    token = ApiToken.objects.get(user=user)
    assert token.scopes == ["read", "trade"]
    assert token.expires_at - token.created_at == timedelta(days=90)
    plaintext = response.context["new_token_plaintext"]
    assert token.key_hash == services.tokens.key_hash(plaintext)
    assert response.content.decode().count(plaintext) == 1
    assert plaintext not in signed_in.get(reverse("account_settings")).content.decode()


def test_create_token_requires_a_name(signed_in: Client) -> None:
    response = signed_in.post(reverse("account_token_create"), {"name": ""})

    assert response.status_code == 400
    assert _messages(response) == ["Name: This field is required.", "Scopes: This field is required."]
    assert ApiToken.objects.count() == 0


def test_revoke_token(user: User, signed_in: Client) -> None:
    mine, _ = services.api_token_create(user=user, name="mine")
    theirs, _ = services.api_token_create(user=UserFactory(), name="theirs")

    response = signed_in.post(reverse("account_token_revoke", args=[theirs.pk]), follow=True)
    assert _messages(response) == ["No such API token."]
    response = signed_in.post(reverse("account_token_revoke", args=[mine.pk]), follow=True)
    assert _messages(response) == ["Token “mine” revoked."]

    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert reverse("account_token_revoke", args=[mine.pk]) not in response.content.decode()


def test_forms_are_csrf_protected(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("account_token_create"), {"name": "x"})

    assert response.status_code == 403
    assert ApiToken.objects.count() == 0


def test_actions_need_post_and_a_signed_in_user(client: Client, signed_in: Client) -> None:
    assert signed_in.get(reverse("account_token_create")).status_code == 405
    assert signed_in.post(reverse("account_settings")).status_code == 405
    response = client.post(reverse("account_token_create"), {"name": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert ApiToken.objects.count() == 0
