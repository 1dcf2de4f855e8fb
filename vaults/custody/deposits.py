"""On-chain deposit detection: ERC-20 ``Transfer`` logs of a vault's asset into its Safe, credited after enough
confirmations, safe against chain reorganisations.

One scan of a :class:`~vaults.models.VaultSafe` (:func:`vault_safe_deposits_scan`, run by beat every ~15 s):

1. **Reorg check.** The cursor holds the last scanned block and the hashes of the last blocks scanned. If the
   cursor's block is no longer the chain's block at that height, the scan walks back those hashes to the highest
   block the chain still has (the fork point) and rescans from there; since each block hash commits to its
   parent, an unchanged cursor block means nothing at or below it changed.
2. **Read** ``eth_getLogs`` for ``Transfer(from, to=safe)`` of ``asset_contract`` from the cursor (the Safe's
   creation block at first) to the head, in bounded block ranges. Every log is stored as a
   :class:`~vaults.models.ChainTransfer` (unique per chain id, tx hash and log index), state ``seen``; after a
   reorg, stored transfers above the fork point that the chain no longer has become ``orphaned`` (not credited
   yet) or are reversed (:func:`vaults.services.deposits.vault_deposit_reverse`; refused and flagged for an
   operator when the lot's shares already left). A transfer mined again (same tx hash and log index) is ``seen`` again.
3. **Credit** each ``seen`` transfer with at least ``confirmations`` blocks on top of its block (re-checking that
   its block is still the chain's): through :func:`vaults.services.deposits.vault_deposit_record` (idempotent per
   chain id, tx hash and log index), the amount exactly the log's uint256, for the user whose linked
   :class:`~accounts.models.Wallet` sent it; ``unattributed`` if no user linked the sender (never guessed),
   ``rejected`` if not creditable (zero amount, or the vault refused it).

An ``unattributed`` transfer is credited only by two operators: one names the depositor
(:func:`chain_transfer_attribution_request`, the ChainTransfer admin's action), a second approves
(:func:`chain_transfer_attribution_approve`, the manual credits' admin action or API), which checks again that its
block is still the chain's with the confirmations on top.

RPC happens outside database transactions; each write is one short transaction, so a crash at any point leaves a
state the next scan finishes without crediting anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound

from accounts.models import User, Wallet
from chains.rpc import ChainNotConfigured, chain_web3
from hftplatform.core.utc import utc_aware
from hftplatform.errors import ServiceError
from vaults.errors import DepositReversalRefusedError, IdempotencyConflictError, VaultServiceError
from vaults.lock_objects import manual_credit_lock, vault_lock
from vaults.models import ChainTransfer, DepositScanCursor, ManualCredit, VaultSafe
from vaults.services.deposits import vault_deposit_record, vault_deposit_reverse
from vaults.services.manual_credits import (
    manual_credit_approve,
    manual_credit_decision_check,
    manual_credit_operator_check,
    manual_credit_reject,
)

logger = logging.getLogger(__name__)

# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BLOCKS_PER_REQUEST = 2_000  # eth_getLogs range per request: public nodes refuse much larger ones
REQUESTS_PER_SCAN = 25  # a scan far behind catches up over several runs, each well inside the task's time limit
RECENT_BLOCKS = 64  # block hashes kept to find a fork point (at least twice the confirmations are kept)

State = ChainTransfer.State
_LIVE = (State.SEEN, State.CREDITED, State.UNATTRIBUTED, State.REJECTED)


class DepositScanError(RuntimeError):
    """The scan cannot run (wrong chain behind the RPC URL)."""


class ChainTransferAttributionError(ServiceError):
    """An operator's attribution of a transfer was refused; nothing was written. ``code`` says why."""


@dataclass
class DepositScan:
    """What one scan did. ``requests`` counts ``eth_getLogs`` calls; ``fork_block`` is the highest block kept after
    a reorganisation (None: none detected); ``aborted`` says the chain moved under the scan (nothing written; the
    next scan redoes it)."""

    from_block: int
    to_block: int
    requests: int = 0
    fork_block: int | None = None
    aborted: bool = False
    seen: list[int] = field(default_factory=list)  # transfer ids new (or seen again) in this scan
    orphaned: list[int] = field(default_factory=list)
    reversed: list[int] = field(default_factory=list)
    credited: list[int] = field(default_factory=list)
    unattributed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)  # needs an operator


