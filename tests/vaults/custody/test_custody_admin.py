"""Admin: proposals with their signatures and approvals, read-only; approve/reject actions go through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from tests.factories import operator_session
from tests.vaults.custody.conftest import Custody
from vaults.custody import services as cs
from vaults.custody.calls import erc20_transfer_data
from vaults.models import OperatorApproval, SafeProposal

pytestmark = pytest.mark.django_db


def test_operators_approve_through_the_services_and_edit_nothing(custody: Custody) -> None:
    c = custody
    proposal = cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="fee_collection", to=c.evm.token, data=erc20_transfer_data(c.evm.recovery.address, 5),
        proposer_id=c.operators[0].pk, w3=c.evm.w3,
    )  # fmt: skip
    client = operator_session(c.operators[1], client=Client())  # not the proposer, MFA confirmed just now
    assert client.get("/admin/vaults/safeproposal/").status_code == 200
    detail = client.get(f"/admin/vaults/safeproposal/{proposal.pk}/change/")
    assert detail.status_code == 200 and proposal.safe_tx_hash in detail.content.decode()

    response = client.post(
        "/admin/vaults/safeproposal/", {"action": "approve", "_selected_action": [proposal.pk]}, follow=True
    )
    assert response.status_code == 200
    assert list(OperatorApproval.objects.values_list("operator_id", "approved")) == [(c.operators[1].pk, True)]
    # the same operator twice is refused by the service, shown as an error, nothing added
    client.post("/admin/vaults/safeproposal/", {"action": "approve", "_selected_action": [proposal.pk]})
    assert OperatorApproval.objects.count() == 1
    # no edit of a field or the state from the admin
    edit = client.post(f"/admin/vaults/safeproposal/{proposal.pk}/change/", {"state": "signed", "amount": "999"})
    assert edit.status_code == 403
    stored = SafeProposal.objects.get(pk=proposal.pk)
    assert (stored.state, stored.amount) == ("proposed", 5)
    assert client.get("/admin/vaults/safeproposal/add/").status_code == 403
    # a depositor is no operator: the admin is closed to them
    outsider = Client()
    outsider.force_login(c.depositor)
    outsider.post("/admin/vaults/safeproposal/", {"action": "reject", "_selected_action": [proposal.pk]})
    assert SafeProposal.objects.get(pk=proposal.pk).state == "proposed"


def test_admin_actions_need_mfa_confirmed_in_the_last_15_minutes_and_not_the_proposer(custody: Custody) -> None:
    c = custody
    proposal = cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="fee_collection", to=c.evm.token, data=erc20_transfer_data(c.evm.recovery.address, 5),
        proposer_id=c.operators[0].pk, w3=c.evm.w3,
    )  # fmt: skip
    action = {"action": "approve", "_selected_action": [proposal.pk]}
    for client, shown in (
        (operator_session(c.operators[1], client=Client(), mfa_age=timedelta(minutes=20)), "re-authenticate"),
        (operator_session(c.operators[1], client=Client(), mfa_age=None), "re-authenticate"),
        (operator_session(c.operators[2], client=Client(), with_mfa=False), "mfa_not_set_up"),
        (operator_session(c.operators[0], client=Client()), "proposer_cannot_approve"),  # fresh MFA, but the proposer
    ):
        page = client.post("/admin/vaults/safeproposal/", action, follow=True)
        assert page.status_code == 200
        assert shown in page.content.decode().lower()  # the admin capitalises a message's first letter
        assert not OperatorApproval.objects.exists()
        assert SafeProposal.objects.get(pk=proposal.pk).state == "proposed"
