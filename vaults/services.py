"""Every write to a vault: creation, deposits, withdrawal requests, fee settlement, year-end crystallisation,
market moves and valuations, NAV snapshots.

Each service runs in one transaction: it locks the vault row (then accounts, then lots, by id —
:mod:`vaults.lock_objects`), loads the locked rows into the pure fee engine (:class:`fees.core.Vault`), lets the
engine do the operation, and stores exactly what the engine produced: the new fee state, the changed accounts
and lots, the ledger rows (:class:`vaults.models.FeeLedgerEntry`), the flows, one :class:`VaultEvent` and one
:class:`NavSnapshot`. So the database holds the engine's numbers by construction, and replaying the event log
through a fresh engine gives the same state (``vaults.selectors.vault_engine_replay``).

Units (as the engine's): amounts are ``int`` base units of the vault's asset; shares ``Decimal`` with 18 places;
prices (P, marks) base units per share at 50 places; times aware UTC. Rounding as ``fees.core.numbers``.
An operation the engine refuses raises :class:`VaultServiceError` and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from functools import partial
from itertools import islice
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from psycopg import Copy
from web3.exceptions import Web3Exception

from chains.addresses import AddressError, address_normalise
from chains.erc20 import TokenBalance, token_balance_read
from chains.rpc import ChainNotConfigured, chain_web3
from fees.core import DepositorAccount, InsufficientSharesError, VaultError
from fees.core import Lot as EngineLot
from fees.core import Vault as FeeVault
from fees.core.numbers import FEE_CONTEXT, ZERO, decimal_text, price_down, units_down
from fees.core.vault import FeeLedgerRow, ManagementAccrual, PerformanceCrystallisation
from hftplatform.errors import ServiceError
from marketdata.core.intervals import interval_get
from marketdata.selectors import klines_read
from vaults.live import vault_nav_broadcast
from vaults.lock_objects import LotRow, accounts_lock, lots_lock, lots_lock_covering, vault_lock
from vaults.models import (
    ChainTransfer,
    Deposit,
    DepositScanCursor,
    FeeLedgerEntry,
    Lot,
    NavSnapshot,
    Position,
    SafeProposal,
    Valuation,
    Vault,
    VaultAccount,
    VaultEvent,
    VaultSafe,
    Withdrawal,
    WithdrawalPart,
)

CASH_VENUE = "vault"  # the Position holding the vault's idle base asset
VALUATION_LOOKBACK_MS = 86_400_000  # a price older than a day is no mark to market
# On-chain balances are read at the block the deposit scan has reached (so every transfer in them is a known
# ChainTransfer); a scan further behind the head than this is refused rather than read from old state.
VALUATION_SCAN_LAG_BLOCKS = 64
_TX_HASH = re.compile(r"0x[0-9a-f]{64}")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class VaultServiceError(ServiceError):
    code = "vault_refused"


class VaultNotFoundError(VaultServiceError):
    code = "not_found"
    http_status = 404


class InsufficientVaultSharesError(VaultServiceError):
    code = "insufficient_shares"


class IdempotencyConflictError(VaultServiceError):
    """An idempotency key (or on-chain transfer) was already used for a different operation."""

    code = "idempotency_conflict"
    http_status = 409


# -- creation ---------------------------------------------------------------------------------------------------


def allocation_validate(allocation: Any) -> dict[str, dict[str, str]]:
    """Check a strategy allocation: ``{name: {"weight": text, "max": text}}`` with decimal text in [0, 1],
    weight ≤ max, weights summing to at most 1 (the rest is idle cash). Returns it with the texts normalised."""
    if not isinstance(allocation, dict):
        raise VaultServiceError("the allocation must be an object of strategies", fields={"allocation": ["object"]})
    result: dict[str, dict[str, str]] = {}
    total = ZERO
    for name, limits in allocation.items():
        if not isinstance(name, str) or not name or not isinstance(limits, dict) or set(limits) - {"weight", "max"}:
            raise VaultServiceError(f"allocation entry {name!r} must be {{'weight': text, 'max': text}}")
        numbers: dict[str, Decimal] = {}
        for key in ("weight", "max"):
            text = limits.get(key, limits.get("weight") if key == "max" else None)
            try:
                number = Decimal(text) if isinstance(text, str) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or not ZERO <= number <= 1:
                raise VaultServiceError(f"allocation {name}.{key} must be decimal text in [0, 1], got {text!r}")
            numbers[key] = number
        if numbers["weight"] > numbers["max"]:
            raise VaultServiceError(f"allocation {name}: weight {numbers['weight']} is above its max {numbers['max']}")
        total += numbers["weight"]
        result[name] = {key: decimal_text(value) for key, value in numbers.items()}
    if total > 1:
        raise VaultServiceError(f"allocation weights sum to {total}, above 1")
    return result


def vault_create(
    *,
    name: str,
    slug: str,
    base_asset: str,
    asset_decimals: int,
    allocation: dict[str, Any] | None = None,
    public: bool = True,
    started_at: datetime | None = None,
) -> Vault:
    """A new, empty vault (P = 1 base unit per share until its first deposit)."""
    if not _SLUG.fullmatch(slug) or slug == "me":  # /api/v1/vaults/me/ is the depositor's own
        raise VaultServiceError(f"slug {slug!r} must be lower-case words joined by '-'")
    if not 0 <= asset_decimals <= 36:
        raise VaultServiceError(f"asset decimals must be in 0..36, got {asset_decimals}")
    started = _aware(started_at)
    try:
        with transaction.atomic():
            return Vault.objects.create(
                name=name,
                slug=slug,
                base_asset=base_asset.upper(),
                asset_decimals=asset_decimals,
                allocation=allocation_validate(allocation or {}),
                public=public,
                started_at=started,
                settled_at=started,
            )
    except IntegrityError:
        raise VaultServiceError(f"a vault with slug {slug!r} exists", code="duplicate") from None


# -- the engine session: locked rows in, the engine's results out ------------------------------------------------


@dataclass
class _Session:
    vault: Vault
    engine: FeeVault
    accounts: dict[str, VaultAccount]  # by the engine's depositor key (the user id as text)
    lots: dict[int, int]  # lot id by number (the engine's lot id)
    account_before: dict[str, tuple[Decimal, ...]]
    lot_before: dict[int, tuple[Decimal, Decimal]]
    ledger_stored: int = 0  # the engine's ledger rows already written (a year end streams them while computing)


def _key(user_id: int) -> str:
    return str(user_id)


def _when(at: datetime | None, vault: Vault) -> datetime:
    """The event's time: the given one, or now read under the vault's lock. Now is taken after the lock so a
    writer that waited never lands before the one it waited for (a clock step back still cannot: the vault's
    settled time is the floor)."""
    if at is not None:
        return at
    return max(timezone.now(), vault.settled_at)


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if at.tzinfo is None or at.utcoffset() is None:
        raise VaultServiceError(f"time must be an aware UTC datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


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


def _session_open(vault: Vault, accounts: Sequence[VaultAccount], lots: Sequence[LotRow]) -> _Session:
    """An engine holding the vault's fee state and the given (locked) accounts and lots."""
    engine = FeeVault(started_at=vault.settled_at)
    engine.value = vault.value
    engine.shares_outstanding = vault.shares_outstanding
    engine.fee_account_shares = vault.fee_account_shares
    engine.fee_index = vault.fee_index
    engine._sequence = vault.sequence  # the engine numbers ledger rows and flows on from the stored counter
    ordered = sorted(lots, key=lambda lot: lot.number)
    numbers: dict[int, list[int]] = {}
    keys: dict[int, str] = {}
    lot_ids, lot_before = {}, {}
    for lot in ordered:  # one pass: a year end opens 100,000 lots
        number, depositor_id = lot.number, lot.depositor_id
        key = keys.get(depositor_id)
        if key is None:
            key = keys[depositor_id] = _key(depositor_id)
            numbers[depositor_id] = []
        numbers[depositor_id].append(number)
        engine.lots[number] = EngineLot(number, key, lot.opened_at, lot.shares, lot.hwm)
        lot_ids[number] = lot.id
        lot_before[number] = (lot.shares, lot.hwm)
    for account in accounts:  # id order = the order of first deposits, as the engine's dict keeps them
        key = _key(account.depositor_id)
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
    return _Session(
        vault=vault,
        engine=engine,
        accounts={_key(a.depositor_id): a for a in accounts},
        lots=lot_ids,
        account_before={_key(a.depositor_id): _account_numbers(a) for a in accounts},
        lot_before=lot_before,
    )