@dataclass(frozen=True)
class TransferLog:
    """One decoded ERC-20 ``Transfer`` log."""

    tx_hash: str  # 0x + 64 lowercase hex
    log_index: int
    block_number: int
    block_hash: str
    token: str
    sender: str
    recipient: str
    amount: int


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def _topic_address(topic: Any) -> str:
    return to_checksum_address(bytes(HexBytes(topic))[-20:])


def transfer_log_decode(log: Any) -> TransferLog | None:
    """The ERC-20 ``Transfer`` in ``log``, or None if the log has another shape (an ERC-721 ``Transfer`` has a
    fourth topic and no data) or was removed."""
    topics = log["topics"]
    data = bytes(HexBytes(log["data"]))
    if log.get("removed") or len(topics) != 3 or _hex(topics[0]) != TRANSFER_TOPIC or len(data) != 32:
        return None
    return TransferLog(
        tx_hash=_hex(log["transactionHash"]),
        log_index=int(log["logIndex"]),
        block_number=int(log["blockNumber"]),
        block_hash=_hex(log["blockHash"]),
        token=to_checksum_address(log["address"]),
        sender=_topic_address(topics[1]),
        recipient=_topic_address(topics[2]),
        amount=int.from_bytes(data, "big"),
    )


def transfer_logs_read(
    w3: Web3, *, token: str, recipient: str, from_block: int, to_block: int, blocks_per_request: int
) -> tuple[list[TransferLog], int]:
    """``Transfer(*, recipient)`` logs of ``token`` in ``[from_block, to_block]``, read ``blocks_per_request``
    blocks at a time, in chain order; and the number of requests made."""
    recipient_topic = "0x" + bytes(HexBytes(to_checksum_address(recipient))).rjust(32, b"\0").hex()
    logs: list[TransferLog] = []
    requests = 0
    start = from_block
    while start <= to_block:
        end = min(to_block, start + blocks_per_request - 1)
        found = w3.eth.get_logs(
            {
                "fromBlock": start,
                "toBlock": end,
                "address": to_checksum_address(token),
                "topics": [TRANSFER_TOPIC, None, recipient_topic],
            }
        )
        requests += 1
        logs.extend(decoded for decoded in map(transfer_log_decode, found) if decoded is not None)
        start = end + 1
    logs.sort(key=lambda log: (log.block_number, log.log_index))
    return logs, requests


class _Blocks:
    """Block hashes and timestamps read during one scan (each block read once)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._seen: dict[int, tuple[str, int] | None] = {}

    def get(self, number: int) -> tuple[str, int] | None:
        """``(hash, timestamp)`` of the chain's block ``number`` now, or None if the chain is shorter."""
        if number not in self._seen:
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                self._seen[number] = None
            else:
                self._seen[number] = (_hex(block["hash"]), int(block["timestamp"]))
        return self._seen[number]

    def hash(self, number: int) -> str | None:
        found = self.get(number)
        return None if found is None else found[0]

    def forget(self) -> None:
        self._seen.clear()


def _fork_point(safe: VaultSafe, cursor: DepositScanCursor, blocks: _Blocks) -> int | None:
    """None if the cursor's block is still the chain's; otherwise the highest block at or below it that the
    chain still has as scanned (the fork point), from the recent hashes; below them, from the stored blocks of
    transfers not yet credited. Never below the Safe's creation block - 1."""
    if not cursor.block_hash or blocks.hash(cursor.block_number) == cursor.block_hash:
        return None
    floor = safe.deployed_block - 1
    for number, block_hash in reversed(cursor.recent_blocks):
        if number < cursor.block_number and blocks.hash(number) == block_hash:
            return max(int(number), floor)
    # Deeper than the hashes kept: restart below them, and below any pending transfer whose block changed.
    fork = int(cursor.recent_blocks[0][0]) - 1 if cursor.recent_blocks else floor
    pending = ChainTransfer.objects.filter(vault_safe=safe, state=State.SEEN, block_number__lte=fork)
    for number, block_hash in pending.values_list("block_number", "block_hash").distinct():
        if blocks.hash(number) != block_hash:
            fork = min(fork, number - 1)
    logger.warning("vault safe %s: reorganisation deeper than %s kept blocks", safe.pk, len(cursor.recent_blocks))
    return max(fork, floor)


