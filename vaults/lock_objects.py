"""Row locks for vault writes, always taken in this order inside one transaction:

1. the vault row (:func:`vault_lock`) — every write to a vault's fee state holds it, so writes on one vault
   are serialised and two transactions can never hold parts of a vault while waiting for each other;
2. depositor accounts, by id (:func:`accounts_lock`);
3. lots, by id (:func:`lots_lock`).

A function that needs several kinds takes them in that order; within a kind ``ORDER BY id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import Q, QuerySet

from vaults.models import Lot, Vault, VaultAccount


def vault_lock(*, vault_id: int) -> Vault:
    """The vault row, locked until the transaction ends; raises ``Vault.DoesNotExist``."""
    return Vault.objects.select_for_update().get(pk=vault_id)


def accounts_lock(*, vault_id: int, depositor_ids: Iterable[int] | None = None) -> list[VaultAccount]:
    """The vault's accounts (all, or of the given depositors), locked in id order."""
    query = VaultAccount.objects.select_for_update().filter(vault_id=vault_id)
    if depositor_ids is not None:
        query = query.filter(depositor_id__in=list(depositor_ids))
    return list(query.order_by("id"))


class LotRow(NamedTuple):
    """A locked lot as plain values (loading 100,000 model instances would cost seconds)."""

    id: int
    depositor_id: int
    number: int
    shares: Decimal
    hwm: Decimal
    opened_at: datetime


_LOT_COLUMNS = ("id", "depositor_id", "number", "shares", "hwm", "opened_at")


def _lot_rows(query: QuerySet[Lot]) -> list[LotRow]:
    return [LotRow(*row) for row in query.order_by("id").values_list(*_LOT_COLUMNS)]


def lots_lock(*, vault_id: int, depositor_id: int | None = None, nonempty_or_number: int | None = None) -> list[LotRow]:
    """The vault's lots still holding shares (of one depositor, or all), plus lot ``nonempty_or_number`` even
    when empty, locked in id order."""
    query = Lot.objects.select_for_update().filter(vault_id=vault_id)
    if depositor_id is not None:
        query = query.filter(depositor_id=depositor_id)
    held = Q(shares__gt=0)
    if nonempty_or_number is not None:
        held |= Q(number=nonempty_or_number)
    return _lot_rows(query.filter(held))


def lots_lock_covering(*, vault_id: int, depositor_id: int, shares: Decimal) -> list[LotRow]:
    """The depositor's non-empty lots, oldest (lowest number) first, up to the first whose running total of
    shares reaches ``shares`` (all of them if none does), locked in id order. Call with the vault locked, so
    the running totals cannot change between the two statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM (SELECT id, SUM(shares) OVER (ORDER BY number) - shares AS before"
            " FROM vaults_lot WHERE vault_id = %s AND depositor_id = %s AND shares > 0) AS running"
            " WHERE before < %s",
            [vault_id, depositor_id, shares],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return _lot_rows(Lot.objects.select_for_update().filter(pk__in=ids))
