"""The demo's users: the operator's role goes through the logged grant, once, however often the demo starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import OperatorRoleEvent
from hftplatform.demo import demo_credentials_load, demo_users_ensure

pytestmark = pytest.mark.django_db


def test_the_demo_operator_is_granted_through_the_logged_service_once(tmp_path: Path) -> None:
    credentials = demo_credentials_load(path=tmp_path / "credentials.json")

    operator, depositor = demo_users_ensure(credentials=credentials)
    again, _ = demo_users_ensure(credentials=credentials)  # a second start

    assert (operator.is_staff, operator.is_superuser, depositor.is_staff, depositor.is_superuser) == (
        True, True, False, False,
    )  # fmt: skip
    assert again.pk == operator.pk and again.is_staff
    events = OperatorRoleEvent.objects.filter(user=operator)
    assert list(events.values_list("action", "superuser", "by", "via")) == [("grant", True, None, "demo")]
    assert not OperatorRoleEvent.objects.filter(user=depositor).exists()