def vault_safe_deposits_scan(
    *,
    vault_safe_id: int,
    w3: Web3 | None = None,
    confirmations: int | None = None,
    blocks_per_request: int = BLOCKS_PER_REQUEST,
    requests_per_scan: int = REQUESTS_PER_SCAN,
    recent_blocks: int = RECENT_BLOCKS,
) -> DepositScan:
    """Read new deposits into vault Safe ``vault_safe_id`` from its chain (``settings.CHAIN_RPC_URLS`` unless
    ``w3`` is given), handle reorganisations, and credit transfers with at least ``confirmations`` blocks on top
    (``settings.DEPOSIT_CONFIRMATIONS`` by default). Idempotent: a repeat with nothing new on chain changes
    nothing. At most ``requests_per_scan`` log requests of ``blocks_per_request`` blocks: a Safe far behind is
    caught up over several scans. Amounts are the logs' integers (base units)."""
    safe = VaultSafe.objects.select_related("vault").get(pk=vault_safe_id)
    w3 = w3 if w3 is not None else chain_web3(safe.chain_id)
    confirmations = settings.DEPOSIT_CONFIRMATIONS if confirmations is None else confirmations
    if confirmations < 0 or blocks_per_request < 1 or requests_per_scan < 1:
        raise ValueError("confirmations must be >= 0, blocks_per_request and requests_per_scan >= 1")
    if w3.eth.chain_id != safe.chain_id:
        raise DepositScanError(f"the RPC for chain {safe.chain_id} serves chain {w3.eth.chain_id}")
    window = max(recent_blocks, 2 * confirmations, 1)
    cursor, _ = DepositScanCursor.objects.get_or_create(
        vault_safe=safe, defaults={"block_number": safe.deployed_block - 1}
    )
    blocks = _Blocks(w3)
    head = int(w3.eth.block_number)
    fork = _fork_point(safe, cursor, blocks)
    if fork is not None:
        fork = min(fork, head)
    start = (cursor.block_number if fork is None else fork) + 1
    end = min(head, start + blocks_per_request * requests_per_scan - 1)
    scan = DepositScan(from_block=start, to_block=end, fork_block=fork)
    if (end >= start or fork is not None) and not _read_and_store(
        safe, cursor, blocks, scan, window=window, blocks_per_request=blocks_per_request, through_head=end == head
    ):
        return scan
    _credit_confirmed(safe, blocks, scan, head=head, confirmations=confirmations)
    return scan


def _read_and_store(
    safe: VaultSafe,
    cursor: DepositScanCursor,
    blocks: _Blocks,
    scan: DepositScan,
    *,
    window: int,
    blocks_per_request: int,
    through_head: bool,
) -> bool:
    """Read the logs of ``[scan.from_block, scan.to_block]`` and store them with the cursor (moved to
    ``scan.to_block``); False if the chain changed while reading (nothing stored)."""
    end = scan.to_block
    first_recent = max(scan.from_block, end - window + 1)
    recent = [(number, blocks.hash(number)) for number in range(first_recent, end + 1)]
    logs, scan.requests = transfer_logs_read(
        blocks.w3,
        token=safe.asset_contract,
        recipient=safe.address,
        from_block=scan.from_block,
        to_block=end,
        blocks_per_request=blocks_per_request,
    )
    blocks.forget()  # re-read the last block: if it changed, the logs may come from a chain that is gone
    end_hash = blocks.hash(end)
    hashes = dict(recent)
    if (end >= scan.from_block and end_hash != hashes.get(end)) or any(
        log.block_number in hashes and hashes[log.block_number] != log.block_hash for log in logs
    ):
        scan.aborted = True
        return False
    kept = [entry for entry in cursor.recent_blocks if entry[0] < scan.from_block]
    recent_blocks = [[number, block_hash] for number, block_hash in (*map(tuple, kept), *recent) if block_hash]
    with transaction.atomic():
        locked = DepositScanCursor.objects.select_for_update().get(pk=cursor.pk)
        if (locked.block_number, locked.block_hash) != (cursor.block_number, cursor.block_hash):
            scan.aborted = True  # another scan moved the cursor meanwhile: it did this work
            return False
        found = _transfers_store(safe, blocks, scan, logs)
        _transfers_gone(safe, scan, found, through_head=through_head)
        if scan.fork_block is not None:
            locked.reorgs += 1
        locked.block_number = end
        locked.block_hash = end_hash or ""
        locked.recent_blocks = recent_blocks[-window:]
        locked.save()
    return True


