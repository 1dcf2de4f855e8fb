"""Reads for accounts: a user's wallets and tokens, token lookup by key, MFA status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from django.db.models import QuerySet

from accounts.core import tokens, wallet_vouch
from accounts.models import ApiToken, User, Wallet


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
