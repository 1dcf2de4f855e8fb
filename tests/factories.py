"""Factories shared by the whole suite."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import factory
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY as AUTHENTICATION_USER_SESSION_KEY,
)
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OperatorRoleEvent, User

DEFAULT_PASSWORD = "correct-horse-battery-9"  # a test-only password, generated users only


class UserFactory(factory.django.DjangoModelFactory):
    """A depositor whose email is verified (so allauth lets them sign in)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"depositor{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def verified(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=extracted is not False, primary=True)


OPERATOR_ROLE_AGE = timedelta(days=30)  # well past the 72 h after which approvals count (tests approve in the past too)


class OperatorFactory(UserFactory):
    """An operator (staff, superuser) whose role was granted — and logged — ``role_age`` ago (30 days by default, so
    their approvals count; ``role_age=False`` logs no grant, like a path that bypassed the service)."""

    email = factory.Sequence(lambda n: f"operator{n}@example.com")
    is_staff = True
    is_superuser = True

    @factory.post_generation
    def role_age(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        age = OPERATOR_ROLE_AGE if extracted is None else extracted
        if create and age is not False:
            OperatorRoleEvent.objects.create(
                user=self, action=OperatorRoleEvent.Action.GRANT, superuser=self.is_superuser, via="test",
                at=timezone.now() - age,
            )  # fmt: skip


def operator_mfa_set_up(user: User) -> Authenticator:
    """The operator's TOTP authenticator (created once, with a fresh secret)."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, generate_totp_secret()).instance


def operator_session(
    user: User, *, mfa_age: timedelta | None = timedelta(0), client: Client | None = None, with_mfa: bool = True
) -> Any:
    """A client signed in as ``user`` in a session whose allauth authentication records say it confirmed MFA
    ``mfa_age`` ago (``None``: password only) — what allauth's login with the TOTP code writes, written directly as
    a stand-in for that flow (tests/accounts/test_operator_access.py runs the real one). ``with_mfa=False``: the
    operator has no authenticator set up at all. An :class:`APIClient` unless ``client`` is given."""
    client = client if client is not None else APIClient()
    client.force_login(user)
    now = time.time()
    records: list[dict[str, Any]] = [{"method": "password", "at": now - 3600, "email": user.email}]
    if with_mfa:
        authenticator = operator_mfa_set_up(user)
        if mfa_age is not None:
            records.append(
                {"method": "mfa", "at": now - mfa_age.total_seconds(), "id": authenticator.pk, "type": "totp"}
            )
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session[AUTHENTICATION_USER_SESSION_KEY] = str(user.pk)
    session.save()
    return client
