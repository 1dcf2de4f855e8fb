"""The pure decision of whether a session may perform an operator action, on allauth's authentication records."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.core.operator_mfa import mfa_verified_at, operator_refusal

NOW = 1_800_000_000.0
PASSWORD = {"method": "password", "at": NOW - 3600, "email": "op@example.com"}


def mfa(seconds_ago: float) -> dict[str, Any]:
    return {"method": "mfa", "at": NOW - seconds_ago, "id": 1, "type": "totp"}


def refusal(records: list[dict[str, Any]], **changes: Any) -> str | None:
    options = {"is_operator": True, "via_session": True, "has_authenticator": True, **changes}
    found = operator_refusal(records=records, now=NOW, max_age_seconds=900, **options)
    return None if found is None else found.code


def test_the_latest_mfa_step_counts() -> None:
    assert mfa_verified_at([PASSWORD, mfa(1200), mfa(60), {"method": "mfa", "at": "soon"}]) == NOW - 60
    assert mfa_verified_at([PASSWORD]) is None


@pytest.mark.parametrize(
    ("records", "changes", "code"),
    [
        ([PASSWORD, mfa(0)], {}, None),
        ([PASSWORD, mfa(900)], {}, None),  # exactly 15 minutes
        ([PASSWORD, mfa(901)], {}, "mfa_reauthentication_required"),
        ([PASSWORD, mfa(1200), mfa(30)], {}, None),  # re-authenticated since
        ([PASSWORD], {}, "mfa_reauthentication_required"),  # password only
        ([PASSWORD, mfa(-60)], {}, "mfa_reauthentication_required"),  # a record from the future is not trusted
        ([PASSWORD, mfa(0)], {"has_authenticator": False}, "mfa_not_set_up"),
        ([PASSWORD, mfa(0)], {"via_session": False}, "operator_session_required"),
        ([PASSWORD, mfa(0)], {"is_operator": False}, "operators_only"),
    ],
)
def test_refusals(records: list[dict[str, Any]], changes: dict[str, Any], code: str | None) -> None:
    assert refusal(records, **changes) == code


def test_the_message_tells_the_operator_to_re_authenticate_with_their_authenticator() -> None:
    found = operator_refusal(
        is_operator=True, via_session=True, has_authenticator=True, records=[PASSWORD], now=NOW, max_age_seconds=900
    )
    assert found is not None
    assert "within the last 15 minutes" in found.message
    assert (
        "re-authenticate with your authenticator" in found.message and "/accounts/2fa/reauthenticate/" in found.message
    )