def _transfers_store(safe: VaultSafe, blocks: _Blocks, scan: DepositScan, logs: Iterable[TransferLog]) -> set[int]:
    """Insert new transfers as ``seen``; update the block of known ones (an orphaned or reversed one mined again
    is ``seen`` again). The ids of every transfer in ``logs``."""
    found: set[int] = set()
    for log in logs:
        block = blocks.get(log.block_number)
        occurred_at = datetime.fromtimestamp(block[1], tz=UTC) if block else None
        transfer, created = ChainTransfer.objects.select_for_update().get_or_create(
            chain_id=safe.chain_id,
            tx_hash=log.tx_hash,
            log_index=log.log_index,
            defaults={
                "vault_safe": safe,
                "block_number": log.block_number,
                "block_hash": log.block_hash,
                "token": log.token,
                "sender": log.sender,
                "recipient": log.recipient,
                "amount": Decimal(log.amount),
                "occurred_at": occurred_at,
            },
        )
        found.add(transfer.pk)
        if created:
            scan.seen.append(transfer.pk)
            continue
        if (transfer.block_number, transfer.block_hash) == (log.block_number, log.block_hash):
            continue
        transfer.block_number, transfer.block_hash, transfer.occurred_at = log.block_number, log.block_hash, occurred_at
        if transfer.state in (State.ORPHANED, State.REVERSED):
            transfer.state = State.SEEN
            transfer.note = f"{transfer.note}\nmined again in block {log.block_number}".strip()
            scan.seen.append(transfer.pk)
        transfer.save()
    return found


def _transfers_gone(safe: VaultSafe, scan: DepositScan, found: set[int], *, through_head: bool) -> None:
    """The stored transfers of the blocks just read (and above them, when they reach the head) are exactly the
    logs found there: any other (only ever after a reorg rewound the scan) is gone, so orphaned or reversed."""
    blocks_read = ChainTransfer.objects.filter(vault_safe=safe, block_number__gte=scan.from_block, state__in=_LIVE)
    if not through_head:
        blocks_read = blocks_read.filter(block_number__lte=scan.to_block)
    gone = blocks_read.select_for_update().exclude(pk__in=found).order_by("id")
    for transfer in gone:
        note = f"block {transfer.block_number} ({transfer.block_hash}) was reorganised away"
        if transfer.state != State.CREDITED:
            transfer.state, transfer.note = State.ORPHANED, note
            transfer.save(update_fields=["state", "note", "updated_at"])
            scan.orphaned.append(transfer.pk)
            continue
        if transfer.deposit_id is None:  # pragma: no cover - a credited transfer keeps its deposit until reversed
            raise AssertionError(f"credited transfer {transfer.pk} has no deposit")
        try:
            event = vault_deposit_reverse(deposit_id=transfer.deposit_id, reason=note)
        except DepositReversalRefusedError as error:
            transfer.needs_operator, transfer.note = True, f"{note}; {error}"
            transfer.save(update_fields=["needs_operator", "note", "updated_at"])
            scan.flagged.append(transfer.pk)
            logger.error("vault safe %s: transfer %s needs an operator: %s", safe.pk, transfer.pk, transfer.note)
            continue
        transfer.state, transfer.reversal_event, transfer.note = State.REVERSED, event, note
        transfer.save(update_fields=["state", "reversal_event", "note", "updated_at"])
        scan.reversed.append(transfer.pk)


