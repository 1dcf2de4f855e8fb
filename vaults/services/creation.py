"""Creating a vault, with its strategy allocation checked."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from fees.core.numbers import ZERO
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from vaults.errors import (
    VaultServiceError,
)
from vaults.models import (
    Vault,
)
from vaults.services.operations import time_or_now

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def allocation_validate(allocation: Any) -> dict[str, dict[str, str]]:
    """Check a strategy allocation: ``{name: {"weight": text, "max": text}}`` with decimal text in [0, 1],
    weight ≤ max, weights summing to at most 1 (the rest is idle cash). Returns it with the texts normalised."""
    if not isinstance(allocation, dict):
        raise VaultServiceError("the allocation must be an object of strategies", fields={"allocation": ["object"]})
    result: dict[str, dict[str, str]] = {}
    total = ZERO
    for name, limits in allocation.items():
        if not isinstance(name, str) or not name or not isinstance(limits, dict) or set(limits) - {"weight", "max"}:
            raise VaultServiceError(f"allocation entry {name!r} must be {{'weight': text, 'max': text}}")
        numbers: dict[str, Decimal] = {}
        for key in ("weight", "max"):
            text = limits.get(key, limits.get("weight") if key == "max" else None)
            try:
                number = Decimal(text) if isinstance(text, str) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or not ZERO <= number <= 1:
                raise VaultServiceError(f"allocation {name}.{key} must be decimal text in [0, 1], got {text!r}")
            numbers[key] = number
        if numbers["weight"] > numbers["max"]:
            raise VaultServiceError(f"allocation {name}: weight {numbers['weight']} is above its max {numbers['max']}")
        total += numbers["weight"]
        result[name] = {key: decimal_text_trim_zeros(value) for key, value in numbers.items()}
    if total > 1:
        raise VaultServiceError(f"allocation weights sum to {total}, above 1")
    return result


def vault_create(
    *,
    name: str,
    slug: str,
    base_asset: str,
    asset_decimals: int,
    allocation: dict[str, Any] | None = None,
    public: bool = True,
    started_at: datetime | None = None,
) -> Vault:
    """A new, empty vault (P = 1 base unit per share until its first deposit)."""
    if not _SLUG.fullmatch(slug) or slug == "me":  # /api/v1/vaults/me/ is the depositor's own
        raise VaultServiceError(f"slug {slug!r} must be lower-case words joined by '-'")
    if not 0 <= asset_decimals <= 36:
        raise VaultServiceError(f"asset decimals must be in 0..36, got {asset_decimals}")
    started = time_or_now(started_at)
    try:
        with transaction.atomic():
            return Vault.objects.create(
                name=name,
                slug=slug,
                base_asset=base_asset.upper(),
                asset_decimals=asset_decimals,
                allocation=allocation_validate(allocation or {}),
                public=public,
                started_at=started,
                settled_at=started,
            )
    except IntegrityError:
        raise VaultServiceError(f"a vault with slug {slug!r} exists", code="duplicate") from None
