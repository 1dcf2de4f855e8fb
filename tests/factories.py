"""Factories shared by the whole suite."""

from __future__ import annotations

from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts.models import User

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


class OperatorFactory(UserFactory):
    email = factory.Sequence(lambda n: f"operator{n}@example.com")
    is_staff = True
    is_superuser = True
