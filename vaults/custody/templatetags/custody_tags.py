"""Custody on other apps' pages: ``{% load custody_tags %}``."""

from __future__ import annotations

from typing import Any

from django import template

from vaults.custody import selectors
from vaults.models import Vault, VaultSafe

register = template.Library()


@register.inclusion_tag("custody/vault_panel.html")
def vault_custody_panel(vault: Vault) -> dict[str, Any]:
    """The vault page's Safe panel: the vault's Safe (owners, threshold) and the control changes it announces, live
    and recently closed; nothing when the vault has neither."""
    return {
        "safe": VaultSafe.objects.filter(vault=vault).first(),
        "control_changes": selectors.vault_control_changes(vault_id=vault.pk),
        "control_changes_recent_days": selectors.CONTROL_CHANGES_RECENT.days,
    }
