"""The chain side of custody (web3.py): deploy a vault's Safe, read its nonce and owners, execute Safe transactions,
and execute a proposal idempotently.

Safe v1.4.1 singleton and proxy factory come from safe-eth-py's artifacts; the test token is safe-eth-py's
``ERC20TestToken`` artifact (OpenZeppelin ERC20, source and compiler recorded in the artifact), so nothing here
needs a Solidity compiler. Amounts are integers in base units; the sender is a local account whose key signs
each transaction here, so the transaction hash is known, and stored, before anything is broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError  # what eth-tester's py-evm raises for a stale nonce
from hexbytes import HexBytes
from safe_eth.eth.contracts import (
    get_example_erc20_contract,
    get_proxy_factory_V1_4_1_contract,
    get_safe_V1_4_1_contract,
)
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.logs import DISCARD
from web3.types import TxReceipt

from chains.contracts import contract_artifact
from vaults.custody import guard
from vaults.custody.safe_tx import (
    ZERO_ADDRESS,
    SafeTx,
    SafeTxError,
    address_normalise,
    safe_tx_hash,
    signatures_packed_check,
)

RECEIPT_TIMEOUT_S = 120

_REVERT_ERRORS: tuple[type[Exception], ...] = (ContractLogicError,)
try:  # eth-tester (tests, the in-process dev chain) raises its own type for a revert instead of web3's
    from eth_tester.exceptions import TransactionFailed

    _REVERT_ERRORS = (ContractLogicError, TransactionFailed)
except ImportError:  # pragma: no cover - production installs have no eth-tester
    pass


class ChainError(RuntimeError):
    """A chain operation that did not happen; ``code`` is a Safe revert code (``GS020``...) when there is one."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _revert_code(error: Exception) -> str:
    """The Safe ``GSxxx`` code inside a revert message, or ``reverted``."""
    text = str(error)
    index = text.find("GS0")
    return text[index : index + 5] if index >= 0 else "reverted"


def transaction_send(
    w3: Web3, sender: LocalAccount, transaction: dict[str, Any], *, gas: int | None = None
) -> tuple[bytes, bytes]:
    """Fill, sign and broadcast ``transaction`` from ``sender``; returns ``(tx_hash, raw_transaction)``.

    Without ``gas`` the node estimates it, which simulates the call first: a revert raises :class:`ChainError`
    with the Safe's code and nothing is broadcast. With ``gas`` the transaction is sent as is (used to show a
    revert really happens on chain).
    """
    signed = transaction_sign(w3, sender, transaction, gas=gas)
    w3.eth.send_raw_transaction(signed[1])
    return signed


def transaction_sign(
    w3: Web3, sender: LocalAccount, transaction: dict[str, Any], *, gas: int | None = None
) -> tuple[bytes, bytes]:
    """``(tx_hash, raw_transaction)`` of ``transaction`` signed by ``sender``, not broadcast."""
    filled = dict(transaction)
    filled.setdefault("from", sender.address)
    filled.setdefault("chainId", w3.eth.chain_id)
    filled.setdefault("nonce", w3.eth.get_transaction_count(sender.address, "pending"))
    if gas is not None:
        filled["gas"] = gas
    elif "gas" not in filled:
        try:
            filled["gas"] = w3.eth.estimate_gas(filled)  # type: ignore[arg-type]
        except _REVERT_ERRORS as error:
            raise ChainError(_revert_code(error), f"the transaction would revert: {error}") from error
    if "maxFeePerGas" not in filled and "gasPrice" not in filled:
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
        filled["maxPriorityFeePerGas"] = 10**9
        filled["maxFeePerGas"] = 2 * base_fee + 10**9
    signed = sender.sign_transaction(filled)
    return bytes(signed.hash), bytes(signed.raw_transaction)


def receipt_wait(w3: Web3, tx_hash: bytes) -> TxReceipt:
    return w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT_S)


