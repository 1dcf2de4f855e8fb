"""The signature policy per operation type: what must hold before the platform's co-signer adds its Safe signature.

Pure: the table is data (:data:`POLICY_TABLE`), :func:`policy_evaluate` applies it to one Safe transaction and the
facts the caller gathered (:class:`PolicyContext`), and :func:`policy_table_markdown` renders it for the README.
Amounts are integers in the vault asset's base units; times are aware datetimes.

Besides each rule's approvals, every rule checks the transaction itself, since the co-signer signs the SafeTx and
not the label someone put on it: a plain CALL (DELEGATECALL would run foreign code with the Safe's storage), no gas
refund (``gasPrice`` > 0 pays out of the Safe), no ether sent, and the exact call the operation type allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from hftplatform.core.utc import utc_aware
from vaults.custody.call_policy import CallPolicy, CallUsage, Reason, TokenMark, call_policy_check
from vaults.custody.calls import SAFE_CONTROL_FUNCTIONS, erc20_transfer_decode, safe_control_call_decode
from vaults.custody.safe_tx import OPERATION_CALL, ZERO_ADDRESS, SafeTx, SafeTxError, address_normalise
from vaults.custody.withdrawal_request import (
    REQUIRED_WALLETS,
    Authorisation,
    typed_signature_recover,
    withdrawal_request_hash,
)

DESTINATION_REGISTRATION_DELAY = timedelta(hours=48)
CONTROL_CHANGE_DELAY = timedelta(hours=72)


class OperationKind(StrEnum):
    WITHDRAWAL_TO_LINKED_WALLET = "withdrawal_linked_wallet"
    WITHDRAWAL_TO_OTHER_ADDRESS = "withdrawal_other_address"
    STRATEGY_TRADE = "strategy_trade"
    FEE_COLLECTION = "fee_collection"
    CONTROL_CHANGE = "control_change"
    EMERGENCY_UNWIND = "emergency_unwind"
    NONCE_INVALIDATION = "nonce_invalidation"


@dataclass(frozen=True)
class PolicyRule:
    """One row of the policy table."""

    kind: OperationKind
    operation: str
    requirement: str
    transaction: str
    depositor_signatures: int = 0
    operator_approvals: int = 0
    delay: timedelta | None = None


POLICY_TABLE: tuple[PolicyRule, ...] = (
    PolicyRule(
        OperationKind.WITHDRAWAL_TO_LINKED_WALLET,
        "withdrawal to one of the depositor's linked wallets",
        "2 depositor signatures from 2 distinct linked wallets; amount ≤ the computed payout",
        "`transfer(destination, amount)` on the vault asset; the destination is the signed request's",
        depositor_signatures=REQUIRED_WALLETS,
    ),
    PolicyRule(
        OperationKind.WITHDRAWAL_TO_OTHER_ADDRESS,
        "withdrawal to any other address",
        "as above, and the address registered by 2 depositor signatures ≥ 48 h earlier",
        "`transfer(destination, amount)` on the vault asset; the destination is the signed request's",
        depositor_signatures=REQUIRED_WALLETS,
        delay=DESTINATION_REGISTRATION_DELAY,
    ),
    PolicyRule(
        OperationKind.STRATEGY_TRADE,
        "strategy trade (funds stay in the Safe)",
        "1 operator approval; amounts within the vault's per-period token allowances; a swap's minimum output at "
        "least the marked-price value less the maximum slippage; the period's cumulative value loss within the "
        "vault's tolerance",
        "a declared call shape (ERC-20 `approve`/`transfer`, Uniswap V2/V3 swaps, Aave v3 `supply`/`withdraw`/"
        "`borrow`/`repay`) on an allowlisted token or a contract the vault's policy grants; recipient, `to` and "
        "`onBehalfOf` the Safe itself, every token allowlisted, approvals bounded and to granted contracts",
        operator_approvals=1,
    ),
    PolicyRule(
        OperationKind.FEE_COLLECTION,
        "fee collection to the platform",
        "2 operator approvals; amount ≤ the fee ledger's balance",
        "`transfer(platform fee address, amount)` on the vault asset",
        operator_approvals=2,
    ),
    PolicyRule(
        OperationKind.CONTROL_CHANGE,
        "owner, threshold, module or guard change",
        "2 operator approvals and a 72 h delay after the announcement on the vault's public page",
        "a call to the Safe itself: owner, threshold (never under 2) or module removal; never a guard change, a new "
        "module or a fallback handler",
        operator_approvals=2,
        delay=CONTROL_CHANGE_DELAY,
    ),
    PolicyRule(
        OperationKind.EMERGENCY_UNWIND,
        "emergency unwind (positions back to the base asset, inside the Safe)",
        "1 operator approval; the allowances, minimum output and value-loss tolerance of a strategy trade",
        "as a strategy trade, on the unwind contracts the vault's policy grants, and only Aave `withdraw`/`repay`, "
        "`approve` and swaps into the vault asset",
        operator_approvals=1,
    ),
    PolicyRule(
        OperationKind.NONCE_INVALIDATION,
        "nonce invalidation (the Safe nonce of a closed proposal the co-signer had signed is used up)",
        "none: the platform proposes it when such a proposal is cancelled or fails unsent; it moves nothing",
        "a call to the Safe itself with no data and no value",
    ),
)
POLICY_RULES: dict[OperationKind, PolicyRule] = {rule.kind: rule for rule in POLICY_TABLE}


def _custody_loosening(data: bytes) -> list[Reason]:
    """What no number of approvals or hours buys, because the guard exists to deny it to the operators: replacing
    or removing the co-signer guard (the co-signer itself changes only through the guard's public 7-day recovery),
    enabling a module (its transactions skip the guard), a fallback handler (it would answer EIP-1271 signature
    checks, e.g. token permits, from the owners alone), or a threshold under 2 (the co-signer alone would meet it)."""
    call = safe_control_call_decode(data)
    if call is None:
        return [Reason("call_malformed", "the control call's arguments do not decode")]
    if call.function == "setGuard":
        return [
            Reason(
                "guard_permanent",
                "the Safe's co-signer guard is never removed or replaced; a new co-signer comes only through the "
                "guard's public 7-day recovery",
            )
        ]
    if call.function == "enableModule":
        return [Reason("module_forbidden", "a module's transactions would skip the co-signer guard")]
    if call.function == "setFallbackHandler":
        return [
            Reason(
                "fallback_handler_forbidden",
                "a fallback handler would answer EIP-1271 signature checks from the owners alone, past the guard",
            )
        ]
    threshold = dict(call.arguments).get("_threshold")
    if threshold is not None and int(threshold) < 2:
        return [Reason("threshold_below_two", f"a threshold of {threshold}: a vault Safe needs at least 2 signatures")]
    return []


def policy_table_markdown() -> str:
    """The policy table as Markdown, for the README and the vault's public page."""
    lines = [
        "| operation | required before the co-signer signs | Safe transaction it may sign |",
        "|---|---|---|",
    ]
    lines += [f"| {rule.operation} | {rule.requirement} | {rule.transaction} |" for rule in POLICY_TABLE]
    lines.append(
        "\nEvery rule also requires a plain CALL, no ether sent and no gas refund from the Safe (`gasPrice` and "
        "`baseGas` 0, no `gasToken`, no `refundReceiver`)."
    )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Operation:
    """A Safe transaction of the vault Safe ``safe`` on ``chain_id``, proposed as operation type ``kind``."""

    kind: OperationKind
    chain_id: int
    safe: str
    tx: SafeTx


@dataclass(frozen=True)
class DestinationRegistration:
    """A non-linked withdrawal address the depositor registered, with the wallets that signed the registration."""

    address: str
    registered_at: datetime
    signers: frozenset[str]


@dataclass(frozen=True)
class PolicyContext:
    """The facts a rule needs, gathered by the caller from the database (none are trusted from the proposer).

    ``payout`` and ``fee_ledger_balance`` are in the vault asset's base units; ``operator_approvals`` holds
    distinct operator identities (user ids or addresses). Strategy trades and emergency unwinds are checked against
    the vault's ``call_policy`` (:mod:`vaults.custody.call_policy`), with ``call_usage`` what co-signed calls have
    used of it in the current period (this proposal excluded) and ``marks`` the tokens' marked prices, the vault
    asset's among them.
    """

    now: datetime
    asset: str | None = None
    authorisation: Authorisation | None = None
    linked_wallets: frozenset[str] = frozenset()
    registered_destinations: Mapping[str, DestinationRegistration] = field(default_factory=dict)
    payout: int | None = None
    operator_approvals: frozenset[str] = frozenset()
    fee_ledger_balance: int | None = None
    fee_recipient: str | None = None
    call_policy: CallPolicy | None = None
    call_usage: CallUsage = field(default_factory=CallUsage)
    marks: Mapping[str, TokenMark] = field(default_factory=dict)
    announced_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """The policy's answer: ``allowed``, the rule applied, and every unmet requirement when refused. An allowed
    strategy trade or unwind carries its ``usage`` of the vault's contract-call policy (recorded when co-signed)."""

    allowed: bool
    rule: PolicyRule
    reasons: tuple[Reason, ...]
    usage: CallUsage | None = None

    @property
    def message(self) -> str:
        if self.allowed:
            return f"allowed by the policy for {self.rule.operation}"
        return f"refused by the policy for {self.rule.operation}: " + "; ".join(r.message for r in self.reasons)


def _transaction_shape(operation: Operation, *, to_self: bool) -> list[Reason]:
    tx = operation.tx
    reasons: list[Reason] = []
    if tx.operation != OPERATION_CALL:
        reasons.append(Reason("delegatecall", "DELEGATECALL is never signed: it runs foreign code as the Safe"))
    if tx.gas_price != 0 or tx.base_gas != 0:
        reasons.append(Reason("gas_refund", "the transaction would pay a gas refund out of the Safe"))
    # With gasPrice 0 the Safe pays no refund, but a SafeTx naming a refund token or receiver is not one the
    # co-signer has a reason to sign: a later change of either rule would turn it into a payment out of the Safe.
    if tx.gas_token != ZERO_ADDRESS:
        reasons.append(Reason("gas_token_set", f"the transaction names a gas refund token ({tx.gas_token})"))
    if tx.refund_receiver != ZERO_ADDRESS:
        reasons.append(
            Reason("refund_receiver_set", f"the transaction names a gas refund receiver ({tx.refund_receiver})")
        )
    if tx.value != 0:
        reasons.append(Reason("ether_sent", f"the transaction sends {tx.value} wei out of the Safe"))
    is_self = tx.to == address_normalise(operation.safe, field="safe")
    if is_self and not to_self:
        reasons.append(Reason("safe_self_call", "only a control change may call the Safe itself"))
    if to_self and not is_self:
        reasons.append(Reason("not_safe_call", f"a control change calls the Safe itself, not {tx.to}"))
    return reasons


def _approvals(context: PolicyContext, required: int) -> list[Reason]:
    count = len(context.operator_approvals)
    if count >= required:
        return []
    return [Reason("operator_approvals", f"{count} operator approval(s), {required} required")]


def _asset_transfer(operation: Operation, context: PolicyContext) -> tuple[list[Reason], str | None, int | None]:
    if context.asset is None:
        return [Reason("asset_unknown", "the vault's asset is not known")], None, None
    if operation.tx.to != address_normalise(context.asset, field="asset"):
        return [Reason("not_asset", f"the transaction calls {operation.tx.to}, not the vault asset")], None, None
    transfer = erc20_transfer_decode(operation.tx.data)
    if transfer is None:
        return [Reason("not_transfer", "the call data is not exactly an ERC-20 transfer(address,uint256)")], None, None
    return [], transfer.recipient, transfer.amount


def _request_signers(authorisation: Authorisation) -> set[str]:
    """The wallets whose signatures over the request verify now; an Authorisation is re-checked, not trusted."""
    digest = withdrawal_request_hash(authorisation.request)
    signers: set[str] = set()
    for signature in authorisation.signatures:
        try:
            signers.add(typed_signature_recover(digest, signature))
        except SafeTxError:
            continue
    return signers


def _withdrawal(operation: Operation, context: PolicyContext, rule: PolicyRule) -> list[Reason]:
    reasons = _transaction_shape(operation, to_self=False)
    transfer_reasons, recipient, amount = _asset_transfer(operation, context)
    reasons += transfer_reasons
    authorisation = context.authorisation
    linked = {address_normalise(wallet) for wallet in context.linked_wallets}
    if authorisation is None:
        return [*reasons, Reason("depositor_signatures", "no depositor authorisation (2 linked-wallet signatures)")]
    request = authorisation.request
    if request.chain_id != operation.chain_id or request.vault != operation.safe:
        reasons.append(Reason("request_other_vault", "the signed request is for another vault or chain"))
    distinct_linked = {signer for signer in _request_signers(authorisation) if signer in linked}
    if len(distinct_linked) < REQUIRED_WALLETS:
        reasons.append(
            Reason(
                "depositor_signatures",
                f"{len(distinct_linked)} distinct linked wallet(s) signed, {REQUIRED_WALLETS} required",
            )
        )
    if context.now.timestamp() >= request.deadline:
        reasons.append(Reason("deadline_passed", f"the signed request expired at {request.deadline_at.isoformat()}"))
    if recipient is not None and recipient != request.destination:
        reasons.append(
            Reason("destination_mismatch", f"the transfer pays {recipient}, the request says {request.destination}")
        )
    if amount is not None:
        if context.payout is None:
            reasons.append(Reason("payout_unknown", "the withdrawal's payout has not been computed"))
        elif amount > context.payout:
            reasons.append(
                Reason("amount_above_payout", f"amount {amount} exceeds the computed payout {context.payout}")
            )
        if request.amount and amount > request.amount:
            reasons.append(Reason("amount_above_request", f"amount {amount} exceeds the signed {request.amount}"))
    destination = request.destination
    if rule.kind is OperationKind.WITHDRAWAL_TO_LINKED_WALLET:
        if destination not in linked:
            reasons.append(
                Reason(
                    "destination_not_linked",
                    f"{destination} is not one of the depositor's linked wallets (another address must be registered "
                    "by 2 depositor signatures at least 48 h before)",
                )
            )
        return reasons
    registration = {address_normalise(k): v for k, v in context.registered_destinations.items()}.get(destination)
    if registration is None:
        reasons.append(Reason("destination_not_registered", f"{destination} was never registered as a destination"))
        return reasons
    registration_signers = {signer for signer in registration.signers if address_normalise(signer) in linked}
    if len(registration_signers) < REQUIRED_WALLETS:
        reasons.append(
            Reason("registration_signatures", "the destination was not registered by 2 distinct linked wallets")
        )
    assert rule.delay is not None
    ready_at = registration.registered_at + rule.delay
    if context.now < ready_at:
        reasons.append(
            Reason("destination_too_recent", f"{destination} can receive withdrawals from {ready_at.isoformat()}")
        )
    return reasons


def _contract_call(operation: Operation, context: PolicyContext, *, unwind: bool) -> tuple[list[Reason], CallUsage]:
    if context.asset is None and context.call_policy is not None:
        return [Reason("asset_unknown", "the vault's asset is not known")], CallUsage()
    check = call_policy_check(
        safe=operation.safe,
        asset=context.asset or "",
        to=operation.tx.to,
        data=operation.tx.data,
        unwind=unwind,
        policy=context.call_policy,
        used=context.call_usage,
        marks=context.marks,
        now=context.now,
    )
    return list(check.reasons), check.usage


def policy_evaluate(operation: Operation, context: PolicyContext) -> Decision:
    """Apply the rule of ``operation.kind`` to its Safe transaction and ``context``.

    Returns a :class:`Decision` listing every unmet requirement (not just the first), so an operator sees at
    once all that is missing.
    """
    utc_aware(context.now, what="context.now")  # a naive time is a programming error
    rule = POLICY_RULES[operation.kind]
    kind = rule.kind
    reasons: list[Reason]
    usage: CallUsage | None = None
    if kind in (OperationKind.WITHDRAWAL_TO_LINKED_WALLET, OperationKind.WITHDRAWAL_TO_OTHER_ADDRESS):
        reasons = _withdrawal(operation, context, rule)
    elif kind in (OperationKind.STRATEGY_TRADE, OperationKind.EMERGENCY_UNWIND):
        reasons = _transaction_shape(operation, to_self=False)
        call_reasons, usage = _contract_call(operation, context, unwind=kind is OperationKind.EMERGENCY_UNWIND)
        reasons += call_reasons
        reasons += _approvals(context, rule.operator_approvals)
    elif kind is OperationKind.FEE_COLLECTION:
        reasons = _transaction_shape(operation, to_self=False)
        transfer_reasons, recipient, amount = _asset_transfer(operation, context)
        reasons += transfer_reasons
        if context.fee_recipient is None:
            reasons.append(Reason("fee_recipient_unknown", "the platform's fee address is not configured"))
        elif recipient is not None and recipient != address_normalise(context.fee_recipient):
            reasons.append(Reason("fee_recipient_mismatch", f"fees go to the platform's fee address, not {recipient}"))
        if amount is not None:
            if context.fee_ledger_balance is None:
                reasons.append(Reason("fee_ledger_unknown", "the fee ledger balance is not known"))
            elif amount > context.fee_ledger_balance:
                reasons.append(
                    Reason(
                        "amount_above_fee_ledger",
                        f"amount {amount} exceeds the fee ledger balance {context.fee_ledger_balance}",
                    )
                )
        reasons += _approvals(context, rule.operator_approvals)
    elif kind is OperationKind.NONCE_INVALIDATION:
        reasons = _transaction_shape(operation, to_self=True)
        if operation.tx.data:
            reasons.append(Reason("not_a_no_op", "a nonce invalidation calls the Safe with no data"))
    else:
        reasons = _transaction_shape(operation, to_self=True)
        selector = operation.tx.selector
        if selector is None or selector not in SAFE_CONTROL_FUNCTIONS:
            reasons.append(Reason("not_control_function", "the call is not an owner/threshold/module/guard change"))
        else:
            reasons += _custody_loosening(operation.tx.data)
        reasons += _approvals(context, rule.operator_approvals)
        assert rule.delay is not None
        if context.announced_at is None:
            reasons.append(Reason("not_announced", "the change was not announced on the vault's public page"))
        elif context.now < context.announced_at + rule.delay:
            reasons.append(
                Reason(
                    "delay_not_elapsed",
                    f"announced {context.announced_at.isoformat()}; may be signed from "
                    f"{(context.announced_at + rule.delay).isoformat()} (72 h)",
                )
            )
    return Decision(allowed=not reasons, rule=rule, reasons=tuple(reasons), usage=None if reasons else usage)
