"""Row locks for vault writes, always taken in this order inside one transaction:

1. the vault row (:func:`vault_lock`) — every write to a vault's fee state holds it, so writes on one vault
   are serialised and two transactions can never hold parts of a vault while waiting for each other;
2. depositor accounts, by id (:func:`accounts_lock`);
3. lots, by id (:func:`lots_lock`).

An operators' manual credit (:func:`manual_credit_lock`) is locked right after its vault row, before the credit's
deposit takes 2 and 3.

A function that needs several kinds takes them in that order; within a kind ``ORDER BY id``.

The custody flow takes its locks after those (fee collection booking its execution holds the vault first), in
this one order, whatever the step:

4. the vault Safe row (:func:`safe_lock`) — held while a proposal's Safe nonce is allocated (at co-signing), while
   a nonce is handed to a no-op that invalidates a closed proposal's signatures, and while the co-signer signs a
   trade or unwind and records what it uses of the Safe's call policy, so two co-signings never both fit the same
   remaining allowance;
5. the withdrawal row (:func:`withdrawal_lock`);
6. the proposal rows, by id (:func:`proposal_lock`).

A step on one proposal (signatures, approvals, co-signing, execution outcome, cancellation) takes them through
:func:`proposal_rows_lock`: it reads the proposal's Safe and withdrawal ids (never changed once written) without a
lock, then locks the Safe (when the step needs it), the withdrawal and the proposal in that order. A new proposal
for a withdrawal (:func:`vaults.custody.services.proposals.withdrawal_proposal_create`) locks the Safe, the
withdrawal and then its proposals: the same order, so the two can no longer deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection

from vaults.models import ManualCredit, SafeProposal, Vault, VaultAccount, VaultSafe, Withdrawal


def vault_lock(*, vault_id: int) -> Vault:
    """The vault row, locked until the transaction ends; raises ``Vault.DoesNotExist``."""
    return Vault.objects.select_for_update().get(pk=vault_id)


def manual_credit_lock(*, credit_id: int) -> ManualCredit | None:
    """The manual credit row, locked until the transaction ends (after its vault row); None if there is none."""
    return ManualCredit.objects.select_for_update().filter(pk=credit_id).first()


def accounts_lock(*, vault_id: int, depositor_ids: Iterable[int] | None = None) -> list[VaultAccount]:
    """The vault's accounts (all, or of the given depositors), locked in id order."""
    query = VaultAccount.objects.select_for_update().filter(vault_id=vault_id)
    if depositor_ids is not None:
        query = query.filter(depositor_id__in=list(depositor_ids))
    return list(query.order_by("id"))


def safe_lock(*, safe_id: int) -> VaultSafe:
    """The vault Safe row, locked until the transaction ends; raises ``VaultSafe.DoesNotExist``."""
    return VaultSafe.objects.select_for_update().get(pk=safe_id)


def withdrawal_lock(*, withdrawal_id: int) -> Withdrawal:
    """The withdrawal row, locked until the transaction ends; raises ``Withdrawal.DoesNotExist``."""
    return Withdrawal.objects.select_for_update().get(pk=withdrawal_id)


def proposal_rows_lock(*, proposal_id: int, safe: bool = False) -> SafeProposal:
    """The proposal row locked after the rows above it in the fixed order: its Safe's (when ``safe``), its
    withdrawal's (if it pays one), then its own; returned with its Safe loaded. Raises ``SafeProposal.DoesNotExist``."""
    ids = SafeProposal.objects.filter(pk=proposal_id).values_list("safe_id", "withdrawal_id").first()
    if ids is None:
        raise SafeProposal.DoesNotExist(f"no proposal {proposal_id}")
    safe_id, withdrawal_id = ids
    if safe:
        safe_lock(safe_id=safe_id)
    if withdrawal_id is not None:
        withdrawal_lock(withdrawal_id=withdrawal_id)
    return proposal_lock(proposal_id=proposal_id)


def proposal_lock(*, proposal_id: int) -> SafeProposal:
    """The proposal row (not its Safe's), locked until the transaction ends, with its Safe loaded; raises
    ``SafeProposal.DoesNotExist``."""
    return SafeProposal.objects.select_for_update(of=("self",)).select_related("safe").get(pk=proposal_id)


class LotRow(NamedTuple):
    """A locked lot as plain values (loading 100,000 model instances would cost seconds)."""

    id: int
    depositor_id: int
    number: int
    shares: Decimal
    hwm: Decimal
    opened_at: datetime


def _lots_locked(where: str, params: list[Any]) -> list[LotRow]:
    """The lots matching ``where``, locked in id order, read with a plain cursor (psycopg's own C loaders): through
    the ORM's per-value converters and Django's time loader a year end's 100,000 lots took over a second."""
    # opened_at as plain ISO text in UTC, whatever the session's DateStyle; ``where`` is this module's own text
    select = (
        "SELECT id, depositor_id, number, shares, hwm,"  # noqa: S608
        " to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        f" FROM vaults_lot WHERE {where} ORDER BY id FOR UPDATE"
    )
    with connection.cursor() as cursor:
        cursor.execute(select, params)
        fetched = cursor.fetchall()
    times: dict[str, datetime] = {}
    rows = []
    for lot_id, depositor_id, number, shares, hwm, opened in fetched:
        opened_at = times.get(opened)
        if opened_at is None:
            opened_at = times[opened] = datetime.fromisoformat(opened).replace(tzinfo=UTC)
        rows.append(LotRow(lot_id, depositor_id, number, shares, hwm, opened_at))
    return rows


def lots_lock(*, vault_id: int, depositor_id: int | None = None, nonempty_or_number: int | None = None) -> list[LotRow]:
    """The vault's lots still holding shares (of one depositor, or all), plus lot ``nonempty_or_number`` even
    when empty, locked in id order."""
    where, params = "vault_id = %s", [vault_id]
    if depositor_id is not None:
        where += " AND depositor_id = %s"
        params.append(depositor_id)
    if nonempty_or_number is not None:
        where += " AND (shares > 0 OR number = %s)"
        params.append(nonempty_or_number)
    else:
        where += " AND shares > 0"
    return _lots_locked(where, params)


def lots_lock_covering(*, vault_id: int, depositor_id: int, shares: Decimal) -> list[LotRow]:
    """The depositor's non-empty lots, oldest (lowest number) first, up to the first whose running total of
    shares reaches ``shares`` (all of them if none does), locked in id order. Call with the vault locked, so
    the running totals cannot change between choosing the lots and locking them."""
    return _lots_locked(
        "id IN (SELECT id FROM (SELECT id, SUM(shares) OVER (ORDER BY number) - shares AS before"
        " FROM vaults_lot WHERE vault_id = %s AND depositor_id = %s AND shares > 0) AS running WHERE before < %s)",
        [vault_id, depositor_id, shares],
    )
