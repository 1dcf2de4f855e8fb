"""Linking wallets through the services: every refusal has its own code and writes nothing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from eth_account.signers.local import LocalAccount

from accounts import services
from accounts.core import siwe
from accounts.models import User, Wallet, WalletNonce
from hftplatform.errors import ServiceError
from tests.accounts.conftest import REQUEST_HOST, REQUEST_URI, sign
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

IssueMessage = Callable[..., str]


def _nonce_row(message: str) -> WalletNonce:
    return WalletNonce.objects.get(nonce=siwe.parse(message).nonce)


def _link(user: User, message: str, signature: str, domain: str = REQUEST_HOST) -> Wallet:
    return services.wallet_link(user=user, message=message, signature=signature, domain=domain)


def _assert_refused(code: str, call: Callable[[], object]) -> ServiceError:
    with pytest.raises(ServiceError) as excinfo:
        call()
    assert excinfo.value.code == code, excinfo.value.message
    return excinfo.value


# -- nonces -------------------------------------------------------------------------------------------------


def test_nonce_create_issues_the_exact_message_to_sign(user: User, eth_key: LocalAccount) -> None:
    before = timezone.now().replace(microsecond=0)

    row, message = services.wallet_nonce_create(
        user=user, address=eth_key.address.lower(), chain_id=8453, domain=REQUEST_HOST, uri=REQUEST_URI
    )

    assert row.user == user
    assert len(row.nonce) == 32 and row.nonce.isalnum()
    assert row.used_at is None
    assert before <= row.created_at <= timezone.now()
    assert row.expires_at == row.created_at + timedelta(seconds=600)
    assert message == (
        "testserver wants you to sign in with your Ethereum account:\n"
        f"{eth_key.address}\n"
        "\n"
        "Link this wallet to your HFT Bot account.\n"
        "\n"
        "URI: http://testserver/\n"
        "Version: 1\n"
        "Chain ID: 8453\n"
        f"Nonce: {row.nonce}\n"
        f"Issued At: {siwe.format_datetime(row.created_at)}\n"
        f"Expiration Time: {siwe.format_datetime(row.expires_at)}"
    )


def test_nonces_are_unique(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    nonces = {siwe.parse(issue_message(user, eth_key)).nonce for _ in range(20)}

    assert len(nonces) == 20
    assert WalletNonce.objects.filter(user=user).count() == 20


def test_nonce_create_uses_the_configured_domain_over_the_request_host(
    user: User, eth_key: LocalAccount, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.SIWE_DOMAIN = "app.example.com"

    _, message = services.wallet_nonce_create(
        user=user, address=eth_key.address, chain_id=1, domain=REQUEST_HOST, uri="https://app.example.com/"
    )

    assert siwe.parse(message).domain == "app.example.com"
    # ...and linking then expects that domain, whatever host the request came to.
    wallet = _link(user, message, sign(eth_key, message), domain="internal-host:8000")
    assert wallet.address == eth_key.address


def test_nonce_create_refuses_an_unsupported_chain(user: User, eth_key: LocalAccount) -> None:
    error = _assert_refused(
        "wallet_chain_unsupported",
        lambda: services.wallet_nonce_create(
            user=user, address=eth_key.address, chain_id=5, domain=REQUEST_HOST, uri=REQUEST_URI
        ),
    )

    assert error.message == "Chain 5 is not supported; use one of: 1, 10, 137, 8453, 42161."
    assert error.fields == {"chain_id": [error.message]}
    assert WalletNonce.objects.count() == 0


@pytest.mark.parametrize(
    "address",
    [
        "0x12",
        "not an address",
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2",
        "C02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    ],
)
def test_nonce_create_refuses_an_invalid_address(user: User, address: str) -> None:
    error = _assert_refused(
        "wallet_address_invalid",
        lambda: services.wallet_nonce_create(
            user=user, address=address, chain_id=1, domain=REQUEST_HOST, uri=REQUEST_URI
        ),
    )

    assert list(error.fields) == ["address"]
    assert WalletNonce.objects.count() == 0


# -- linking ------------------------------------------------------------------------------------------------


def test_link_creates_the_wallet_and_consumes_the_nonce(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    message = issue_message(user, eth_key, chain_id=137)

    wallet = services.wallet_link(
        user=user, message=message, signature=sign(eth_key, message), domain=REQUEST_HOST, label="  Ledger "
    )

    assert Wallet.objects.get() == wallet
    assert (wallet.user, wallet.address, wallet.chain_id, wallet.label) == (user, eth_key.address, 137, "Ledger")
    assert _nonce_row(message).used_at == wallet.created_at


def test_a_user_may_link_several_addresses(user: User, issue_message: IssueMessage) -> None:
    from eth_account import Account

    keys = [Account.create() for _ in range(3)]
    for key in keys:
        message = issue_message(user, key)
        _link(user, message, sign(key, message))

    assert sorted(Wallet.objects.filter(user=user).values_list("address", flat=True)) == sorted(
        key.address for key in keys
    )


def test_link_refuses_a_signature_by_another_key(
    user: User, eth_key: LocalAccount, other_eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    message = issue_message(user, eth_key)

    error = _assert_refused("wallet_signature_mismatch", lambda: _link(user, message, sign(other_eth_key, message)))

    assert error.message == f"The signature was made by {other_eth_key.address}, not by {eth_key.address}."
    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None
    # The nonce survived the failed attempt: the right signature still links.
    assert _link(user, message, sign(eth_key, message)).address == eth_key.address


def test_link_refuses_a_malformed_signature(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    message = issue_message(user, eth_key)

    _assert_refused("wallet_signature_invalid", lambda: _link(user, message, "0x1234"))

    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None


def test_link_refuses_a_malformed_message(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    issued = issue_message(user, eth_key)
    message = issued.replace("Version: 1", "Version: 2")

    error = _assert_refused("siwe_message_invalid", lambda: _link(user, message, sign(eth_key, message)))

    assert error.message == "Line 7: Version must be 1, got '2'."
    assert error.fields == {"message": [error.message]}
    assert Wallet.objects.count() == 0
    assert _nonce_row(issued).used_at is None


def test_link_refuses_a_reused_nonce(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    message = issue_message(user, eth_key)
    signature = sign(eth_key, message)
    wallet = _link(user, message, signature)
    used_at = _nonce_row(message).used_at
    services.wallet_unlink(user=user, wallet_id=wallet.pk)

    _assert_refused("wallet_nonce_used", lambda: _link(user, message, signature))

    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at == used_at


def test_link_refuses_an_expired_nonce(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    message = issue_message(user, eth_key)
    WalletNonce.objects.filter(nonce=siwe.parse(message).nonce).update(expires_at=timezone.now())

    _assert_refused("wallet_nonce_expired", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None


def test_link_refuses_a_message_past_its_expiration_time(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    issued = siwe.parse(issue_message(user, eth_key))
    past = timezone.now() - timedelta(seconds=1)
    message = siwe.build(dataclasses.replace(issued, expiration_time=siwe.format_datetime(past)))

    _assert_refused("siwe_message_expired", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None


def test_link_refuses_a_message_before_its_not_before_time(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    issued = siwe.parse(issue_message(user, eth_key))
    future = timezone.now() + timedelta(minutes=5)
    message = siwe.build(dataclasses.replace(issued, not_before=siwe.format_datetime(future)))

    _assert_refused("siwe_message_not_yet_valid", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0


def test_link_refuses_another_users_nonce(user: User, eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    someone_else = UserFactory()
    message = issue_message(someone_else, eth_key)

    _assert_refused("wallet_nonce_unknown", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None


def test_link_refuses_a_nonce_that_was_never_issued(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    issued = siwe.parse(issue_message(user, eth_key))
    message = siwe.build(dataclasses.replace(issued, nonce="madeup12345"))

    _assert_refused("wallet_nonce_unknown", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0


def test_link_refuses_a_message_for_another_domain(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    message = issue_message(user, eth_key)

    error = _assert_refused(
        "siwe_domain_mismatch", lambda: _link(user, message, sign(eth_key, message), domain="evil.example")
    )

    assert error.message == "The message is for testserver, not for evil.example."
    assert Wallet.objects.count() == 0
    assert _nonce_row(message).used_at is None


def test_link_refuses_a_chain_no_longer_supported(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage, settings
) -> None:  # type: ignore[no-untyped-def]
    message = issue_message(user, eth_key, chain_id=10)
    settings.SIWE_CHAIN_IDS = [1]

    _assert_refused("wallet_chain_unsupported", lambda: _link(user, message, sign(eth_key, message)))

    assert Wallet.objects.count() == 0


def test_link_refuses_an_address_linked_to_another_user(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    owner = UserFactory()
    first = issue_message(owner, eth_key)
    _link(owner, first, sign(eth_key, first))
    message = issue_message(user, eth_key)

    error = _assert_refused("wallet_already_linked", lambda: _link(user, message, sign(eth_key, message)))

    assert error.message == f"{eth_key.address} is already linked to another account."
    assert error.http_status == 409
    assert list(Wallet.objects.values_list("user", "address")) == [(owner.pk, eth_key.address)]
    assert _nonce_row(message).used_at is None


def test_link_refuses_an_address_already_linked_to_the_same_user(
    user: User, eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    first = issue_message(user, eth_key)
    _link(user, first, sign(eth_key, first))
    message = issue_message(user, eth_key)

    error = _assert_refused("wallet_already_linked", lambda: _link(user, message, sign(eth_key, message)))

    assert error.message == f"{eth_key.address} is already linked to your account."
    assert Wallet.objects.count() == 1
    assert _nonce_row(message).used_at is None


def test_unlink_removes_only_the_users_own_wallet(
    user: User, eth_key: LocalAccount, other_eth_key: LocalAccount, issue_message: IssueMessage
) -> None:
    someone_else = UserFactory()
    mine_message, theirs_message = issue_message(user, eth_key), issue_message(someone_else, other_eth_key)
    mine = _link(user, mine_message, sign(eth_key, mine_message))
    theirs = _link(someone_else, theirs_message, sign(other_eth_key, theirs_message))

    _assert_refused("not_found", lambda: services.wallet_unlink(user=user, wallet_id=theirs.pk))
    services.wallet_unlink(user=user, wallet_id=mine.pk)

    assert list(Wallet.objects.values_list("pk", flat=True)) == [theirs.pk]
    _assert_refused("not_found", lambda: services.wallet_unlink(user=user, wallet_id=mine.pk))


@pytest.mark.django_db(transaction=True)
def test_concurrent_links_with_one_nonce_link_once(eth_key: LocalAccount, issue_message: IssueMessage) -> None:
    user = UserFactory()
    message = issue_message(user, eth_key)
    signature = sign(eth_key, message)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            barrier.wait()
            _link(user, message, signature)
            outcomes.append("linked")
        except ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["linked", "wallet_nonce_used", "wallet_nonce_used", "wallet_nonce_used"]
    assert Wallet.objects.count() == 1
