"""The pure two-wallet check with each wallet's "authorises withdrawals from" time (48 h after its link, or its link
time when an older wallet vouched for it): a wallet not yet usable is refused in either position, saying when."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account

from tests.vaults.custody.test_withdrawal_request import NOW, VAULT, request_make
from vaults.custody.withdrawal_request import (
    Authorisation,
    Refusal,
    distinct_linked_signers,
    withdrawal_authorisation_check,
    withdrawal_request_hash,
    withdrawal_request_sign,
)

OLD, YOUNG = Account.create(), Account.create()
USABLE_FROM = {OLD.address: NOW - timedelta(days=1), YOUNG.address: NOW + timedelta(hours=47)}


def check(*wallets: object) -> Authorisation | Refusal:
    request = request_make()
    signatures = [withdrawal_request_sign(request, wallet.key) for wallet in wallets]  # type: ignore[attr-defined]
    return withdrawal_authorisation_check(
        request, signatures, USABLE_FROM, NOW, set(), chain_id=1, vault=VAULT, usable_from=USABLE_FROM
    )


@pytest.mark.parametrize(("wallets", "position"), [((YOUNG, OLD), 1), ((OLD, YOUNG), 2)])
def test_a_wallet_not_yet_usable_is_refused_in_either_position(wallets: tuple[object, ...], position: int) -> None:
    assert check(*wallets) == Refusal(
        "signer_not_yet_usable",
        f"signature {position} is from {YOUNG.address}, linked less than 48 h ago: it can authorise withdrawals "
        f"from {NOW + timedelta(hours=47):%Y-%m-%d %H:%M} UTC (or link it again, vouched for by a wallet linked 48 h "
        "or more ago)",
    )


def test_usable_wallets_authorise_from_the_very_instant() -> None:
    other = Account.create()
    usable = {**USABLE_FROM, other.address: NOW}
    request = request_make()
    signatures = [withdrawal_request_sign(request, wallet.key) for wallet in (OLD, other)]

    result = withdrawal_authorisation_check(
        request, signatures, usable, NOW, set(), chain_id=1, vault=VAULT, usable_from=usable
    )

    assert isinstance(result, Authorisation)
    assert set(result.signers) == {OLD.address, other.address}


def test_usable_from_needs_now() -> None:
    digest = withdrawal_request_hash(request_make())
    with pytest.raises(ValueError, match="usable_from needs now"):
        distinct_linked_signers(digest, [], USABLE_FROM, other_content="", repeated_rule="", usable_from=USABLE_FROM)
