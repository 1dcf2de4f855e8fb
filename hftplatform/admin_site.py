"""The operators' admin: signs in through allauth (so MFA applies) and, when required, only with MFA."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


def user_has_mfa(user: object) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user_id=getattr(user, "pk", None), type=Authenticator.Type.TOTP).exists()


class PlatformAdminSite(admin.AdminSite):
    site_header = "HFT Bot operations"
    site_title = "HFT Bot admin"
    index_title = "Vaults, market data and platform"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.ADMIN_REQUIRES_MFA or user_has_mfa(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        """Admin sign-in goes through allauth's login (which asks for the TOTP code when one is set up)."""
        next_url = request.GET.get("next") or reverse("admin:index")
        user = request.user
        needs_mfa = settings.ADMIN_REQUIRES_MFA and user.is_authenticated and user.is_active and user.is_staff
        if needs_mfa and not user_has_mfa(user):
            # Signed in, but the admin needs a second factor first: send the operator to set one up.
            return HttpResponseRedirect(reverse("mfa_activate_totp") + "?" + urlencode({"next": next_url}))
        return HttpResponseRedirect(reverse("account_login") + "?" + urlencode({"next": next_url}))
