"""Live NAV: one Channels group per vault, and the broadcast the vault services schedule after a snapshot commits.

A payload is the snapshot as the vault API writes it: ``at`` ISO 8601 UTC, and the NAV per share (base units per
share, rounded down to the engine's price scale), the vault's value (base units) and shares outstanding as exact
decimal strings without exponent or trailing zeros.

The broadcast never blocks the write that produced the snapshot: it hands the snapshot to one publisher thread per
process, which keeps an event loop (and so the channel layer's Redis connections) for its whole life. Calling
``async_to_sync(group_send)`` from the request thread instead started a thread, an event loop and a Redis connection
per snapshot, while the depositor waited. Per vault only the newest pending snapshot is kept (snapshot ids grow in
commit order, since snapshots of one vault are written under its row lock): when writes outpace the channel layer
a page skips intermediate points but always ends on the latest NAV, and never gets an older NAV after a newer one
from the same process.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from datetime import UTC
from typing import Any

from channels.layers import get_channel_layer

from hftplatform.core.decimal_text import decimal_text_trim_zeros
from vaults.models import NavSnapshot

logger = logging.getLogger(__name__)

# Channels group names allow ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
_GROUP_PREFIX = "vaults.nav."
NAV_EVENT = "nav.update"  # handled by VaultNavConsumer.nav_update
EXIT_FLUSH_SECONDS = 2.0  # at interpreter exit, how long the last snapshots may take to go out


def vault_group(vault_id: int) -> str:
    """The Channels group of one vault's live NAV."""
    return f"{_GROUP_PREFIX}{int(vault_id)}"


def nav_payload(snapshot: NavSnapshot) -> dict[str, Any]:
    """A snapshot as JSON: UTC time, NAV per share, value and shares outstanding as exact decimal strings."""
    return {
        "vault_id": snapshot.vault_id,
        "at": snapshot.at.astimezone(UTC).isoformat(),
        "nav_per_share": decimal_text_trim_zeros(snapshot.price),
        "value": decimal_text_trim_zeros(snapshot.value),
        "shares_outstanding": decimal_text_trim_zeros(snapshot.shares_outstanding),
    }


class _NavPublisher:
    """The process's publisher thread and the snapshots waiting for it (newest per vault)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: dict[int, NavSnapshot] = {}
        self._latest: dict[int, int] = {}  # vault id -> newest snapshot id accepted
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def publish(self, snapshot: NavSnapshot) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: the parent's thread is not ours
                self._start()
            vault_id, number = snapshot.vault_id, snapshot.pk
            if number is not None:
                if number <= self._latest.get(vault_id, 0):
                    return  # a newer snapshot of this vault was handed over already
                self._latest[vault_id] = number
            self._pending[vault_id] = snapshot
            if not self._draining:
                self._draining = True
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._drain_start)

    def flush(self, timeout: float) -> bool:
        """Wait until every snapshot handed over so far went to the channel layer; False on timeout."""
        with self._lock:
            if self._pid != os.getpid():
                return not self._pending
            return self._idle.wait_for(lambda: not self._draining, timeout=timeout)

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run, args=(loop,), name="vault-nav-publisher", daemon=True)
        self._pending, self._latest, self._draining = {}, {}, False
        self._loop, self._pid = loop, os.getpid()
        thread.start()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _drain_start(self) -> None:
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, {}
                if not batch:
                    self._draining = False
                    self._idle.notify_all()
                    return
            layer = get_channel_layer()  # per batch: tests swap the layer's settings between runs
            for vault_id, snapshot in batch.items():
                try:
                    assert layer is not None, "CHANNEL_LAYERS is not configured"
                    await layer.group_send(vault_group(vault_id), {"type": NAV_EVENT, **nav_payload(snapshot)})
                except Exception:  # a channel layer outage must not stop later snapshots
                    logger.exception("NAV snapshot %s of vault %s was not broadcast", snapshot.pk, vault_id)


_publisher = _NavPublisher()


def vault_nav_broadcast(*, vault_id: int, snapshot: NavSnapshot) -> None:
    """Push ``snapshot`` to every page watching the vault, without waiting for the channel layer (see the module
    docstring). Call it only once the snapshot is committed (``transaction.on_commit``): a page must never show a
    NAV that a rollback took back."""
    if snapshot.vault_id != vault_id:
        raise ValueError(f"snapshot {snapshot.pk} belongs to vault {snapshot.vault_id}, not {vault_id}")
    _publisher.publish(snapshot)


def vault_nav_flush(timeout: float = 5.0) -> bool:
    """Wait until every broadcast handed over by this process reached the channel layer (False on timeout)."""
    return _publisher.flush(timeout)


atexit.register(vault_nav_flush, EXIT_FLUSH_SECONDS)  # a management command's last snapshot still goes out
