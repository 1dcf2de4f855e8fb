"""Live NAV over Channels: the vault socket through the real ASGI application (origin check, session auth) and the
Redis channel layer, and the broadcast the services schedule once a snapshot commits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from hftplatform.asgi import application
from tests.factories import UserFactory
from tests.vaults.builders import HALF_YEAR, at, deposit, vault_new
from vaults import errors
from vaults.broadcasts import nav_payload, vault_group, vault_nav_broadcast, vault_nav_flush
from vaults.consumers import CLOSE_UNKNOWN_VAULT
from vaults.models import NavSnapshot, Vault

pytestmark = pytest.mark.django_db(transaction=True)

SITE_ORIGIN = "http://testserver"


def nav_socket(vault_id: int, *, origin: str = SITE_ORIGIN, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/vaults/{vault_id}/nav/", headers=headers)


def cookie_of(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def test_group_name_is_per_vault() -> None:
    assert vault_group(7) == "vaults.nav.7"
    assert vault_group(8) != vault_group(7)


def test_payload_is_exact_decimal_text_and_utc() -> None:
    snapshot = NavSnapshot(
        vault_id=3,
        at=datetime(2025, 7, 2, 12, 0, 0, 250_000, tzinfo=UTC),
        price=Decimal("1.188000000000000000001"),
        value=Decimal("1188000.000000000000000"),
        shares_outstanding=Decimal("1000000.000000000000000001"),
        fee_account_shares=Decimal("0"),
    )
    assert nav_payload(snapshot) == {
        "vault_id": 3,
        "at": "2025-07-02T12:00:00.250000+00:00",
        "nav_per_share": "1.188000000000000000001",  # not rounded through a float
        "value": "1188000",
        "shares_outstanding": "1000000.000000000000000001",
    }


def test_broadcast_refuses_a_snapshot_of_another_vault() -> None:
    snapshot = NavSnapshot(vault_id=3, price=Decimal(1), value=Decimal(0), shares_outstanding=Decimal(0))
    with pytest.raises(ValueError, match="belongs to vault 3, not 4"):
        vault_nav_broadcast(vault_id=4, snapshot=snapshot)


def test_committed_deposits_reach_the_anonymous_page_of_their_vault_only(redis_namespace) -> None:
    watched, other = vault_new("usdc-core"), vault_new("usdc-other")
    alice, bob = UserFactory(), UserFactory()

    async def scenario() -> tuple[Any, list[dict[str, Any]], bool]:
        communicator = nav_socket(watched.pk)
        connected = await communicator.connect()
        try:
            await sync_to_async(deposit)(other, bob, 5_000_000)  # another vault: must not arrive
            await sync_to_async(deposit)(watched, alice, 1_000_000, 0)
            await sync_to_async(deposit)(watched, bob, 2_500_000, HALF_YEAR)
            received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
            silent = await communicator.receive_nothing(timeout=0.3)
        finally:
            await communicator.disconnect()
        return connected, received, silent

    connected, received, silent = async_to_sync(scenario)()

    assert connected == (True, None)
    assert received[0] == {
        "type": "nav",
        "vault_id": watched.pk,
        "at": "2025-01-01T00:00:00+00:00",
        "nav_per_share": "1",
        "value": "1000000",
        "shares_outstanding": "1000000",
    }
    # The second point is the stored snapshot, digit for digit, as the vault API's NAV series shows it
    latest = NavSnapshot.objects.filter(vault=watched).order_by("-at", "-id").first()
    assert latest is not None
    series = Client().get("/api/v1/vaults/usdc-core/").json()["nav_series"]
    assert len(series) == 2
    assert received[1]["nav_per_share"] == series[-1]["nav_per_share"] == nav_payload(latest)["nav_per_share"]
    assert received[1] == {"type": "nav", **nav_payload(latest)}
    assert received[1]["at"] == "2025-07-02T12:00:00+00:00"
    assert Decimal(received[1]["nav_per_share"]) < 1  # the half year's management fee lowered it
    assert silent is True


def test_a_burst_of_snapshots_ends_on_the_newest_and_never_goes_back(redis_namespace) -> None:
    # given a page watching a vault
    vault = vault_new()

    def snapshot(number: int) -> NavSnapshot:
        price = Decimal(number)
        return NavSnapshot(
            pk=number, vault_id=vault.pk, at=at(number), price=price, value=price, shares_outstanding=Decimal(1)
        )

    async def scenario() -> tuple[list[int], bool]:
        communicator = nav_socket(vault.pk)
        await communicator.connect()
        try:
            # when 200 snapshots are committed in a burst, then a late callback hands over an older one
            for number in range(1, 201):
                vault_nav_broadcast(vault_id=vault.pk, snapshot=snapshot(number))
            vault_nav_broadcast(vault_id=vault.pk, snapshot=snapshot(7))
            received: list[int] = []
            while not received or received[-1] != 200:
                received.append(int((await communicator.receive_json_from(timeout=5))["value"]))
            silent = await communicator.receive_nothing(timeout=0.3)
        finally:
            await communicator.disconnect()
        return received, silent

    received, silent = async_to_sync(scenario)()

    # then the page ends on the newest NAV, each point newer than the one before, and the older one never comes
    assert received[-1] == 200
    assert received == sorted(set(received))
    assert silent is True


def test_nothing_is_broadcast_for_a_refused_or_rolled_back_deposit(redis_namespace) -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000, 0, key="first")
    assert vault_nav_flush()  # the first deposit's broadcast is out before the page starts watching

    class Abort(Exception):
        pass

    def rolled_back() -> None:
        with transaction.atomic():
            deposit(vault, user, 3_000_000, 60)  # the snapshot is written, then taken back
            raise Abort

    async def scenario() -> tuple[bool, list[type[Exception]]]:
        communicator = nav_socket(vault.pk)
        await communicator.connect()
        refused: list[type[Exception]] = []
        try:
            for attempt in (
                lambda: deposit(vault, user, 0, 60),  # not a positive amount
                lambda: deposit(vault, user, 7, 60, key="first"),  # same key, other content
                rolled_back,
            ):
                try:
                    await sync_to_async(attempt)()
                except Exception as error:  # the kinds are asserted below
                    refused.append(type(error))
            silent = await communicator.receive_nothing(timeout=0.5)
        finally:
            await communicator.disconnect()
        return silent, refused

    silent, refused = async_to_sync(scenario)()

    assert refused == [errors.VaultServiceError, errors.IdempotencyConflictError, Abort]
    assert silent is True
    assert NavSnapshot.objects.filter(vault=vault).count() == 1
    assert Vault.objects.get(pk=vault.pk).value == Decimal(1_000_000)


def test_unknown_vault_is_closed_with_4404_and_gets_nothing(redis_namespace) -> None:
    vault = vault_new()
    missing = vault.pk + 1000

    async def scenario() -> tuple[Any, dict[str, Any], bool]:
        communicator = nav_socket(missing)
        connected = await communicator.connect()
        closing = await communicator.receive_output(timeout=5)
        silent = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return connected, closing, silent

    connected, closing, silent = async_to_sync(scenario)()

    assert connected == (True, None)
    assert closing == {"type": "websocket.close", "code": CLOSE_UNKNOWN_VAULT}
    assert CLOSE_UNKNOWN_VAULT == 4404  # the code static/js/vault.js stops reconnecting on
    assert silent is True


def test_private_vault_is_watched_by_its_holders_only(redis_namespace) -> None:
    vault, holder, stranger = vault_new("usdc-private", public=False), UserFactory(), UserFactory()
    deposit(vault, holder, 1_000_000)
    assert vault_nav_flush()  # out before any page watches: the holder's first frame is the second deposit
    holder_cookie, stranger_cookie = cookie_of(holder), cookie_of(stranger)

    async def first_frame(cookie: bytes | None) -> Any:
        communicator = nav_socket(vault.pk, cookie=cookie)
        await communicator.connect()
        try:
            if cookie is holder_cookie:
                await sync_to_async(deposit)(vault, holder, 500_000, 60)
            return await communicator.receive_output(timeout=5)
        finally:
            await communicator.disconnect()

    anonymous = async_to_sync(first_frame)(None)
    stranger_frame = async_to_sync(first_frame)(stranger_cookie)
    holder_frame = async_to_sync(first_frame)(holder_cookie)

    assert anonymous == {"type": "websocket.close", "code": CLOSE_UNKNOWN_VAULT}
    assert stranger_frame == {"type": "websocket.close", "code": CLOSE_UNKNOWN_VAULT}
    assert holder_frame["type"] == "websocket.send"
    assert '"value": "1500000"' in holder_frame["text"]


def test_client_frames_are_ignored_and_a_foreign_origin_is_refused(redis_namespace) -> None:
    vault, user = vault_new(), UserFactory()

    async def scenario() -> tuple[bool, dict[str, Any], Any]:
        communicator = nav_socket(vault.pk)
        await communicator.connect()
        try:
            await communicator.send_to(text_data="not json {")
            await communicator.send_json_to({"type": "nav.update", "vault_id": vault.pk})
            silent = await communicator.receive_nothing(timeout=0.3)
            await sync_to_async(deposit)(vault, user, 42)
            message = await communicator.receive_json_from(timeout=5)
        finally:
            await communicator.disconnect()
        foreign = nav_socket(vault.pk, origin="http://evil.example")
        refused = await foreign.connect()
        await foreign.disconnect()
        return silent, message, refused

    silent, message, refused = async_to_sync(scenario)()

    assert silent is True
    assert (message["value"], message["shares_outstanding"], message["nav_per_share"]) == ("42", "42", "1")
    assert refused[0] is False


def test_pages_point_their_scripts_at_the_vault_socket() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000)
    page = Client().get("/vaults/usdc-core/")
    assert page.status_code == 200
    assert f'data-ws-path="/ws/vaults/{vault.pk}/nav/"'.encode() in page.content
    client = Client()
    client.force_login(user)
    mine = client.get("/vaults/mine/")
    assert mine.status_code == 200
    content = mine.content.decode()
    assert content.count(f'data-ws-path="/ws/vaults/{vault.pk}/nav/"') == 1
    assert 'data-vault-slug="usdc-core"' in content
    assert 'data-holdings-url="/api/v1/vaults/me/holdings/"' in content
    assert '<dd class="mono" data-role="value">1000</dd>' in content
    assert "js/vault.js" in content
