"""allauth's account adapter, where allauth's flows reach the platform's services.

Every password allauth sets (change, reset from the emailed link, first set) goes through ``set_password``: the
account's API tokens are revoked with it, since someone who changes a password because it leaked must not leave a
token made with the leaked one working.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import User


class AccountAdapter(DefaultAccountAdapter):
    def set_password(self, user: AbstractBaseUser, password: str) -> None:
        with transaction.atomic():
            super().set_password(user, password)
            if isinstance(user, User):
                services.api_tokens_revoke_all(user=user, now=timezone.now())
