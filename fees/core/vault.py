"""One vault under the 1-and-5 fee model (:mod:`fees.core`), in memory: the exact state and the fee ledger.

State: the vault's gross value ``value`` (base units, at the price scale), the shares outstanding (fee-account
shares included), the fee account's shares, the lots (depositor, shares, high-water mark) and one account per
depositor. Every management accrual and every crystallisation is a row of :attr:`Vault.ledger`; deposits and
withdrawals are rows of :attr:`Vault.flows`. Both are frozen dataclasses holding only ``int``, ``str``,
``Decimal`` (shares at 18 places, prices and fee values at 50) and aware UTC datetimes, so a database can store
exactly these rows, and the fee account's shares always equal the sum of ``fee_shares`` over the ledger.

Order of operations at one instant (:mod:`fees.core`): every public operation first settles the management fee up to
``at`` on the value before the event (giving ``P``), then crystallises what must crystallise at ``P``, then
applies the deposit or withdrawal at ``P``. An operation that is refused raises :class:`VaultError` before
anything changed, settlement included.

Conventions the specification leaves open, fixed here:

- An empty vault (no shares) prices a share at one base unit, so the first deposit of ``n`` base units mints
  ``n`` shares.
- The management fee *value* of an accrual is what depositors lose: ``depositor shares · P · (1 - K)``, with
  ``P · (1 - K)`` rounded down to the price scale (``fee_per_share``). The fee account's own shares are diluted
  as well (every share has one price) but that moves nothing from a depositor. The fee is charged by minting
  ``S · (0.99 ** -dt - 1)`` shares rounded down to the share unit.
- A performance fee ``F = 0.05 · n · (P - hwm)`` (rounded down to the price scale) is charged as ``F / P``
  shares rounded down to the share unit; a fee worth less than one share unit is not charged at all. After a
  charge at a year end (or on request) the lot's remaining shares take the mark ``P`` rounded up to the price
  scale, so a crystallisation repeated at the same ``P`` charges nothing.
- A withdrawal request pays ``Σ (n · P - F)`` over the lots it takes from, rounded down to the base unit once;
  each lot's flow carries its part. What rounding leaves (under one base unit a request, under one share unit
  a mint) stays in the vault, for all holders.
- A deposit reversal (its on-chain transfer was reorganised away) takes the lot's shares and the deposited
  amount back out, as if the deposit had never been made; the management fee already charged while the lot
  existed stays charged. It is refused once the lot's shares have changed (partly withdrawn or crystallised).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Literal

from fees.core.numbers import (
    FEE_CONTEXT,
    ONE,
    PERFORMANCE_RATE,
    SHARE_QUANTUM,
    ZERO,
    exact_seconds,
    management_factor,
    management_mint_rate,
    price_down,
    price_up,
    shares_down,
    shares_up,
    units_down,
)
from hftplatform.core.utc import utc_aware

CrystallisationReason = Literal["withdrawal", "year_end", "requested"]


class VaultError(ValueError):
    """An operation the vault refuses (bad input, more than held, time going backwards); nothing changed."""


class UnknownDepositorError(VaultError):
    """The depositor holds no lot in this vault."""


class InsufficientSharesError(VaultError):
    """A withdrawal asks for more shares or more value than the depositor (or the named lot) holds."""


class FeeCollectionError(VaultError):
    """A fee collection larger than what the fee account's shares are worth: nothing changed."""


class DepositReversalError(VaultError):
    """A deposit cannot be reversed exactly (its lot's shares already changed, or the vault holds less than its
    amount): an operator must settle it."""


@dataclass
class Lot:
    """The shares of one deposit, with their own high-water mark (base units per share, never decreasing)."""

    lot_id: int
    depositor: str
    opened_at: datetime
    shares: Decimal
    hwm: Decimal


@dataclass
class DepositorAccount:
    """One depositor's running totals. ``management_fee`` is settled lazily through ``fee_index_mark``."""

    depositor: str
    lot_ids: list[int] = field(default_factory=list)
    shares: Decimal = ZERO
    deposited: int = 0  # base units
    paid_out: int = 0  # base units
    management_fee: Decimal = ZERO  # base units, price scale
    performance_fee: Decimal = ZERO  # base units, price scale
    fee_index_mark: Decimal = ZERO  # Vault.fee_index when management_fee was last brought up to date


