"""REST API for the signed-in user: profile, linked wallets, API tokens. Each view validates, calls one
service or selector, and serialises; errors come out as ``{"error": {"code", "message", "fields"}}``.

No view here declares a ``required_scope``: API tokens may read (scope ``read``) but never write here (no token creates
tokens or links wallets). Linking a wallet also needs the session to have re-authenticated freshly on the web
(``accounts.reauthentication``): the API cannot re-authenticate, it answers ``reauthentication_required`` or
``mfa_reauthentication_required`` and the page sends the user to allauth's re-authentication.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.core import siwe, tokens, wallet_vouch
from accounts.models import ApiToken, User, Wallet
from accounts.reauthentication import reauthentication_url, wallet_link_reauthentication_missing
from hftplatform.api.schema import error_response as _errors

NOT_FOUND = _errors("`not_found`: no such object among yours.")
REAUTHENTICATION = _errors(
    "`reauthentication_required` / `mfa_reauthentication_required`: confirm your password (and authenticator code) "
    "on the web first; `token_not_allowed`: API tokens cannot link wallets."
)


class ReauthenticationRequired(exceptions.PermissionDenied):
    default_code = "reauthentication_required"


class MfaReauthenticationRequired(exceptions.PermissionDenied):
    default_code = "mfa_reauthentication_required"


def _wallet_link_allowed(request: Request) -> None:
    """Refuse unless ``request`` comes from a web session that freshly re-authenticated (never from a token)."""
    if isinstance(request.auth, ApiToken):  # the authentication refuses token writes already: this is for reads
        raise exceptions.PermissionDenied("API tokens cannot link wallets.", code="token_not_allowed")
    missing = wallet_link_reauthentication_missing(request._request, user=request.user)
    if missing == "password":
        url = reauthentication_url("password", next_url="/account/#wallets")
        raise ReauthenticationRequired(f"Confirm your password at {url} first, then link the wallet.")
    if missing == "mfa":
        url = reauthentication_url("mfa", next_url="/account/#wallets")
        raise MfaReauthenticationRequired(f"Confirm a code from your authenticator app at {url} first.")


class _PaginatedListMixin:
    """Cursor pagination (newest first) for a plain APIView's GET."""

    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    def paginated(
        self, request: Request, queryset: QuerySet[Any], serializer: type[serializers.Serializer]
    ) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Me"

        id = serializers.IntegerField()
        email = serializers.EmailField()
        display_name = serializers.CharField()
        date_joined = serializers.DateTimeField()
        mfa_enabled = serializers.BooleanField()

    @extend_schema(operation_id="me_retrieve", responses=OutputSerializer, tags=["accounts"])
    def get(self, request: Request) -> Response:
        user: User = request.user
        mfa = selectors.user_mfa_status(user=user)
        data = {
            "id": user.pk,
            "email": user.email,
            "display_name": user.display_name,
            "date_joined": user.date_joined,
            "mfa_enabled": mfa.totp_active,
        }
        return Response(self.OutputSerializer(data).data)


class WalletOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Wallet"

    id = serializers.IntegerField()
    address = serializers.CharField(help_text="EIP-55 checksummed.")
    chain_id = serializers.IntegerField()
    label = serializers.CharField()
    created_at = serializers.DateTimeField()
    vouched_by = serializers.CharField(help_text="The older wallet that vouched for this link, or empty.")
    withdrawals_from = serializers.SerializerMethodField(
        help_text="From when its signatures authorise withdrawals: 48 h after the link, or at once when vouched for."
    )

    def get_withdrawals_from(self, wallet: Wallet) -> str:
        return serializers.DateTimeField().to_representation(selectors.wallet_withdrawals_from(wallet=wallet))


