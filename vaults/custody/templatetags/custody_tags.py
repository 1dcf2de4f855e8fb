"""Custody on other apps' pages: ``{% load custody_tags %}``."""

from __future__ import annotations

from typing import Any

from django import template

from vaults.custody import selectors
from vaults.models import Vault, VaultSafe

register = template.Library()


@register.inclusion_tag("custody/vault_panel.html")
def vault_custody_panel(vault: Vault) -> dict[str, Any]:
    """The vault page's Safe panel: the vault's Safe (owners, threshold, guard), the control changes it announces and
    the co-signer recoveries announced on its guard, live and recently closed; nothing when the vault has none."""
    return {
        "safe": VaultSafe.objects.filter(vault=vault).first(),
        "control_changes": selectors.vault_control_changes(vault_id=vault.pk),
        "recoveries": selectors.vault_cosigner_recoveries(vault_id=vault.pk),
        "control_changes_recent_days": selectors.CONTROL_CHANGES_RECENT.days,
    }
