from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm as BaseAdminPasswordChangeForm
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, OperatorRoleEvent, User, Wallet, WalletNonce
from accounts.operator_access import operator_action_mfa_required


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        # Emails are stored lower-case (UserManager does the same), so the unique index is case-insensitive.
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email=email).exists():
            raise self.instance.unique_error_message(User, ["email"])  # type: ignore[arg-type]
        return email


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict[str, Any] = {}

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"]).lower()


class AdminPasswordChangeForm(BaseAdminPasswordChangeForm):
    """An operator setting a user's password revokes the user's API tokens, as the user's own change does."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=commit)
        if commit:
            services.api_tokens_revoke_all(user=user, now=timezone.now())
        return user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("email", "display_name", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "display_name")
    ordering = ("email",)
    # The operator role changes only through the actions below (accounts.services: logged, 72 h before approvals count).
    readonly_fields = ("last_login", "date_joined", "is_staff", "is_superuser")
    actions = ("operator_role_grant", "operator_role_revoke")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    @admin.action(description="Make operator (staff; logged, approvals count after 72 h)", permissions=["change"])
    @operator_action_mfa_required
    def operator_role_grant(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.order_by("id"):
            services.operator_role_grant(user_id=user.pk, granted_by_id=request.user.pk, via="admin")
        self.message_user(request, f"Operator role given to {queryset.count()} user(s), logged.", messages.SUCCESS)

    @admin.action(description="Remove operator role (logged)", permissions=["change"])
    @operator_action_mfa_required
    def operator_role_revoke(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.order_by("id"):
            services.operator_role_revoke(user_id=user.pk, revoked_by_id=request.user.pk, via="admin")
        self.message_user(request, f"Operator role taken from {queryset.count()} user(s), logged.", messages.SUCCESS)


@admin.register(OperatorRoleEvent)
class OperatorRoleEventAdmin(admin.ModelAdmin):
    """Who was given or lost the operator role, by whom, when and how: read-only."""

    list_display = ("at", "action", "user", "superuser", "by", "via")
    list_filter = ("action", "via", "at")
    search_fields = ("user__email", "by__email")
    list_select_related = ("user", "by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    """Wallets are added only by their owner's signature; operators may relabel or remove them."""

    list_display = ("address", "user", "chain_id", "label", "created_at", "vouched_by")
    list_filter = ("chain_id", "created_at")
    search_fields = ("address", "user__email", "label")
    list_select_related = ("user",)
    readonly_fields = ("user", "address", "chain_id", "created_at", "vouched_by")
    fields = ("user", "address", "chain_id", "label", "created_at", "vouched_by")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WalletNonce)
class WalletNonceAdmin(admin.ModelAdmin):
    list_display = ("nonce", "user", "created_at", "expires_at", "used_at")
    list_filter = (("used_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("nonce", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner (who alone sees the plaintext); operators can only revoke them."""

    list_display = ("name", "user", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    fields = ("user", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    actions = ("revoke",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.select_related("user"):
            services.api_token_revoke(user=token.user, token_id=token.pk)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
