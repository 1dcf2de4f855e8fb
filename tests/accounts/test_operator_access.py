"""The operator check against allauth's real sign-in: a password sign-in with the TOTP code writes the ``mfa`` record
the check reads (so tests/factories.operator_session, which writes that record directly, stands in for this flow);
15 minutes later the same session is refused until the operator re-authenticates with their authenticator.
And the operator role's log: grants and revocations through the services, and the 72 h before approvals count."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.totp.internal import auth as totp_auth
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.utils import timezone

from accounts import selectors, services
from accounts.models import OperatorRoleEvent
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, UserFactory
from tests.vaults.builders import vault_new
from vaults.models import ManualCredit

pytestmark = pytest.mark.django_db


def code_at(secret: str, when: float) -> str:
    return format_hotp_value(hotp_value(secret, int(when) // 30))


def request_credit(client: Client, depositor_id: int, key: str) -> tuple[int, str]:
    body = {"depositor_id": depositor_id, "amount": "100", "idempotency_key": key, "reason": "wire"}
    response = client.post("/api/v1/vaults/usdc-core/deposits/", body, content_type="application/json")
    return response.status_code, response.json().get("error", {}).get("code", "")


def test_a_real_totp_sign_in_is_fresh_mfa_for_15_minutes_then_re_authentication_renews_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault_new()
    operator, depositor = OperatorFactory(), UserFactory()
    secret = generate_totp_secret()
    TOTP.activate(operator, secret)
    client = Client()

    # password first: allauth then asks for the authenticator's code
    step = client.post("/accounts/login/", {"login": operator.email, "password": DEFAULT_PASSWORD})
    assert (step.status_code, step["Location"]) == (302, "/accounts/2fa/authenticate/")
    assert request_credit(client, depositor.pk, "a") == (403, "operators_only")  # not signed in yet
    done = client.post("/accounts/2fa/authenticate/", {"code": code_at(secret, time.time())})
    assert done.status_code == 302
    records = client.session[AUTHENTICATION_METHODS_SESSION_KEY]
    assert [r["method"] for r in records] == ["password", "mfa"]
    assert request_credit(client, depositor.pk, "a") == (202, "")

    # 16 minutes later (the session's records aged by as much): refused, with the way out
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [{**r, "at": r["at"] - 16 * 60} for r in records]
    session.save()
    assert request_credit(client, depositor.pk, "b") == (403, "mfa_reauthentication_required")
    assert ManualCredit.objects.count() == 1

    # re-authenticating with the next code (30 s on: the first code is used up) makes the session fresh again
    later = time.time() + 30
    monkeypatch.setattr(totp_auth, "time", SimpleNamespace(time=lambda: later))
    again = client.post("/accounts/2fa/reauthenticate/", {"code": code_at(secret, later)})
    assert again.status_code == 302
    assert request_credit(client, depositor.pk, "b") == (202, "")
    assert ManualCredit.objects.count() == 2


def test_grants_and_revocations_are_logged_and_the_role_counts_after_72_hours() -> None:
    granter, user = OperatorFactory(), UserFactory()
    start = timezone.now()
    services.operator_role_grant(user_id=user.pk, granted_by_id=granter.pk, via="admin", now=start)
    services.operator_role_grant(user_id=user.pk, granted_by_id=granter.pk, via="admin", now=start)  # no-op
    assert selectors.operator_role_since(user_id=user.pk) == start
    assert not selectors.operator_is_seasoned(user_id=user.pk, at=start + timedelta(hours=71, minutes=59))
    assert selectors.operator_is_seasoned(user_id=user.pk, at=start + timedelta(hours=72))

    services.operator_role_revoke(
        user_id=user.pk, revoked_by_id=granter.pk, via="admin", now=start + timedelta(hours=1)
    )
    assert selectors.operator_role_since(user_id=user.pk) is None
    regrant = start + timedelta(hours=2)
    services.operator_role_grant(user_id=user.pk, granted_by_id=granter.pk, via="admin", now=regrant)
    assert selectors.operator_role_since(user_id=user.pk) == regrant  # the clock starts again
    log = list(OperatorRoleEvent.objects.filter(user=user).order_by("at").values_list("action", "by_id", "via", "at"))
    assert log == [
        ("grant", granter.pk, "admin", start),
        ("revoke", granter.pk, "admin", start + timedelta(hours=1)),
        ("grant", granter.pk, "admin", regrant),
    ]


def test_the_view_decorator_refuses_with_the_way_to_re_authenticate() -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from accounts.operator_access import operator_mfa_required
    from tests.factories import operator_session

    calls: list[int] = []

    @operator_mfa_required
    def act(request: HttpRequest) -> HttpResponse:
        calls.append(request.user.pk)
        return HttpResponse("done")

    operator = OperatorFactory()

    def request_for(**session: Any) -> HttpRequest:
        request = RequestFactory().post("/operator-action/")
        request.user = operator
        request.session = operator_session(operator, client=Client(), **session).session
        return request

    stale = act(request_for(mfa_age=timedelta(minutes=20)))
    assert stale.status_code == 403
    assert stale.content.decode().startswith("mfa_reauthentication_required: ")
    assert "/accounts/2fa/reauthenticate/" in stale.content.decode()
    assert calls == []
    fresh = act(request_for())
    assert (fresh.status_code, fresh.content, calls) == (200, b"done", [operator.pk])