def _contract_deploy(w3: Web3, sender: LocalAccount, contract: type[Contract] | Contract, *args: Any) -> str:
    transaction = contract.constructor(*args).build_transaction({"from": sender.address})
    tx_hash, _ = transaction_send(w3, sender, dict(transaction))
    receipt = receipt_wait(w3, tx_hash)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainError("deploy_failed", f"deployment transaction {tx_hash.hex()} failed")
    return address_normalise(str(receipt["contractAddress"]))


def _call_send(w3: Web3, sender: LocalAccount, function: Any, *, gas: int | None = None) -> TxReceipt:
    # A placeholder gas stops web3 estimating here: the estimate (and its revert code) belongs to transaction_sign.
    transaction = function.build_transaction({"from": sender.address, "gas": gas or 1})
    del transaction["gas"]
    tx_hash, _ = transaction_send(w3, sender, transaction, gas=gas)
    return receipt_wait(w3, tx_hash)


@dataclass(frozen=True)
class SafeInfrastructure:
    """The shared contracts of a chain: the Safe v1.4.1 singleton (logic) and proxy factory, and our stateless
    ``SafeGuardInstaller`` that a vault Safe's setup calls to install its guard."""

    singleton: str
    proxy_factory: str
    guard_installer: str


def safe_infrastructure_deploy(w3: Web3, deployer: LocalAccount) -> SafeInfrastructure:
    """Deploy the Safe v1.4.1 singleton and proxy factory (a dev or test chain; public chains already have them) and
    the guard installer."""
    singleton = _contract_deploy(w3, deployer, get_safe_V1_4_1_contract(w3))
    factory = _contract_deploy(w3, deployer, get_proxy_factory_V1_4_1_contract(w3))
    installer = contract_artifact(guard.INSTALLER_CONTRACT)
    installer_address = _contract_deploy(w3, deployer, w3.eth.contract(abi=installer.abi, bytecode=installer.bytecode))
    return SafeInfrastructure(singleton=singleton, proxy_factory=factory, guard_installer=installer_address)


def safe_deploy(
    w3: Web3,
    infrastructure: SafeInfrastructure,
    *,
    owners: Sequence[str],
    threshold: int,
    deployer: LocalAccount,
    salt_nonce: int = 0,
    setup_call: tuple[str, bytes] = (ZERO_ADDRESS, b""),
) -> str:
    """Create a Safe proxy with ``owners`` and ``threshold`` (no modules, no fallback handler, no deployment refund);
    returns its address. Owners must be distinct and ``1 <= threshold <= len(owners)``. ``setup_call`` is the
    ``(to, data)`` the Safe's setup DELEGATECALLs (none by default). A Safe made here alone has no guard: vault Safes
    come from :func:`vault_safe_deploy`.
    """
    owner_list = _owners_check(owners, threshold)
    setup_data = _setup_data(w3, infrastructure, owner_list, threshold, setup_call)
    factory = get_proxy_factory_V1_4_1_contract(w3, infrastructure.proxy_factory)
    receipt = _call_send(
        w3, deployer, factory.functions.createProxyWithNonce(infrastructure.singleton, setup_data, salt_nonce)
    )
    if receipt["status"] != 1:
        raise ChainError("deploy_failed", "createProxyWithNonce failed")
    events = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    return address_normalise(str(events[0]["args"]["proxy"]))


def _owners_check(owners: Sequence[str], threshold: int) -> list[str]:
    owner_list = [address_normalise(owner, field="owner") for owner in owners]
    if len(set(owner_list)) != len(owner_list):
        raise ChainError("owners_duplicate", "a Safe's owners must be distinct")
    if not 1 <= threshold <= len(owner_list):
        raise ChainError("threshold_invalid", f"threshold {threshold} for {len(owner_list)} owner(s)")
    return owner_list


def _setup_data(
    w3: Web3, infrastructure: SafeInfrastructure, owners: list[str], threshold: int, setup_call: tuple[str, bytes]
) -> bytes:
    singleton = get_safe_V1_4_1_contract(w3, infrastructure.singleton)
    to, data = setup_call
    arguments = [owners, threshold, to, data, ZERO_ADDRESS, ZERO_ADDRESS, 0, ZERO_ADDRESS]
    return bytes(HexBytes(singleton.encode_abi("setup", arguments)))


