"""Admin for vaults, positions, lots, deposits, withdrawals and the fee ledger. Money is read-only here: balances,
shares, marks and ledger rows change only through ``vaults.services`` (no add, change or delete of them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from vaults.models import (
    Deposit,
    FeeLedgerEntry,
    Lot,
    NavSnapshot,
    Position,
    Vault,
    VaultAccount,
    Withdrawal,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Viewing and filtering only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "slug", "base_asset", "public", "value", "shares_outstanding", "settled_at")
    list_filter = ("public", "base_asset")
    search_fields = ("name", "slug")
    # Configuration is editable; the fee state is not (vault_create and the services own it).
    readonly_fields = (
        "started_at",
        "settled_at",
        "value",
        "shares_outstanding",
        "fee_account_shares",
        "fee_index",
        "sequence",
        "lot_count",
        "event_count",
        "crystallised_year",
        "base_asset",
        "asset_decimals",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vault_create sets the fee state up

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("vault", "asset", "venue", "quantity", "instrument", "interval", "updated_at")
    list_filter = ("vault", "venue", "asset")


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("vault", "number", "depositor", "shares", "hwm", "opened_at")
    list_filter = ("vault",)
    search_fields = ("depositor__email",)


@admin.register(VaultAccount)
class VaultAccountAdmin(ReadOnlyAdmin):
    list_display = ("vault", "depositor", "shares", "deposited", "paid_out", "management_fee", "performance_fee")
    list_filter = ("vault",)
    search_fields = ("depositor__email",)


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ("vault", "depositor", "amount", "shares", "source", "at", "tx_hash", "idempotency_key")
    list_filter = ("vault", "source")
    search_fields = ("depositor__email", "tx_hash", "idempotency_key")


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdmin):
    list_display = ("vault", "depositor", "state", "state_code", "shares", "payout", "performance_fee", "at", "paid_at")
    list_filter = ("vault", "state")
    search_fields = ("depositor__email",)


@admin.register(NavSnapshot)
class NavSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("vault", "at", "price", "value", "shares_outstanding")
    list_filter = ("vault",)


@admin.register(FeeLedgerEntry)
class FeeLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("vault", "sequence", "at", "kind", "reason", "depositor", "fee_value", "fee_shares")
    list_filter = ("vault", "kind", "reason", "at")
    search_fields = ("depositor__email",)
