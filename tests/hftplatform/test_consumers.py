"""The status websocket through the real ASGI application (origin check, session auth) and Redis channel layer.

pytest-asyncio is not used: each scenario is an async function run with ``async_to_sync``. The session
middleware reads the database from a worker thread, hence ``transactional_db``.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.test import Client

from hftplatform import status
from hftplatform.asgi import application
from hftplatform.consumers import CLOSE_UNAUTHENTICATED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FROZEN_ISO = "2026-03-04T05:06:07.890123+00:00"
SITE_ORIGIN = "http://testserver"


@pytest.fixture
def session_cookie() -> bytes:
    """The Cookie header of a browser signed in as a verified user."""
    client = Client()
    client.force_login(UserFactory())
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def status_socket(*, origin: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/status/", headers=headers)


def test_anonymous_connection_is_closed_with_sign_in_code(redis_namespace) -> None:
    async def scenario() -> tuple[tuple[bool, Any], dict[str, Any], bool]:
        communicator = status_socket(origin=SITE_ORIGIN)
        connected = await communicator.connect()
        closing = await communicator.receive_output()
        silent = await communicator.receive_nothing()
        await communicator.disconnect()
        return connected, closing, silent

    connected, closing, silent = async_to_sync(scenario)()

    # The handshake completes only so the browser can read the code (a refused handshake reaches it as 1006);
    # the first and only frame is the close: no snapshot leaks to an anonymous visitor.
    assert connected == (True, None)
    assert closing == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
    assert CLOSE_UNAUTHENTICATED == 4401  # the code static/js/status.js answers with "sign in again"
    assert silent is True


def test_signed_in_user_gets_a_snapshot_then_each_broadcast(redis_namespace, frozen_now, session_cookie) -> None:
    # Given beat ran once and no worker has reported yet
    status.beat_run_record(task_name="hftplatform.tasks.platform_status_broadcast")

    async def scenario() -> tuple[tuple[bool, Any], dict[str, Any], dict[str, Any], bool]:
        communicator = status_socket(origin=SITE_ORIGIN, cookie=session_cookie)
        connected = await communicator.connect()
        try:
            snapshot = await communicator.receive_json_from(timeout=5)
            # When a worker broadcasts
            await sync_to_async(status.status_broadcast)(worker_hostname="celery@worker-7")
            update = await communicator.receive_json_from(timeout=5)
            silent = await communicator.receive_nothing(timeout=0.2)
        finally:
            await communicator.disconnect()
        return connected, snapshot, update, silent

    connected, snapshot, update, silent = async_to_sync(scenario)()

    # Then the dashboard got the snapshot on connect, then exactly the broadcast
    beat = {"at": FROZEN_ISO, "task": "hftplatform.tasks.platform_status_broadcast"}
    assert connected == (True, None)
    assert snapshot == {"type": "status", "status": {"server_time": FROZEN_ISO, "worker": None, "beat": beat}}
    assert update == {
        "type": "status",
        "status": {
            "server_time": FROZEN_ISO,
            "worker": {"at": FROZEN_ISO, "hostname": "celery@worker-7"},
            "beat": beat,
        },
    }
    assert silent is True


def test_signed_in_user_from_a_foreign_origin_is_refused(redis_namespace, session_cookie) -> None:
    async def scenario() -> tuple[tuple[bool, Any], tuple[bool, Any]]:
        foreign = status_socket(origin="http://evil.example", cookie=session_cookie)
        refused = await foreign.connect()
        # The same session from the site's own origin is let in: the origin alone made the difference.
        own = status_socket(origin=SITE_ORIGIN, cookie=session_cookie)
        accepted = await own.connect()
        await own.disconnect()
        return refused, accepted

    refused, accepted = async_to_sync(scenario)()

    assert "evil.example" not in settings.ALLOWED_HOSTS
    assert refused == (False, 1000)
    assert accepted == (True, None)


def test_idle_dashboard_stays_connected_and_gets_the_next_broadcast(
    redis_namespace, frozen_now, session_cookie
) -> None:
    # channels_redis waits for a message with a server-side BZPOPMIN timeout; if the Redis client's own
    # socket timeout is not longer, an idle consumer's wait fails with a client timeout and the consumer dies.
    idle_seconds = RedisChannelLayer.brpop_timeout + 1

    async def scenario() -> tuple[bool, dict[str, Any]]:
        communicator = status_socket(origin=SITE_ORIGIN, cookie=session_cookie)
        await communicator.connect()
        try:
            await communicator.receive_json_from(timeout=5)
            # Given a dashboard that has heard nothing for longer than one channel-layer wait
            idle = await communicator.receive_nothing(timeout=idle_seconds, interval=0.5)
            # When a worker broadcasts
            await sync_to_async(status.status_broadcast)(worker_hostname="celery@worker-7")
            update = await communicator.receive_json_from(timeout=5)
        finally:
            await communicator.disconnect()
        return idle, update

    idle, update = async_to_sync(scenario)()

    # Then the connection survived and the broadcast arrives
    assert idle is True
    assert update["status"]["worker"] == {"at": FROZEN_ISO, "hostname": "celery@worker-7"}
