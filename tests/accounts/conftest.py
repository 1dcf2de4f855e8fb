"""Fixtures for accounts tests: throwaway Ethereum keys (generated per test, never stored) and signing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from accounts import services
from accounts.models import User

REQUEST_HOST = "testserver"  # Django's test client host
REQUEST_URI = "http://testserver/"


def sign(account: LocalAccount, text: str) -> str:
    """personal_sign (EIP-191) of ``text``, as 0x-prefixed hex, as a wallet returns it."""
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


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
