"""The custody pages, server side: the withdrawal page offers the depositor's linked wallets as destinations and
lists withdrawals in progress; a proposal page is the depositor's (or an operator's) only. The signing itself is
tested in a real browser (tests/e2e/test_custody_signing.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory
from vaults.custody import services

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_withdraw_page_offers_linked_wallets_and_lists_withdrawals_in_progress(custody) -> None:  # type: ignore[no-untyped-def]
    withdrawal = custody.withdraw(100 * 10**6)
    proposal = services.withdrawal_proposal_create(
        withdrawal_id=withdrawal.pk, destination=custody.wallet_a.address, deadline=timezone.now() + timedelta(hours=1)
    )

    page = signed_in(custody.depositor).get(reverse("vault_withdraw", args=[custody.vault.slug]))

    assert page.status_code == 200
    html = page.content.decode()
    for wallet in (custody.wallet_a, custody.wallet_b):
        assert f'<option value="{wallet.address}">{wallet.address} — linked wallet</option>' in html
    assert custody.safe.address in html
    assert reverse("vault_proposal", args=[proposal.pk]) in html
    assert str(withdrawal.payout) in html


def test_proposal_page_is_the_depositors_and_operators_only(custody) -> None:  # type: ignore[no-untyped-def]
    withdrawal = custody.withdraw(100 * 10**6)
    proposal = services.withdrawal_proposal_create(
        withdrawal_id=withdrawal.pk, destination=custody.wallet_a.address, deadline=timezone.now() + timedelta(hours=1)
    )
    url = reverse("vault_proposal", args=[proposal.pk])

    own = signed_in(custody.depositor).get(url)
    assert own.status_code == 200
    assert proposal.safe_tx_hash in own.content.decode()
    assert 'id="proposal-sign"' in own.content.decode()
    operator = signed_in(custody.operators[0]).get(url)
    assert operator.status_code == 200
    assert 'id="proposal-sign"' not in operator.content.decode()  # only the depositor signs the request
    assert signed_in(UserFactory()).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to sign in


def test_withdraw_page_of_a_vault_without_safe_says_so(db) -> None:  # type: ignore[no-untyped-def]
    from tests.vaults.builders import deposit, vault_new

    vault = vault_new(slug="no-safe")
    user = UserFactory()
    deposit(vault, user, 10**6)

    page = signed_in(user).get(reverse("vault_withdraw", args=[vault.slug]))

    assert "This vault has no Safe yet" in page.content.decode()
