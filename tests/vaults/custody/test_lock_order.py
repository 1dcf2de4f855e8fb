"""The custody row locks in one order (``vaults.lock_objects``): a new proposal for a withdrawal and a step on its
current proposal (cancellation, the depositor's second signature), run at the same moment from two threads with a
connection each, never deadlock. Each thread pauses right after its first row lock, so both hold one lock before
either asks for the next: with the two orders reversed, PostgreSQL found a deadlock here and aborted one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.vaults.custody.conftest import Custody
from tests.vaults.custody.test_custody_services import PAYOUT, depositor_sign, propose
from vaults.custody import services as cs
from vaults.custody.errors import CustodyError
from vaults.models import SafeProposal, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)

PAUSE_S = 0.6  # longer than nothing, shorter than PostgreSQL's deadlock_timeout (1 s) plus the pause


@contextmanager
def pause_after_first_row_lock() -> Iterator[None]:
    """On this thread's connection: sleep once, right after the first ``SELECT ... FOR UPDATE`` returns."""
    paused = False

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal paused
        result = execute(sql, params, many, context)
        if not paused and "FOR UPDATE" in sql:
            paused = True
            time.sleep(PAUSE_S)
        return result

    with connection.execute_wrapper(wrapper):
        yield


def run_together(*steps: Callable[[], Any]) -> list[BaseException | Any]:
    barrier = threading.Barrier(len(steps))
    results: list[BaseException | Any] = [None] * len(steps)

    def run(index: int) -> None:
        try:
            barrier.wait()
            with pause_after_first_row_lock():
                results[index] = steps[index]()
        except BaseException as error:  # examined below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(steps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _second_signature(c: Custody, proposal: SafeProposal) -> Callable[[], Any]:
    cs.depositor_signature_add(proposal_id=proposal.pk, signature=depositor_sign(proposal, c.wallet_a))
    signature = depositor_sign(proposal, c.wallet_b)
    return lambda: cs.depositor_signature_add(proposal_id=proposal.pk, signature=signature)


def _cancel(c: Custody, proposal: SafeProposal) -> Callable[[], Any]:
    return lambda: cs.proposal_cancel(proposal_id=proposal.pk, user_id=c.depositor.pk)


@pytest.mark.parametrize("step", [_cancel, _second_signature], ids=["cancel", "second-signature"])
def test_a_new_proposal_and_a_step_on_the_current_one_do_not_deadlock(
    custody: Custody, step: Callable[[Custody, SafeProposal], Callable[[], Any]]
) -> None:
    # given a withdrawal with a proposal still unsigned by the Safe's owners
    c = custody
    withdrawal = c.withdraw(PAYOUT)
    current = propose(c, withdrawal=withdrawal)
    on_current = step(c, current)

    def replace() -> SafeProposal:
        return cs.withdrawal_proposal_create(
            withdrawal_id=withdrawal.pk,
            destination=c.wallet_a.address,
            deadline=timezone.now() + timedelta(minutes=30),
            w3=c.evm.w3,
        )

    # when a new proposal for the withdrawal and a step on the current one run at once
    new_result, step_result = run_together(replace, on_current)

    # then neither hit a database error (a deadlock is an OperationalError); each either did its work or was
    # refused with a clear custody error because the other came first
    for result in (new_result, step_result):
        assert not isinstance(result, BaseException) or isinstance(result, CustodyError), repr(result)
    assert not (isinstance(new_result, BaseException) and isinstance(step_result, BaseException))
    live = SafeProposal.objects.filter(withdrawal=withdrawal, state__in=SafeProposal.LIVE_STATES)
    assert live.count() == 1
    stored = Withdrawal.objects.get(pk=withdrawal.pk)
    if isinstance(new_result, SafeProposal):  # the replacement won: the old one is closed, the withdrawal waits
        assert SafeProposal.objects.get(pk=current.pk).state == SafeProposal.State.CANCELLED
        assert live.get().pk == new_result.pk
        assert stored.state == Withdrawal.State.AWAITING_SIGNATURES
    else:  # the step came first and moved the proposal on: no replacement for a proposal past "proposed"
        assert isinstance(new_result, CustodyError) and new_result.code in ("proposal_live", "withdrawal_state")
        assert live.get().pk == current.pk