class _Batch:
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


def _insert_sql(
    objs: Sequence[Model], *, returning: str | None = None, expressions: dict[str, str] | None = None
) -> tuple[str, list[Any]]:
    """An ``INSERT`` of unsaved instances of one model as Django's save writes them (``pre_save``: automatic
    times; values prepared by their fields), to queue in a :class:`_Batch`. ``expressions`` give a column SQL
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


def _inserted(obj: Model, pk: int) -> None:
    """Mark an instance written by a batch as saved, with its new id."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def _array_text(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of ints or finite Decimals, exactly as ``str`` writes them (psycopg's own text
    for a Decimal): formatting 100,000 values this way is far cheaper than binding them one by one."""
    return "{" + ",".join(map(str, values)) + "}"


def _rows_update(batch: _Batch, model: type[Model], columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
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


def _ledger_values(session: _Session, row: ManagementAccrual | PerformanceCrystallisation) -> tuple[Any, ...]:
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


def _ledger_lines(session: _Session, ledger: Sequence[FeeLedgerRow]) -> Iterator[str]:
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


def _ledger_write(session: _Session, batch: _Batch) -> None:
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


def _ledger_stream(session: _Session, steps: Iterator[list[PerformanceCrystallisation]]) -> None:
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


def _session_store(
    session: _Session, *, kind: str, at: datetime, payload: dict[str, Any], batch: _Batch | None = None
) -> VaultEvent:
    """Write what the engine changed: ledger rows, accounts, lots, the vault's fee state, the event, a snapshot.

    All of it goes in one round trip, with whatever the caller queued in ``batch`` before (the deposit, the
    withdrawal, the cash): see :class:`_Batch`. The event and its snapshot come back saved."""
    engine, vault = session.engine, session.vault
    batch = batch if batch is not None else _Batch()
    _ledger_write(session, batch)
    account_rows = []
    for key, account in engine.accounts.items():
        numbers = _account_numbers(account)
        model = session.accounts.get(key)
        if model is None:  # the engine opened it: a first deposit
            model = VaultAccount(
                vault=vault, depositor_id=int(key), **dict(zip(_ACCOUNT_COLUMNS, numbers, strict=True))
            )
            batch.add(*_insert_sql([model]))
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
    vault.sequence = engine._sequence
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
    event_sql, event_params = _insert_sql([event], returning='"id"')
    snapshot_sql, snapshot_params = _insert_sql(
        [snapshot], returning='"event_id", "id"', expressions={"event_id": "(SELECT id FROM event)"}
    )
    written = batch.add(f"WITH event AS ({event_sql}) {snapshot_sql}", event_params + snapshot_params)
    batch.run()
    ((event_id, snapshot_id),) = batch.rows(written)
    _inserted(event, event_id)
    _inserted(snapshot, snapshot_id)
    snapshot.event = event  # the ids are set now: cache the event both ways (event.nav_snapshot too)
    # Pages hear of the NAV only once it is committed (a rollback discards the callback); robust: a channel
    # layer outage is logged and must not turn a committed deposit into an error for its caller.
    transaction.on_commit(partial(vault_nav_broadcast, vault_id=vault.pk, snapshot=snapshot), robust=True)
    return event


def _refused(error: VaultError) -> VaultServiceError:
    if isinstance(error, InsufficientSharesError):
        return InsufficientVaultSharesError(str(error))
    return VaultServiceError(str(error))


def _vault_locked(vault_id: int) -> Vault:
    try:
        return vault_lock(vault_id=vault_id)
    except Vault.DoesNotExist:
        raise VaultNotFoundError(f"no vault {vault_id}") from None


def _cash_move(batch: _Batch, vault: Vault, base_units: int) -> None:
    """Queue the move of the vault's idle cash position by ``base_units`` (negative: reserved for a payout): one
    upsert adding to the quantity in SQL, the row created on the vault's first deposit."""
    cash = Position(
        vault=vault,
        asset=vault.base_asset,
        venue=CASH_VENUE,
        quantity=Decimal(base_units).scaleb(-vault.asset_decimals),
    )
    sql, params = _insert_sql([cash])
    batch.add(
        f'{sql} ON CONFLICT ("vault_id", "asset", "venue") DO UPDATE'
        ' SET "quantity" = "vaults_position"."quantity" + EXCLUDED."quantity"',
        params,
    )