def _safe_address_predict(w3: Web3, infrastructure: SafeInfrastructure, setup_data: bytes, salt_nonce: int) -> str:
    """The address ``createProxyWithNonce(singleton, setup_data, salt_nonce)`` will give: CREATE2 by the v1.4.1
    factory with salt keccak(keccak(initializer) ++ saltNonce) and init code proxy creation code ++ singleton."""
    factory = get_proxy_factory_V1_4_1_contract(w3, infrastructure.proxy_factory)
    singleton_word = bytes(12) + bytes.fromhex(infrastructure.singleton[2:])
    init_code = bytes(factory.functions.proxyCreationCode().call()) + singleton_word
    salt = keccak(keccak(setup_data) + salt_nonce.to_bytes(32, "big"))
    digest = keccak(b"\xff" + bytes.fromhex(infrastructure.proxy_factory[2:]) + salt + keccak(init_code))
    return address_normalise("0x" + digest[12:].hex())


def _create_address_predict(sender: str, nonce: int) -> str:
    """The address a CREATE by ``sender`` at account nonce ``nonce`` gives: keccak(rlp([sender, nonce]))[12:]."""
    return address_normalise("0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex())


def vault_safe_deploy(
    w3: Web3,
    infrastructure: SafeInfrastructure,
    *,
    cosigner: str,
    operators: Sequence[str],
    recovery: str,
    threshold: int,
    deployer: LocalAccount,
    salt_nonce: int = 0,
    recovery_delay_s: int = guard.RECOVERY_DELAY_MIN_S,
) -> str:
    """A vault's Safe: owners ``[cosigner, *operators, recovery]``, an on-chain threshold of at least 2, and a
    ``CosignerGuard`` installed by the Safe's own setup, so that from its first block nothing executes without the
    co-signer (see :mod:`vaults.custody.guard`); ``recovery_delay_s`` (at least 7 days) is the public notice before
    owners without the co-signer may replace it.

    The guard needs the Safe's address and the Safe's setup needs the guard's: the guard's address is the deployer's
    next CREATE address, the Safe's the factory's CREATE2 address; both are checked after deployment.
    """
    if threshold < 2:
        raise ChainError("threshold_too_low", f"a vault Safe needs a threshold of at least 2, got {threshold}")
    if recovery_delay_s < guard.RECOVERY_DELAY_MIN_S:
        raise ChainError(
            "recovery_delay_too_short",
            f"the co-signer recovery delay must be at least 7 days ({guard.RECOVERY_DELAY_MIN_S} s), "
            f"got {recovery_delay_s} s",
        )
    owners = _owners_check([cosigner, *operators, recovery], threshold)
    guard_address = _create_address_predict(
        address_normalise(deployer.address), int(w3.eth.get_transaction_count(deployer.address, "pending"))
    )
    installer = w3.eth.contract(abi=contract_artifact(guard.INSTALLER_CONTRACT).abi)
    install = (infrastructure.guard_installer, bytes(HexBytes(installer.encode_abi("guard_install", [guard_address]))))
    setup_data = _setup_data(w3, infrastructure, owners, threshold, install)
    safe_address = _safe_address_predict(w3, infrastructure, setup_data, salt_nonce)
    artifact = contract_artifact(guard.GUARD_CONTRACT)
    deployed_guard = _contract_deploy(
        w3,
        deployer,
        w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode),
        Web3.to_checksum_address(safe_address),
        Web3.to_checksum_address(owners[0]),
        recovery_delay_s,
    )
    if deployed_guard != guard_address:
        raise ChainError("deploy_failed", f"the guard landed at {deployed_guard}, not {guard_address}")
    safe = safe_deploy(
        w3, infrastructure, owners=owners, threshold=threshold, deployer=deployer, salt_nonce=salt_nonce,
        setup_call=install,
    )  # fmt: skip
    if safe != safe_address or guard.safe_guard(w3, safe) != guard_address:
        raise ChainError("deploy_failed", f"Safe {safe} is not the guarded Safe {safe_address} expected")
    return safe


