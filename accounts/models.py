from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models, transaction
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        with transaction.atomic():
            user = self._create(email, password, **fields)
            if user.is_staff:
                OperatorRoleEvent.objects.create(
                    user=user, action=OperatorRoleEvent.Action.GRANT, superuser=user.is_superuser,
                    via="create_user", at=timezone.now(),
                )  # fmt: skip
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        """``manage.py createsuperuser`` comes here: the operator role it gives is logged like any grant (with no
        granting operator), so its 72 h before approvals count start now."""
        fields.update(is_staff=True, is_superuser=True)
        with transaction.atomic():
            user = self._create(email, password, **fields)
            OperatorRoleEvent.objects.create(
                user=user, action=OperatorRoleEvent.Action.GRANT, superuser=True, via="createsuperuser",
                at=timezone.now(),
            )  # fmt: skip
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in by email: a depositor, or an operator when ``is_staff``."""

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Operators: may sign in to the admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.display_name or self.email

    def get_short_name(self) -> str:
        return self.display_name or self.email.split("@")[0]


class Wallet(models.Model):
    """An Ethereum address the user proved they control by signing an EIP-4361 message."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallets")
    # EIP-55 checksummed, so one address has exactly one spelling and the unique constraint is exact.
    address = models.CharField(max_length=42)
    chain_id = models.PositiveBigIntegerField(help_text="The EIP-155 chain ID named in the signed message.")
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, help_text="When it was linked.")
    # A wallet authorises withdrawals 48 h after its link, or at once when a wallet of the same account, linked at
    # least 48 h before, signed the link's vouch message (accounts.core.wallet_vouch): that wallet, EIP-55.
    vouched_by = models.CharField(
        max_length=42,
        blank=True,
        help_text="The wallet (linked ≥ 48 h before) that co-signed this link, so it authorises withdrawals at once.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["address"], name="accounts_wallet_address_unique"),
            models.CheckConstraint(
                condition=models.Q(address__regex=r"^0x[0-9a-fA-F]{40}$"), name="accounts_wallet_address_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.user})"


class WalletNonce(models.Model):
    """A single-use challenge: the nonce a wallet must sign to be linked to ``user``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallet_nonces")
    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.nonce

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class ApiToken(models.Model):
    """A bearer token for REST clients. Only the SHA-256 of the token is stored; ``prefix`` is public.

    ``scopes`` say what it may do (``accounts.core.tokens.SCOPES``); it stops working at ``expires_at``.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, help_text="The token's first characters.")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 (hex) of the whole token.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = ArrayField(models.CharField(max_length=16), default=list, help_text="read, trade, custody.")
    expires_at = models.DateTimeField(help_text="The token is refused from this instant on.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scopes__contained_by=["read", "trade", "custody"]),
                name="accounts_apirequired_scopes_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_active_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class OperatorRoleEvent(models.Model):
    """The operator role (``is_staff``) given to or taken from a user: who, by whom, when, how. Append-only; written
    by :func:`accounts.services.operator_role_grant` / ``operator_role_revoke`` (and by ``createsuperuser``).

    An operator's approvals count only once they have held the role for 72 h without a revocation
    (:func:`accounts.selectors.operator_role_since`); a user made staff by any path that wrote no event here never
    counts."""

    class Action(models.TextChoices):
        GRANT = "grant", "Granted"
        REVOKE = "revoke", "Revoked"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="operator_role_events")
    action = models.CharField(max_length=6, choices=Action.choices)
    superuser = models.BooleanField(default=False, help_text="The grant included superuser rights.")
    by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="None: not an operator."
    )
    via = models.CharField(max_length=40, help_text="admin, createsuperuser, demo, migration...")
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(action__in=["grant", "revoke"]), name="role_action")]

    def __str__(self) -> str:
        return f"{self.action} operator role to user {self.user_id} at {self.at:%Y-%m-%d %H:%M}"
