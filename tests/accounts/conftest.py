"""Fixtures for accounts tests: throwaway Ethereum keys (generated per test, never stored) and signing."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount


def sign(account: LocalAccount, text: str) -> str:
    """personal_sign (EIP-191) of ``text``, as 0x-prefixed hex, as a wallet returns it."""
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


@pytest.fixture
def eth_key() -> LocalAccount:
    return Account.create()


@pytest.fixture
def other_eth_key() -> LocalAccount:
    return Account.create()