def safe_contract(w3: Web3, safe_address: str) -> Contract:
    return get_safe_V1_4_1_contract(w3, address_normalise(safe_address, field="safe"))


def safe_nonce(w3: Web3, safe_address: str, *, block: int | None = None) -> int:
    """The Safe's current transaction nonce (the nonce its next executed SafeTx must carry), at ``block`` if given."""
    function = safe_contract(w3, safe_address).functions.nonce()
    return int(function.call() if block is None else function.call(block_identifier=block))


EXECUTION_LOG_RANGE = 2_000  # blocks per eth_getLogs request when looking for a Safe's execution event
_EXECUTION_SUCCESS_TOPIC = bytes(Web3.keccak(text="ExecutionSuccess(bytes32,uint256)"))
_EXECUTION_FAILURE_TOPIC = bytes(Web3.keccak(text="ExecutionFailure(bytes32,uint256)"))


@dataclass(frozen=True)
class SafeExecution:
    """A Safe's own record that it ran a SafeTx: its ``ExecutionSuccess`` (``succeeded``) or ``ExecutionFailure``
    event, in the chain transaction ``tx_hash`` at ``block_number``."""

    safe_tx_hash: bytes
    succeeded: bool
    tx_hash: bytes
    block_number: int


def _logged_safe_tx_hash(log: Any) -> bytes | None:
    """The ``txHash`` of an ``ExecutionSuccess``/``ExecutionFailure`` log, indexed (a topic) or not (the first word
    of the data): Safe versions differ, the event signature (topic 0) does not."""
    topics = log["topics"]
    if len(topics) >= 2:
        return bytes(topics[1])
    data = bytes(log["data"])
    return data[:32] if len(data) >= 32 else None


def safe_execution_find(
    w3: Web3, safe_address: str, safe_tx_hash: bytes, *, from_block: int, to_block: int
) -> SafeExecution | None:
    """Whether the Safe executed ``safe_tx_hash`` between ``from_block`` and ``to_block`` (inclusive), read from its
    own execution events rather than from any receipt (a lagging or pruned node may have the block and its logs but
    answer no receipt for the transaction). Scans :data:`EXECUTION_LOG_RANGE` blocks per request."""
    address = address_normalise(safe_address, field="safe")
    start = max(0, from_block)
    while start <= to_block:
        end = min(to_block, start + EXECUTION_LOG_RANGE - 1)
        # Every log of the Safe in the range, filtered here: some nodes (eth-tester among them) ignore a topic
        # filter with alternatives, and a Safe emits few logs.
        logs = w3.eth.get_logs({"address": address, "fromBlock": start, "toBlock": end})  # type: ignore[typeddict-item]
        for log in logs:
            topic = bytes(log["topics"][0]) if log["topics"] else b""
            if (
                topic in (_EXECUTION_SUCCESS_TOPIC, _EXECUTION_FAILURE_TOPIC)
                and _logged_safe_tx_hash(log) == safe_tx_hash
            ):
                return SafeExecution(
                    safe_tx_hash=safe_tx_hash,
                    succeeded=topic == _EXECUTION_SUCCESS_TOPIC,
                    tx_hash=bytes(log["transactionHash"]),
                    block_number=int(log["blockNumber"]),
                )
        start = end + 1
    return None


def safe_owners(w3: Web3, safe_address: str) -> list[str]:
    return [address_normalise(str(owner)) for owner in safe_contract(w3, safe_address).functions.getOwners().call()]


def safe_threshold(w3: Web3, safe_address: str) -> int:
    return int(safe_contract(w3, safe_address).functions.getThreshold().call())


