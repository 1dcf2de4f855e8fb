"""Live NAV: one Channels group per vault, and the broadcast the vault services schedule after a snapshot commits.

A payload is the snapshot as the vault API writes it: ``at`` ISO 8601 UTC, and the NAV per share (base units per
share, rounded down to the engine's price scale), the vault's value (base units) and shares outstanding as exact
decimal strings without exponent or trailing zeros.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from fees.core.numbers import decimal_text
from vaults.models import NavSnapshot

# Channels group names allow ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
_GROUP_PREFIX = "vaults.nav."
NAV_EVENT = "nav.update"  # handled by VaultNavConsumer.nav_update


def vault_group(vault_id: int) -> str:
    """The Channels group of one vault's live NAV."""
    return f"{_GROUP_PREFIX}{int(vault_id)}"


def nav_payload(snapshot: NavSnapshot) -> dict[str, Any]:
    """A snapshot as JSON: UTC time, NAV per share, value and shares outstanding as exact decimal strings."""
    return {
        "vault_id": snapshot.vault_id,
        "at": snapshot.at.astimezone(UTC).isoformat(),
        "nav_per_share": decimal_text(snapshot.price),
        "value": decimal_text(snapshot.value),
        "shares_outstanding": decimal_text(snapshot.shares_outstanding),
    }


def vault_nav_broadcast(*, vault_id: int, snapshot: NavSnapshot) -> None:
    """Push ``snapshot`` to every page watching the vault. Call it only once the snapshot is committed
    (``transaction.on_commit``): a page must never show a NAV that a rollback took back."""
    if snapshot.vault_id != vault_id:
        raise ValueError(f"snapshot {snapshot.pk} belongs to vault {snapshot.vault_id}, not {vault_id}")
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS is not configured"
    async_to_sync(channel_layer.group_send)(vault_group(vault_id), {"type": NAV_EVENT, **nav_payload(snapshot)})
