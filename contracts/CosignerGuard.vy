# pragma version 0.4.3
# pragma evm-version shanghai
"""
@title CosignerGuard
@notice A Safe v1.4.1 transaction guard: the Safe executes a transaction only if the policy co-signer authorised
        it, whatever other owners sign; and the co-signer can be replaced without itself only through a public,
        time-locked recovery.
@dev The Safe calls `checkTransaction` inside `execTransaction` after checking the owners' signatures and after
     incrementing its nonce; a revert here reverts the whole execution. Rules, in order:
     1. Only the guarded Safe may ask (the transaction hash is rebuilt from that Safe's state).
     2. No DELEGATECALL: the called code would run as the Safe and could rewrite its storage (guard, modules,
        owners, threshold) without passing here again.
     3. No `enableModule`: in v1.4.1 a module's transactions skip the guard, so a module would be a key set without
        the co-signer. The vault Safes have none and can get none.
        No `setFallbackHandler`: a handler answering EIP-1271 `isValidSignature` checks the owners' signatures only,
        never this guard, so the owners could sign token permits (EIP-2612 with contract signatures, Permit2) and
        move funds without a Safe transaction. The vault Safes have no fallback handler and can get none.
     4. Authorised by the co-signer: some 65-byte entry of `signatures` is the co-signer's ECDSA signature of the
        Safe transaction hash (v 27/28), its `eth_sign` signature (v 31/32), or a pre-validated entry (v 1, r = the
        co-signer) backed by the co-signer's `approveHash` of that hash or by the co-signer sending the transaction.
        The guard verifies every entry it counts itself, so an entry the Safe never reads (beyond its threshold)
        cannot pass unverified.
     5. Otherwise only a matured recovery passes: the transaction is exactly `cosigner_replace(new)` on this guard,
        with no value and no gas refund, and `new` was announced by an owner of the Safe at least `RECOVERY_DELAY`
        (7 days or more) earlier and not cancelled since. The other owners still have to meet the Safe's threshold.
     Announcements and cancellations are events the platform shows on the vault's public page. The co-signer (or
     the Safe) cancels an announcement at any time before it is executed.
     Calldata longer than MAX_DATA bytes (or signatures longer than MAX_SIGNATURES) makes the check revert: the
     guard fails closed.
"""

MAX_DATA: constant(uint256) = 16384
MAX_SIGNATURES: constant(uint256) = 4095
MAX_ENTRIES: constant(uint256) = 63  # MAX_SIGNATURES // 65
MIN_RECOVERY_DELAY: constant(uint256) = 7 * 24 * 3600
GUARD_INTERFACE_ID: constant(bytes4) = 0xe6d7a83a  # checkTransaction ^ checkAfterExecution (Safe v1.4.1 Guard)
ERC165_INTERFACE_ID: constant(bytes4) = 0x01ffc9a7
ENABLE_MODULE: constant(bytes4) = method_id("enableModule(address)", output_type=bytes4)
SET_FALLBACK_HANDLER: constant(bytes4) = method_id("setFallbackHandler(address)", output_type=bytes4)
COSIGNER_REPLACE: constant(bytes4) = method_id("cosigner_replace(address)", output_type=bytes4)


interface ISafe:
    def getTransactionHash(
        to: address,
        amount: uint256,
        data: Bytes[MAX_DATA],
        operation: uint8,
        safeTxGas: uint256,
        baseGas: uint256,
        gasPrice: uint256,
        gasToken: address,
        refundReceiver: address,
        _nonce: uint256,
    ) -> bytes32: view
    def nonce() -> uint256: view
    def approvedHashes(owner: address, message_hash: bytes32) -> uint256: view
    def isOwner(owner: address) -> bool: view


event RecoveryAnnounced:
    new_cosigner: indexed(address)
    announced_by: indexed(address)
    executable_at: uint256


event RecoveryCancelled:
    new_cosigner: indexed(address)
    cancelled_by: indexed(address)


event CosignerReplaced:
    old_cosigner: indexed(address)
    new_cosigner: indexed(address)


SAFE: public(immutable(address))
RECOVERY_DELAY: public(immutable(uint256))
cosigner: public(address)
# announced new co-signer => the earliest timestamp its replacement may execute (0: not announced)
recovery_executable_at: public(HashMap[address, uint256])


@deploy
def __init__(safe: address, cosigner: address, recovery_delay: uint256):
    assert safe != empty(address), "no Safe"
    assert cosigner != empty(address), "no co-signer"
    assert recovery_delay >= MIN_RECOVERY_DELAY, "the recovery delay is at least 7 days"
    SAFE = safe
    RECOVERY_DELAY = recovery_delay
    self.cosigner = cosigner


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    return interface_id == GUARD_INTERFACE_ID or interface_id == ERC165_INTERFACE_ID


