"""The demo: an operator and a depositor with verified emails, and the processes of a whole platform."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import User
from accounts.services import operator_role_grant, operator_role_revoke
from hftplatform.core.private_files import secret_file_write

OPERATOR_EMAIL = "operator@demo.hftbot.local"
DEPOSITOR_EMAIL = "depositor@demo.hftbot.local"


@dataclass(frozen=True)
class DemoCredentials:
    operator_email: str
    operator_password: str
    depositor_email: str
    depositor_password: str


def demo_credentials_load(*, path: Path) -> DemoCredentials:
    """The demo passwords, made once per data directory (random, kept beside the data, never committed)."""
    if path.exists():
        return DemoCredentials(**json.loads(path.read_text()))
    credentials = DemoCredentials(
        operator_email=OPERATOR_EMAIL,
        operator_password=secrets.token_urlsafe(12),
        depositor_email=DEPOSITOR_EMAIL,
        depositor_password=secrets.token_urlsafe(12),
    )
    secret_file_write(path, json.dumps(credentials.__dict__, indent=2))
    return credentials


@transaction.atomic
def demo_users_ensure(*, credentials: DemoCredentials) -> tuple[User, User]:
    """Create (or reset the passwords of) the demo operator (superuser) and depositor; both emails verified."""
    operator = _user_ensure(
        email=credentials.operator_email, password=credentials.operator_password, is_staff=True, is_superuser=True
    )
    depositor = _user_ensure(
        email=credentials.depositor_email, password=credentials.depositor_password, is_staff=False, is_superuser=False
    )
    return operator, depositor


def _user_ensure(*, email: str, password: str, is_staff: bool, is_superuser: bool) -> User:
    user, _ = User.objects.get_or_create(email=email)
    user.is_active = True
    user.set_password(password)
    user.save()
    # The operator role goes through the service so it is logged like any grant (its approvals count after 72 h).
    if is_staff:
        user = operator_role_grant(user_id=user.pk, granted_by_id=None, via="demo", superuser=is_superuser)
    else:
        user = operator_role_revoke(user_id=user.pk, revoked_by_id=None, via="demo")
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user
