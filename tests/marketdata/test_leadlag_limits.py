"""Job limits on lead-lag requests: a cost budget (grid steps x markets x max_lag) and a per-user concurrency of
queued and running runs, counted under a lock on the user's row."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction

from accounts.models import User
from marketdata import services
from marketdata.models import Instrument, LeadLagRun
from marketdata.tasks import leadlag_run
from tests.factories import UserFactory
from tests.marketdata.test_leadlag_runs import DAY, START, markets  # noqa: F401 - the fixture

PAIR = [("binance", "BTC/USDT"), ("coinbase", "BTC/USD")]
# One day of 1m candles on two markets at max_lag 5: 1,440 x 2 x 5.
DAY_COST = 14_400


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "exchanges": "binance,coinbase:BTC/USD",
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start": "2023-11-14",
        "end": "2023-11-15",
        "max_lag": 5,
    } | extra


def _create(user_id: int) -> LeadLagRun:
    return services.leadlag_run_create(
        markets=PAIR, interval="1m", start_ms=START, end_ms=START + DAY, max_lag=5, created_by_id=user_id
    )


def test_a_request_over_the_budget_is_refused_with_its_cost_and_nothing_is_queued(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument],  # noqa: F811
    user_api_client,
    settings,
) -> None:
    # Given a budget one below the request's cost
    settings.LEADLAG_COST_BUDGET = DAY_COST - 1

    # When the user asks for it
    with mock.patch.object(leadlag_run, "delay") as delay:
        response = user_api_client.post("/api/v1/leadlag/", _body(), format="json")

    # Then a 400 that states the cost and the budget; no run stored, nothing queued
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "leadlag_over_budget",
            "message": "this run would cost 14,400 (1,440 steps x 2 markets x 5 lags), over the budget of 14,399; "
            "shorten the window, use a longer interval, fewer markets or a smaller max_lag",
            "fields": {"max_lag": ["Cost 14,400 is over the budget of 14,399."]},
        }
    }
    assert LeadLagRun.objects.count() == 0
    delay.assert_not_called()


def test_a_request_at_the_budget_is_accepted(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument],  # noqa: F811
    user_api_client,
    user,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.LEADLAG_COST_BUDGET = DAY_COST
    with mock.patch.object(leadlag_run, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = user_api_client.post("/api/v1/leadlag/", _body(), format="json")
    assert response.status_code == 202
    run = LeadLagRun.objects.get()
    assert (run.created_by_id, run.status) == (user.pk, "queued")
    delay.assert_called_once_with(run.pk)


def test_the_default_budget_refuses_a_year_of_seconds(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument],  # noqa: F811
    user_api_client,
) -> None:
    # A year of 1s candles on two venues at 30 lags: 31,536,000 x 2 x 30, refused before any candle is read.
    response = user_api_client.post(
        "/api/v1/leadlag/", _body(interval="1s", start="2023-01-01", end="2024-01-01", max_lag=30), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "this run would cost 1,892,160,000 (31,536,000 steps x 2 markets x 30 lags), over the budget of 50,000,000"
    )
    assert LeadLagRun.objects.count() == 0


def test_the_operators_command_and_beat_are_not_bounded_by_a_users_budget(
    markets: dict[str, Instrument],  # noqa: F811
    settings: Any,
) -> None:
    settings.LEADLAG_COST_BUDGET = 1
    settings.LEADLAG_USER_CONCURRENCY = 0
    run = services.leadlag_run_create(markets=PAIR, interval="1m", start_ms=START, end_ms=START + DAY, max_lag=5)
    assert (run.created_by_id, run.status) == (None, "queued")


def test_a_user_with_runs_queued_and_running_up_to_the_limit_is_refused(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument],  # noqa: F811
    user_api_client,
    user,
    settings,
) -> None:
    # Given a limit of 2, one queued and one running run of this user, and a finished and a failed one
    settings.LEADLAG_USER_CONCURRENCY = 4
    queued, running, done, failed = (_create(user.pk) for _ in range(4))
    LeadLagRun.objects.filter(pk=running.pk).update(status="running")
    LeadLagRun.objects.filter(pk=done.pk).update(status="done")
    LeadLagRun.objects.filter(pk=failed.pk).update(status="failed")
    settings.LEADLAG_USER_CONCURRENCY = 2
    before = list(LeadLagRun.objects.order_by("pk").values_list("pk", "status"))

    # When they ask for another
    with mock.patch.object(leadlag_run, "delay") as delay:
        response = user_api_client.post("/api/v1/leadlag/", _body(), format="json")

    # Then a 429 that says why; nothing stored or queued
    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "code": "leadlag_too_many_runs",
            "message": "you have 2 lead-lag runs queued or running, the most allowed at once is 2; "
            "wait for one to finish",
            "fields": {},
        }
    }
    assert list(LeadLagRun.objects.order_by("pk").values_list("pk", "status")) == before
    delay.assert_not_called()

    # And another user is not affected, and once a run finishes this user may start one again
    other = UserFactory()
    assert _create(other.pk).created_by_id == other.pk
    LeadLagRun.objects.filter(pk=queued.pk).update(status="done")
    assert _create(user.pk).status == "queued"


def test_the_queued_and_running_runs_count_as_the_limit_while_they_are_created(
    markets: dict[str, Instrument],  # noqa: F811
    settings: Any,
) -> None:
    settings.LEADLAG_USER_CONCURRENCY = 2
    user = UserFactory()
    _create(user.pk)
    _create(user.pk)
    with pytest.raises(services.LeadLagTooManyRuns):
        _create(user.pk)
    assert LeadLagRun.objects.filter(created_by=user).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_cannot_both_take_the_last_place(
    markets: dict[str, Instrument],  # noqa: F811
    settings: Any,
) -> None:
    # Given a limit of 1 and a user with no run
    settings.LEADLAG_USER_CONCURRENCY = 1
    user_id = User.objects.create(email="racer@example.com").pk
    first_inserted, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                outcomes["first"] = _create(user_id).pk
                first_inserted.set()
                release_first.wait(timeout=20)  # the transaction stays open: its run is not yet visible
        finally:
            connection.close()

    def second() -> None:
        try:
            outcomes["second"] = _create(user_id).pk
        except services.LeadLagTooManyRuns as error:
            outcomes["second"] = error.message
        finally:
            connection.close()

    # When a second request arrives while the first has inserted its run but not committed
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_inserted.wait(timeout=20)
    threads[1].start()
    threads[1].join(timeout=1.0)
    # Then the second waits on the user's row (a check-then-insert would have counted 0 and inserted by now)
    assert threads[1].is_alive()
    assert LeadLagRun.objects.count() == 0
    release_first.set()
    for thread in threads:
        thread.join(timeout=20)

    # And once the first commits, the second counts it and is refused: one run, the first's
    assert outcomes["second"] == (
        "you have 1 lead-lag runs queued or running, the most allowed at once is 1; wait for one to finish"
    )
    assert list(LeadLagRun.objects.values_list("pk", "created_by_id")) == [(outcomes["first"], user_id)]
