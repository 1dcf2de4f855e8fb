"""Where a withdrawal may be paid: a depositor's linked wallet, or an address the depositor registered with an
EIP-712 ``DestinationRegistration`` signed by two distinct linked wallets (the policy pays it 48 h later)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from vaults.custody import selectors
from vaults.custody.destination_registration import (
    DestinationRegistration,
    DestinationRegistrationError,
    destination_registration_check,
)
from vaults.custody.errors import CustodyError
from vaults.custody.safe_tx import SafeTxError, address_normalise
from vaults.custody.services.proposal_steps import hex_text, step_time
from vaults.custody.services.signatures import signature_parse, typed_signature_normalise
from vaults.custody.withdrawal_request import Refusal, typed_signature_recover
from vaults.models import WithdrawalDestination


def withdrawal_destination_check(*, depositor_id: int, chain_id: int, destination: str) -> str:
    """The checksummed destination if the depositor may ask to be paid there: one of their linked wallets once it
    authorises withdrawals (48 h after its link, or at once when vouched for), or an address they registered (the
    48 h rule is the co-signer's; it says when). Raises :class:`CustodyError`."""
    try:
        address = address_normalise(destination, field="destination")
    except SafeTxError as error:
        raise CustodyError(str(error), code=error.code, fields={"destination": [str(error)]}) from None
    usable_from = selectors.linked_wallets_usable_from(depositor_id=depositor_id)
    if address in usable_from:
        # Linking an address must not be a way round the registration's 48 h: a new wallet waits as long.
        if step_time(None) < usable_from[address]:
            raise CustodyError(
                f"{address} was linked less than 48 h ago: it can receive withdrawals from "
                f"{usable_from[address]:%Y-%m-%d %H:%M} UTC (or link it again, vouched for by a wallet linked 48 h "
                "or more ago)",
                code="destination_not_yet_usable",
                fields={"destination": ["linked less than 48 h ago"]},
            )
        return address
    if not WithdrawalDestination.objects.filter(depositor_id=depositor_id, chain_id=chain_id, address=address).exists():
        raise CustodyError(
            f"{address} is not one of your linked wallets and was never registered as a withdrawal destination: "
            "link it, or register it with signatures from two linked wallets (usable 48 h later)",
            code="destination_not_registered",
            fields={"destination": ["not linked, not registered"]},
        )
    return address


def withdrawal_destination_register(
    *,
    depositor_id: int,
    chain_id: int,
    address: str,
    nonce: int,
    signatures: Sequence[str],
    now: datetime | None = None,
) -> WithdrawalDestination:
    """Register a withdrawal address that is not a linked wallet, from an EIP-712 ``DestinationRegistration``
    signed by two distinct linked wallets (nonce single use per depositor). The policy pays it from
    ``registered_at`` + 48 h on."""
    now = step_time(now)
    try:
        registration = DestinationRegistration(
            depositor=depositor_id, destination=address, nonce=nonce, chain_id=chain_id
        )
    except DestinationRegistrationError as error:
        raise CustodyError(str(error), code=error.code) from None
    raws = [typed_signature_normalise(signature_parse(s, field="signatures")) for s in signatures]
    result = destination_registration_check(registration, raws, selectors.linked_wallets(depositor_id=depositor_id))
    if isinstance(result, Refusal):
        raise CustodyError(result.message, code=result.code)
    by_signer = dict(zip([typed_signature_recover(result.registration_hash, r) for r in raws], raws, strict=True))
    try:
        with transaction.atomic():
            return WithdrawalDestination.objects.create(
                depositor_id=depositor_id,
                chain_id=chain_id,
                address=registration.destination,
                nonce=Decimal(nonce),
                registration_hash=hex_text(result.registration_hash),
                signers=list(result.signers),
                signatures=[hex_text(by_signer[signer]) for signer in result.signers],
                registered_at=now,
            )
    except IntegrityError:
        raise CustodyError(
            f"{registration.destination} is already registered, or nonce {nonce} was used", code="already_registered"
        ) from None
