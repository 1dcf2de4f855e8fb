"""Strategy trades and unwinds through the services, the database and the real Safe v1.4.1 bytecode (eth-tester):
the co-signer applies the vault's contract-call policy with what co-signed calls used of it in the period, records
the usage when it signs, and refuses (nothing signed, no usage recorded, no token moved) with the policy's reason.

No Uniswap or Aave contract is deployed: the router and the pool are plain addresses (a call to them from the Safe
succeeds and does nothing). What is under test is the co-signer's decision on the call data, not the protocols.
Execution commits before broadcasting, so these tests run with real commits.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Max
from django.utils import timezone
from eth_account import Account
from eth_utils.address import to_checksum_address

from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from tests.vaults.custody.test_custody_services import _hex, assert_untouched, execute, owner_sign
from vaults.custody import services as cs
from vaults.custody.calls import contract_call_data
from vaults.custody.errors import CustodyError
from vaults.custody.safe_tx import safe_tx_hash
from vaults.custody.selectors import proposal_safe_tx
from vaults.models import SafeCallPolicy, SafeCallUsage, SafeProposal, Valuation, VaultEvent

pytestmark = pytest.mark.django_db(transaction=True)

S = SafeProposal.State
USDC_UNIT, WETH_UNIT = 10**6, 10**18
ROUTER = to_checksum_address("0x00000000000000000000000000000000000000b1")
POOL = to_checksum_address("0x00000000000000000000000000000000000000b3")
WETH = to_checksum_address("0x00000000000000000000000000000000000000a2")
TEN_WETH, MIN_FOR_TEN_WETH = 10 * WETH_UNIT, 19_800 * USDC_UNIT  # at 2,000 USDC per WETH and 1 % slippage


def policy_set(c: Custody, **changes: Any) -> SafeCallPolicy:
    values: dict[str, Any] = {
        "safe_id": c.safe.pk,
        "tokens": {c.evm.token: 1_000 * USDC_UNIT, WETH: 50 * WETH_UNIT},
        "trade_contracts": {
            ROUTER: {"protocol": "uniswap_v2_router", "functions": ["swapExactTokensForTokens"]},
            POOL: {"protocol": "aave_v3_pool", "functions": ["supply", "withdraw", "borrow", "repay"]},
        },
        "unwind_contracts": {POOL: {"protocol": "aave_v3_pool", "functions": ["withdraw", "repay"]}},
        "period": timedelta(days=1),
        "max_slippage": Decimal("0.01"),
        "value_loss_tolerance": 500 * USDC_UNIT,
        "mark_max_age": timedelta(hours=1),
    } | changes
    return cs.safe_call_policy_set(**values)


def marks_recorded(c: Custody, weth_price: str = "2000", minutes_ago: int = 5) -> Valuation:
    """A valuation whose sources mark WETH held by the Safe. A stand-in for vault_valuation_record (which would need
    a WETH token deployed, its klines stored and the position set): only the sources the selector reads."""
    at = timezone.now() - timedelta(minutes=minutes_ago)
    number = (VaultEvent.objects.filter(vault=c.vault).aggregate(n=Max("number"))["n"] or 0) + 1
    event = VaultEvent.objects.create(vault=c.vault, number=number, at=at, kind=VaultEvent.Kind.VALUATION, payload={})
    sources = [
        {"asset": "WETH", "venue": "vault", "token": WETH, "decimals": 18, "quantity": "10", "price": weth_price}
    ]
    return Valuation.objects.create(vault=c.vault, event=event, at=at, value=Decimal(0), sources=sources)


def proposed(c: Custody, to: str, data: bytes, kind: str = "strategy_trade", **approval: Any) -> SafeProposal:
    """An operator proposes the call, another approves it: authorised, and the co-signer is asked at once."""
    proposal = cs.operation_proposal_create(
        vault_id=c.vault.pk, kind=kind, to=to, data=data, proposer_id=c.operators[0].pk, w3=c.evm.w3
    )
    return cs.operator_approval_add(proposal_id=proposal.pk, operator_id=c.operators[1].pk, approve=True, **approval)


def supply(c: Custody, amount: int, on_behalf_of: str | None = None) -> bytes:
    return contract_call_data("aave_v3_pool", "supply", c.evm.token, amount, on_behalf_of or c.evm.safe, 0)


def swap(c: Custody, amount_in: int, amount_out_min: int, to: str | None = None) -> bytes:
    path = [WETH, c.evm.token]
    return contract_call_data(
        "uniswap_v2_router", "swapExactTokensForTokens", amount_in, amount_out_min, path, to or c.evm.safe, 2**40
    )


def cosigned(proposal: SafeProposal) -> bool:
    return proposal.signatures.filter(kind="owner").exists()


def assert_refused(proposal: SafeProposal, code: str, usages: int) -> None:
    stored = SafeProposal.objects.get(pk=proposal.pk)
    assert (stored.state, stored.state_code) == (S.FAILED, code)
    assert not cosigned(stored)
    assert SafeCallUsage.objects.count() == usages


def test_a_router_swap_paying_an_attacker_is_refused_and_nothing_is_signed(custody: Custody) -> None:
    c = custody
    policy_set(c)
    marks_recorded(c)
    attacker = Account.create().address

    proposal = proposed(c, ROUTER, swap(c, TEN_WETH, MIN_FOR_TEN_WETH, to=attacker))

    assert_refused(proposal, "recipient_not_safe", usages=0)
    assert (
        f"swapExactTokensForTokens: to is {attacker}; it must be the Safe {c.evm.safe}"
        in SafeProposal.objects.get(pk=proposal.pk).state_reason
    )
    assert_untouched(c, attacker)


def test_aave_on_behalf_of_an_attacker_is_refused(custody: Custody) -> None:
    c = custody
    policy_set(c)
    attacker = Account.create().address
    borrow = contract_call_data("aave_v3_pool", "borrow", c.evm.token, 1, 2, 0, attacker)
    assert_refused(proposed(c, POOL, borrow), "recipient_not_safe", usages=0)
    withdraw = contract_call_data("aave_v3_pool", "withdraw", c.evm.token, 1, attacker)
    assert_refused(proposed(c, POOL, withdraw, kind="emergency_unwind"), "recipient_not_safe", usages=0)
    assert_untouched(c, attacker)


def test_without_a_call_policy_no_trade_is_signed(custody: Custody) -> None:
    c = custody
    assert_refused(proposed(c, POOL, supply(c, 1)), "call_policy_missing", usages=0)
    assert_untouched(c)


def test_the_allowance_counts_what_the_cosigner_signed_in_the_period(custody: Custody) -> None:
    c = custody
    policy_set(c)  # 1,000 USDC per day

    # Two days ago: 900 signed; out of the period now.
    old = proposed(c, POOL, supply(c, 900 * USDC_UNIT), now=timezone.now() - timedelta(days=2))
    assert cosigned(old)
    cs.proposal_cancel(proposal_id=old.pk, user_id=c.operators[0].pk)

    first = proposed(c, POOL, supply(c, 600 * USDC_UNIT))
    assert (first.state, cosigned(first)) == (S.AUTHORISED, True)
    usage = SafeCallUsage.objects.get(proposal=first)
    assert (usage.spent, usage.value_loss, usage.safe_id) == ({c.evm.token: "600000000"}, Decimal(0), c.safe.pk)

    # Each fits alone; together with the first they do not.
    second = proposed(c, POOL, supply(c, 600 * USDC_UNIT))
    assert_refused(second, "allowance_exceeded", usages=2)
    assert f"with {600 * USDC_UNIT} already used" in SafeProposal.objects.get(pk=second.pk).state_reason

    # Cancelling the co-signed first proposal does not give its allowance back: its co-signature is still valid
    # on chain at its nonce.
    cs.proposal_cancel(proposal_id=first.pk, user_id=c.operators[0].pk)
    assert_refused(proposed(c, POOL, supply(c, 600 * USDC_UNIT)), "allowance_exceeded", usages=2)

    assert_untouched(c)


def test_a_later_execution_at_the_same_nonce_releases_a_cancelled_cosigned_usage(custody: Custody) -> None:
    c = custody
    policy_set(c)
    first = proposed(c, POOL, supply(c, 600 * USDC_UNIT))
    assert cosigned(first) and int(first.nonce) == 0
    cs.proposal_cancel(proposal_id=first.pk, user_id=c.operators[0].pk)
    # The platform uses up the cancelled proposal's nonce with a co-signed no-op; an operator signs it; it executes.
    noop = SafeProposal.objects.get(kind="nonce_invalidation", nonce=0)
    noop = cs.owner_signature_add(proposal_id=noop.pk, signature=owner_sign(noop, c.evm.operators[0]))
    assert execute(c, noop).state == S.EXECUTED

    replacement = proposed(c, POOL, supply(c, 400 * USDC_UNIT))  # 600 + 400 fit the 1,000
    assert int(replacement.nonce) == 1 and cosigned(replacement)
    ready = cs.owner_signature_add(proposal_id=replacement.pk, signature=owner_sign(replacement, c.evm.operators[0]))
    assert execute(c, ready).state == S.EXECUTED

    # 400 executed count; the cancelled 600, whose nonce another transaction used, can never execute: it no
    # longer counts.
    after = proposed(c, POOL, supply(c, 600 * USDC_UNIT))
    assert cosigned(after)
    assert SafeCallUsage.objects.count() == 3
    assert c.evm.balance(c.evm.safe) == VAULT_FUNDS  # a supply to an address without code moves nothing


def test_trades_each_within_slippage_exceed_the_vaults_cumulative_tolerance(custody: Custody) -> None:
    c = custody
    policy_set(c)
    # No mark for WETH: refused, never assumed.
    assert_refused(proposed(c, ROUTER, swap(c, TEN_WETH, MIN_FOR_TEN_WETH)), "price_missing", usages=0)
    marks_recorded(c)

    # amountOutMin 0 is below what the marked price and 1 % slippage require.
    assert_refused(proposed(c, ROUTER, swap(c, TEN_WETH, 0)), "output_below_minimum", usages=0)
    # Each swap may lose 200 USDC; two fit the 500 USDC tolerance, the third does not.
    for _ in range(2):
        assert cosigned(proposed(c, ROUTER, swap(c, TEN_WETH, MIN_FOR_TEN_WETH)))
    assert [row.value_loss for row in SafeCallUsage.objects.order_by("id")] == [Decimal(200 * USDC_UNIT)] * 2
    third = proposed(c, ROUTER, swap(c, TEN_WETH, MIN_FOR_TEN_WETH))
    assert_refused(third, "value_loss_tolerance", usages=2)
    assert "with 400000000 lost in the last 1 day" in SafeProposal.objects.get(pk=third.pk).state_reason
    assert_untouched(c)


def test_a_stale_mark_is_no_price(custody: Custody) -> None:
    c = custody
    policy_set(c)
    marks_recorded(c, minutes_ago=61)
    assert_refused(proposed(c, ROUTER, swap(c, TEN_WETH, MIN_FOR_TEN_WETH)), "price_stale", usages=0)


def test_a_refund_receiver_written_into_the_row_is_refused(custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE

    c = custody
    policy_set(c)
    monkeypatch.delenv(COSIGNER_KEY_VARIABLE)
    proposal = proposed(c, POOL, supply(c, 1))
    assert (proposal.state, proposal.state_code) == (S.AUTHORISED, "custody_unavailable")
    # Someone with write access to the row names a refund receiver (gasPrice stays 0).
    attacker = Account.create().address
    tx = proposal_safe_tx(proposal)
    tampered = type(tx)(**{**tx.__dict__, "refund_receiver": attacker})
    SafeProposal.objects.filter(pk=proposal.pk).update(
        refund_receiver=attacker, safe_tx_hash=_hex(safe_tx_hash(c.evm.chain_id, c.evm.safe, tampered))
    )
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + c.evm.cosigner.key.hex())
    with pytest.raises(CustodyError) as raised:
        cs.proposal_cosign(proposal_id=proposal.pk)
    assert raised.value.code == "refund_receiver_set"
    assert_refused(proposal, "refund_receiver_set", usages=0)
    assert_untouched(c, attacker)


def test_the_policy_is_validated_when_set(custody: Custody) -> None:
    c = custody
    with pytest.raises(CustodyError) as raised:
        policy_set(c, trade_contracts={ROUTER: {"protocol": "uniswap_v2_router", "functions": ["multicall"]}})
    assert raised.value.code == "call_policy_invalid"
    with pytest.raises(CustodyError, match="the Safe itself"):
        policy_set(c, trade_contracts={c.evm.safe: {"protocol": "aave_v3_pool", "functions": ["supply"]}})
    assert not SafeCallPolicy.objects.exists()
    row = policy_set(c, tokens={c.evm.token.lower(): "5"})
    assert row.tokens == {c.evm.token: "5"}
    assert row.trade_contracts[POOL] == {
        "protocol": "aave_v3_pool",
        "functions": ["borrow", "repay", "supply", "withdraw"],
    }


def test_two_cosignings_at_once_cannot_both_fit_the_same_remaining_allowance(
    custody: Custody, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from django.db import connection

    from vaults.custody import selectors
    from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE

    c = custody
    policy_set(c)  # 1,000 USDC per day
    monkeypatch.delenv(COSIGNER_KEY_VARIABLE)
    waiting = [proposed(c, POOL, supply(c, 600 * USDC_UNIT)) for _ in range(2)]  # each fits alone
    assert [p.state_code for p in waiting] == ["custody_unavailable"] * 2
    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + c.evm.cosigner.key.hex())
    # Widen the race: the usage read dawdles, so without the Safe lock both co-signings would read "nothing used".
    read = selectors.call_usage_in_period

    def slow_read(**kwargs: Any) -> Any:
        usage = read(**kwargs)
        time.sleep(0.5)
        return usage

    monkeypatch.setattr(selectors, "call_usage_in_period", slow_read)
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def cosign(proposal_id: int) -> None:
        start.wait()
        try:
            cs.proposal_cosign(proposal_id=proposal_id)
            outcomes[proposal_id] = "signed"
        except CustodyError as error:
            outcomes[proposal_id] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=cosign, args=(p.pk,)) for p in waiting]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes.values()) == ["allowance_exceeded", "signed"]
    assert SafeCallUsage.objects.count() == 1
    assert sum(cosigned(SafeProposal.objects.get(pk=p.pk)) for p in waiting) == 1
    assert_untouched(c)
