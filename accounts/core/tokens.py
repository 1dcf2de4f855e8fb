"""API token format: ``hft_<8 hex public id>_<43 url-safe secret chars>``. Pure: no Django.

The public part (``hft_`` and the id) is stored and shown so people can tell their tokens apart; the whole
token is stored only as its SHA-256. A token carries 256 bits of secret, so an unsalted fast hash is enough:
there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

SCHEME = "hft_"
# What a token may do. read: every GET. trade: writes that change what the platform computes or trades and move no
# funds (lead-lag runs; strategies later). custody: the funds' flow (withdrawals, their signatures and proposals,
# destinations). No scope lets a token create tokens or link wallets: those need a freshly re-authenticated session.
SCOPE_READ = "read"
SCOPE_TRADE = "trade"
SCOPE_CUSTODY = "custody"
SCOPES = (SCOPE_READ, SCOPE_TRADE, SCOPE_CUSTODY)
TOKEN_RE = re.compile(r"hft_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}")


@dataclass(frozen=True)
class NewToken:
    plaintext: str
    prefix: str
    key_hash: str


def key_hash(token: str) -> str:
    """SHA-256 of the whole token, lower-case hex (64 characters)."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate() -> NewToken:
    public_id = secrets.token_hex(4)
    plaintext = f"{SCHEME}{public_id}_{secrets.token_urlsafe(32)}"
    return NewToken(plaintext=plaintext, prefix=f"{SCHEME}{public_id}", key_hash=key_hash(plaintext))


def is_well_formed(token: str) -> bool:
    return bool(TOKEN_RE.fullmatch(token))