# -- deposits -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositResult:
    deposit: Deposit
    created: bool  # False: the same deposit was recorded before (an idempotent repeat)


def vault_deposit_record(
    *,
    vault_id: int,
    depositor_id: int,
    amount: int,
    at: datetime | None = None,
    chain_id: int | None = None,
    tx_hash: str | None = None,
    log_index: int | None = None,
    idempotency_key: str | None = None,
    recorded_by_id: int | None = None,
    occurred_at: datetime | None = None,
) -> DepositResult:
    """Credit a deposit of ``amount`` base units at ``at`` (now by default): management fee settled first, then a
    new lot of ``amount / P`` shares (rounded down to 10^-18) marked at ``P``.

    Exactly once per on-chain transfer (``chain_id``, ``tx_hash``, ``log_index``) or, for off-chain funding
    recorded by an operator (``recorded_by_id``), per ``idempotency_key``: a repeat with the same content returns
    the first deposit with ``created=False``; different content under the same key raises
    :class:`IdempotencyConflictError`.
    """
    onchain = chain_id is not None or tx_hash is not None or log_index is not None
    if onchain == (idempotency_key is not None):
        raise VaultServiceError("a deposit is either on-chain (chain id, tx hash, log index) or has an idempotency key")
    if onchain:
        if chain_id is None or tx_hash is None or log_index is None or log_index < 0 or chain_id <= 0:
            raise VaultServiceError("an on-chain deposit needs chain id, tx hash and log index")
        tx_hash = tx_hash.lower()
        if not _TX_HASH.fullmatch(tx_hash):
            raise VaultServiceError(f"tx hash {tx_hash!r} is not 0x and 64 hex digits", fields={"tx_hash": ["hex"]})
    else:
        assert idempotency_key is not None
        if not 0 < len(idempotency_key) <= 100:
            raise VaultServiceError("an idempotency key has 1 to 100 characters")
        if recorded_by_id is None:
            raise VaultServiceError("an off-chain deposit is recorded by an operator")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise VaultServiceError(f"a deposit amount must be a positive integer of base units, got {amount!r}")
    at = None if at is None else _aware(at)
    lookup = (
        {"chain_id": chain_id, "tx_hash": tx_hash, "log_index": log_index}
        if onchain
        else {"idempotency_key": idempotency_key}
    )
    try:
        with transaction.atomic():
            vault = _vault_locked(vault_id)
            existing = Deposit.objects.filter(**lookup).first()
            if existing is not None:
                return DepositResult(_deposit_same(existing, vault_id, depositor_id, amount), created=False)
            when = _when(at, vault)
            _year_ends_catch_up(vault, when)
            deposit = _deposit_apply(
                vault,
                depositor_id=depositor_id,
                amount=amount,
                at=when,
                source=Deposit.Source.ONCHAIN if onchain else Deposit.Source.OFFCHAIN,
                lookup=lookup,
                recorded_by_id=recorded_by_id,
                occurred_at=occurred_at,
            )
            return DepositResult(deposit, created=True)
    except IntegrityError:
        # The same transfer credited to another vault at the same moment: the constraint decided.
        existing = Deposit.objects.filter(**lookup).first()
        if existing is None:
            raise
        return DepositResult(_deposit_same(existing, vault_id, depositor_id, amount), created=False)


def _deposit_same(existing: Deposit, vault_id: int, depositor_id: int, amount: int) -> Deposit:
    if (existing.vault_id, existing.depositor_id, existing.amount) != (vault_id, depositor_id, amount):
        raise IdempotencyConflictError(
            f"this transfer or key was already credited as deposit {existing.pk} "
            f"({existing.amount} to vault {existing.vault_id} for depositor {existing.depositor_id})"
        )
    return existing


