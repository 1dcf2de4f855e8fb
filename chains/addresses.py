"""EVM addresses as the platform spells them: EIP-55 checksummed ``str``. Pure: no Django, no RPC."""

from __future__ import annotations

import re

from eth_utils.address import to_checksum_address

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


class AddressError(ValueError):
    """Text that is not a usable address; ``code`` is stable (``address_invalid``, ``address_checksum``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def address_normalise(value: str, *, field: str = "address") -> str:
    """The EIP-55 checksummed spelling of a 20-byte hex address; a mixed-case spelling must already be correct."""
    if not isinstance(value, str) or not _ADDRESS_RE.match(value):
        raise AddressError("address_invalid", f"{field} must be 0x followed by 40 hex digits, got {value!r}")
    checksummed = to_checksum_address(value)
    is_mixed_case = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if is_mixed_case and value != checksummed:
        # A wrong mixed-case spelling is the EIP-55 typo detector firing: refuse rather than guess.
        raise AddressError("address_checksum", f"{field} {value} fails its EIP-55 checksum (expected {checksummed})")
    return checksummed
