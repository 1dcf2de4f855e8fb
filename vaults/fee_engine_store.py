"""The fee engine's database adapter: locked rows into a :class:`fees.core.Vault`, and what the engine produced back
into PostgreSQL.

A service opens an :class:`EngineSession` on the rows it locked (:func:`session_open`), lets the engine do the
operation, and stores exactly what the engine changed with :func:`session_store`: the ledger rows, the accounts and
lots, the vault's fee state, one :class:`~vaults.models.VaultEvent` and one :class:`~vaults.models.NavSnapshot`.
Statements a service adds (its deposit, withdrawal, cash move) are queued in the same :class:`SqlBatch` and go to
PostgreSQL in one round trip; a year end's ledger rows stream in with COPY (:func:`ledger_stream`). So the database
holds the engine's numbers by construction, and replaying the event log through a fresh engine gives the same state
(:func:`vaults.selectors.vault_engine_replay`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from psycopg import Copy

from fees.core import DepositorAccount
from fees.core import Lot as EngineLot
from fees.core import Vault as FeeVault
from fees.core.numbers import price_down
from fees.core.vault import FeeLedgerRow, ManagementAccrual, PerformanceCrystallisation
from vaults.broadcasts import vault_nav_broadcast
from vaults.lock_objects import LotRow
from vaults.models import (
    FeeLedgerEntry,
    Lot,
    NavSnapshot,
    Position,
    Vault,
    VaultAccount,
    VaultEvent,
)
from vaults.models.positions import CASH_VENUE


@dataclass
class EngineSession:
    """A fee engine loaded with one locked vault's rows, and what they held when loaded (to store only changes)."""

    vault: Vault
    engine: FeeVault
    accounts: dict[str, VaultAccount]  # by the engine's depositor key (the user id as text)
    lots: dict[int, int]  # lot id by number (the engine's lot id)
    account_before: dict[str, tuple[Decimal, ...]]
    lot_before: dict[int, tuple[Decimal, Decimal]]
    ledger_stored: int = 0  # the engine's ledger rows already written (a year end streams them while computing)


def depositor_key(user_id: int) -> str:
    """The fee engine's name for a depositor: the user id as text."""
    return str(user_id)


def _account_numbers(account: VaultAccount | DepositorAccount) -> tuple[Decimal, ...]:
    return (
        Decimal(account.shares),
        Decimal(account.deposited),
        Decimal(account.paid_out),
        Decimal(account.management_fee),
        Decimal(account.performance_fee),
        Decimal(account.fee_index_mark),
    )


_ACCOUNT_COLUMNS = ("shares", "deposited", "paid_out", "management_fee", "performance_fee", "fee_index_mark")


def session_open(vault: Vault, accounts: Sequence[VaultAccount], lots: Sequence[LotRow]) -> EngineSession:
    """An engine holding the vault's fee state and the given (locked) accounts and lots."""
    # The engine numbers ledger rows and flows on from the stored counter.
    engine = FeeVault(started_at=vault.settled_at, sequence=vault.sequence)
    engine.value = vault.value
    engine.shares_outstanding = vault.shares_outstanding
    engine.fee_account_shares = vault.fee_account_shares
    engine.fee_index = vault.fee_index
    ordered = sorted(lots, key=lambda lot: lot.number)
    numbers: dict[int, list[int]] = {}
    keys: dict[int, str] = {}
    lot_ids, lot_before = {}, {}
    for lot in ordered:  # one pass: a year end opens 100,000 lots
        number, depositor_id = lot.number, lot.depositor_id
        key = keys.get(depositor_id)
        if key is None:
            key = keys[depositor_id] = depositor_key(depositor_id)
            numbers[depositor_id] = []
        numbers[depositor_id].append(number)
        engine.lots[number] = EngineLot(number, key, lot.opened_at, lot.shares, lot.hwm)
        lot_ids[number] = lot.id
        lot_before[number] = (lot.shares, lot.hwm)
    for account in accounts:  # id order = the order of first deposits, as the engine's dict keeps them
        key = depositor_key(account.depositor_id)
        engine.accounts[key] = DepositorAccount(
            depositor=key,
            lot_ids=numbers.get(account.depositor_id, []),
            shares=account.shares,
            deposited=int(account.deposited),
            paid_out=int(account.paid_out),
            management_fee=account.management_fee,
            performance_fee=account.performance_fee,
            fee_index_mark=account.fee_index_mark,
        )
    return EngineSession(
        vault=vault,
        engine=engine,
        accounts={depositor_key(a.depositor_id): a for a in accounts},
        lots=lot_ids,
        account_before={depositor_key(a.depositor_id): _account_numbers(a) for a in accounts},
        lot_before=lot_before,
    )