def _deposit_apply(
    vault: Vault,
    *,
    depositor_id: int,
    amount: int,
    at: datetime,
    source: str,
    lookup: dict[str, Any],
    recorded_by_id: int | None,
    occurred_at: datetime | None,
) -> Deposit:
    session = _session_open(vault, accounts_lock(vault_id=vault.pk, depositor_ids=[depositor_id]), [])
    key = _key(depositor_id)
    try:
        flow = session.engine.deposit(at=at, depositor=key, amount=amount)
    except VaultError as error:
        raise _refused(error) from None
    # The engine numbered the lot within this session; in the vault it is the next lot.
    engine_lot = session.engine.lots.pop(flow.lot_id)
    vault.lot_count += 1
    lot = Lot(
        vault=vault,
        depositor_id=depositor_id,
        number=vault.lot_count,
        shares=engine_lot.shares,
        hwm=engine_lot.hwm,
        opened_at=engine_lot.opened_at,
    )
    deposit = Deposit(
        vault=vault,
        depositor_id=depositor_id,
        source=source,
        recorded_by_id=recorded_by_id,
        amount=Decimal(amount),
        at=flow.at,
        occurred_at=occurred_at,
        lot=lot,
        price=flow.price,
        shares=flow.shares,
        sequence=flow.sequence,
        **lookup,
    )
    batch = _Batch()
    lot_sql, lot_params = _insert_sql([lot], returning='"id"')
    deposit_sql, deposit_params = _insert_sql(
        [deposit], returning='"lot_id", "id"', expressions={"lot_id": "(SELECT id FROM lot)"}
    )
    written = batch.add(f"WITH lot AS ({lot_sql}) {deposit_sql}", lot_params + deposit_params)
    _cash_move(batch, vault, amount)
    _session_store(
        session, kind=VaultEvent.Kind.DEPOSIT, at=at, payload={"depositor": key, "amount": str(amount)}, batch=batch
    )
    ((lot_id, deposit_id),) = batch.rows(written)
    _inserted(lot, lot_id)
    _inserted(deposit, deposit_id)
    deposit.lot = lot
    return deposit


# -- withdrawals --------------------------------------------------------------------------------------------------

WITHDRAWAL_TRANSITIONS: dict[str, frozenset[str]] = {
    Withdrawal.State.REQUESTED: frozenset({Withdrawal.State.AWAITING_SIGNATURES}),
    # The depositor's two wallet signatures authorised a custody proposal (vaults.custody.services).
    Withdrawal.State.AWAITING_SIGNATURES: frozenset({Withdrawal.State.IN_CUSTODY}),
    # Executed on chain: paid; the proposal failed or was cancelled: back, to sign a fresh request.
    Withdrawal.State.IN_CUSTODY: frozenset({Withdrawal.State.PAID, Withdrawal.State.AWAITING_SIGNATURES}),
    Withdrawal.State.PAID: frozenset(),
}


def withdrawal_transition(
    *, withdrawal_id: int, from_state: str, to_state: str, values: dict[str, Any] | None = None
) -> None:
    """Move a withdrawal between states, only along :data:`WITHDRAWAL_TRANSITIONS` and only from ``from_state``
    (a conditional update: a concurrent move makes this one fail rather than overwrite it). ``values`` are
    columns written in the same update (the paid transaction, the custody reason)."""
    if to_state not in WITHDRAWAL_TRANSITIONS.get(from_state, frozenset()):
        raise VaultServiceError(f"a withdrawal cannot go from {from_state} to {to_state}", code="invalid_transition")
    moved = Withdrawal.objects.filter(pk=withdrawal_id, state=from_state).update(state=to_state, **(values or {}))
    if moved != 1:
        raise VaultServiceError(f"withdrawal {withdrawal_id} is no longer {from_state}", code="invalid_transition")


