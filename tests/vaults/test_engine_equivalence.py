"""The database side computes exactly the engine's numbers: a random event sequence through the services and
through a fresh ``fees.core.Vault`` with the same inputs leaves every stored number equal to the engine's."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal, localcontext

import pytest

from fees.core import Vault as FeeVault
from fees.core.numbers import FEE_CONTEXT, SHARE_QUANTUM
from fees.core.years import year_end
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from tests.factories import UserFactory
from tests.vaults.builders import T0, YEAR, at, deposit, stored_matches_engine, vault_new
from vaults import fee_engine_store, selectors, services
from vaults.errors import VaultServiceError
from vaults.models import Lot, VaultEvent


def _engine_year_ends(engine: FeeVault, done: list[int], until: datetime) -> None:
    """What the services do before any operation: crystallise each calendar year end passed, at the year end."""
    year = (done[-1] + 1) if done else T0.year
    while year_end(year) <= until:
        engine.crystallise(at=year_end(year), reason="year_end")
        done.append(year)
        year += 1


def _scenario(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (a reproducible scenario, not a secret)
    vault = vault_new(slug=f"random-{seed}")
    users = [UserFactory() for _ in range(3)]
    engine = FeeVault(started_at=T0)
    seconds = 0
    refused = 0
    years_done: list[int] = []
    for _ in range(36):
        seconds += rng.choice([0, 1, 3600, 86_400 * rng.randint(1, 60)])
        when = at(seconds)
        _engine_year_ends(engine, years_done, when)  # every service crystallises the year ends it passes first
        user = rng.choice(users)
        key = str(user.pk)
        kind = rng.choices(
            ["deposit", "withdraw_shares", "withdraw_amount", "return", "crystallise", "settle"],
            weights=[5, 3, 2, 3, 1, 1],
        )[0]
        if kind == "deposit":
            amount = rng.randint(1, 10**10)
            engine.deposit(at=when, depositor=key, amount=amount)
            deposit(vault, user, amount, seconds)
        elif kind == "return":
            gross = Decimal(rng.randint(-300, 500)) / 1000
            engine.apply_return(at=when, gross=gross)
            services.vault_return_record(vault_id=vault.pk, gross=gross, at=when)
        elif kind == "crystallise":
            services.vault_fees_crystallise_year_end(vault_id=vault.pk, year=when.year - 1)
        elif kind == "settle":
            engine.settle(at=when)
            services.vault_fees_settle(vault_id=vault.pk, at=when)
        else:
            held = engine.accounts[key].shares if key in engine.accounts else Decimal(0)
            if kind == "withdraw_shares":
                with localcontext(FEE_CONTEXT):
                    fraction = Decimal(rng.randint(1, 1100)) / 1000  # sometimes more than held: refused
                    shares = (held * fraction).quantize(SHARE_QUANTUM) if held else Decimal(1)
                arguments: dict[str, object] = {"shares": shares}
            else:
                arguments = {"amount": rng.randint(1, 10**9)}
            try:
                engine.withdraw(at=when, depositor=key, **arguments)  # type: ignore[arg-type]
            except ValueError:
                refused += 1
                with pytest.raises(VaultServiceError):
                    services.vault_withdrawal_request(vault_id=vault.pk, depositor_id=user.pk, at=when, **arguments)
                continue
            services.vault_withdrawal_request(vault_id=vault.pk, depositor_id=user.pk, at=when, **arguments)
        stored_matches_engine(vault.pk, engine)
        assert selectors.vault_reconciliation(vault_id=vault.pk).ok
    # a settlement two years on passes at least one year end, crystallised first
    final = at(max(seconds, 0) + 2 * YEAR)
    _engine_year_ends(engine, years_done, final)
    engine.settle(at=final)
    services.vault_fees_settle(vault_id=vault.pk, at=final)
    stored_matches_engine(vault.pk, engine)
    assert len(years_done) >= 2
    assert len(engine.ledger) > 5
    # The event log replays to the same state.
    stored_matches_engine(vault.pk, selectors.vault_engine_replay(vault_id=vault.pk))


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_events_through_services_equal_the_engine(seed: int) -> None:
    _scenario(seed)


@pytest.mark.django_db
def test_year_end_crystallisation_of_the_worked_example() -> None:
    # given 100,000 base units at P = 1, +20% gross over the year (the fee model's third worked example)
    vault = vault_new()
    user = UserFactory()
    deposit(vault, user, 100_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.2"), at=at(0))
    # when the year ends
    rows = list(services.vault_fees_crystallise_year_end(vault_id=vault.pk, year=2025))
    # then P = 1.188 (lifted by the rounded-down fee shares of the management fee, as in the engine's own
    # worked-example test), the fee is 940.00 = 791.245791245791245791 shares, the mark moves to P
    assert len(rows) == 1
    assert decimal_text_trim_zeros(rows[0].price).startswith("1.18800000000000000000000")
    assert abs(rows[0].fee_value - 940) < Decimal("1e-20")
    assert rows[0].fee_shares == Decimal("791.245791245791245791")
    assert rows[0].hwm_after >= rows[0].price
    assert rows[0].at == at(YEAR)
    assert Lot.objects.get(vault=vault).shares == Decimal("99208.754208754208754209")
    # and the engine given the same events agrees digit for digit
    engine = FeeVault(started_at=T0)
    engine.deposit(at=T0, depositor=str(user.pk), amount=100_000)
    engine.apply_return(at=T0, gross=Decimal("0.2"))
    engine.crystallise(at=at(YEAR), reason="year_end")
    stored_matches_engine(vault.pk, engine)
    # and running it again charges nothing and writes nothing
    events = VaultEvent.objects.count()
    assert not services.vault_fees_crystallise_year_end(vault_id=vault.pk, year=2025).exists()
    assert VaultEvent.objects.count() == events
    assert selectors.fees_charged(vault_id=vault.pk)["performance"] == rows[0].fee_value
    stored_matches_engine(vault.pk, engine)


@pytest.mark.django_db
def test_ledger_rows_through_copy_equal_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # given every ledger write going through COPY's text format, as a year end's (one row per lot) does
    monkeypatch.setattr(fee_engine_store, "LEDGER_COPY_ROWS", 1)
    # then random events still leave every stored number equal to the engine's
    _scenario(5)
