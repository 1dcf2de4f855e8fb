"""Reads of vaults: the engine replay of a vault's event log, consistency checks, NAV series, holdings, depositor
statements, the public log of operators' manual credits."""

from __future__ import annotations

import copy
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from accounts.selectors import operator_public_handle
from fees.core import Position as EnginePosition
from fees.core import Vault as FeeVault
from fees.core.numbers import FEE_CONTEXT, ZERO
from fees.core.years import year_end, year_ends_due
from hftplatform.core.utc import utc_aware
from vaults.core.statements import Statement, StatementError
from vaults.models import FeeCollection, FeeLedgerEntry, Lot, ManualCredit, NavSnapshot, Vault, VaultAccount, VaultEvent


def vault_get(*, slug: str, public_only: bool = True) -> Vault:
    """The vault by slug; raises ``Vault.DoesNotExist`` (also for a private vault when ``public_only``)."""
    query = Vault.objects.all()
    if public_only:
        query = query.filter(public=True)
    return query.get(slug=slug)


def vault_get_for_depositor(*, slug: str, user_id: int) -> Vault:
    """The vault by slug as a depositor's page or API may show it: a public vault to anyone, a private one only to
    a user with an account in it. Raises ``Vault.DoesNotExist`` otherwise, so a private vault answers a stranger
    exactly as a vault that does not exist."""
    return Vault.objects.filter(Q(public=True) | Q(accounts__depositor_id=user_id)).distinct().get(slug=slug)


def vaults_public() -> QuerySet[Vault]:
    return Vault.objects.filter(public=True).order_by("name")


def event_apply(engine: FeeVault, event: VaultEvent) -> None:
    """Apply one logged event to ``engine`` exactly as the service that logged it did."""
    payload = event.payload
    if event.kind == VaultEvent.Kind.DEPOSIT:
        engine.deposit(at=event.at, depositor=payload["depositor"], amount=int(payload["amount"]))
    elif event.kind == VaultEvent.Kind.WITHDRAW:
        engine.withdraw(
            at=event.at,
            depositor=payload["depositor"],
            shares=Decimal(payload["shares"]) if "shares" in payload else None,
            amount=int(payload["amount"]) if "amount" in payload else None,
            lot_id=payload.get("lot"),
        )
    elif event.kind == VaultEvent.Kind.SETTLE:
        engine.settle(at=event.at)
    elif event.kind == VaultEvent.Kind.CRYSTALLISE:
        engine.crystallise(at=event.at, reason=payload.get("reason", "requested"))
    elif event.kind == VaultEvent.Kind.RETURN:
        engine.apply_return(at=event.at, gross=Decimal(payload["gross"]))
    elif event.kind == VaultEvent.Kind.VALUATION:
        engine.settle(at=event.at)
        engine.value = Decimal(payload["value"])
    elif event.kind == VaultEvent.Kind.FEE_COLLECTION:
        engine.fee_collect(at=event.at, amount=int(payload["amount"]))
    elif event.kind == VaultEvent.Kind.REVERSAL:
        engine.deposit_reverse(
            at=event.at, lot_id=int(payload["lot"]), amount=int(payload["amount"]), shares=Decimal(payload["shares"])
        )
    else:  # pragma: no cover - the model's choices list every kind
        raise ValueError(f"unknown vault event kind {event.kind!r}")


def vaults_owing_year_end(*, year: int, until: datetime) -> list[int]:
    """Ids of the vaults (by id) whose calendar ``year`` end is due by ``until`` and not crystallised yet."""
    return [
        vault.pk
        for vault in Vault.objects.order_by("id")
        if year in year_ends_due(started_at=vault.started_at, crystallised_year=vault.crystallised_year, until=until)
    ]


def vault_engine_replay(*, vault_id: int, until: datetime | None = None) -> FeeVault:
    """A fresh fee engine fed the vault's event log (events at or before ``until``, all by default). Depositors
    are named by user id as text, lots by their number. Cost: one pass over the log."""
    vault = Vault.objects.get(pk=vault_id)
    engine = FeeVault(started_at=vault.started_at)
    events = VaultEvent.objects.filter(vault_id=vault_id).order_by("number")
    if until is not None:
        events = events.filter(at__lte=until)
    for event in events.iterator(chunk_size=2000):
        event_apply(engine, event)
    return engine


@dataclass(frozen=True)
class Reconciliation:
    ledger_fee_shares: Decimal
    fee_account_shares: Decimal
    lot_shares: Decimal
    shares_outstanding: Decimal
    accounts_match_lots: bool
    collected_fee_shares: Decimal = ZERO

    @property
    def ok(self) -> bool:
        with localcontext(FEE_CONTEXT):
            return (
                self.ledger_fee_shares - self.collected_fee_shares == self.fee_account_shares
                and self.lot_shares + self.fee_account_shares == self.shares_outstanding
                and self.accounts_match_lots
            )


