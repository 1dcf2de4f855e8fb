"""Whether a session may perform an operator action: pure, on what allauth recorded about how it authenticated.

allauth keeps, in the session, one record per authentication step (``{"method": "password" | "mfa" | ..., "at":
<unix seconds>, ...}``; ``allauth.account.authentication.get_authentication_records``). An operator action needs a
session — never an API token — of an active operator who has an authenticator set up and whose latest ``mfa`` record
(a sign-in with the second factor, or a re-authentication with it) is at most ``max_age`` old.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CLOCK_SKEW_SECONDS = 5.0  # a record a little "in the future" (another web process's clock) still counts


@dataclass(frozen=True)
class OperatorRefusal:
    code: str
    message: str


def mfa_verified_at(records: Sequence[Mapping[str, Any]]) -> float | None:
    """Unix time of the session's latest step with the second factor; None if it never used one."""
    times = [
        float(record["at"])
        for record in records
        if record.get("method") == "mfa" and isinstance(record.get("at"), int | float)
    ]
    return max(times) if times else None


def operator_refusal(
    *,
    is_operator: bool,
    via_session: bool,
    has_authenticator: bool,
    records: Sequence[Mapping[str, Any]],
    now: float,
    max_age_seconds: float,
) -> OperatorRefusal | None:
    """Why this request may not perform an operator action (None: it may)."""
    minutes = round(max_age_seconds / 60)
    if not is_operator:
        return OperatorRefusal("operators_only", "Only operators may do this.")
    if not via_session:
        return OperatorRefusal(
            "operator_session_required",
            "Operator actions cannot be performed with an API token: sign in to the site with your authenticator "
            f"app (within the last {minutes} minutes) and act from that session.",
        )
    if not has_authenticator:
        return OperatorRefusal(
            "mfa_not_set_up",
            "Operator actions need two-factor authentication: set up an authenticator app on your account first.",
        )
    verified = mfa_verified_at(records)
    if verified is None or not -CLOCK_SKEW_SECONDS <= now - verified <= max_age_seconds:
        return OperatorRefusal(
            "mfa_reauthentication_required",
            f"Operator actions need a sign-in confirmed with your authenticator app within the last {minutes} "
            "minutes: re-authenticate with your authenticator (Account → Two-factor authentication → "
            "re-authenticate, /accounts/2fa/reauthenticate/) and try again.",
        )
    return None
