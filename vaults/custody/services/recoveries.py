"""Co-signer recoveries, mirrored from the vault Safe's guard so the vault's public page shows them.

A recovery is the one way a Safe's owners can act without the policy co-signer: an owner announces a new co-signer on
the guard, the guard lets the replacement execute no earlier than its delay (at least 7 days) later, and the
co-signer can cancel it before. Depositors must see it the moment it is announced, so the platform reads the guard's
events (all of them, every time: a guard emits a handful in its life) and writes what they say. The chain is the
truth: a row whose announcement left the chain (a reorganisation) is deleted, and an executed replacement updates the
``VaultSafe.cosigner`` the platform checks signatures against.

RPC reads happen before the transaction; the rows are written under the Safe's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from web3 import Web3

from chains.addresses import address_normalise
from hftplatform.core.utc import utc_from_ms
from vaults.custody import guard
from vaults.custody.services.proposal_steps import safe_web3
from vaults.lock_objects import safe_lock
from vaults.models import CosignerRecovery, VaultSafe


@dataclass(frozen=True)
class _GuardEvent:
    name: str
    block_number: int
    log_index: int
    tx_hash: str
    at: datetime
    new_cosigner: str
    by: str
    executable_at: datetime | None


@dataclass(frozen=True)
class RecoverySync:
    """What a sync found: the guard's current co-signer and the recoveries by state."""

    cosigner: str
    pending: int
    cancelled: int
    executed: int


def vault_safe_recoveries_sync(*, vault_safe_id: int, w3: Web3 | None = None) -> RecoverySync:
    """Mirror the guard's recovery events of one vault Safe into :class:`~vaults.models.CosignerRecovery` rows and
    its current co-signer into ``VaultSafe.cosigner``. Idempotent; a Safe without a guard has nothing to sync."""
    safe = VaultSafe.objects.get(pk=vault_safe_id)
    if not safe.guard:
        return RecoverySync(cosigner=safe.cosigner, pending=0, cancelled=0, executed=0)
    client = safe_web3(safe, w3)
    events = _guard_events(client, safe.guard, from_block=safe.deployed_block)
    cosigner = guard.guard_cosigner(client, safe.guard)
    with transaction.atomic():
        safe = safe_lock(safe_id=vault_safe_id)
        _rows_write(safe, events)
        if safe.cosigner != cosigner:
            safe.cosigner = cosigner
            safe.save(update_fields=["cosigner"])
    rows = CosignerRecovery.objects.filter(vault_safe=safe)
    return RecoverySync(
        cosigner=cosigner,
        pending=rows.filter(state=CosignerRecovery.State.PENDING).count(),
        cancelled=rows.filter(state=CosignerRecovery.State.CANCELLED).count(),
        executed=rows.filter(state=CosignerRecovery.State.EXECUTED).count(),
    )


def _guard_events(w3: Web3, guard_address: str, *, from_block: int) -> list[_GuardEvent]:
    contract = guard.guard_contract(w3, guard_address)
    found: list[_GuardEvent] = []
    block_times: dict[int, datetime] = {}

    def block_time(number: int) -> datetime:
        if number not in block_times:
            block_times[number] = utc_from_ms(int(w3.eth.get_block(number)["timestamp"]) * 1000)
        return block_times[number]

    for name, who in (
        ("RecoveryAnnounced", "announced_by"),
        ("RecoveryCancelled", "cancelled_by"),
        ("CosignerReplaced", "old_cosigner"),
    ):
        for log in getattr(contract.events, name)().get_logs(from_block=from_block):
            args = log["args"]
            executable = args.get("executable_at")
            found.append(
                _GuardEvent(
                    name=name,
                    block_number=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    at=block_time(int(log["blockNumber"])),
                    new_cosigner=address_normalise(str(args["new_cosigner"])),
                    by=address_normalise(str(args[who])),
                    executable_at=None if executable is None else utc_from_ms(int(executable) * 1000),
                )
            )
    return sorted(found, key=lambda event: (event.block_number, event.log_index))


def _rows_write(safe: VaultSafe, events: list[_GuardEvent]) -> None:
    """Replay the events in chain order: an announcement opens a row, the next cancellation or replacement naming
    the same new co-signer closes it."""
    rows = {(row.announce_tx, row.announce_log_index): row for row in CosignerRecovery.objects.filter(vault_safe=safe)}
    seen: set[tuple[str, int]] = set()
    open_by_cosigner: dict[str, CosignerRecovery] = {}
    for event in events:
        if event.name == "RecoveryAnnounced":
            key = (event.tx_hash, event.log_index)
            seen.add(key)
            row = rows.get(key) or CosignerRecovery(vault_safe=safe, announce_tx=event.tx_hash, announce_log_index=0)
            row.announce_log_index = event.log_index
            row.new_cosigner, row.announced_by, row.announced_at = event.new_cosigner, event.by, event.at
            assert event.executable_at is not None
            row.executable_at, row.block_number = event.executable_at, event.block_number
            row.state, row.closed_at, row.close_tx = CosignerRecovery.State.PENDING, None, ""
            open_by_cosigner[event.new_cosigner] = row
            rows[key] = row
            continue
        row_open = open_by_cosigner.pop(event.new_cosigner, None)
        if row_open is None:
            continue  # a replacement with the co-signer's authorisation, not a recovery
        row_open.state = (
            CosignerRecovery.State.CANCELLED if event.name == "RecoveryCancelled" else CosignerRecovery.State.EXECUTED
        )
        row_open.closed_at, row_open.close_tx = event.at, event.tx_hash
    for key, row in rows.items():
        if key not in seen:
            if row.pk is not None:
                row.delete()  # its announcement is no longer on the chain (reorganised away)
            continue
        row.save()