class SqlBatch:
    """Statements sent to PostgreSQL together, in one round trip, in order (one multi-statement query: Django's
    psycopg cursors bind parameters client-side, which allows it). A request used to wait for a dozen round trips
    in a row while it held the vault's row lock, and that time is what limits requests per second on one vault."""

    def __init__(self) -> None:
        self._statements: list[str] = []
        self._params: list[Any] = []
        self._rows: list[list[tuple[Any, ...]]] = []

    def add(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Queue a statement; the number to read its rows with once the batch ran."""
        self._statements.append(sql)
        self._params.extend(params)
        return len(self._statements) - 1

    def run(self) -> None:
        if not self._statements:
            return
        with connection.cursor() as cursor:
            cursor.execute(";\n".join(self._statements), self._params)
            while True:
                self._rows.append(cursor.fetchall() if cursor.description else [])
                if not cursor.nextset():
                    break

    def rows(self, statement: int) -> list[tuple[Any, ...]]:
        return self._rows[statement]


def insert_sql(
    objs: Sequence[Model], *, returning: str | None = None, expressions: dict[str, str] | None = None
) -> tuple[str, list[Any]]:
    """An ``INSERT`` of unsaved instances of one model as Django's save writes them (``pre_save``: automatic
    times; values prepared by their fields), to queue in a :class:`SqlBatch`. ``expressions`` give a column SQL
    instead of a value (the id a ``WITH`` clause inserted before)."""
    meta = objs[0]._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    expressions = expressions or {}
    params: list[Any] = []
    rows = []
    for obj in objs:
        values = []
        for field in fields:
            if field.attname in expressions:
                values.append(expressions[field.attname])
            else:
                values.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
        rows.append(f"({', '.join(values)})")
    columns = ", ".join(f'"{field.column}"' for field in fields)
    sql = f'INSERT INTO "{meta.db_table}" ({columns}) VALUES {", ".join(rows)}'  # noqa: S608  (model metadata)
    return (f"{sql} RETURNING {returning}" if returning else sql), params


def mark_inserted(obj: Model, pk: int) -> None:
    """Mark an instance written by a batch as saved, with its new id."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def _array_text(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of ints or finite Decimals, exactly as ``str`` writes them (psycopg's own text
    for a Decimal): formatting 100,000 values this way is far cheaper than binding them one by one."""
    return "{" + ",".join(map(str, values)) + "}"


def _rows_update(batch: SqlBatch, model: type[Model], columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Queue one ``UPDATE`` of numeric columns of many rows: ``rows`` are ``(id, value, ...)``."""
    if not rows:
        return
    meta = model._meta
    names = [meta.get_field(column).column for column in columns]  # type: ignore[union-attr]
    sets = ", ".join(f'"{name}" = d."{name}"' for name in names)
    arrays = ", ".join(["%s::bigint[]"] + ["%s::numeric[]"] * len(names))
    aliases = ", ".join(['"id"'] + [f'"{name}"' for name in names])
    sql = f'UPDATE "{meta.db_table}" AS t SET {sets} FROM unnest({arrays}) AS d({aliases}) WHERE t."id" = d."id"'  # noqa: S608
    batch.add(sql, [_array_text(column) for column in zip(*rows, strict=True)])


_LEDGER_COLUMNS = (
    "vault_id",
    "sequence",
    "at",
    "kind",
    "fee_value",
    "fee_shares",
    "price",
    "seconds",
    "factor",
    "shares_outstanding",
    "depositor_shares",
    "fee_per_share",
    "fee_index",
    "reason",
    "lot_id",
    "depositor_id",
    "shares",
    "hwm_before",
    "hwm_after",
)


LEDGER_COPY_ROWS = 200  # from this many new ledger rows on (a year end), COPY them; fewer go in the batch


_COPY_CHUNK_ROWS = 5_000  # the server parses one chunk while the next is formatted