def vault_withdrawal_request(
    *,
    vault_id: int,
    depositor_id: int,
    shares: Decimal | None = None,
    amount: int | None = None,
    lot_id: int | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Withdrawal:
    """Request a withdrawal of ``shares`` (18 places) or of a net payout ``amount`` (base units), from the lot
    ``lot_id`` (a :class:`Lot` id) or the depositor's lots oldest first, at ``at`` (now by default).

    The management fee is settled, the withdrawn shares crystallise at ``P`` (their fee shares go to the fee
    account), the rest are burned and the exact payout (rounded down to a base unit once per request) is fixed
    and reserved out of the vault's cash. The withdrawal then waits in ``awaiting_signatures`` for the depositor's
    signed request and the Safe custody flow (:mod:`vaults.custody.services`), whose execution marks it ``paid``.
    A repeated ``idempotency_key`` returns the first request.
    """
    at = None if at is None else _aware(at)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        when = _when(at, vault)
        _year_ends_catch_up(vault, when)
        if idempotency_key is not None:
            existing = Withdrawal.objects.filter(
                vault_id=vault_id, depositor_id=depositor_id, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                same = (existing.requested_shares, existing.requested_amount) == (
                    shares,
                    None if amount is None else Decimal(amount),
                )
                if not same:
                    raise IdempotencyConflictError(f"idempotency key already used by withdrawal {existing.pk}")
                return existing
        lot_number = None
        if lot_id is not None:
            named = Lot.objects.filter(pk=lot_id, vault_id=vault_id, depositor_id=depositor_id).first()
            if named is None:
                raise VaultServiceError(f"depositor {depositor_id} has no lot {lot_id} in this vault")
            lot_number = named.number
        accounts = accounts_lock(vault_id=vault_id, depositor_ids=[depositor_id])
        if not accounts:
            raise InsufficientVaultSharesError(f"depositor {depositor_id} holds nothing in this vault")
        if shares is not None and lot_number is None:
            # Oldest first: only the lots that cover the shares take part (and are locked), however many more
            # the depositor holds; if they do not cover them, that is every lot and the engine refuses.
            lots = lots_lock_covering(vault_id=vault_id, depositor_id=depositor_id, shares=shares)
        else:
            lots = lots_lock(vault_id=vault_id, depositor_id=depositor_id, nonempty_or_number=lot_number)
        session = _session_open(vault, accounts, lots)
        key = _key(depositor_id)
        try:
            result = session.engine.withdraw(at=when, depositor=key, shares=shares, amount=amount, lot_id=lot_number)
        except VaultError as error:
            raise _refused(error) from None
        payload: dict[str, Any] = {"depositor": key}
        if shares is not None:
            payload["shares"] = format(shares, "f")
        else:
            payload["amount"] = str(amount)
        if lot_number is not None:
            payload["lot"] = lot_number
        fees = [row for row in session.engine.ledger if isinstance(row, PerformanceCrystallisation)]
        with localcontext(FEE_CONTEXT):
            withdrawal = Withdrawal(
                vault=vault,
                depositor_id=depositor_id,
                idempotency_key=idempotency_key,
                requested_shares=shares,
                requested_amount=None if amount is None else Decimal(amount),
                requested_lot_id=lot_id,
                # Requested and handed to custody in this one transaction: nobody ever sees it requested.
                state=_requested_then(Withdrawal.State.AWAITING_SIGNATURES),
                at=result.flows[0].at,
                price=result.flows[0].price,
                shares=result.shares,
                fee_shares=sum((flow.fee_shares for flow in result.flows), ZERO),
                performance_fee=sum((row.fee_value for row in fees), ZERO),
                payout=Decimal(result.payout),
            )
        parts = [
            WithdrawalPart(
                withdrawal=withdrawal,
                lot_id=session.lots[flow.lot_id],
                sequence=flow.sequence,
                shares=flow.shares,
                price=flow.price,
                fee_shares=flow.fee_shares,
                payout=Decimal(flow.payout),
            )
            for flow in result.flows
        ]
        batch = _Batch()
        withdrawal_sql, withdrawal_params = _insert_sql([withdrawal], returning='"id"')
        parts_sql, parts_params = _insert_sql(parts, expressions={"withdrawal_id": "(SELECT id FROM withdrawal)"})
        written = batch.add(
            f"WITH withdrawal AS ({withdrawal_sql}), part AS ({parts_sql}) SELECT id FROM withdrawal",  # noqa: S608
            withdrawal_params + parts_params,
        )
        _cash_move(batch, vault, -result.payout)
        _session_store(session, kind=VaultEvent.Kind.WITHDRAW, at=when, payload=payload, batch=batch)
        ((withdrawal_id,),) = batch.rows(written)
        _inserted(withdrawal, withdrawal_id)
        return withdrawal


def _requested_then(state: str) -> str:
    """``state``, checked to be a move :data:`WITHDRAWAL_TRANSITIONS` allows from ``requested``."""
    if state not in WITHDRAWAL_TRANSITIONS[Withdrawal.State.REQUESTED]:
        raise VaultServiceError(f"a withdrawal cannot go from requested to {state}", code="invalid_transition")
    return state


# -- fees -------------------------------------------------------------------------------------------------------


def vault_fees_settle(*, vault_id: int, at: datetime | None = None) -> FeeLedgerEntry | None:
    """Settle the management fee up to ``at`` (now by default): one ledger row minting the fee shares, or None
    when nothing accrued. Idempotent: a vault already settled to ``at`` or later is left as it is."""
    at = None if at is None else _aware(at)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        when = _when(at, vault)
        _year_ends_catch_up(vault, when)
        if when <= vault.settled_at:
            return None
        session = _session_open(vault, [], [])
        row = session.engine.settle(at=when)
        _session_store(session, kind=VaultEvent.Kind.SETTLE, at=when, payload={})
        if row is None:
            return None
        # settle() returns the planned row; the ledger holds it numbered.
        return FeeLedgerEntry.objects.get(vault_id=vault.pk, sequence=session.engine.ledger[-1].sequence)


def year_end(year: int) -> datetime:
    """The instant calendar year ``year`` ends: 1 January of the next year, 00:00 UTC."""
    return datetime(year + 1, 1, 1, tzinfo=UTC)


def year_ends_due(vault: Vault, until: datetime) -> list[int]:
    """Calendar years (UTC) whose end is at or before ``until``, after the vault started, not yet crystallised."""
    year = vault.crystallised_year + 1 if vault.crystallised_year is not None else vault.started_at.year
    due = []
    while year_end(year) <= until:
        if year_end(year) > vault.started_at:
            due.append(year)
        year += 1
    return due


def _year_ends_catch_up(vault: Vault, until: datetime) -> list[int]:
    """Crystallise every lot at each calendar year end due by ``until``, in order, before the operation at
    ``until`` (FEES.md: crystallisation at the year end comes before anything later). The vault is locked."""
    years = year_ends_due(vault, until)
    for year in years:
        # At the year end itself; only a vault written before this rule (settled past it) gets its settled time.
        at = max(year_end(year), vault.settled_at)
        session = _session_open(vault, accounts_lock(vault_id=vault.pk), lots_lock(vault_id=vault.pk))
        _ledger_stream(session, session.engine.crystallise_by_depositor(at=at, reason="year_end"))
        vault.crystallised_year = year
        _session_store(session, kind=VaultEvent.Kind.CRYSTALLISE, at=at, payload={"reason": "year_end", "year": year})
    return years


def vault_fees_crystallise_year_end(*, vault_id: int, year: int) -> QuerySet[FeeLedgerEntry]:
    """Crystallise every lot at the end of calendar ``year`` (UTC), and of any earlier year still due: the
    performance fee rows charged at the end of ``year`` (a lazy query: a year end can charge 100,000 lots).

    Runs once per vault and year (``Vault.crystallised_year`` under the row lock): running it again charges
    nothing. Every other service also crystallises the year ends it passes before doing its own work, so a year
    end is never skipped when beat is late.
    """
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        if year not in _year_ends_catch_up(vault, year_end(year)):
            return FeeLedgerEntry.objects.none()
        return FeeLedgerEntry.objects.filter(
            vault_id=vault_id, kind=FeeLedgerEntry.Kind.PERFORMANCE, reason="year_end", at=year_end(year)
        ).order_by("sequence")


# -- value: market moves and valuations ---------------------------------------------------------------------------


def vault_return_record(*, vault_id: int, gross: Decimal, at: datetime | None = None) -> NavSnapshot:
    """The vault's holdings moved by ``gross`` (0.2 = +20%) at ``at``: after settling, the gross value is
    multiplied by ``1 + gross`` (rounded down to the price scale). For operator corrections and simulations;
    live vaults use :func:`vault_valuation_record`."""
    at = None if at is None else _aware(at)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        when = _when(at, vault)
        _year_ends_catch_up(vault, when)
        session = _session_open(vault, [], [])
        try:
            session.engine.apply_return(at=when, gross=gross)
        except VaultError as error:
            raise _refused(error) from None
        event = _session_store(session, kind=VaultEvent.Kind.RETURN, at=when, payload={"gross": format(gross, "f")})
        return event.nav_snapshot


def position_set(
    *, vault_id: int, asset: str, venue: str, quantity: Decimal, instrument_id: int | None = None, interval: str = "1m"
) -> Position:
    """Set a holding (asset units, exact) of the vault on a venue or protocol; it is valued with the latest
    stored close of ``instrument_id`` (quoted in the vault's base asset), or at 1 for the base asset itself.
    An on-chain position on that asset and venue becomes a manual one again."""
    _interval_check(interval)
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise VaultServiceError(f"quantity must be a finite Decimal, got {quantity!r}")
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        if instrument_id is None and asset.upper() != vault.base_asset:
            raise VaultServiceError(f"a {asset} position needs an instrument quoted in {vault.base_asset} to value it")
        position, _ = Position.objects.update_or_create(
            vault=vault,
            asset=asset.upper(),
            venue=venue,
            defaults={
                "quantity": quantity,
                "instrument_id": instrument_id,
                "interval": interval,
                "source": Position.Source.MANUAL,
                "token_contract": "",
            },
        )
        return position


def _interval_check(interval: str) -> None:
    if interval_get(interval).is_monthly:
        raise VaultServiceError("a monthly candle is too coarse to mark a position")


def position_onchain_set(
    *,
    vault_id: int,
    asset: str,
    token_contract: str | None = None,
    venue: str = CASH_VENUE,
    instrument_id: int | None = None,
    interval: str = "1m",
) -> Position:
    """Make a holding of the vault one whose quantity is read on chain at each valuation: the ERC-20 balance of
    ``token_contract`` held by the vault's Safe, in asset units (base units / 10^decimals, decimals read on chain).

    The base asset is the Safe's ``asset_contract`` and is the vault's cash position (venue ``vault``): its
    on-chain balance replaces the cash book, less the payouts reserved but not yet paid and the deposits not yet
    credited (:func:`vault_valuation_record`). Another token needs ``instrument_id`` (quoted in the base asset) to
    price it. The stored ``quantity`` is kept (the book figure; 0 for a new position)."""
    _interval_check(interval)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        safe = VaultSafe.objects.filter(vault=vault).first()
        if safe is None:
            raise VaultServiceError(
                f"vault {vault.slug} has no Safe: an on-chain position is the Safe's balance", code="no_safe"
            )
        asset = asset.upper()
        if asset == vault.base_asset:
            if venue != CASH_VENUE:
                raise VaultServiceError(
                    f"the {asset} held by the Safe is the vault's cash: its position is on venue {CASH_VENUE!r}"
                )
            if instrument_id is not None:
                raise VaultServiceError(f"{asset} is the vault's base asset: it is worth its quantity")
            token = safe.asset_contract
            if token_contract is not None and _token_normalise(token_contract) != token:
                raise VaultServiceError(f"the vault's {asset} on chain {safe.chain_id} is the token {token}")
        else:
            if token_contract is None:
                raise VaultServiceError(f"an on-chain {asset} position needs its token contract")
            if instrument_id is None:
                raise VaultServiceError(
                    f"a {asset} position needs an instrument quoted in {vault.base_asset} to value it"
                )
            token = _token_normalise(token_contract)
        onchain = {
            "instrument_id": instrument_id,
            "interval": interval,
            "source": Position.Source.ONCHAIN_BALANCE,
            "token_contract": token,
        }
        position, _ = Position.objects.update_or_create(
            vault=vault, asset=asset, venue=venue, defaults=onchain, create_defaults={**onchain, "quantity": ZERO}
        )
        return position


def _token_normalise(token: str) -> str:
    try:
        return address_normalise(token, field="token_contract")
    except AddressError as error:
        raise VaultServiceError(str(error), code=error.code) from None


def _kline_mark(position: Position, instrument_id: int, at_ms: int) -> dict[str, Any]:
    """The latest close of ``instrument_id`` closed by ``at_ms``: price, instrument, interval, open time."""
    step = interval_get(position.interval).length_ms or 0
    candles = klines_read(
        instrument_id=instrument_id,
        interval=position.interval,
        start_ms=at_ms - VALUATION_LOOKBACK_MS,
        end_ms=at_ms - step + 1,  # candles closed by ``at``
    )
    closed = [candle for candle in candles if candle.closed]
    if not closed:
        raise VaultServiceError(
            f"no closed {position.interval} candle of instrument {position.instrument_id} in the day before "
            f"the valuation: {position.asset} on {position.venue} cannot be marked"
        )
    candle = closed[-1]
    return {
        "price": candle.close,
        "instrument": position.instrument_id,
        "interval": position.interval,
        "open_time": candle.open_time,
    }


def _position_mark(
    vault: Vault, position: Position, at_ms: int, onchain: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry of ``Valuation.sources``. ``onchain``: what :func:`_onchain_quantity` made of the chain read
    (quantity and its provenance) for an on-chain position; a manual one is valued at its stored quantity."""
    mark: dict[str, Any] = {"asset": position.asset, "venue": position.venue}
    if onchain is None:
        mark["quantity"] = format(position.quantity, "f")
    else:
        mark.update(onchain)
    if position.instrument_id is None:
        mark["price"] = "1"
        price_source = "base asset"
    else:
        mark.update(_kline_mark(position, position.instrument_id, at_ms))
        price_source = "kline close"
    if onchain is None:
        mark["source"] = price_source
    else:
        mark["price_source"] = price_source
    return mark


# -- on-chain balances ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SafeOutflows:
    """What may have moved tokens out of the Safe: the proposals executed so far (terminal, so their count only
    grows) and those submitted whose outcome is not recorded yet."""

    executed: int
    submitted: tuple[int, ...]


def _safe_outflows(safe: VaultSafe) -> _SafeOutflows:
    states = SafeProposal.objects.filter(safe=safe)
    return _SafeOutflows(
        executed=states.filter(state=SafeProposal.State.EXECUTED).count(),
        submitted=tuple(states.filter(state=SafeProposal.State.SUBMITTED).order_by("id").values_list("id", flat=True)),
    )


def _in_flight_refuse(outflows: _SafeOutflows) -> None:
    if outflows.submitted:
        ids = ", ".join(str(pk) for pk in outflows.submitted)
        raise VaultServiceError(
            f"Safe proposal(s) {ids} submitted and not yet recorded: the Safe's balance may or may not include "
            "them; value the vault once they are",
            code="safe_transaction_in_flight",
        )


@dataclass(frozen=True)
class _OnchainReads:
    safe: VaultSafe
    outflows: _SafeOutflows
    scanned_to: int | None  # the deposit scan's cursor when the balances were read
    balances: dict[int, TokenBalance]  # by Position id


def _onchain_balances_read(vault_id: int) -> _OnchainReads | None:
    """Read, with no transaction or lock held, the balances of the vault's on-chain positions, all at one block:
    the block the deposit scan has reached (the head when the Safe was never scanned). None when it has none."""
    positions = list(Position.objects.filter(vault_id=vault_id, source=Position.Source.ONCHAIN_BALANCE).order_by("id"))
    if not positions:
        return None
    safe = VaultSafe.objects.filter(vault_id=vault_id).first()
    if safe is None:
        raise VaultServiceError(
            f"vault {vault_id} has on-chain positions but no Safe to read them from", code="no_safe"
        )
    outflows = _safe_outflows(safe)
    _in_flight_refuse(outflows)
    scanned_to = DepositScanCursor.objects.filter(vault_safe=safe).values_list("block_number", flat=True).first()
    try:
        w3 = chain_web3(safe.chain_id)
        served = w3.eth.chain_id
        if served != safe.chain_id:
            raise VaultServiceError(
                f"the RPC for chain {safe.chain_id} serves chain {served}: no balance read", code="chain_mismatch"
            )
        head = int(w3.eth.block_number)
        block = head
        if scanned_to is not None:
            if head - scanned_to > VALUATION_SCAN_LAG_BLOCKS:
                raise VaultServiceError(
                    f"the Safe's deposit scan is {head - scanned_to} blocks behind the head (block {scanned_to}): "
                    "deposits not yet scanned would count as value; value the vault once it has caught up",
                    code="deposit_scan_behind",
                )
            block = min(head, scanned_to)
        balances = {
            position.pk: token_balance_read(
                w3, chain_id=safe.chain_id, token=position.token_contract, holder=safe.address, block=block
            )
            for position in positions
        }
    except (ChainNotConfigured, Web3Exception, AddressError, OSError) as error:  # OSError: unreachable (requests)
        raise VaultServiceError(
            f"chain {safe.chain_id} could not be read ({type(error).__name__}: {error}): no valuation recorded",
            code="chain_unavailable",
        ) from None
    return _OnchainReads(safe=safe, outflows=outflows, scanned_to=scanned_to, balances=balances)


def _onchain_quantity(vault: Vault, position: Position, reads: _OnchainReads) -> dict[str, Any]:
    """The position's quantity from its balance read, and where it came from. For the base asset, the Safe also
    holds what the books no longer (or not yet) count as the vault's: the payouts of withdrawals requested but not
    paid (their value left the vault when requested) and the transfers in the block read not credited as deposits
    (seen, unattributed, rejected); both are taken off. The vault is locked."""
    balance = reads.balances.get(position.pk)
    if balance is None or balance.token != position.token_contract:
        raise VaultServiceError("the vault's on-chain positions changed during the valuation: retry", code="raced")
    held = balance.raw
    mark: dict[str, Any] = {
        "source": "onchain balance",
        "chain_id": balance.chain_id,
        "token": balance.token,
        "holder": balance.holder,
        "block_number": balance.block_number,
        "block_hash": balance.block_hash,
        "deposits_scanned_to": reads.scanned_to,
        "raw_balance": str(balance.raw),
        "decimals": balance.decimals,
    }
    if position.asset == vault.base_asset:
        if balance.decimals != vault.asset_decimals:
            raise VaultServiceError(
                f"token {balance.token} has {balance.decimals} decimals on chain, the vault's {vault.base_asset} "
                f"{vault.asset_decimals}",
                code="decimals_mismatch",
            )
        reserved = Withdrawal.objects.filter(
            vault=vault,
            state__in=[
                Withdrawal.State.REQUESTED,
                Withdrawal.State.AWAITING_SIGNATURES,
                Withdrawal.State.IN_CUSTODY,
            ],
        ).order_by("id")
        transfers = ChainTransfer.objects.filter(vault_safe=reads.safe, token=balance.token)
        if transfers.filter(state=ChainTransfer.State.CREDITED, block_number__gt=balance.block_number).exists():
            raise VaultServiceError(
                f"a deposit above block {balance.block_number} was credited during the valuation: retry",
                code="raced",
            )
        uncredited = transfers.filter(
            state__in=[ChainTransfer.State.SEEN, ChainTransfer.State.UNATTRIBUTED, ChainTransfer.State.REJECTED],
            block_number__lte=balance.block_number,
        ).order_by("id")
        reserved_units = int(sum((w.payout for w in reserved), ZERO))
        uncredited_units = int(sum((t.amount for t in uncredited), ZERO))
        held -= reserved_units + uncredited_units
        mark["reserved_payouts"] = str(reserved_units)
        mark["reserved_withdrawals"] = [w.pk for w in reserved]
        mark["uncredited_deposits"] = str(uncredited_units)
        mark["uncredited_transfers"] = [t.pk for t in uncredited]
    mark["quantity"] = format(Decimal(held).scaleb(-balance.decimals), "f")
    return mark


def vault_valuation_record(*, vault_id: int, at: datetime | None = None) -> Valuation:
    """Mark the vault's positions to market at ``at`` and make that its gross value: Σ quantity · price ·
    10^decimals, rounded down to a base unit, each price the last stored close (``sources`` says which).

    On-chain positions (:func:`position_onchain_set`) take their quantity from the Safe's token balances, read
    before the vault is locked (no RPC under a lock), all at one block, recorded in ``sources`` with the raw
    balance, decimals and what was taken off (:func:`_onchain_quantity`). Refused, with nothing written, when the
    chain cannot be read, when a Safe transaction is submitted but its outcome not recorded, or when a payout or
    deposit was recorded between the read and the lock (retry)."""
    at = None if at is None else _aware(at)
    reads = _onchain_balances_read(vault_id)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        when = _when(at, vault)
        _year_ends_catch_up(vault, when)
        at_ms = int(when.timestamp() * 1000)
        positions = list(Position.objects.filter(vault=vault).order_by("id"))
        if not positions:
            raise VaultServiceError("the vault has no positions to value")
        onchain: dict[int, dict[str, Any]] = {}
        if reads is not None:
            outflows = _safe_outflows(reads.safe)
            _in_flight_refuse(outflows)
            if outflows != reads.outflows:
                raise VaultServiceError(
                    "a Safe transaction was recorded during the valuation's balance read: retry", code="raced"
                )
        for position in positions:
            if position.source == Position.Source.ONCHAIN_BALANCE:
                if reads is None:
                    raise VaultServiceError("the vault's on-chain positions changed during the valuation: retry")
                onchain[position.pk] = _onchain_quantity(vault, position, reads)
        sources = [_position_mark(vault, position, at_ms, onchain.get(position.pk)) for position in positions]
        with localcontext(FEE_CONTEXT):
            total = sum((Decimal(s["quantity"]) * Decimal(s["price"]) for s in sources), ZERO)
            value = units_down(total.scaleb(vault.asset_decimals))
        if value < 0:
            raise VaultServiceError(f"the positions are worth {value} base units: a vault's value cannot be negative")
        session = _session_open(vault, [], [])
        try:
            session.engine.settle(at=when)
        except VaultError as error:
            raise _refused(error) from None
        session.engine.value = Decimal(value)
        event = _session_store(session, kind=VaultEvent.Kind.VALUATION, at=when, payload={"value": str(value)})
        return Valuation.objects.create(vault=vault, event=event, at=when, value=Decimal(value), sources=sources)


def vault_nav_snapshot(*, vault_id: int, at: datetime | None = None) -> NavSnapshot:
    """Publish the NAV at ``at``: the management fee is settled up to then (FEES.md) and a snapshot taken.
    A vault already settled past ``at`` gets a snapshot at its settled time."""
    at = None if at is None else _aware(at)
    with transaction.atomic():
        vault = _vault_locked(vault_id)
        when = max(_when(at, vault), vault.settled_at)
        _year_ends_catch_up(vault, when)
        session = _session_open(vault, [], [])
        session.engine.settle(at=when)
        return _session_store(session, kind=VaultEvent.Kind.SETTLE, at=when, payload={}).nav_snapshot