def _credit_confirmed(safe: VaultSafe, blocks: _Blocks, scan: DepositScan, *, head: int, confirmations: int) -> None:
    """Credit (or settle as unattributed / rejected) every ``seen`` transfer with ``confirmations`` blocks on top
    whose block is still the chain's."""
    due = ChainTransfer.objects.filter(
        vault_safe=safe, state=State.SEEN, block_number__lte=head - confirmations
    ).order_by("block_number", "log_index")
    for transfer_id, number, block_hash in due.values_list("id", "block_number", "block_hash"):
        if not _confirmed(blocks, head=head, confirmations=confirmations, number=number, block_hash=block_hash):
            continue  # its block changed after the read: the next scan's reorg check handles it
        _transfer_credit(safe, transfer_id, block_hash, scan)


def _confirmed(blocks: _Blocks, *, head: int, confirmations: int, number: int, block_hash: str) -> bool:
    """A log of block ``number`` (as ``block_hash``) may be credited: ``confirmations`` blocks on top of it and its
    block still the chain's."""
    return number <= head - confirmations and blocks.hash(number) == block_hash


def _transfer_credit(safe: VaultSafe, transfer_id: int, block_hash: str, scan: DepositScan) -> None:
    with transaction.atomic():
        transfer = ChainTransfer.objects.select_for_update().get(pk=transfer_id)
        if transfer.state != State.SEEN or transfer.block_hash != block_hash:
            return  # another scan settled it, or a reorg moved it
        amount = int(transfer.amount)
        depositor_id = Wallet.objects.filter(address=transfer.sender).values_list("user_id", flat=True).first()
        if depositor_id is None:
            transfer.state = State.UNATTRIBUTED
            transfer.note = f"sender {transfer.sender} is no user's linked wallet"
            scan.unattributed.append(transfer.pk)
        elif amount <= 0:
            transfer.state, transfer.depositor_id = State.REJECTED, depositor_id
            transfer.note = "a zero-amount transfer is never credited"
            scan.rejected.append(transfer.pk)
        else:
            transfer.depositor_id = depositor_id
            try:
                with transaction.atomic():
                    result = vault_deposit_record(
                        vault_id=safe.vault_id,
                        depositor_id=depositor_id,
                        amount=amount,
                        chain_id=transfer.chain_id,
                        tx_hash=transfer.tx_hash,
                        log_index=transfer.log_index,
                        occurred_at=transfer.occurred_at,
                    )
            except IdempotencyConflictError as error:  # its key was credited otherwise (an operator's record)
                transfer.state, transfer.needs_operator, transfer.note = State.REJECTED, True, str(error)
                scan.flagged.append(transfer.pk)
            except VaultServiceError as error:
                transfer.state, transfer.note = State.REJECTED, f"refused by the vault: {error}"
                scan.rejected.append(transfer.pk)
            else:
                transfer.state, transfer.deposit, transfer.lot_id = (
                    State.CREDITED,
                    result.deposit,
                    result.deposit.lot_id,
                )
                scan.credited.append(transfer.pk)
        transfer.save()