def _ledger_values(session: EngineSession, row: ManagementAccrual | PerformanceCrystallisation) -> tuple[Any, ...]:
    vault_id = session.vault.pk
    if isinstance(row, ManagementAccrual):
        return (
            vault_id,
            row.sequence,
            row.at,
            FeeLedgerEntry.Kind.MANAGEMENT.value,
            row.fee_value,
            row.fee_shares,
            row.price,
            row.seconds,
            row.factor,
            row.shares_outstanding,
            row.depositor_shares,
            row.fee_per_share,
            row.fee_index,
            "",
            None,
            None,
            None,
            None,
            None,
        )
    return (
        vault_id,
        row.sequence,
        row.at,
        FeeLedgerEntry.Kind.PERFORMANCE.value,
        row.fee_value,
        row.fee_shares,
        row.price,
        None,
        None,
        None,
        None,
        None,
        None,
        row.reason,
        session.lots[row.lot_id],
        int(row.depositor),
        row.shares,
        row.hwm_before,
        row.hwm_after,
    )


def _copy_text(value: Any) -> str:
    """One field of COPY's text format. The ledger holds numbers, times and fixed identifiers only (kinds and
    reasons), none of which contains a tab, a newline or a backslash."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _ledger_lines(session: EngineSession, ledger: Sequence[FeeLedgerRow]) -> Iterator[str]:
    """The engine's new ledger rows as COPY text lines, the columns of :data:`_LEDGER_COLUMNS`. A year end's
    crystallisation rows (one per lot) are formatted in one step each: numbers as ``str`` writes them (as psycopg
    would send them), the time once per instant."""
    vault_id, lots = session.vault.pk, session.lots
    times: dict[datetime, str] = {}
    kind = FeeLedgerEntry.Kind.PERFORMANCE.value
    for row in ledger:
        if not isinstance(row, PerformanceCrystallisation):
            yield "\t".join(map(_copy_text, _ledger_values(session, row)))
            continue
        at = times.get(row.at)
        if at is None:
            at = times[row.at] = row.at.isoformat()
        yield (
            f"{vault_id}\t{row.sequence}\t{at}\t{kind}\t{row.fee_value}\t{row.fee_shares}\t{row.price}\t"
            f"\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{row.reason}\t{lots[row.lot_id]}\t{int(row.depositor)}\t{row.shares}\t"
            f"{row.hwm_before}\t{row.hwm_after}"
        )


@contextmanager
def _ledger_copy() -> Iterator[Copy]:
    """A COPY into ``fees_feeledgerentry`` of the columns of :data:`_LEDGER_COLUMNS`, text format."""
    columns = ", ".join(f'"{name}"' for name in _LEDGER_COLUMNS)
    sql = f'COPY "{FeeLedgerEntry._meta.db_table}" ({columns}) FROM STDIN'
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        yield copy


def _ledger_write(session: EngineSession, batch: SqlBatch) -> None:
    """The engine's ledger rows not stored yet into ``fees_feeledgerentry``: many with COPY now, a request's few
    as one ``INSERT`` queued in ``batch``."""
    ledger = session.engine.ledger[session.ledger_stored :]
    session.ledger_stored += len(ledger)
    if not ledger:
        return
    if len(ledger) < LEDGER_COPY_ROWS:
        columns = ", ".join(f'"{name}"' for name in _LEDGER_COLUMNS)
        rows = [_ledger_values(session, row) for row in ledger]
        values = ", ".join("(" + ", ".join(["%s"] * len(_LEDGER_COLUMNS)) + ")" for _ in rows)
        table = FeeLedgerEntry._meta.db_table
        batch.add(f'INSERT INTO "{table}" ({columns}) VALUES {values}', [v for row in rows for v in row])  # noqa: S608
        return
    with _ledger_copy() as copy:
        lines = _ledger_lines(session, ledger)
        while chunk := list(islice(lines, _COPY_CHUNK_ROWS)):
            copy.write("\n".join(chunk) + "\n")


def ledger_stream(session: EngineSession, steps: Iterator[list[PerformanceCrystallisation]]) -> None:
    """Run the engine's ``steps`` (a year end, depositor by depositor) while COPY takes the ledger rows they add:
    PostgreSQL stores one chunk while the next is computed, instead of the two waiting for each other."""
    ledger = session.engine.ledger
    with _ledger_copy() as copy:
        for _ in steps:
            if len(ledger) - session.ledger_stored >= _COPY_CHUNK_ROWS:
                copy.write("\n".join(_ledger_lines(session, ledger[session.ledger_stored :])) + "\n")
                session.ledger_stored = len(ledger)
        if len(ledger) > session.ledger_stored:
            copy.write("\n".join(_ledger_lines(session, ledger[session.ledger_stored :])) + "\n")
            session.ledger_stored = len(ledger)


def session_store(
    session: EngineSession, *, kind: str, at: datetime, payload: dict[str, Any], batch: SqlBatch | None = None
) -> VaultEvent:
    """Write what the engine changed: ledger rows, accounts, lots, the vault's fee state, the event, a snapshot.

    All of it goes in one round trip, with whatever the caller queued in ``batch`` before (the deposit, the
    withdrawal, the cash): see :class:`SqlBatch`. The event and its snapshot come back saved."""
    engine, vault = session.engine, session.vault
    batch = batch if batch is not None else SqlBatch()
    _ledger_write(session, batch)
    account_rows = []
    for key, account in engine.accounts.items():
        numbers = _account_numbers(account)
        model = session.accounts.get(key)
        if model is None:  # the engine opened it: a first deposit
            model = VaultAccount(
                vault=vault, depositor_id=int(key), **dict(zip(_ACCOUNT_COLUMNS, numbers, strict=True))
            )
            batch.add(*insert_sql([model]))
            session.accounts[key] = model
        elif numbers != session.account_before[key]:
            account_rows.append((model.pk, *numbers))
    _rows_update(batch, VaultAccount, _ACCOUNT_COLUMNS, account_rows)
    lot_before = session.lot_before
    lot_rows = [
        (session.lots[number], lot.shares, lot.hwm)
        for number, lot in engine.lots.items()
        if number in lot_before and (lot.shares, lot.hwm) != lot_before[number]
    ]
    _rows_update(batch, Lot, ("shares", "hwm"), lot_rows)
    vault.settled_at = engine.settled_at
    vault.value = engine.value
    vault.shares_outstanding = engine.shares_outstanding
    vault.fee_account_shares = engine.fee_account_shares
    vault.fee_index = engine.fee_index
    vault.sequence = engine.sequence
    vault.event_count += 1
    batch.add(
        'UPDATE "vaults_vault" SET "settled_at" = %s, "value" = %s, "shares_outstanding" = %s,'
        ' "fee_account_shares" = %s, "fee_index" = %s, "sequence" = %s, "event_count" = %s, "lot_count" = %s,'
        ' "crystallised_year" = %s WHERE "id" = %s',
        [
            vault.settled_at,
            vault.value,
            vault.shares_outstanding,
            vault.fee_account_shares,
            vault.fee_index,
            vault.sequence,
            vault.event_count,
            vault.lot_count,
            vault.crystallised_year,
            vault.pk,
        ],
    )
    event = VaultEvent(vault=vault, number=vault.event_count, at=at, kind=kind, payload=payload)
    snapshot = NavSnapshot(
        vault=vault,
        event=event,
        at=at,
        price=price_down(engine.price()),
        value=engine.value,
        shares_outstanding=engine.shares_outstanding,
        fee_account_shares=engine.fee_account_shares,
    )
    event_sql, event_params = insert_sql([event], returning='"id"')
    snapshot_sql, snapshot_params = insert_sql(
        [snapshot], returning='"event_id", "id"', expressions={"event_id": "(SELECT id FROM event)"}
    )
    written = batch.add(f"WITH event AS ({event_sql}) {snapshot_sql}", event_params + snapshot_params)
    batch.run()
    ((event_id, snapshot_id),) = batch.rows(written)
    mark_inserted(event, event_id)
    mark_inserted(snapshot, snapshot_id)
    snapshot.event = event  # the ids are set now: cache the event both ways (event.nav_snapshot too)
    # Pages hear of the NAV only once it is committed (a rollback discards the callback); robust: a channel
    # layer outage is logged and must not turn a committed deposit into an error for its caller.
    transaction.on_commit(partial(vault_nav_broadcast, vault_id=vault.pk, snapshot=snapshot), robust=True)
    return event


def cash_move(batch: SqlBatch, vault: Vault, base_units: int) -> None:
    """Queue the move of the vault's idle cash position by ``base_units`` (negative: reserved for a payout): one
    upsert adding to the quantity in SQL, the row created on the vault's first deposit."""
    cash = Position(
        vault=vault,
        asset=vault.base_asset,
        venue=CASH_VENUE,
        quantity=Decimal(base_units).scaleb(-vault.asset_decimals),
    )
    sql, params = insert_sql([cash])
    batch.add(
        f'{sql} ON CONFLICT ("vault_id", "asset", "venue") DO UPDATE'
        ' SET "quantity" = "vaults_position"."quantity" + EXCLUDED."quantity"',
        params,
    )