def vault_reconciliation(*, vault_id: int) -> Reconciliation:
    """The invariants, read from the database: Σ ledger fee shares - Σ shares burned by fee collections = the fee
    account's shares; Σ lot shares + fee account shares = shares outstanding; each account's shares = Σ its lots'
    shares."""
    vault = Vault.objects.get(pk=vault_id)
    ledger = FeeLedgerEntry.objects.filter(vault_id=vault_id).aggregate(total=Sum("fee_shares"))["total"] or ZERO
    lots = Lot.objects.filter(vault_id=vault_id).aggregate(total=Sum("shares"))["total"] or ZERO
    collected = FeeCollection.objects.filter(vault_id=vault_id).aggregate(total=Sum("shares"))["total"] or ZERO
    per_depositor = dict(
        Lot.objects.filter(vault_id=vault_id)
        .values("depositor_id")
        .annotate(total=Sum("shares"))
        .values_list("depositor_id", "total")
    )
    accounts = dict(VaultAccount.objects.filter(vault_id=vault_id).values_list("depositor_id", "shares"))
    return Reconciliation(
        ledger_fee_shares=ledger,
        fee_account_shares=vault.fee_account_shares,
        lot_shares=lots,
        shares_outstanding=vault.shares_outstanding,
        accounts_match_lots=per_depositor == accounts,
        collected_fee_shares=collected,
    )


def nav_series(*, vault_id: int, since: datetime | None = None, limit: int = 1000) -> list[NavSnapshot]:
    """The vault's NAV snapshots, oldest first (the last ``limit`` after ``since``)."""
    query = NavSnapshot.objects.filter(vault_id=vault_id)
    if since is not None:
        query = query.filter(at__gte=since)
    return list(reversed(query.order_by("-at", "-id")[:limit]))


def fees_charged(*, vault_id: int) -> dict[str, Decimal]:
    """Fees charged to date, base units (exact): management, performance."""
    totals = dict(
        FeeLedgerEntry.objects.filter(vault_id=vault_id)
        .values("kind")
        .annotate(total=Sum("fee_value"))
        .values_list("kind", "total")
    )
    return {kind: totals.get(kind, ZERO) for kind in (FeeLedgerEntry.Kind.MANAGEMENT, FeeLedgerEntry.Kind.PERFORMANCE)}


@dataclass(frozen=True)
class Holding:
    """A depositor's holding in one vault at the vault's last settled state: ``value`` is shares · P and
    ``net_value`` what withdrawing every lot now would pay (the accrued performance fee taken off), both base
    units rounded down; ``price`` is P (base units per share, not rounded)."""

    vault: Vault
    account: VaultAccount
    price: Decimal
    value: int
    net_value: int
    lots: list[Lot]


def vault_price(vault: Vault) -> Decimal:
    """P = value / shares outstanding (1 base unit per share for an empty vault), at the fee context."""
    if not vault.shares_outstanding:
        return Decimal(1)
    with localcontext(FEE_CONTEXT):
        price: Decimal = vault.value / vault.shares_outstanding
        return price


def holdings_for(*, depositor_id: int) -> list[Holding]:
    """Every vault the depositor holds (or held) shares in, with value and net value."""
    from fees.core.numbers import units_down
    from fees.core.vault import withdrawal_quote

    result = []
    accounts = VaultAccount.objects.filter(depositor_id=depositor_id).select_related("vault").order_by("vault__name")
    for account in accounts:
        price = vault_price(account.vault)
        lots = list(Lot.objects.filter(vault_id=account.vault_id, depositor_id=depositor_id).order_by("number"))
        with localcontext(FEE_CONTEXT):
            net = sum((withdrawal_quote(lot.shares, price, lot.hwm)[0] for lot in lots if lot.shares), 0)
            value = units_down(account.shares * price)
        result.append(Holding(account.vault, account, price, value, net, lots))
    return result


# -- statements -------------------------------------------------------------------------------------------------


def _position(
    engine: FeeVault, key: str, at: datetime, years_done: set[int], started: datetime
) -> EnginePosition | None:
    """The depositor's position at ``at``: first the year ends the vault would crystallise on its next write
    (any service does, see ``vaults.services``), then the management fee settled to ``at``."""
    for year in range(started.year, at.year):
        end = year_end(year)
        if year not in years_done and started < end <= at and end >= engine.settled_at:
            engine.crystallise(at=end, reason="year_end")
    if at > engine.settled_at:
        engine.settle(at=at)
    return engine.position(key) if key in engine.accounts else None


