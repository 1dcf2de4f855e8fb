"""Issue 13 item 4: operator actions need a session with MFA confirmed in the last 15 minutes (API tokens cannot
perform them); the proposer cannot approve their own proposal; an approval counts only from an operator who has
held the role for 72 h, and role grants (and revocations) are logged — whichever path made the operator.

Every refusal asserts that no approval or signature row was written, the proposal did not move and no token left
the Safe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from accounts.models import OperatorRoleEvent, User
from tests.factories import UserFactory, operator_session
from tests.vaults.custody.conftest import Custody
from tests.vaults.custody.test_custody_api import token_client as scoped_token_client
from tests.vaults.custody.test_custody_services import _Raises, assert_untouched
from vaults.custody import services as cs
from vaults.custody.calls import erc20_transfer_data, function_selector
from vaults.models import OperatorApproval, ProposalSignature, SafeProposal

pytestmark = pytest.mark.django_db

S = SafeProposal.State


def fee_collection(c: Custody, proposer: Any) -> SafeProposal:
    return cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="fee_collection", to=c.evm.token, data=erc20_transfer_data(c.evm.recovery.address, 5),
        proposer_id=proposer.pk, w3=c.evm.w3,
    )  # fmt: skip


def threshold_change(c: Custody, proposer: Any) -> SafeProposal:
    """A control change: authorised by 2 approvals, then it waits 72 h for the co-signer (nothing is signed)."""
    return cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="control_change", to=c.evm.safe,
        data=function_selector("changeThreshold(uint256)") + (3).to_bytes(32, "big"), proposer_id=proposer.pk,
        w3=c.evm.w3,
    )  # fmt: skip


def approve_url(proposal: SafeProposal) -> str:
    return f"/api/v1/custody/proposals/{proposal.pk}/approvals/"


def unchanged(c: Custody, proposal: SafeProposal, approvals: list[tuple[int, bool]] | None = None) -> None:
    stored = SafeProposal.objects.get(pk=proposal.pk)
    assert (stored.state, stored.authorised_at) == (S.PROPOSED, None)
    assert list(OperatorApproval.objects.filter(proposal=proposal).values_list("operator_id", "approved")) == (
        approvals or []
    )
    assert not ProposalSignature.objects.filter(proposal=proposal).exists()
    assert_untouched(c, c.evm.recovery.address)


# -- (c) API tokens, stale MFA, no MFA ---------------------------------------------------------------------------


def token_client(user: Any) -> Any:
    """A token with every scope: what refuses it is the operator rule (no API token, ever), not a missing scope."""
    return scoped_token_client(user, scopes=("read", "trade", "custody"))


def test_a_staff_api_token_cannot_approve(custody: Custody) -> None:
    c = custody
    proposal = fee_collection(c, c.operators[0])
    response = token_client(c.operators[1]).post(approve_url(proposal), {"decision": "approve"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "operator_session_required"
    assert "cannot be performed with an API token" in response.json()["error"]["message"]
    unchanged(c, proposal)


@pytest.mark.parametrize(
    ("session", "code"),
    [
        ({"mfa_age": timedelta(minutes=20)}, "mfa_reauthentication_required"),
        ({"mfa_age": timedelta(minutes=15, seconds=30)}, "mfa_reauthentication_required"),
        ({"mfa_age": None}, "mfa_reauthentication_required"),  # password only
        ({"with_mfa": False}, "mfa_not_set_up"),
    ],
)
def test_a_session_without_mfa_confirmed_in_the_last_15_minutes_cannot_approve(
    custody: Custody, session: dict[str, Any], code: str
) -> None:
    c = custody
    proposal = fee_collection(c, c.operators[0])
    response = operator_session(c.operators[1], **session).post(approve_url(proposal), {"decision": "reject"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, code)
    unchanged(c, proposal)


def test_a_session_with_mfa_confirmed_14_minutes_ago_approves(custody: Custody) -> None:
    c = custody
    proposal = fee_collection(c, c.operators[0])
    client = operator_session(c.operators[1], mfa_age=timedelta(minutes=14))
    response = client.post(approve_url(proposal), {"decision": "approve"}, format="json")
    assert response.status_code == 200
    assert response.json()["approvals"][0]["operator"] == c.operators[1].pk
    assert list(OperatorApproval.objects.values_list("operator_id", "approved")) == [(c.operators[1].pk, True)]


def test_an_operator_cancelling_someone_elses_proposal_needs_fresh_mfa(custody: Custody) -> None:
    c = custody
    proposal = fee_collection(c, c.operators[0])
    url = f"/api/v1/custody/proposals/{proposal.pk}/cancel/"
    refused = token_client(c.operators[1]).post(url)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "operator_session_required")
    unchanged(c, proposal)
    done = operator_session(c.operators[1]).post(url)
    assert (done.status_code, done.json()["state"]) == (200, "cancelled")


# -- (d) the proposer ----------------------------------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_proposal(custody: Custody) -> None:
    c = custody
    proposal = fee_collection(c, c.operators[0])
    response = operator_session(c.operators[0]).post(approve_url(proposal), {"decision": "approve"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "proposer_cannot_approve")
    unchanged(c, proposal)
    with _Raises("proposer_cannot_approve"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[0].pk, approve=True)
    unchanged(c, proposal)


# -- (e) a superuser makes a second operator ----------------------------------------------------------------------


def test_a_superuser_cannot_make_a_second_operator_and_meet_two_approvals_alone(custody: Custody) -> None:
    c = custody
    superuser = c.operators[1]
    accomplice = UserFactory()
    granted = account_services.operator_role_grant(user_id=accomplice.pk, granted_by_id=superuser.pk, via="admin")
    assert granted.is_staff
    proposal = threshold_change(c, c.operators[0])
    assert operator_session(superuser).post(approve_url(proposal), {"decision": "approve"}).status_code == 200

    response = operator_session(accomplice).post(approve_url(proposal), {"decision": "approve"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "operator_role_too_new")
    assert "72 h" in response.json()["error"]["message"]
    unchanged(c, proposal, [(superuser.pk, True)])
    [event] = OperatorRoleEvent.objects.filter(user=accomplice)
    assert (event.action, event.by, event.via) == ("grant", superuser, "admin")
    assert timezone.now() - event.at < timedelta(minutes=1)

    # 72 h after the grant the new operator's approval counts (the control change then waits for its own delay)
    later = timezone.now() + timedelta(hours=72, minutes=1)
    authorised = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=accomplice.pk, approve=True, now=later)
    assert authorised.state == S.AUTHORISED


def test_an_approval_stops_counting_when_the_role_is_revoked(custody: Custody) -> None:
    c = custody
    proposal = threshold_change(c, c.operators[0])
    cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[1].pk, approve=True)
    account_services.operator_role_revoke(user_id=c.operators[1].pk, revoked_by_id=c.operators[2].pk, via="admin")
    # the revoked operator's approval no longer counts: one more is still one of two
    still = cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[2].pk, approve=True)
    assert still.state == S.PROPOSED
    events = OperatorRoleEvent.objects.filter(user=c.operators[1]).order_by("at", "id")
    assert [(e.action, e.by_id, e.via) for e in events] == [
        ("grant", None, "test"),
        ("revoke", c.operators[2].pk, "admin"),
    ]
    assert User.objects.get(pk=c.operators[1].pk).is_staff is False


def test_createsuperuser_logs_the_grant_and_its_approvals_wait_72_hours(
    custody: Custody, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = custody
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-test-only-password-42")
    call_command("createsuperuser", email="second@example.com", interactive=False, verbosity=0)
    made = User.objects.get(email="second@example.com")
    [event] = OperatorRoleEvent.objects.filter(user=made)
    assert (event.action, event.superuser, event.by, event.via) == ("grant", True, None, "createsuperuser")
    proposal = fee_collection(c, c.operators[0])
    with _Raises("operator_role_too_new"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=made.pk, approve=True)
    unchanged(c, proposal)


def test_is_staff_set_by_a_path_that_logged_nothing_never_counts(custody: Custody) -> None:
    c = custody
    sneaky = UserFactory()
    User.objects.filter(pk=sneaky.pk).update(is_staff=True, is_superuser=True)  # e.g. a raw SQL or shell edit
    proposal = fee_collection(c, c.operators[0])
    with _Raises("operator_role_too_new"):
        cs.operator_approval_add(proposal_id=proposal.pk, operator_id=sneaky.pk, approve=True)
    unchanged(c, proposal)


def test_the_admin_grants_and_revokes_the_role_through_the_service_only(custody: Custody) -> None:
    c = custody
    superuser, target = c.operators[1], UserFactory()
    url = "/admin/accounts/user/"
    grant = {"action": "operator_role_grant", "_selected_action": [target.pk]}
    # a stale session is refused and nothing is logged
    stale = operator_session(superuser, client=Client(), mfa_age=timedelta(minutes=20))
    refused = stale.post(url, grant, follow=True)
    assert "mfa_reauthentication_required" in refused.content.decode().lower()
    assert not OperatorRoleEvent.objects.filter(user=target).exists()
    assert User.objects.get(pk=target.pk).is_staff is False
    # the change form cannot set is_staff: the field is read-only
    client = operator_session(superuser, client=Client())
    edit = client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert 'name="is_staff"' not in edit and 'name="is_superuser"' not in edit
    # the action grants, and logs who, to whom, when and how
    client.post(url, grant, follow=True)
    assert User.objects.get(pk=target.pk).is_staff is True
    [event] = OperatorRoleEvent.objects.filter(user=target)
    assert (event.action, event.by, event.via) == ("grant", superuser, "admin")
    client.post(url, {"action": "operator_role_revoke", "_selected_action": [target.pk]}, follow=True)
    assert User.objects.get(pk=target.pk).is_staff is False
    assert list(OperatorRoleEvent.objects.filter(user=target).order_by("at", "id").values_list("action", "by")) == [
        ("grant", superuser.pk),
        ("revoke", superuser.pk),
    ]
    log = client.get("/admin/accounts/operatorroleevent/").content.decode()
    assert target.email in log
