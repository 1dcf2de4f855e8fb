"""Fixtures for accounts tests: throwaway Ethereum keys (generated per test, never stored), signing, and sessions
that re-authenticated through allauth's own pages (what linking a wallet needs)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from tests.factories import DEFAULT_PASSWORD

REQUEST_HOST = "testserver"  # Django's test client host
REQUEST_URI = "http://testserver/"


def sign(account: LocalAccount, text: str) -> str:
    """personal_sign (EIP-191) of ``text``, as 0x-prefixed hex, as a wallet returns it."""
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def reauthenticate(client: Client, password: str = DEFAULT_PASSWORD) -> None:
    """Confirm the password on allauth's re-authentication page, as a person does."""
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content


def totp_code_now(secret: str) -> str:
    """The authenticator app's current code for ``secret``."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def reauthenticate_mfa(client: Client, secret: str) -> None:
    """Confirm the current TOTP code on allauth's MFA re-authentication page."""
    response = client.post(reverse("mfa_reauthenticate"), {"code": totp_code_now(secret)})
    assert response.status_code == 302, response.content


@pytest.fixture
def user_api_client(user: User) -> APIClient:
    """Signed in with a session that re-authenticated with its password just now (linking wallets needs that)."""
    client = APIClient()
    client.force_login(user)
    reauthenticate(client)
    return client


@pytest.fixture
def eth_key() -> LocalAccount:
    return Account.create()


@pytest.fixture
def other_eth_key() -> LocalAccount:
    return Account.create()


@pytest.fixture
def issue_message() -> Callable[..., str]:
    """Issue a link message for ``account`` to ``user`` through the service; returns the text to sign."""

    def issue(user: User, account: LocalAccount, chain_id: int = 1) -> str:
        _, message = services.wallet_nonce_create(
            user=user, address=account.address, chain_id=chain_id, domain=REQUEST_HOST, uri=REQUEST_URI
        )
        return message

    return issue
