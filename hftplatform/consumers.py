from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from hftplatform import status

# Application close code for "sign in first" (4000-4999 are free for applications).
CLOSE_UNAUTHENTICATED = 4401


class ReadOnlyGroupConsumer(AsyncJsonWebsocketConsumer):
    """A socket that joins one Channels group and only forwards its broadcasts; what the client sends is ignored.

    A subclass names the group in :meth:`group_for`, or returns None to refuse with ``refusal_code``; it may send a
    first message in :meth:`joined`.
    """

    refusal_code = 4404
    group: str | None = None

    async def group_for(self) -> str | None:
        raise NotImplementedError

    async def joined(self) -> None:
        """Called once the socket is in its group (e.g. to send the last snapshot)."""

    async def connect(self) -> None:
        group = await self.group_for()
        if group is None:
            # Accept first: a handshake refused outright reaches the browser as code 1006, never the refusal
            # code, and the page would reconnect forever.
            await self.accept()
            await self.close(code=self.refusal_code)
            return
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.joined()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        return None  # read-only: not even parsed, so a malformed frame cannot break the socket


class PlatformStatusConsumer(AsyncJsonWebsocketConsumer):
    """Live platform status for signed-in users: a snapshot on connect, then every broadcast."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a handshake refused outright reaches the browser as code 1006, never 4401, and the
            # page would reconnect forever instead of asking the user to sign in again.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(status.STATUS_GROUP, self.channel_name)
        await self.accept()
        snapshot = await sync_to_async(status.status_snapshot)()
        await self.send_json({"type": "status", "status": snapshot})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(status.STATUS_GROUP, self.channel_name)

    async def status_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "status", "status": event["status"]})
