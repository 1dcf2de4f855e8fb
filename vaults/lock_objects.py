"""Row locks for vault writes, always taken in this order inside one transaction:

1. the vault row (:func:`vault_lock`) — every write to a vault's fee state holds it, so writes on one vault
   are serialised and two transactions can never hold parts of a vault while waiting for each other;
2. depositor accounts, by id (:func:`accounts_lock`);
3. lots, by id (:func:`lots_lock`).

A function that needs several kinds takes them in that order; within a kind ``ORDER BY id``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

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


def lots_lock(*, vault_id: int, depositor_id: int | None = None, nonempty_or_number: int | None = None) -> list[Lot]:
    """The vault's lots still holding shares (of one depositor, or all), plus lot ``nonempty_or_number`` even
    when empty, locked in id order."""
    query = Lot.objects.select_for_update().filter(vault_id=vault_id)
    if depositor_id is not None:
        query = query.filter(depositor_id=depositor_id)
    held = Q(shares__gt=0)
    if nonempty_or_number is not None:
        held |= Q(number=nonempty_or_number)
    return list(query.filter(held).order_by("id"))
