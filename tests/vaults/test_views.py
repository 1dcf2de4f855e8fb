"""Vault pages: public list and vault page, my holdings (signed in only)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.vaults.builders import deposit, vault_new

pytestmark = pytest.mark.django_db


def test_public_vault_pages() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000)
    listing = Client().get("/vaults/")
    assert listing.status_code == 200
    assert b'href="/vaults/usdc-core/"' in listing.content
    page = Client().get("/vaults/usdc-core/")
    assert page.status_code == 200
    assert b'data-api-url="/api/v1/vaults/usdc-core/"' in page.content
    assert b"<td>gmx</td>" in page.content
    assert Client().get("/vaults/nope/").status_code == 404


def test_my_holdings_needs_sign_in_and_shows_only_mine() -> None:
    vault, me, other = vault_new(), UserFactory(), UserFactory()
    deposit(vault, me, 1_234)
    deposit(vault, other, 9_876)
    assert Client().get("/vaults/mine/").status_code == 302
    client = Client()
    client.force_login(me)
    page = client.get("/vaults/mine/")
    assert page.status_code == 200
    assert b"1234" in page.content
    assert b"9876" not in page.content