@dataclass(frozen=True)
class ManagementAccrual:
    """Ledger row: the management fee over ``seconds`` up to ``at``, paid in ``fee_shares`` minted to the fee
    account. ``price`` is ``P`` just before (rounded down to the price scale); ``fee_value`` is in base units."""

    sequence: int
    at: datetime
    seconds: Decimal
    factor: Decimal  # K(dt) = 0.99 ** dt
    shares_outstanding: Decimal  # S before, fee-account shares included
    depositor_shares: Decimal  # S minus the fee account's shares, before
    price: Decimal
    fee_per_share: Decimal  # P · (1 - K), rounded down to the price scale
    fee_value: Decimal  # depositor_shares · fee_per_share, exact
    fee_shares: Decimal  # S · (0.99 ** -dt - 1), rounded down to the share unit
    fee_index: Decimal  # running sum of fee_per_share after this row
    kind: Literal["management"] = "management"


@dataclass(frozen=True)
class PerformanceCrystallisation:
    """Ledger row: the performance fee on ``shares`` of one lot at ``price``; ``fee_shares`` moved from the lot to
    the fee account. ``hwm_after`` is the lot's mark afterwards (unchanged for a withdrawal)."""

    sequence: int
    at: datetime
    reason: CrystallisationReason
    lot_id: int
    depositor: str
    shares: Decimal
    price: Decimal
    hwm_before: Decimal
    hwm_after: Decimal
    fee_value: Decimal  # 0.05 · shares · (price - hwm_before), rounded down to the price scale
    fee_shares: Decimal  # fee_value / price, rounded down to the share unit
    kind: Literal["performance"] = "performance"


FeeLedgerRow = ManagementAccrual | PerformanceCrystallisation


@dataclass(frozen=True)
class DepositFlow:
    sequence: int
    at: datetime
    depositor: str
    lot_id: int
    amount: int  # base units
    price: Decimal  # P at the deposit, the lot's first mark
    shares: Decimal  # amount / P rounded down to the share unit
    kind: Literal["deposit"] = "deposit"


@dataclass(frozen=True)
class WithdrawalFlow:
    """Shares taken from one lot: ``shares`` leave the lot, ``fee_shares`` of them go to the fee account, the
    rest are burned against ``payout`` base units."""

    sequence: int
    at: datetime
    depositor: str
    lot_id: int
    shares: Decimal
    price: Decimal
    fee_shares: Decimal
    payout: int
    kind: Literal["withdrawal"] = "withdrawal"


@dataclass(frozen=True)
class DepositReversalFlow:
    """A deposit taken back out: ``shares`` leave its lot and ``amount`` base units leave the vault's value.
    ``price`` is ``P`` just before the reversal (rounded down to the price scale)."""

    sequence: int
    at: datetime
    depositor: str
    lot_id: int
    amount: int  # base units
    shares: Decimal
    price: Decimal
    kind: Literal["deposit_reversal"] = "deposit_reversal"


@dataclass(frozen=True)
class FeeCollectionFlow:
    """Fees paid out of the vault to the platform: ``amount`` base units leave the vault's value and ``shares``
    (``amount / P`` rounded up to the share unit) leave the fee account and are burned. ``price`` is ``P`` just
    before (rounded down to the price scale)."""

    sequence: int
    at: datetime
    amount: int  # base units
    shares: Decimal
    price: Decimal
    depositor: str = ""  # no depositor: the fee account's own flow
    kind: Literal["fee_collection"] = "fee_collection"


Flow = DepositFlow | WithdrawalFlow | DepositReversalFlow | FeeCollectionFlow


@dataclass(frozen=True)
class Withdrawal:
    """What one withdrawal request did: its per-lot flows and totals."""

    flows: tuple[WithdrawalFlow, ...]
    shares: Decimal
    payout: int


@dataclass(frozen=True)
class Position:
    """A depositor's holding at the vault's settled time. ``value`` and ``net_value`` are base units rounded down
    (``net_value`` net of the accrued, not yet charged, performance fee); fees are base units at the price scale."""

    depositor: str
    shares: Decimal
    value: int
    net_value: int
    accrued_performance_fee: Decimal
    management_fee: Decimal
    performance_fee: Decimal
    deposited: int
    paid_out: int