def safe_tx_hash_onchain(w3: Web3, safe_address: str, tx: SafeTx) -> bytes:
    """``getTransactionHash`` as the deployed Safe computes it (to check :func:`safe_tx_hash` against)."""
    function = safe_contract(w3, safe_address).functions.getTransactionHash(
        tx.to, tx.value, tx.data, tx.operation, tx.safe_tx_gas, tx.base_gas, tx.gas_price, tx.gas_token,
        tx.refund_receiver, tx.nonce,
    )  # fmt: skip
    return bytes(function.call())


def _exec_function(w3: Web3, safe_address: str, tx: SafeTx, packed_signatures: bytes) -> Any:
    return safe_contract(w3, safe_address).functions.execTransaction(
        tx.to, tx.value, tx.data, tx.operation, tx.safe_tx_gas, tx.base_gas, tx.gas_price, tx.gas_token,
        tx.refund_receiver, packed_signatures,
    )  # fmt: skip


def safe_exec_transaction(
    w3: Web3, safe_address: str, tx: SafeTx, packed_signatures: bytes, sender: LocalAccount
) -> dict[str, Any]:
    """The unsigned ``execTransaction`` transaction (no gas, no nonce) for ``sender`` to sign."""
    # Placeholder gas, as in _call_send: estimation happens when signing, where a revert becomes a ChainError.
    transaction = dict(_exec_function(w3, safe_address, tx, packed_signatures).build_transaction(
        {"from": sender.address, "gas": 1}
    ))  # fmt: skip
    del transaction["gas"]
    return transaction


def safe_exec(
    w3: Web3,
    safe: str,
    tx: SafeTx,
    packed_signatures: bytes,
    sender: LocalAccount,
    *,
    gas: int | None = None,
) -> TxReceipt:
    """Send ``execTransaction`` with no off-chain checks and wait for its receipt.

    Without ``gas`` a revert (``GS020``, ``GS026``...) raises :class:`ChainError` before broadcasting; with
    ``gas`` the transaction is mined even if it reverts (receipt ``status`` 0). Use :class:`ProposalExecutor`
    for proposals: it checks signatures first and never sends twice.
    """
    transaction = safe_exec_transaction(w3, safe, tx, packed_signatures, sender)
    tx_hash, _ = transaction_send(w3, sender, transaction, gas=gas)
    return receipt_wait(w3, tx_hash)


def safe_exec_simulate(w3: Web3, safe: str, tx: SafeTx, packed_signatures: bytes, sender: str) -> str | None:
    """The Safe's revert code for this execution (``GS020``...), or None if ``eth_call`` says it would succeed."""
    try:
        _exec_function(w3, safe, tx, packed_signatures).call({"from": sender})
    except _REVERT_ERRORS as error:
        return _revert_code(error)
    return None


def erc20_test_token_deploy(
    w3: Web3,
    deployer: LocalAccount,
    *,
    holder: str,
    amount: int,
    decimals: int = 6,
    name: str = "Test USD",
    symbol: str = "tUSD",
) -> str:
    """Deploy a test ERC-20 (safe-eth-py's OpenZeppelin ``ERC20TestToken``) minting ``amount`` base units to
    ``holder``; for tests and the local demo chain only.
    """
    contract = get_example_erc20_contract(w3)
    return _contract_deploy(w3, deployer, contract, name, symbol, decimals, address_normalise(holder), amount)


def erc20_balance(w3: Web3, token: str, owner: str, *, block: int | None = None) -> int:
    """``balanceOf(owner)`` in the token's base units (at ``block`` if given)."""
    contract = get_example_erc20_contract(w3, to_checksum_address(address_normalise(token, field="token")))
    function = contract.functions.balanceOf(address_normalise(owner))
    return int(function.call() if block is None else function.call(block_identifier=block))


def erc20_transfer(w3: Web3, token: str, sender: LocalAccount, recipient: str, amount: int) -> TxReceipt:
    contract = get_example_erc20_contract(w3, to_checksum_address(address_normalise(token, field="token")))
    return _call_send(w3, sender, contract.functions.transfer(address_normalise(recipient), amount))


