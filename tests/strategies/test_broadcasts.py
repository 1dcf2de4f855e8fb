"""Live run progress over Channels: the run socket through the real ASGI application (origin check, session auth)
and the Redis channel layer; only the run's owner or an operator may watch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from hftplatform.asgi import application
from marketdata.models import Instrument
from strategies import services
from strategies.broadcasts import strategy_run_broadcast, strategy_run_group, strategy_run_nav_broadcast
from strategies.consumers import CLOSE_UNKNOWN_RUN
from strategies.models import StrategyRun
from tests.factories import OperatorFactory, UserFactory
from tests.strategies.backtests import leadlag_inputs

pytestmark = pytest.mark.django_db(transaction=True)

SITE_ORIGIN = "http://testserver"


def run_socket(run_id: int, *, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", SITE_ORIGIN.encode()), (b"host", b"testserver")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/strategies/runs/{run_id}/", headers=headers)


def cookie_of(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def queued_run(user: Any) -> StrategyRun:
    return services.strategy_run_create(**leadlag_inputs(created_by=user))


def test_group_name_is_per_run() -> None:
    assert strategy_run_group(7) == "strategies.run.7"


def test_the_owner_sees_the_snapshot_then_the_run_to_its_end(
    redis_namespace: Any, binance: Instrument, bybit: Instrument
) -> None:
    owner = UserFactory()
    run = queued_run(owner)

    async def scenario() -> tuple[Any, list[dict[str, Any]]]:
        socket = run_socket(run.pk, cookie=await sync_to_async(cookie_of)(owner))
        connected = await socket.connect()
        try:
            first = await socket.receive_json_from(timeout=5)
            await sync_to_async(services.strategy_run_execute)(run_id=run.pk)
            messages = [first]
            while messages[-1]["status"] != "done":
                messages.append(await socket.receive_json_from(timeout=5))
        finally:
            await socket.disconnect()
        return connected, messages

    connected, messages = async_to_sync(scenario)()
    assert connected == (True, None)
    assert messages[0] == {"type": "progress", "run_id": run.pk, "status": "queued", "done": 0, "total": 0}
    assert messages[-1] == {"type": "progress", "run_id": run.pk, "status": "done", "done": 16, "total": 16}
    assert all(m["status"] == "running" for m in messages[1:-1])


def test_a_broadcast_reaches_an_operator_watching(redis_namespace: Any, binance: Instrument, bybit: Instrument) -> None:
    run = queued_run(UserFactory())
    operator = OperatorFactory()

    async def scenario() -> list[dict[str, Any]]:
        socket = run_socket(run.pk, cookie=await sync_to_async(cookie_of)(operator))
        await socket.connect()
        try:
            snapshot = await socket.receive_json_from(timeout=5)
            await sync_to_async(strategy_run_broadcast)(run_id=run.pk, status="running", done=3, total=16)
            return [snapshot, await socket.receive_json_from(timeout=5)]
        finally:
            await socket.disconnect()

    received = async_to_sync(scenario)()
    assert received[1] == {"type": "progress", "run_id": run.pk, "status": "running", "done": 3, "total": 16}


@pytest.mark.parametrize("who", ["anonymous", "stranger", "missing run"])
def test_others_are_refused_whether_the_run_exists_or_not(
    redis_namespace: Any, binance: Instrument, bybit: Instrument, who: str
) -> None:
    owner = UserFactory()
    run = queued_run(owner)
    run_id = run.pk + 1000 if who == "missing run" else run.pk
    cookie = None if who == "anonymous" else cookie_of(owner if who == "missing run" else UserFactory())

    async def scenario() -> tuple[Any, Any]:
        socket = run_socket(run_id, cookie=cookie)
        connected = await socket.connect()
        closed = await socket.receive_output(timeout=5)
        await socket.disconnect()
        return connected, closed

    connected, closed = async_to_sync(scenario)()
    assert connected == (True, None)  # accepted, then closed with the application code (not a 1006)
    assert closed == {"type": "websocket.close", "code": CLOSE_UNKNOWN_RUN}


def test_a_paper_runs_nav_points_reach_the_page(redis_namespace: Any, binance: Instrument, bybit: Instrument) -> None:
    owner = UserFactory()
    run = queued_run(owner)

    async def scenario() -> dict[str, Any]:
        socket = run_socket(run.pk, cookie=await sync_to_async(cookie_of)(owner))
        await socket.connect()
        try:
            await socket.receive_json_from(timeout=5)  # the progress snapshot
            await sync_to_async(strategy_run_nav_broadcast)(
                run_id=run.pk, points=[(1_704_067_260_000, Decimal("10000.50000000"))], final_nav=Decimal("10000.5")
            )
            return dict(await socket.receive_json_from(timeout=5))
        finally:
            await socket.disconnect()

    assert async_to_sync(scenario)() == {
        "type": "nav",
        "run_id": run.pk,
        "points": [{"time": "2024-01-01T00:01:00Z", "time_ms": 1_704_067_260_000, "nav": "10000.50000000"}],
        "final_nav": "10000.5",
    }
