"""Admin: vaults, lots, ledger are listed with filters; money rows cannot be added, changed or deleted."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import OperatorFactory, UserFactory
from tests.vaults.builders import deposit, vault_new
from vaults.models import Lot

pytestmark = pytest.mark.django_db


def test_admin_lists_and_refuses_money_edits() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000)
    client = Client()
    client.force_login(OperatorFactory())
    for page in ("vaults/vault/", "vaults/lot/", "vaults/feeledgerentry/", "vaults/position/", "vaults/withdrawal/"):
        assert client.get(f"/admin/{page}").status_code == 200, page
    assert client.get(f"/admin/vaults/lot/?vault__id__exact={vault.pk}").status_code == 200
    lot = Lot.objects.get()
    # then posting a change to a lot is refused and the shares stay
    response = client.post(f"/admin/vaults/lot/{lot.pk}/change/", {"shares": "999999"})
    assert response.status_code == 403
    lot.refresh_from_db()
    assert lot.shares == 1000
    assert client.get("/admin/vaults/lot/add/").status_code == 403