# --- idempotent proposal execution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """The record written BEFORE broadcasting: this chain transaction carries that Safe transaction."""

    safe_tx_hash: bytes
    tx_hash: bytes
    raw_transaction: bytes


class SubmissionStore(Protocol):
    """Where the executor records submissions; the vaults app backs it with the proposal row (committed before
    :meth:`ProposalExecutor.execute` broadcasts, so a crash can always find what was sent).
    """

    def submission_get(self, safe_tx_hash: bytes) -> Submission | None: ...

    def submission_record(self, submission: Submission) -> None: ...


class SubmissionMemoryStore:
    """An in-memory :class:`SubmissionStore` (tests, the CLI, a single-process demo)."""

    def __init__(self) -> None:
        self.submissions: dict[bytes, Submission] = {}

    def submission_get(self, safe_tx_hash: bytes) -> Submission | None:
        return self.submissions.get(safe_tx_hash)

    def submission_record(self, submission: Submission) -> None:
        self.submissions[submission.safe_tx_hash] = submission


ExecutionStatus = Literal["executed", "failed", "invalidated", "refused"]


@dataclass(frozen=True)
class ExecutionOutcome:
    """What happened to a proposal: ``executed`` (on chain, Safe reported success), ``failed`` (mined but reverted
    or the inner call failed), ``invalidated`` (the Safe nonce was used by another transaction: the Safe's events
    since ``logs_from_block`` hold no execution of this SafeTx), ``refused``
    (nothing sent: bad signatures, a future nonce, or a revert found by simulation). ``resumed`` is True when the
    outcome comes from an earlier submission rather than a new broadcast.
    """

    status: ExecutionStatus
    code: str
    reason: str
    safe_tx_hash: bytes
    tx_hash: bytes | None = None
    resumed: bool = False


