"""address_normalise: EIP-55 spelling out, typos and non-addresses refused with a stable code."""

from __future__ import annotations

import pytest

from chains.addresses import AddressError, address_normalise

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own test vector


@pytest.mark.parametrize("spelling", [CHECKSUMMED, CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper()])
def test_single_case_and_correct_mixed_case_spellings_give_the_checksummed_one(spelling: str) -> None:
    assert address_normalise(spelling) == CHECKSUMMED


def test_a_mixed_case_typo_is_refused_not_corrected() -> None:
    typo = CHECKSUMMED[:-1] + "D"  # the last letter's case flipped
    with pytest.raises(AddressError) as refused:
        address_normalise(typo, field="token")
    assert refused.value.code == "address_checksum"
    assert str(refused.value) == f"token {typo} fails its EIP-55 checksum (expected {CHECKSUMMED})"


@pytest.mark.parametrize("value", ["", "0x1234", CHECKSUMMED[2:], CHECKSUMMED + "00", "0x" + "g" * 40, 42])
def test_what_is_not_20_hex_bytes_is_refused(value: object) -> None:
    with pytest.raises(AddressError) as refused:
        address_normalise(value)  # type: ignore[arg-type]
    assert refused.value.code == "address_invalid"