@dataclass(frozen=True)
class _AccrualPlan:
    row: ManagementAccrual | None
    at: datetime
    shares_outstanding: Decimal
    fee_account_shares: Decimal
    fee_index: Decimal


def _aware_utc(at: datetime, what: str = "at") -> datetime:
    try:
        return utc_aware(at, what=what)
    except ValueError as error:
        raise VaultError(str(error)) from None


def _performance_fee(shares: Decimal, price: Decimal, hwm: Decimal) -> Decimal:
    """``0.05 · shares · max(0, P - hwm)`` rounded down to the price scale: the accrued fee (inside FEE_CONTEXT)."""
    if price <= hwm:
        return ZERO
    return price_down(PERFORMANCE_RATE * shares * (price - hwm))


def performance_charge(shares: Decimal, price: Decimal, hwm: Decimal) -> tuple[Decimal, Decimal]:
    """``(fee_value, fee_shares)`` charged when ``shares`` of a lot marked ``hwm`` crystallise at ``price``.

    fee_value = ``0.05 · shares · max(0, P - hwm)`` rounded down to the price scale; fee_shares = fee_value / P
    rounded down to the share unit. A fee worth less than one share unit is not charged: ``(0, 0)``.
    """
    with localcontext(FEE_CONTEXT):
        return _performance_charge(shares, price, hwm)


def _performance_charge(shares: Decimal, price: Decimal, hwm: Decimal) -> tuple[Decimal, Decimal]:
    """:func:`performance_charge` for a caller already inside FEE_CONTEXT (a year end calls it once per lot)."""
    if price <= hwm:
        return ZERO, ZERO
    fee = price_down(PERFORMANCE_RATE * shares * (price - hwm))
    fee_shares = shares_down(fee / price) if fee else ZERO
    return (fee, fee_shares) if fee_shares else (ZERO, ZERO)


def withdrawal_quote(shares: Decimal, price: Decimal, hwm: Decimal) -> tuple[int, Decimal, Decimal]:
    """``(payout, fee_value, fee_shares)`` for withdrawing ``shares`` of a lot marked ``hwm`` at ``price``.

    payout = ``n · P - 0.05 · n · max(0, P - hwm)`` rounded down to the base unit, with the fee as
    :func:`performance_charge` charges it.
    """
    with localcontext(FEE_CONTEXT):
        fee, fee_shares = performance_charge(shares, price, hwm)
        return units_down(shares * price - fee), fee, fee_shares