class ProposalExecutor:
    """Executes a signed SafeTx at most once per ``safeTxHash``, surviving crashes at any point.

    The chain transaction is signed locally, recorded in the store, then broadcast; on a later call (a retry or a
    restarted process) the stored transaction's receipt is read, or the identical signed bytes re-broadcast,
    instead of sending anew. Its sender nonce makes a duplicate impossible even if the first broadcast did reach
    the node.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        chain_id: int,
        safe_address: str,
        sender: LocalAccount,
        store: SubmissionStore,
        logs_from_block: int = 0,
    ):
        """``logs_from_block``: the first block the SafeTx could have executed in (the co-signer signed it at that
        head); a used nonce is explained from the Safe's execution events from there on."""
        self.w3 = w3
        self.logs_from_block = logs_from_block
        self.chain_id = chain_id
        self.safe_address = address_normalise(safe_address, field="safe")
        self.sender = sender
        self.store = store

    def execute(self, tx: SafeTx, packed_signatures: bytes) -> ExecutionOutcome:
        digest = safe_tx_hash(self.chain_id, self.safe_address, tx)
        if self.w3.eth.chain_id != self.chain_id:
            return ExecutionOutcome(
                "refused", "wrong_chain", f"connected to chain {self.w3.eth.chain_id}, not {self.chain_id}", digest
            )
        stored = self.store.submission_get(digest)
        if stored is not None:
            return self._resume(tx, stored)
        head = int(self.w3.eth.block_number)
        current_nonce = safe_nonce(self.w3, self.safe_address, block=head)
        if current_nonce > tx.nonce:
            return self._invalidated(tx, digest, current_nonce, head, resumed=False)
        if current_nonce < tx.nonce:
            return ExecutionOutcome(
                "refused",
                "nonce_future",
                f"the Safe is at nonce {current_nonce}; transactions before nonce {tx.nonce} must execute first",
                digest,
            )
        try:
            signatures_packed_check(
                digest,
                packed_signatures,
                safe_owners(self.w3, self.safe_address),
                safe_threshold(self.w3, self.safe_address),
            )
        except SafeTxError as error:
            return ExecutionOutcome("refused", error.code, str(error), digest)
        transaction = safe_exec_transaction(self.w3, self.safe_address, tx, packed_signatures, self.sender)
        try:
            tx_hash, raw = transaction_sign(self.w3, self.sender, transaction)
        except ChainError as error:
            return ExecutionOutcome("refused", error.code, f"simulation reverted, nothing sent: {error}", digest)
        self.store.submission_record(Submission(safe_tx_hash=digest, tx_hash=tx_hash, raw_transaction=raw))
        self.w3.eth.send_raw_transaction(raw)
        return self._outcome(digest, receipt_wait(self.w3, tx_hash), resumed=False)

    def _resume(self, tx: SafeTx, stored: Submission) -> ExecutionOutcome:
        receipt = self._receipt_get(stored.tx_hash)
        if receipt is not None:
            return self._outcome(stored.safe_tx_hash, receipt, resumed=True)
        head = int(self.w3.eth.block_number)
        current_nonce = safe_nonce(self.w3, self.safe_address, block=head)
        if current_nonce > tx.nonce:
            # No receipt, and the nonce is used: by our transaction (a node that lags or lost the receipt) or by
            # another one. The Safe's events say which.
            return self._invalidated(tx, stored.safe_tx_hash, current_nonce, head, resumed=True)
        try:
            self.w3.eth.send_raw_transaction(stored.raw_transaction)
        except (ValueError, Web3Exception, ValidationError) as error:
            # "already known" / "nonce too low": the node has it or it was replaced; the receipt decides.
            receipt = self._receipt_get(stored.tx_hash)
            if receipt is None:
                return ExecutionOutcome(
                    "refused", "rebroadcast_failed", f"stored transaction could not be re-sent: {error}",
                    stored.safe_tx_hash, stored.tx_hash, resumed=True,
                )  # fmt: skip
            return self._outcome(stored.safe_tx_hash, receipt, resumed=True)
        return self._outcome(stored.safe_tx_hash, receipt_wait(self.w3, stored.tx_hash), resumed=True)

    def _receipt_get(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _invalidated(
        self, tx: SafeTx, digest: bytes, current_nonce: int, head: int, *, resumed: bool
    ) -> ExecutionOutcome:
        """The Safe's nonce is past ``tx.nonce`` (read at block ``head``): if the Safe's events show it ran this very
        SafeTx (whoever sent it, whatever receipt the node answers), that is the outcome; only otherwise was the
        nonce taken by another transaction."""
        found = safe_execution_find(self.w3, self.safe_address, digest, from_block=self.logs_from_block, to_block=head)
        if found is not None and found.succeeded:
            return ExecutionOutcome("executed", "executed", "executed", digest, found.tx_hash, resumed=resumed)
        if found is not None:
            return ExecutionOutcome(
                "failed", "inner_call_failed", "the Safe ran the transaction but its call failed (ExecutionFailure)",
                digest, found.tx_hash, resumed=resumed,
            )  # fmt: skip
        return ExecutionOutcome(
            "invalidated",
            "nonce_taken",
            f"the Safe's nonce is {current_nonce}: nonce {tx.nonce} was used by another transaction",
            digest,
        )

    def _outcome(self, digest: bytes, receipt: TxReceipt, *, resumed: bool) -> ExecutionOutcome:
        tx_hash = bytes(receipt["transactionHash"])
        if receipt["status"] != 1:
            return ExecutionOutcome(
                "failed", "reverted", "execTransaction reverted on chain", digest, tx_hash, resumed=resumed
            )
        safe = safe_contract(self.w3, self.safe_address)
        for event in safe.events.ExecutionSuccess().process_receipt(receipt, errors=DISCARD):
            if bytes(event["args"]["txHash"]) == digest:
                return ExecutionOutcome("executed", "executed", "executed", digest, tx_hash, resumed=resumed)
        return ExecutionOutcome(
            "failed", "inner_call_failed", "the Safe ran the transaction but its call failed (ExecutionFailure)",
            digest, tx_hash, resumed=resumed,
        )  # fmt: skip
