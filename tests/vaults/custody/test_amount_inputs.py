"""Amounts a client types are checked before anything reads them: ``1E+200000``, ``1e-200000``, ``NaN``,
``Infinity``, ``-0`` and JSON numbers out of float range all get a 400 with a message naming the field, never a 500,
and nothing is written: not a withdrawal, a proposal, an event, nor a token moved from the Safe."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import OperatorFactory, operator_session
from tests.vaults.builders import T0
from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from vaults.custody import chain
from vaults.models import Deposit, SafeProposal, Vault, VaultAccount, VaultEvent, Withdrawal

pytestmark = pytest.mark.django_db

HOSTILE = ["1E+200000", "1e-200000", "NaN", "sNaN", "Infinity", "-Infinity", "-0", "0", "0.0", "1e3", "1_0", "0x10"]
# Raw JSON numbers: Python's parser turns 1e200000 into inf and 1e-200000 into 0.0 before any field sees them.
HOSTILE_JSON = ["1e200000", "-1e200000", "1e-200000", "-0", "0"]
SHARES_MESSAGE = 'shares must be a positive decimal number written out, at most 18 decimal places (e.g. "12.5")'


def _client(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


def _state(c: Custody) -> tuple[Any, ...]:
    return (
        list(Vault.objects.values()),
        list(VaultAccount.objects.values()),
        VaultEvent.objects.count(),
        Withdrawal.objects.count(),
        SafeProposal.objects.count(),
        Deposit.objects.count(),
        c.evm.balance(c.evm.safe),
        chain.safe_nonce(c.evm.w3, c.evm.safe),
    )


def _bodies(c: Custody, field: str, value: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "vault withdrawal": (f"/api/v1/vaults/{c.vault.slug}/withdrawals/", {field: value}),
        "custody withdrawal": (
            "/api/v1/custody/withdrawals/",
            {"vault": c.vault.slug, "destination": c.wallet_a.address, field: value},
        ),
    }


@pytest.fixture
def at_deposit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: T0)


def test_hostile_shares_and_amounts_are_a_400_that_names_the_field(custody: Custody, at_deposit: None) -> None:
    # Given a depositor holding shares in a vault whose Safe holds the funds
    c = custody
    before = _state(c)
    assert before[6] == VAULT_FUNDS

    for value in HOSTILE:
        for field in ("shares", "amount"):
            for name, (url, body) in _bodies(c, field, value).items():
                # When they ask to withdraw that many
                response = _client(c.depositor).post(url, body, format="json")
                # Then a 400 in the common format naming the field, with a message saying what is accepted
                assert response.status_code == 400, (name, field, value, response.content)
                error = response.json()["error"]
                assert (error["code"], list(error["fields"])) == ("invalid", [field]), (name, value)
                expected = SHARES_MESSAGE if field == "shares" else "This value does not match the required pattern."
                assert error["fields"][field] == [expected], (name, value)
    # And nothing changed anywhere
    assert _state(c) == before


def test_hostile_json_numbers_are_a_400_too(custody: Custody, at_deposit: None) -> None:
    c = custody
    before = _state(c)
    for number in HOSTILE_JSON:
        for field in ("shares", "amount"):
            for name, (url, body) in _bodies(c, field, "__N__").items():
                text = json.dumps(body).replace('"__N__"', number)  # a bare JSON number, not a string
                response = _client(c.depositor).generic("POST", url, text, content_type="application/json")
                assert response.status_code == 400, (name, field, number, response.content)
                assert response.json()["error"]["code"] == "invalid", (name, number)
                assert list(response.json()["error"]["fields"]) == [field], (name, number)
    assert _state(c) == before


def test_the_operators_deposit_amount_refuses_them_too(custody: Custody) -> None:
    c = custody
    before = _state(c)
    operator = OperatorFactory()
    for value in [*HOSTILE, 1e300, -1]:
        body = {"depositor_id": c.depositor.pk, "amount": value, "idempotency_key": "wire-1", "reason": "wire"}
        response = operator_session(operator).post(f"/api/v1/vaults/{c.vault.slug}/deposits/", body, format="json")
        assert response.status_code == 400, (value, response.content)
        assert list(response.json()["error"]["fields"]) == ["amount"]
    assert _state(c) == before


def test_plain_shares_still_withdraw(custody: Custody, at_deposit: None) -> None:
    c = custody
    response = _client(c.depositor).post(
        f"/api/v1/vaults/{c.vault.slug}/withdrawals/", {"shares": "250.000000000000000001"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Withdrawal.objects.get().shares == Decimal("250.000000000000000001")
