"""Reads for accounts: a user's wallets and tokens, token lookup by key, MFA status, the operator role's age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.mfa.models import Authenticator
from django.db.models import QuerySet

from accounts.core import tokens, wallet_vouch
from accounts.models import ApiToken, OperatorRoleEvent, User, Wallet


def wallet_list(*, user: User) -> QuerySet[Wallet]:
    return Wallet.objects.filter(user=user).order_by("-created_at", "-id")


def wallet_withdrawals_from(*, wallet: Wallet) -> datetime:
    """From when ``wallet``'s signatures authorise withdrawals: 48 h after its link, or at once if vouched for."""
    return wallet_vouch.withdrawals_from(linked_at=wallet.created_at, vouched=bool(wallet.vouched_by))


def wallet_is_linked(*, user: User, address: str) -> bool:
    """Whether ``address`` (EIP-55) is one of ``user``'s linked wallets."""
    return Wallet.objects.filter(user=user, address=address).exists()


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_find_active(*, token: str, now: datetime) -> ApiToken | None:
    """The unrevoked, unexpired token whose plaintext is ``token``, with its user; None for anything else."""
    if not tokens.is_well_formed(token):
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=tokens.key_hash(token), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )


@dataclass(frozen=True)
class MfaStatus:
    totp_active: bool
    recovery_codes_active: bool
    recovery_codes_unused: int


def user_mfa_status(*, user: User) -> MfaStatus:
    authenticators = {a.type: a for a in Authenticator.objects.filter(user=user)}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    return MfaStatus(
        totp_active=Authenticator.Type.TOTP in authenticators,
        recovery_codes_active=recovery is not None,
        recovery_codes_unused=len(recovery.wrap().get_unused_codes()) if recovery is not None else 0,
    )


def user_has_authenticator(*, user_id: int) -> bool:
    """Whether the user set up a second factor (an authenticator app; recovery codes alone do not count)."""
    kinds = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    return bool(Authenticator.objects.filter(user_id=user_id, type__in=kinds).exists())


OPERATOR_ROLE_SEASONING = timedelta(hours=72)


def operator_role_since(*, user_id: int) -> datetime | None:
    """Since when the active user has held the operator role without a revocation (the earliest grant after the
    last revocation, from :class:`~accounts.models.OperatorRoleEvent`); None if they are no operator, or were made
    one by a path that logged no grant."""
    user = User.objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if user is None:
        return None
    events = OperatorRoleEvent.objects.filter(user_id=user_id)
    revoked = events.filter(action=OperatorRoleEvent.Action.REVOKE).order_by("-at", "-id").first()
    grants = events.filter(action=OperatorRoleEvent.Action.GRANT)
    if revoked is not None:
        grants = grants.filter(at__gt=revoked.at)
    first = grants.order_by("at", "id").first()
    return None if first is None else first.at


def operator_is_seasoned(*, user_id: int, at: datetime) -> bool:
    """Whether the user has held the operator role for at least 72 h at ``at``: only then does their approval
    count (so nobody can make a fresh operator and approve with them as a second person)."""
    since = operator_role_since(user_id=user_id)
    return since is not None and since <= at - OPERATOR_ROLE_SEASONING


def operator_public_handle(*, user_id: int) -> str:
    """How an operator is named on public pages: never their email."""
    return f"operator #{user_id}"
