"""Vault services: idempotent deposits, withdrawals that wait for custody, settlement, refusals that write
nothing, valuation from stored klines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from marketdata.models import Instrument
from tests.factories import UserFactory
from tests.vaults.builders import HALF_YEAR, YEAR, at, deposit, vault_new
from vaults import errors, selectors, services
from vaults.models import Deposit, FeeLedgerEntry, Lot, NavSnapshot, Position, Vault, VaultEvent, Withdrawal

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Deposit, Lot, Withdrawal, VaultEvent, FeeLedgerEntry))


def test_onchain_deposit_is_credited_once_per_transfer() -> None:
    vault, user = vault_new(), UserFactory()
    transfer = {"chain_id": 1, "tx_hash": "0x" + "ab" * 32, "log_index": 3}
    first = services.vault_deposit_record(
        vault_id=vault.pk, depositor_id=user.pk, amount=1_000_000, at=at(0), **transfer
    )
    again = services.vault_deposit_record(
        vault_id=vault.pk,
        depositor_id=user.pk,
        amount=1_000_000,
        at=at(10),
        **{**transfer, "tx_hash": transfer["tx_hash"].upper().replace("0X", "0x")},
    )
    assert (first.created, again.created, again.deposit.pk) == (True, False, first.deposit.pk)
    assert Deposit.objects.count() == 1
    assert Vault.objects.get(pk=vault.pk).shares_outstanding == Decimal(1_000_000)
    # the same transfer with another amount is a conflict and writes nothing
    before = _counts()
    with pytest.raises(errors.IdempotencyConflictError):
        services.vault_deposit_record(vault_id=vault.pk, depositor_id=user.pk, amount=5, at=at(20), **transfer)
    assert _counts() == before


def test_offchain_deposit_needs_an_operator_and_a_key() -> None:
    vault, user = vault_new(), UserFactory()
    with pytest.raises(errors.VaultServiceError, match="operator"):
        services.vault_deposit_record(vault_id=vault.pk, depositor_id=user.pk, amount=10, idempotency_key="k1")
    with pytest.raises(errors.VaultServiceError, match="either on-chain"):
        services.vault_deposit_record(vault_id=vault.pk, depositor_id=user.pk, amount=10, recorded_by_id=user.pk)
    with pytest.raises(errors.VaultServiceError, match="positive integer"):
        services.vault_deposit_record(
            vault_id=vault.pk, depositor_id=user.pk, amount=0, idempotency_key="k2", recorded_by_id=user.pk
        )
    assert _counts() == (0, 0, 0, 0, 0)


def test_deposit_in_the_past_of_the_vault_is_refused_and_writes_nothing() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000, seconds=100)
    before = _counts()
    with pytest.raises(errors.VaultServiceError, match="time goes backwards"):
        deposit(vault, user, 5, seconds=50)
    assert _counts() == before


def test_two_half_year_settlements_give_exactly_990000() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000)
    first = services.vault_fees_settle(vault_id=vault.pk, at=at(HALF_YEAR))
    assert first is not None
    assert str(first.fee_value).startswith("5012.562893380045265520178998793994821873436")
    # settling again at the same instant (a beat that ran twice) accrues nothing
    assert services.vault_fees_settle(vault_id=vault.pk, at=at(HALF_YEAR)) is None
    services.vault_fees_settle(vault_id=vault.pk, at=at(YEAR))
    assert FeeLedgerEntry.objects.count() == 2
    fees = selectors.fees_charged(vault_id=vault.pk)["management"]
    assert abs(fees - Decimal(10_000)) < Decimal("1e-12")
    snapshot = services.vault_nav_snapshot(vault_id=vault.pk, at=at(YEAR))
    assert abs(snapshot.price * 1_000_000 - Decimal(990_000)) < Decimal("1e-9")


def test_withdrawal_waits_for_custody_with_its_exact_payout() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.1"), at=at(0))
    withdrawal = services.vault_withdrawal_request(
        vault_id=vault.pk, depositor_id=user.pk, shares=Decimal(100_000), at=at(0), idempotency_key="w1"
    )
    # P = 1.1, fee 0.05 · 100000 · 0.1 = 500 = 454.545454545454545454 shares, payout 110000 - 500
    assert withdrawal.state == Withdrawal.State.AWAITING_SIGNATURES
    assert Withdrawal.objects.get().get_state_display() == "Awaiting the depositor's two wallet signatures"
    assert withdrawal.payout == Decimal(109_500)
    assert withdrawal.fee_shares == Decimal("454.545454545454545454")
    assert withdrawal.performance_fee == Decimal(500)
    assert Position.objects.get(vault=vault, venue="vault").quantity == Decimal("0.8905")  # 1.0 in, 0.1095 reserved
    # only an authorised custody proposal moves it on (to in_custody); it is never paid without one
    with pytest.raises(errors.VaultServiceError, match="cannot go"):
        services.withdrawal_transition(withdrawal_id=withdrawal.pk, from_state="awaiting_signatures", to_state="paid")
    assert Withdrawal.objects.get().state == Withdrawal.State.AWAITING_SIGNATURES
    # the same key again returns the same request and takes nothing more
    again = services.vault_withdrawal_request(
        vault_id=vault.pk, depositor_id=user.pk, shares=Decimal(100_000), at=at(1), idempotency_key="w1"
    )
    assert again.pk == withdrawal.pk
    assert Lot.objects.get().shares == Decimal(900_000)
    assert selectors.vault_reconciliation(vault_id=vault.pk).ok


def test_withdrawing_more_than_held_is_refused_and_writes_nothing() -> None:
    vault, user, other = vault_new(), UserFactory(), UserFactory()
    deposit(vault, user, 1_000)
    before = _counts()
    with pytest.raises(errors.InsufficientVaultSharesError):
        services.vault_withdrawal_request(vault_id=vault.pk, depositor_id=user.pk, shares=Decimal(1_001), at=at(5))
    with pytest.raises(errors.InsufficientVaultSharesError):
        services.vault_withdrawal_request(vault_id=vault.pk, depositor_id=other.pk, amount=1, at=at(5))
    assert _counts() == before
    assert Vault.objects.get(pk=vault.pk).settled_at == at(0)


def test_valuation_marks_positions_with_the_last_stored_close() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000)  # 1 USDC of cash
    instrument = Instrument.objects.create(
        exchange="binance",
        market_type="spot",
        symbol="ETH/USDC",
        venue_symbol="ETHUSDC",
        base="ETH",
        quote="USDC",
        tick_size="0.01",
        lot_size="0.0001",
    )
    minute = 60_000
    t_ms = int(at(3600).timestamp() * 1000)
    with connection.cursor() as cursor:
        for open_time, close, closed in (
            (t_ms - 2 * minute, "2000.50", True),
            (t_ms - minute, "2001.25", True),
            (t_ms, "2500", False),
        ):
            cursor.execute(
                "INSERT INTO marketdata_kline (instrument_id, interval, open_time, open, high, low, close, volume,"
                " closed) VALUES (%s, '1m', %s, %s, %s, %s, %s, '1', %s)",
                [instrument.pk, open_time, close, close, close, close, closed],
            )
    services.position_set(
        vault_id=vault.pk, asset="ETH", venue="gmx", quantity=Decimal("0.001"), instrument_id=instrument.pk
    )
    valuation = services.vault_valuation_record(vault_id=vault.pk, at=at(3600))
    # 1 USDC + 0.001 ETH · 2001.25 = 3.00125 USDC = 3001250 base units (the open candle is not used)
    assert valuation.value == Decimal(3_001_250)
    assert valuation.sources[1]["price"] == "2001.25"
    assert valuation.sources[1]["open_time"] == t_ms - minute
    vault.refresh_from_db()
    assert vault.value == Decimal(3_001_250)
    assert NavSnapshot.objects.filter(vault=vault).count() == 2


def test_valuation_without_a_price_is_refused() -> None:
    vault = vault_new()
    instrument = Instrument.objects.create(
        exchange="binance",
        market_type="spot",
        symbol="BTC/USDC",
        venue_symbol="BTCUSDC",
        base="BTC",
        quote="USDC",
        tick_size="0.01",
        lot_size="0.0001",
    )
    services.position_set(
        vault_id=vault.pk, asset="BTC", venue="binance", quantity=Decimal(1), instrument_id=instrument.pk
    )
    with pytest.raises(errors.VaultServiceError, match="no closed 1m candle"):
        services.vault_valuation_record(vault_id=vault.pk, at=at(60))
    assert VaultEvent.objects.count() == 0


def test_allocation_is_validated() -> None:
    with pytest.raises(errors.VaultServiceError, match="above its max"):
        services.allocation_validate({"gmx": {"weight": "0.3", "max": "0.25"}})
    with pytest.raises(errors.VaultServiceError, match=r"sum to 1\.2"):
        services.allocation_validate({"a": {"weight": "0.6"}, "b": {"weight": "0.6"}})
    assert services.allocation_validate({"gmx": {"weight": "0.20", "max": "0.25"}}) == {
        "gmx": {"weight": "0.2", "max": "0.25"}
    }


def test_a_naive_time_is_refused_and_writes_nothing() -> None:
    vault, user = vault_new(), UserFactory()
    before = _counts()
    with pytest.raises(errors.VaultServiceError, match="time must be an aware datetime"):
        services.vault_deposit_record(
            vault_id=vault.pk,
            depositor_id=user.pk,
            amount=10,
            at=at(0).replace(tzinfo=None),
            chain_id=1,
            tx_hash="0x" + "cd" * 32,
            log_index=7,
        )
    assert _counts() == before
