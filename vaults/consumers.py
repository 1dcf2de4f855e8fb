"""Read-only websocket of one vault's live NAV: ``/ws/vaults/<vault_id>/nav/``."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from hftplatform.consumers import ReadOnlyGroupConsumer
from vaults.broadcasts import vault_group
from vaults.models import Vault, VaultAccount

# Application close code for "no such vault, or not yours to watch" (4000-4999 are free for applications).
CLOSE_UNKNOWN_VAULT = 4404


@database_sync_to_async
def _may_watch(vault_id: int, user: Any) -> bool:
    vault = Vault.objects.filter(pk=vault_id).values_list("public", flat=True).first()
    if vault is None:
        return False
    if vault:  # a public vault's NAV is published to everyone
        return True
    # A private vault's NAV is shown only to its holders (their "my holdings" page); a stranger learns nothing,
    # not even that the vault exists.
    if user is None or not user.is_authenticated:
        return False
    return VaultAccount.objects.filter(vault_id=vault_id, depositor_id=user.pk).exists()


class VaultNavConsumer(ReadOnlyGroupConsumer):
    """Joins the vault's group and forwards each committed NAV snapshot."""

    refusal_code = CLOSE_UNKNOWN_VAULT

    async def group_for(self) -> str | None:
        vault_id = int(self.scope["url_route"]["kwargs"]["vault_id"])
        return vault_group(vault_id) if await _may_watch(vault_id, self.scope.get("user")) else None

    async def nav_update(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "nav",
                "vault_id": event["vault_id"],
                "at": event["at"],
                "nav_per_share": event["nav_per_share"],
                "value": event["value"],
                "shares_outstanding": event["shares_outstanding"],
            }
        )