@external
@view
def checkTransaction(
    to: address,
    amount: uint256,
    data: Bytes[MAX_DATA],
    operation: uint8,
    safeTxGas: uint256,
    baseGas: uint256,
    gasPrice: uint256,
    gasToken: address,
    refundReceiver: address,
    signatures: Bytes[MAX_SIGNATURES],
    msgSender: address,
):
    assert msg.sender == SAFE, "only the guarded Safe"
    assert operation == 0, "no DELEGATECALL from a vault Safe"
    if to == SAFE and len(data) >= 4:
        selector: bytes4 = convert(slice(data, 0, 4), bytes4)
        assert selector != ENABLE_MODULE, "no modules on a vault Safe"
        assert selector != SET_FALLBACK_HANDLER, "no fallback handler on a vault Safe"
    # The Safe has already used this transaction's nonce: the transaction carried nonce - 1.
    tx_hash: bytes32 = staticcall ISafe(SAFE).getTransactionHash(
        to, amount, data, operation, safeTxGas, baseGas, gasPrice, gasToken, refundReceiver,
        staticcall ISafe(SAFE).nonce() - 1,
    )
    if self._cosigner_authorised(tx_hash, signatures, msgSender):
        return
    assert self._recovery_matured(to, amount, data, gasPrice), "the policy co-signer did not sign"


@external
@view
def checkAfterExecution(txHash: bytes32, success: bool):
    pass


@external
def recovery_announce(new_cosigner: address):
    """Start the public week after which the Safe's owners may replace the co-signer by `new_cosigner`."""
    assert new_cosigner != empty(address), "no co-signer"
    assert new_cosigner != self.cosigner, "already the co-signer"
    assert staticcall ISafe(SAFE).isOwner(msg.sender), "only an owner of the Safe announces a recovery"
    assert self.recovery_executable_at[new_cosigner] == 0, "already announced"
    executable_at: uint256 = block.timestamp + RECOVERY_DELAY
    self.recovery_executable_at[new_cosigner] = executable_at
    log RecoveryAnnounced(new_cosigner=new_cosigner, announced_by=msg.sender, executable_at=executable_at)


@external
def recovery_cancel(new_cosigner: address):
    assert msg.sender == self.cosigner or msg.sender == SAFE, "only the co-signer or the Safe cancels a recovery"
    assert self.recovery_executable_at[new_cosigner] != 0, "no such recovery"
    self.recovery_executable_at[new_cosigner] = 0
    log RecoveryCancelled(new_cosigner=new_cosigner, cancelled_by=msg.sender)


@external
def cosigner_replace(new_cosigner: address):
    """Only as a transaction of the Safe: with the co-signer's authorisation, or as a matured recovery."""
    assert msg.sender == SAFE, "only the Safe replaces its co-signer"
    assert new_cosigner != empty(address), "no co-signer"
    old_cosigner: address = self.cosigner
    self.cosigner = new_cosigner
    self.recovery_executable_at[new_cosigner] = 0
    log CosignerReplaced(old_cosigner=old_cosigner, new_cosigner=new_cosigner)


@internal
@view
def _cosigner_authorised(tx_hash: bytes32, signatures: Bytes[MAX_SIGNATURES], msg_sender: address) -> bool:
    signer: address = self.cosigner
    signer_word: bytes32 = convert(convert(signer, uint256), bytes32)
    entries: uint256 = len(signatures) // 65
    for index: uint256 in range(MAX_ENTRIES):
        if index >= entries:
            break
        position: uint256 = index * 65
        r: bytes32 = extract32(signatures, position)
        s: bytes32 = extract32(signatures, position + 32)
        v: uint256 = convert(convert(slice(signatures, position + 64, 1), bytes1), uint256)
        if v == 1:
            if r == signer_word:
                if msg_sender == signer or staticcall ISafe(SAFE).approvedHashes(signer, tx_hash) != 0:
                    return True
        elif v == 27 or v == 28:
            if ecrecover(tx_hash, v, r, s) == signer:
                return True
        elif v == 31 or v == 32:
            prefixed: bytes32 = keccak256(concat(b"\x19Ethereum Signed Message:\n32", tx_hash))
            if ecrecover(prefixed, v - 4, r, s) == signer:
                return True
    return False


@internal
@view
def _recovery_matured(to: address, amount: uint256, data: Bytes[MAX_DATA], gas_price: uint256) -> bool:
    if to != self or amount != 0 or gas_price != 0 or len(data) != 36:
        return False
    if convert(slice(data, 0, 4), bytes4) != COSIGNER_REPLACE:
        return False
    new_cosigner: address = abi_decode(slice(data, 4, 32), address)
    executable_at: uint256 = self.recovery_executable_at[new_cosigner]
    return executable_at != 0 and block.timestamp >= executable_at
