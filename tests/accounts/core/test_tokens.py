"""The API token format: well formed, distinct, stored as its SHA-256."""

from __future__ import annotations

import hashlib

from accounts.core import tokens


def test_generated_tokens_are_well_formed_and_distinct() -> None:
    generated = [tokens.generate() for _ in range(50)]

    assert len({new.plaintext for new in generated}) == 50
    for new in generated:
        assert tokens.is_well_formed(new.plaintext)
        assert new.prefix == new.plaintext[:12] and new.prefix.startswith("hft_")
        assert new.key_hash == hashlib.sha256(new.plaintext.encode()).hexdigest()
    assert not tokens.is_well_formed(generated[0].plaintext[:-1])
    assert not tokens.is_well_formed("Token " + generated[0].plaintext)