class Vault:
    """One vault's fee state. Amounts are ``int`` base units, shares ``Decimal`` at 18 places, times aware UTC."""

    def __init__(self, *, started_at: datetime, sequence: int = 0) -> None:
        """``sequence``: the last number given to a ledger row or flow (a stored vault's counter); next is one more."""
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
            raise ValueError(f"sequence must be a non-negative int, got {sequence!r}")
        self.settled_at = _aware_utc(started_at, "started_at")
        self.value = ZERO  # gross value in base units (what the vault holds, fee account's claim included)
        self.shares_outstanding = ZERO  # fee-account shares included
        self.fee_account_shares = ZERO
        self.fee_index = ZERO  # Σ fee_per_share: management fee per depositor share since the start
        self.lots: dict[int, Lot] = {}
        self.accounts: dict[str, DepositorAccount] = {}
        self.ledger: list[FeeLedgerRow] = []
        self.flows: list[Flow] = []
        self._sequence = sequence

    # -- reads --------------------------------------------------------------------------------------------------

    @property
    def sequence(self) -> int:
        """The last number given to a ledger row or flow (0 before the first)."""
        return self._sequence

    def price(self) -> Decimal:
        """``P = value / shares outstanding`` in base units per share (1 for an empty vault), not rounded."""
        return self._price(self.value, self.shares_outstanding)

    @staticmethod
    def _price(value: Decimal, shares: Decimal) -> Decimal:
        if not shares:
            return ONE
        with localcontext(FEE_CONTEXT):
            return value / shares

    def management_fee_total(self) -> Decimal:
        with localcontext(FEE_CONTEXT):
            return sum((row.fee_value for row in self.ledger if row.kind == "management"), ZERO)

    def performance_fee_total(self) -> Decimal:
        with localcontext(FEE_CONTEXT):
            return sum((row.fee_value for row in self.ledger if row.kind == "performance"), ZERO)

    def ledger_fee_shares(self) -> Decimal:
        """Σ fee_shares over the ledger: equals :attr:`fee_account_shares` plus :meth:`fee_collected_shares` at every
        moment."""
        with localcontext(FEE_CONTEXT):
            return sum((row.fee_shares for row in self.ledger), ZERO)

    def fee_collected_shares(self) -> Decimal:
        """Σ shares burned by fee collections (:meth:`fee_collect`)."""
        with localcontext(FEE_CONTEXT):
            return sum((flow.shares for flow in self.flows if flow.kind == "fee_collection"), ZERO)

    def depositor_lots(self, depositor: str) -> list[Lot]:
        """The depositor's lots still holding shares, oldest first."""
        account = self.accounts.get(depositor)
        if account is None:
            return []
        return [self.lots[lot_id] for lot_id in account.lot_ids if self.lots[lot_id].shares]

    def position(self, depositor: str) -> Position:
        """The depositor's holding at ``settled_at`` (call :meth:`settle` first to bring it to a later time)."""
        account = self._account(depositor)
        with localcontext(FEE_CONTEXT):
            price = self.price()
            accrued = sum(
                (_performance_fee(lot.shares, price, lot.hwm) for lot in self.depositor_lots(depositor)), ZERO
            )
            gross = account.shares * price
            management_fee = account.management_fee + account.shares * (self.fee_index - account.fee_index_mark)
            return Position(
                depositor=depositor,
                shares=account.shares,
                value=units_down(gross),
                net_value=units_down(gross - accrued),
                accrued_performance_fee=accrued,
                management_fee=management_fee,
                performance_fee=account.performance_fee,
                deposited=account.deposited,
                paid_out=account.paid_out,
            )

    # -- operations -------------------------------------------------------------------------------------------

    def settle(self, *, at: datetime) -> ManagementAccrual | None:
        """Settle the management fee up to ``at`` (NAV publication); the ledger row, or None if nothing accrued."""
        plan = self._accrual_plan(at)
        self._accrual_commit(plan)
        return plan.row

    def apply_return(self, *, at: datetime, gross: Decimal) -> None:
        """The market moved: after settling up to ``at``, multiply the gross value by ``1 + gross`` (> 0)."""
        if not isinstance(gross, Decimal) or not gross.is_finite():
            raise VaultError(f"gross return must be a finite Decimal, got {gross!r}")
        if gross <= -1:
            raise VaultError(f"gross return must be above -1 (a total loss or worse is not a return), got {gross}")
        plan = self._accrual_plan(at)
        self._accrual_commit(plan)
        with localcontext(FEE_CONTEXT):
            self.value = price_down(self.value * (ONE + gross))

    def fee_collect(self, *, at: datetime, amount: int) -> FeeCollectionFlow:
        """Pay ``amount`` base units of fees out to the platform, after settling up to ``at``: the fee account's
        shares worth it at ``P`` (``amount / P`` rounded up to the share unit, so ``P`` never falls for the
        depositors) are burned and ``amount`` leaves the vault's value. If that rounding asks for more shares than
        the fee account holds while its shares are still worth ``amount`` (rounded down), all of them are burned.
        Raises :class:`FeeCollectionError` when the fee account's shares are worth less than ``amount``."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise VaultError(f"a fee collection must be a positive integer of base units, got {amount!r}")
        plan = self._accrual_plan(at)
        with localcontext(FEE_CONTEXT):
            price = self._price(self.value, plan.shares_outstanding)
            held = plan.fee_account_shares
            worth = units_down(held * price)
            if worth < amount:
                raise FeeCollectionError(
                    f"the fee account's {held} shares are worth {worth} base units at P = {price}: "
                    f"{amount} cannot be collected"
                )
            shares = min(shares_up(amount / price), held)
            self._accrual_commit(plan)
            self.fee_account_shares -= shares
            self.shares_outstanding -= shares
            self.value -= amount
            flow = FeeCollectionFlow(self._next_sequence(), plan.at, amount, shares, price_down(price))
            self.flows.append(flow)
            return flow

    def deposit(self, *, at: datetime, depositor: str, amount: int) -> DepositFlow:
        """Credit ``amount`` base units: a new lot of ``amount / P`` shares (rounded down), marked at ``P``."""
        if not isinstance(depositor, str) or not depositor:
            raise VaultError("a deposit needs a depositor name")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise VaultError(f"a deposit amount must be a positive integer of base units, got {amount!r}")
        plan = self._accrual_plan(at)
        with localcontext(FEE_CONTEXT):
            price = self._price(self.value, plan.shares_outstanding)
            shares = shares_down(amount / price)
            if not shares:
                raise VaultError(f"{amount} base units buy less than one share unit at P = {price}")
            self._accrual_commit(plan)
            account = self.accounts.get(depositor)
            if account is None:
                account = self.accounts[depositor] = DepositorAccount(depositor, fee_index_mark=self.fee_index)
            self._account_bring_up_to_date(account)
            lot_id = len(self.lots) + 1
            self.lots[lot_id] = Lot(lot_id, depositor, plan.at, shares, price_up(price))
            account.lot_ids.append(lot_id)
            account.shares += shares
            account.deposited += amount
            self.value += amount
            self.shares_outstanding += shares
            flow = DepositFlow(self._next_sequence(), plan.at, depositor, lot_id, amount, price_down(price), shares)
            self.flows.append(flow)
            return flow

    def deposit_reverse(self, *, at: datetime, lot_id: int, amount: int, shares: Decimal) -> DepositReversalFlow:
        """Undo the deposit that opened lot ``lot_id`` (``amount`` base units for ``shares`` shares), after settling
        up to ``at``: the lot's shares and the amount leave the vault, the depositor's account loses both.

        Exact: at the deposit's own instant the vault returns to its state before the deposit, so the other
        depositors' values are unchanged. Raises :class:`DepositReversalError` if the lot no longer holds exactly
        ``shares`` (shares withdrawn or crystallised since) or the vault would be left with shares but no value.
        """
        lot = self.lots.get(lot_id) if isinstance(lot_id, int) and not isinstance(lot_id, bool) else None
        if lot is None:
            raise VaultError(f"no lot {lot_id!r} to reverse")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise VaultError(f"a deposit amount must be a positive integer of base units, got {amount!r}")
        if lot.shares != shares:
            raise DepositReversalError(
                f"lot {lot_id} holds {lot.shares} shares, not the {shares} its deposit minted: shares were "
                "withdrawn or crystallised since, so the deposit cannot be reversed exactly"
            )
        plan = self._accrual_plan(at)
        with localcontext(FEE_CONTEXT):
            value_after = self.value - amount
            shares_after = plan.shares_outstanding - shares
            if value_after < 0 or (value_after == 0 and shares_after > 0):
                raise DepositReversalError(
                    f"the vault's value {self.value} cannot give back {amount} base units "
                    f"and keep {shares_after} shares priced above zero"
                )
            price = self._price(self.value, plan.shares_outstanding)
            self._accrual_commit(plan)
            account = self.accounts[lot.depositor]
            self._account_bring_up_to_date(account)
            lot.shares = ZERO
            account.shares -= shares
            account.deposited -= amount
            self.shares_outstanding -= shares
            self.value = value_after
            flow = DepositReversalFlow(
                self._next_sequence(), plan.at, lot.depositor, lot_id, amount, shares, price_down(price)
            )
            self.flows.append(flow)
            return flow

    def withdraw(
        self,
        *,
        at: datetime,
        depositor: str,
        shares: Decimal | None = None,
        amount: int | None = None,
        lot_id: int | None = None,
    ) -> Withdrawal:
        """Withdraw ``shares`` (18 places) or a net payout of ``amount`` base units, from the named lot or from the
        depositor's lots oldest first. The withdrawn shares crystallise at ``P``; the rest keep their marks."""
        if (shares is None) == (amount is None):
            raise VaultError("a withdrawal takes exactly one of shares or amount")
        lots = self._withdrawal_lots(depositor, lot_id)
        plan = self._accrual_plan(at)
        with localcontext(FEE_CONTEXT):
            price = self._price(self.value, plan.shares_outstanding)
            held = sum((lot.shares for lot in lots), ZERO)
            where = f"lot {lot_id}" if lot_id is not None else f"depositor {depositor!r}"
            if shares is not None:
                if not isinstance(shares, Decimal) or not shares.is_finite() or shares <= 0:
                    raise VaultError(f"shares to withdraw must be a positive Decimal, got {shares!r}")
                if shares != shares.quantize(SHARE_QUANTUM):
                    raise VaultError(f"shares have at most 18 decimal places, got {shares}")
                if shares > held:
                    raise InsufficientSharesError(f"withdrawing {shares} shares but {where} holds {held}")
                pieces = self._pieces_by_shares(lots, shares)
            else:
                if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                    raise VaultError(f"an amount to withdraw must be a positive integer of base units, got {amount!r}")
                pieces = self._pieces_by_amount(lots, amount, price, where)
            self._accrual_commit(plan)
            account = self.accounts[depositor]
            self._account_bring_up_to_date(account)
            flows = []
            owed = ZERO  # exact value owed so far; the request's payout is rounded down once, not per lot
            paid = 0
            for lot, taken in pieces:
                fee, fee_shares = performance_charge(taken, price, lot.hwm)
                if fee:
                    self._ledger_crystallisation(lot, taken, price, fee, fee_shares, "withdrawal", lot.hwm)
                    account.performance_fee += fee
                owed += taken * price - fee
                payout = units_down(owed) - paid
                paid += payout
                lot.shares -= taken
                account.shares -= taken
                account.paid_out += payout
                self.fee_account_shares += fee_shares
                self.shares_outstanding -= taken - fee_shares
                self.value -= payout
                flow = WithdrawalFlow(
                    self._next_sequence(), plan.at, depositor, lot.lot_id, taken, price_down(price), fee_shares, payout
                )
                self.flows.append(flow)
                flows.append(flow)
            return Withdrawal(tuple(flows), sum((f.shares for f in flows), ZERO), paid)

    def crystallise(
        self, *, at: datetime, reason: CrystallisationReason = "requested"
    ) -> list[PerformanceCrystallisation]:
        """Crystallise every lot at ``P`` (a calendar year end, or on request); the new ledger rows."""
        return [row for rows in self.crystallise_by_depositor(at=at, reason=reason) for row in rows]

    def crystallise_by_depositor(
        self, *, at: datetime, reason: CrystallisationReason = "requested"
    ) -> Iterator[list[PerformanceCrystallisation]]:
        """:meth:`crystallise` one depositor at a time: each item is the new ledger rows of one depositor's lots,
        so a caller can store a year end's rows (one per lot) while the next ones are computed. The management
        fee is settled before the first item; the vault is whole again once the iterator is exhausted."""
        plan = self._accrual_plan(at)
        self._accrual_commit(plan)
        with localcontext(FEE_CONTEXT):
            price = self.price()
            # The same for every lot: P at the price scale (the rows' price) and the new mark.
            price_floor, mark = price_down(price), price_up(price)
        for account in self.accounts.values():
            rows = []
            with localcontext(FEE_CONTEXT):  # not held across a yield: the caller runs in its own context
                lots = [lot for lot in self.depositor_lots(account.depositor) if price > lot.hwm]
                if not lots:
                    continue
                self._account_bring_up_to_date(account)
                for lot in lots:
                    fee, fee_shares = _performance_charge(lot.shares, price, lot.hwm)
                    if not fee:
                        continue
                    hwm_before, lot.hwm = lot.hwm, max(lot.hwm, mark)
                    rows.append(
                        self._ledger_crystallisation(
                            lot, lot.shares, price, fee, fee_shares, reason, hwm_before, price_floor
                        )
                    )
                    lot.shares -= fee_shares
                    account.shares -= fee_shares
                    account.performance_fee += fee
                    self.fee_account_shares += fee_shares
            if rows:
                yield rows

    # -- internals --------------------------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _account(self, depositor: str) -> DepositorAccount:
        account = self.accounts.get(depositor)
        if account is None:
            raise UnknownDepositorError(f"unknown depositor {depositor!r}: no deposit in this vault")
        return account

    def _account_bring_up_to_date(self, account: DepositorAccount) -> None:
        """Charge the account its management fee since its mark, before its shares change."""
        account.management_fee += account.shares * (self.fee_index - account.fee_index_mark)
        account.fee_index_mark = self.fee_index

    def _accrual_plan(self, at: datetime) -> _AccrualPlan:
        """The management accrual up to ``at``, computed without changing anything."""
        at = _aware_utc(at)
        if at < self.settled_at:
            raise VaultError(f"time goes backwards: {at.isoformat()} is before {self.settled_at.isoformat()}")
        seconds = exact_seconds(self.settled_at, at)
        total, fee_account, index = self.shares_outstanding, self.fee_account_shares, self.fee_index
        if not seconds or not total:
            return _AccrualPlan(None, at, total, fee_account, index)
        with localcontext(FEE_CONTEXT):
            factor = management_factor(seconds)
            price = self.value / total
            fee_per_share = price_down(price * (ONE - factor))
            minted = shares_down(total * management_mint_rate(seconds))
            depositor_shares = total - fee_account
            row = ManagementAccrual(
                sequence=0,  # numbered on commit
                at=at,
                seconds=seconds,
                factor=factor,
                shares_outstanding=total,
                depositor_shares=depositor_shares,
                price=price_down(price),
                fee_per_share=fee_per_share,
                fee_value=depositor_shares * fee_per_share,
                fee_shares=minted,
                fee_index=index + fee_per_share,
            )
            return _AccrualPlan(row, at, total + minted, fee_account + minted, index + fee_per_share)

    def _accrual_commit(self, plan: _AccrualPlan) -> None:
        self.settled_at = plan.at
        if plan.row is None:
            return
        row = replace(plan.row, sequence=self._next_sequence())
        self.ledger.append(row)
        self.shares_outstanding = plan.shares_outstanding
        self.fee_account_shares = plan.fee_account_shares
        self.fee_index = plan.fee_index

    def _ledger_crystallisation(
        self,
        lot: Lot,
        shares: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_shares: Decimal,
        reason: CrystallisationReason,
        hwm_before: Decimal,
        price_floor: Decimal | None = None,  # price_down(price), when the caller has it already
    ) -> PerformanceCrystallisation:
        row = PerformanceCrystallisation(
            sequence=self._next_sequence(),
            at=self.settled_at,
            reason=reason,
            lot_id=lot.lot_id,
            depositor=lot.depositor,
            shares=shares,
            price=price_down(price) if price_floor is None else price_floor,
            hwm_before=hwm_before,
            hwm_after=lot.hwm,
            fee_value=fee,
            fee_shares=fee_shares,
        )
        self.ledger.append(row)
        return row

    def _withdrawal_lots(self, depositor: str, lot_id: int | None) -> list[Lot]:
        self._account(depositor)
        if lot_id is None:
            lots = self.depositor_lots(depositor)
            if not lots:
                raise InsufficientSharesError(f"depositor {depositor!r} holds no shares")
            return lots
        lot = self.lots.get(lot_id) if isinstance(lot_id, int) and not isinstance(lot_id, bool) else None
        if lot is None or lot.depositor != depositor:
            raise VaultError(f"depositor {depositor!r} has no lot {lot_id!r}")
        return [lot]

    @staticmethod
    def _pieces_by_shares(lots: list[Lot], shares: Decimal) -> list[tuple[Lot, Decimal]]:
        pieces: list[tuple[Lot, Decimal]] = []
        remaining = shares
        for lot in lots:
            if not remaining:
                break
            taken = min(lot.shares, remaining)
            pieces.append((lot, taken))
            remaining -= taken
        return pieces

    @staticmethod
    def _pieces_by_amount(lots: list[Lot], amount: int, price: Decimal, where: str) -> list[tuple[Lot, Decimal]]:
        """Shares per lot, oldest first, whose payout (rounded down once) is ``amount``: whole lots while they fit,
        then the shares of the last lot rounded up to the share unit (the vault's favour)."""
        pieces: list[tuple[Lot, Decimal]] = []
        owed = ZERO
        for lot in lots:
            fee = performance_charge(lot.shares, price, lot.hwm)[0]
            whole = lot.shares * price - fee
            if units_down(owed + whole) <= amount:
                pieces.append((lot, lot.shares))
                owed += whole
                if units_down(owed) == amount:
                    return pieces
                continue
            net_per_share = price - PERFORMANCE_RATE * max(ZERO, price - lot.hwm)
            taken = min(lot.shares, shares_up((amount - owed) / net_per_share))
            pieces.append((lot, taken))
            return pieces
        raise InsufficientSharesError(f"withdrawing {amount} base units but {where} can pay out {units_down(owed)}")