class WalletsApi(_PaginatedListMixin, APIView):
    """GET: the user's linked wallets. POST: link a wallet with a signed message from /wallets/nonce/."""

    class LinkInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WalletLinkInput"

        message = serializers.CharField(trim_whitespace=False, help_text="The EIP-4361 message, exactly as signed.")
        signature = serializers.CharField(help_text="The personal_sign signature: 0x and 130 hex digits.")
        label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        vouch_signature = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text="Optional: the personal_sign signature of the nonce's vouch_message by one of your wallets "
            "linked 48 h or more ago; the new wallet then authorises withdrawals at once.",
        )

    @extend_schema(operation_id="wallets_list", responses=WalletOutputSerializer(many=True), tags=["accounts"])
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.wallet_list(user=request.user), WalletOutputSerializer)

    @extend_schema(
        operation_id="wallets_link",
        request=LinkInputSerializer,
        responses={
            201: WalletOutputSerializer,
            400: _errors(
                "`invalid`, `siwe_message_invalid`, `siwe_domain_mismatch`, `siwe_message_expired`, "
                "`siwe_message_not_yet_valid`, `wallet_chain_unsupported`, `wallet_signature_invalid`, "
                "`wallet_signature_mismatch`, `wallet_nonce_unknown`, `wallet_nonce_used`, `wallet_nonce_expired`, "
                "`wallet_vouch_invalid`"
            ),
            403: REAUTHENTICATION,
            409: _errors("`wallet_already_linked`: the address is linked to an account already."),
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        _wallet_link_allowed(request)
        serializer = self.LinkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wallet = services.wallet_link(
            user=request.user,
            domain=request.get_host(),
            **serializer.validated_data,
        )
        return Response(WalletOutputSerializer(wallet).data, status=status.HTTP_201_CREATED)


class WalletNonceApi(APIView):
    """Issue the EIP-4361 message that ``address`` must sign (personal_sign) to be linked."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WalletNonceInput"

        address = serializers.CharField(help_text="0x and 40 hex digits (any case; mixed case must be EIP-55).")
        chain_id = serializers.IntegerField(min_value=0)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WalletNonce"

        nonce = serializers.CharField()
        message = serializers.CharField(help_text="Sign exactly this text.")
        vouch_message = serializers.CharField(
            help_text="Optional: sign this with a wallet linked 48 h or more ago so the new one authorises "
            "withdrawals at once."
        )
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="wallets_nonce_create",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: _errors("`invalid`, `wallet_address_invalid`, `wallet_chain_unsupported`"),
            403: REAUTHENTICATION,
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        _wallet_link_allowed(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        nonce, message = services.wallet_nonce_create(
            user=request.user,
            domain=request.get_host(),
            uri=request.build_absolute_uri("/"),
            **serializer.validated_data,
        )
        data = {
            "nonce": nonce.nonce,
            "message": message,
            "vouch_message": wallet_vouch.vouch_text(siwe.parse(message)),
            "expires_at": nonce.expires_at,
        }
        return Response(self.OutputSerializer(data).data, status=status.HTTP_201_CREATED)


class WalletDetailApi(APIView):
    @extend_schema(operation_id="wallets_unlink", responses={204: None, 404: NOT_FOUND}, tags=["accounts"])
    def delete(self, request: Request, wallet_id: int) -> Response:
        services.wallet_unlink(user=request.user, wallet_id=wallet_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ApiToken"

    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's public first characters.")
    scopes = serializers.ListField(child=serializers.CharField(), help_text="read, trade, custody.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiTokensApi(_PaginatedListMixin, APIView):
    """GET: the user's API tokens (never the secret). POST: create one; the response shows it once."""

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ApiTokenCreateInput"

        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=tokens.SCOPES),
            allow_empty=False,
            default=[tokens.SCOPE_READ],
            help_text="read (every GET), trade (writes that move no funds), custody (withdrawals, signatures, "
            "destinations). Default: read.",
        )
        expires_in_days = serializers.IntegerField(min_value=1, max_value=365, default=90)

    class CreateOutputSerializer(ApiTokenOutputSerializer):
        class Meta:
            ref_name = "ApiTokenCreated"

        token = serializers.CharField(help_text="The token itself: shown this once, store it now.")

    @extend_schema(operation_id="tokens_list", responses=ApiTokenOutputSerializer(many=True), tags=["accounts"])
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.api_token_list(user=request.user), ApiTokenOutputSerializer)

    @extend_schema(
        operation_id="tokens_create",
        request=CreateInputSerializer,
        responses={
            201: CreateOutputSerializer,
            400: _errors("`invalid`, `api_token_name_invalid`, `api_token_scopes_invalid`"),
            403: _errors("`token_not_allowed`: a token cannot create tokens (sign in on the web)."),
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        token, plaintext = services.api_token_create(
            user=request.user,
            name=values["name"],
            scopes=values["scopes"],
            lifetime=timedelta(days=values["expires_in_days"]),
        )
        data = {**ApiTokenOutputSerializer(token).data, "token": plaintext}
        return Response(self.CreateOutputSerializer(data).data, status=status.HTTP_201_CREATED)


class ApiTokenDetailApi(APIView):
    @extend_schema(
        operation_id="tokens_revoke",
        description="Revoke a token. Revoking an already revoked token succeeds and changes nothing.",
        responses={204: None, 404: NOT_FOUND},
        tags=["accounts"],
    )
    def delete(self, request: Request, token_id: int) -> Response:
        services.api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