def chain_transfer_attribution_request(
    *, transfer_id: int, depositor_id: int, operator_id: int, note: str, now: datetime | None = None
) -> ManualCredit:
    """One operator asks to credit ``unattributed`` transfer ``transfer_id`` (its sender is no user's linked wallet)
    to ``depositor_id``, saying why in ``note`` (public on the vault's page): a pending
    :class:`~vaults.models.ManualCredit` of exactly the log's amount. Nothing is credited until a second operator
    approves it (:func:`chain_transfer_attribution_approve`). A repeat for the same depositor returns the pending
    request; another depositor while one is pending is refused (``attribution_pending``).

    Raises :class:`ChainTransferAttributionError` (nothing written) for a non-operator or one whose role is under
    72 h old, an unknown or inactive depositor, an empty note, a transfer in another state or of zero amount."""
    now = utc_aware(now) if now is not None else timezone.now()
    _operator_check(operator_id, now, "requesting operator")
    depositor = User.objects.filter(pk=depositor_id, is_active=True).first()
    if depositor is None:
        raise ChainTransferAttributionError(f"no active user {depositor_id}", code="depositor_unknown")
    note = note.strip()
    if not note:
        raise ChainTransferAttributionError("say why the transfer is this depositor's", code="note_required")
    with transaction.atomic():
        transfer = ChainTransfer.objects.select_for_update().select_related("vault_safe").filter(pk=transfer_id).first()
        if transfer is None:
            raise ChainTransferAttributionError(f"no transfer {transfer_id}", code="transfer_unknown")
        pending = ManualCredit.objects.filter(chain_transfer=transfer, state=ManualCredit.State.PENDING).first()
        if pending is not None:
            if pending.depositor_id == depositor_id:
                return pending  # a repeat (a form sent twice)
            raise ChainTransferAttributionError(
                f"transfer {transfer_id} already has a pending attribution (manual credit {pending.pk}) to another "
                "depositor: reject it first",
                code="attribution_pending",
            )
        _attributable_check(transfer)
        return ManualCredit.objects.create(
            vault_id=transfer.vault_safe.vault_id,
            kind=ManualCredit.Kind.ATTRIBUTION,
            depositor_id=depositor_id,
            amount=transfer.amount,
            reason=note,
            chain_transfer=transfer,
            requested_by_id=operator_id,
            requested_at=now,
        )


def _operator_check(operator_id: int, at: datetime, role: str) -> User:
    try:
        return manual_credit_operator_check(operator_id=operator_id, at=at, role=role)
    except VaultServiceError as error:
        raise ChainTransferAttributionError(error.message, code=error.code) from None


