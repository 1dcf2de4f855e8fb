"""REST authentication with API tokens: ``Authorization: Bearer hft_…``, limited by the token's scopes.

A view says which scope its writes need with a ``required_scope`` class attribute (``"trade"`` or ``"custody"``); reads
(GET, HEAD, OPTIONS) need ``"read"``. A write to a view that names no scope is refused to every token: creating
tokens and linking wallets are among those, they need a freshly re-authenticated session. The check sits here, where
every token request passes, so a view that forgets to declare a scope refuses tokens rather than admitting them.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts import selectors, services
from accounts.core import tokens
from accounts.models import ApiToken, User

KEYWORD = "Bearer"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenScopeMissing(exceptions.PermissionDenied):
    default_code = "token_scope_missing"


class TokenNotAllowed(exceptions.PermissionDenied):
    default_code = "token_not_allowed"


def token_scope_check(token: ApiToken, *, method: str, view: Any) -> None:
    """Refuse ``token`` for ``method`` on ``view`` unless one of its scopes allows it (see the module docstring)."""
    if method.upper() in SAFE_METHODS:
        needed: str | None = tokens.SCOPE_READ
    else:
        needed = getattr(view, "required_scope", None)
    if needed is None:
        raise TokenNotAllowed(
            "API tokens cannot do this (create tokens, link or unlink wallets): use the account page, signed in."
        )
    if needed not in token.scopes:
        raise TokenScopeMissing(f"This token lacks the {needed!r} scope (it has: {', '.join(token.scopes)}).")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request carrying one of the user's API tokens; other requests are left to the next class.

    A malformed, unknown or revoked token, or a token of an inactive user, is a 401 (``authentication_failed``)
    rather than a fall-through, so a client never silently runs as anonymous with a bad token.
    """

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            plaintext = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        now = timezone.now()
        token = selectors.api_token_find_active(token=plaintext, now=now)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        view = (request.parser_context or {}).get("view")
        token_scope_check(token, method=request.method or "GET", view=view)
        services.api_token_touch(token_id=token.pk, now=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema (drf-spectacular finds it when this module is imported)."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created on the account page or with POST /api/v1/tokens/.",
        }
