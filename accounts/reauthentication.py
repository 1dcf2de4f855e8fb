"""Whether the signed-in session re-authenticated recently enough to link a wallet.

Linking a wallet needs, within ``ACCOUNT_REAUTHENTICATION_TIMEOUT`` seconds, allauth's password re-authentication
(``account_reauthenticate``) and, when the account has an authenticator app, allauth's MFA re-authentication
(``mfa_reauthenticate``: a TOTP code, or a recovery code in its stead). The proof is allauth's own: the
authentication records it keeps in the session, each re-authentication flagged ``reauthenticated``. Signing in does
not count, and an API token never can (it has no session): a stolen session cookie or token cannot link a wallet.
"""

from __future__ import annotations

import time
from typing import Literal

from allauth.account import app_settings as account_settings
from allauth.account.internal.flows.login import get_authentication_records
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts import selectors
from accounts.models import User

Step = Literal["password", "mfa"]
STEP_URL_NAMES: dict[Step, str] = {"password": "account_reauthenticate", "mfa": "mfa_reauthenticate"}


def wallet_link_reauthentication_missing(request: HttpRequest, *, user: User) -> Step | None:
    """The re-authentication ``request``'s session still lacks to link a wallet for ``user``, or None."""
    now = time.time()
    fresh = {
        record.get("method")
        for record in get_authentication_records(request, user)
        if record.get("reauthenticated")
        and now - float(record.get("at", 0)) < account_settings.REAUTHENTICATION_TIMEOUT
    }
    if "password" not in fresh:
        return "password"
    if selectors.user_mfa_status(user=user).totp_active and "mfa" not in fresh:
        return "mfa"
    return None


def reauthentication_url(step: Step, *, next_url: str) -> str:
    """allauth's page for ``step``, coming back to ``next_url`` afterwards."""
    return f"{reverse(STEP_URL_NAMES[step])}?{urlencode({'next': next_url})}"