def chain_transfer_attribution_approve(
    *,
    credit_id: int,
    operator_id: int,
    now: datetime | None = None,
    w3: Web3 | None = None,
    confirmations: int | None = None,
) -> ManualCredit:
    """A second operator approves a pending attribution: the transfer is credited to the requested depositor — a
    deposit of exactly the log's amount (base units) through :func:`vaults.services.deposits.vault_deposit_record`
    under the transfer's chain id, tx hash and log index (so never twice), ``recorded_by`` the requesting operator;
    the transfer becomes ``credited`` and its note records who attributed it to whom and why; the credit
    ``applied``.

    The transfer must still be confirmed as the scan requires: its block still the chain's
    (``settings.CHAIN_RPC_URLS`` unless ``w3`` is given) with ``confirmations`` blocks on top
    (``settings.DEPOSIT_CONFIRMATIONS`` by default). Raises :class:`ChainTransferAttributionError` (nothing
    written) for the requester approving their own request, a non-operator or one whose role is under 72 h old, a
    credit already decided, a transfer no longer unattributed, a block reorganised away or not confirmed yet, or a
    deposit the vault refuses."""
    now = utc_aware(now) if now is not None else timezone.now()
    _operator_check(operator_id, now, "approving operator")
    credit = ManualCredit.objects.select_related("chain_transfer__vault_safe").filter(pk=credit_id).first()
    try:
        credit = manual_credit_decision_check(credit, credit_id=credit_id, operator_id=operator_id)
    except VaultServiceError as error:
        raise ChainTransferAttributionError(error.message, code=error.code) from None
    if credit.kind != ManualCredit.Kind.ATTRIBUTION or credit.chain_transfer is None:
        raise ChainTransferAttributionError(f"manual credit {credit_id} is no attribution", code="not_attribution")
    requester = _operator_check(credit.requested_by_id, now, "requesting operator")
    approver = User.objects.get(pk=operator_id)
    transfer = credit.chain_transfer
    _attributable_check(transfer)
    safe = transfer.vault_safe
    confirmations = settings.DEPOSIT_CONFIRMATIONS if confirmations is None else confirmations
    try:
        w3 = w3 if w3 is not None else chain_web3(safe.chain_id)
        served = int(w3.eth.chain_id)
        head = int(w3.eth.block_number)
        blocks = _Blocks(w3)
        confirmed = _confirmed(
            blocks, head=head, confirmations=confirmations, number=transfer.block_number, block_hash=transfer.block_hash
        )
    except (ChainNotConfigured, OSError) as error:  # OSError: the node is unreachable (requests' errors)
        raise ChainTransferAttributionError(
            f"chain {safe.chain_id} cannot be read: {error}", code="chain_unavailable"
        ) from None
    if served != safe.chain_id:
        raise ChainTransferAttributionError(
            f"the RPC for chain {safe.chain_id} serves chain {served}", code="wrong_chain"
        )
    if not confirmed:
        raise ChainTransferAttributionError(
            f"block {transfer.block_number} ({transfer.block_hash}) is not the chain's with {confirmations} "
            f"confirmations (head {head}): the next deposit scan settles it first",
            code="not_confirmed",
        )
    depositor = User.objects.get(pk=credit.depositor_id)
    with transaction.atomic():
        vault_lock(vault_id=safe.vault_id)
        locked_credit = manual_credit_lock(credit_id=credit_id)
        if locked_credit is None or locked_credit.state != ManualCredit.State.PENDING:
            raise ChainTransferAttributionError(f"manual credit {credit_id} was decided meanwhile", code="decided")
        locked = ChainTransfer.objects.select_for_update().get(pk=transfer.pk)
        if (locked.state, locked.block_hash) != (transfer.state, transfer.block_hash):
            raise ChainTransferAttributionError(
                f"transfer {transfer.pk} changed meanwhile (now {locked.state} in block {locked.block_number})",
                code="transfer_changed",
            )
        try:
            result = vault_deposit_record(
                vault_id=safe.vault_id,
                depositor_id=credit.depositor_id,
                amount=int(locked.amount),
                chain_id=locked.chain_id,
                tx_hash=locked.tx_hash,
                log_index=locked.log_index,
                recorded_by_id=credit.requested_by_id,
                occurred_at=locked.occurred_at,
            )
        except VaultServiceError as error:
            raise ChainTransferAttributionError(f"refused by the vault: {error}", code="vault_refused") from None
        attribution = (
            f"attributed to {depositor.email} by operator {requester.email}, approved by operator {approver.email}: "
            f"{credit.reason}"
        )
        locked.state, locked.depositor_id, locked.deposit, locked.lot_id = (
            State.CREDITED,
            credit.depositor_id,
            result.deposit,
            result.deposit.lot_id,
        )
        locked.note = f"{locked.note}\n{attribution}".strip()
        locked.save(update_fields=["state", "depositor", "deposit", "lot", "note", "updated_at"])
        locked_credit.state, locked_credit.decided_by_id, locked_credit.decided_at, locked_credit.deposit = (
            ManualCredit.State.APPLIED, operator_id, now, result.deposit,
        )  # fmt: skip
        locked_credit.save(update_fields=["state", "decided_by", "decided_at", "deposit"])
    return locked_credit


def manual_credit_decide(
    *,
    credit_id: int,
    operator_id: int,
    approve: bool,
    reason: str = "",
    now: datetime | None = None,
    w3: Web3 | None = None,
) -> ManualCredit:
    """A second operator's decision on any pending manual credit: an attribution is approved with the chain checked
    again (:func:`chain_transfer_attribution_approve`), an off-chain credit by
    :func:`vaults.services.manual_credits.manual_credit_approve`; a rejection needs a reason."""
    if not approve:
        return manual_credit_reject(credit_id=credit_id, operator_id=operator_id, reason=reason, now=now)
    kind = ManualCredit.objects.filter(pk=credit_id).values_list("kind", flat=True).first()
    if kind == ManualCredit.Kind.ATTRIBUTION:
        return chain_transfer_attribution_approve(credit_id=credit_id, operator_id=operator_id, now=now, w3=w3)
    return manual_credit_approve(credit_id=credit_id, operator_id=operator_id, now=now)


def _attributable_check(transfer: ChainTransfer) -> None:
    if transfer.state != State.UNATTRIBUTED:
        raise ChainTransferAttributionError(
            f"transfer {transfer.pk} is {transfer.state}: only an unattributed transfer is attributed by an operator"
            + (f" (already credited to user {transfer.depositor_id})" if transfer.state == State.CREDITED else ""),
            code="not_unattributed",
        )
    if transfer.amount <= 0:
        raise ChainTransferAttributionError("a zero-amount transfer is never credited", code="amount_zero")