def statement_compute(*, vault_id: int, depositor_id: int, start: datetime, end: datetime) -> Statement:
    """The depositor's statement for ``(start, end]`` (aware datetimes). One pass over the vault's event log.

    Numbers come from the fee engine replaying the vault's event log (as :func:`vault_engine_replay`), so a
    statement shows exactly what the engine computes for the same events:

    - the period is ``(start, end]``: an event at ``start`` belongs to the previous period;
    - ``opening_value`` / ``closing_value``: the depositor's net value (``Σ shares · P - accrued performance fee``,
      base units, rounded down) with the management fee settled up to ``start`` / ``end`` (fees.core: settled before
      a NAV is published);
    - ``deposits``: base units credited in the period; ``withdrawals``: payouts fixed in the period (owed, whether or
      not custody has paid them yet);
    - ``management_fee`` and ``performance_fee`` (crystallised): base units, exact, the differences of the
      depositor's running totals at ``end`` and at ``start``;
    - ``net_return = closing - opening - deposits + withdrawals``: what the period earned after fees.
    """
    try:
        start, end = utc_aware(start, what="the statement's start"), utc_aware(end, what="the statement's end")
    except ValueError as error:
        raise StatementError(str(error)) from None
    if end <= start:
        raise StatementError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    vault = Vault.objects.get(pk=vault_id)
    key = str(depositor_id)
    engine = FeeVault(started_at=vault.started_at)
    opening: EnginePosition | None = None
    deposits = withdrawals = 0
    years: set[int] = set()
    started = vault.started_at
    for event in VaultEvent.objects.filter(vault_id=vault_id, at__lte=end).order_by("number").iterator(2000):
        if opening is None and event.at > start:
            # The state at start, settled to start, on a copy: the replay itself must not settle there.
            opening = _position(copy.deepcopy(engine), key, max(start, started), years, started) or _empty(key)
        if event.kind == VaultEvent.Kind.CRYSTALLISE and "year" in event.payload:
            years.add(int(event.payload["year"]))
        flows_before = len(engine.flows)
        event_apply(engine, event)
        if event.at > start:
            for flow in engine.flows[flows_before:]:
                if flow.depositor != key:
                    continue
                if flow.kind == "deposit":
                    deposits += flow.amount
                elif flow.kind == "deposit_reversal":  # the deposit never arrived on the canonical chain
                    deposits -= flow.amount
                elif flow.kind == "withdrawal":  # a fee collection is the fee account's, no depositor's
                    withdrawals += flow.payout
    if opening is None:
        opening = _position(copy.deepcopy(engine), key, max(start, started), years, started) or _empty(key)
    closing = _position(engine, key, max(end, engine.settled_at), years, started) or _empty(key)
    with localcontext(FEE_CONTEXT):
        return Statement(
            vault_name=vault.name,
            vault_slug=vault.slug,
            asset=vault.base_asset,
            asset_decimals=vault.asset_decimals,
            depositor_id=depositor_id,
            start=start,
            end=end,
            opening_value=opening.net_value,
            closing_value=closing.net_value,
            deposits=deposits,
            withdrawals=withdrawals,
            management_fee=closing.management_fee - opening.management_fee,
            performance_fee=closing.performance_fee - opening.performance_fee,
            closing_shares=closing.shares,
            net_return=closing.net_value - opening.net_value - deposits + withdrawals,
        )


def _empty(key: str) -> EnginePosition:
    return EnginePosition(key, ZERO, 0, 0, ZERO, ZERO, ZERO, 0, 0)


@dataclass(frozen=True)
class ManualCreditPublic:
    """One operators' manual credit as the public sees it: operators by handle, the depositor by a pseudonym."""

    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    amount: Decimal
    depositor: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    tx_hash: str | None


def depositor_pseudonym(*, vault_id: int, depositor_id: int) -> str:
    """A stable name for a depositor on a vault's public page that does not reveal who they are (an HMAC of the
    vault and user ids under the site's secret key)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"depositor:{vault_id}:{depositor_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"depositor {digest[:12]}"


def manual_credit_public(credit: ManualCredit) -> ManualCreditPublic:
    """``credit`` as the public log shows it."""
    transfer = credit.chain_transfer
    return ManualCreditPublic(
        id=credit.pk,
        kind=credit.kind,
        kind_label=credit.get_kind_display(),
        state=credit.state,
        state_label=credit.get_state_display(),
        amount=credit.amount,
        depositor=depositor_pseudonym(vault_id=credit.vault_id, depositor_id=credit.depositor_id),
        reason=credit.reason,
        requested_by=operator_public_handle(user_id=credit.requested_by_id),
        requested_at=credit.requested_at,
        decided_by=None if credit.decided_by_id is None else operator_public_handle(user_id=credit.decided_by_id),
        decided_at=credit.decided_at,
        decision_reason=credit.decision_reason,
        tx_hash=None if transfer is None else transfer.tx_hash,
    )


def manual_credits_public(*, vault_id: int, limit: int = 200) -> list[ManualCreditPublic]:
    """The vault's manual credits (requested, applied, rejected), newest first: the public log."""
    credits = ManualCredit.objects.filter(vault_id=vault_id).select_related("chain_transfer")
    return [manual_credit_public(credit) for credit in credits.order_by("-requested_at", "-id")[:limit]]
