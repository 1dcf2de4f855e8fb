"""Forms for the account page; each feeds one service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from accounts.core import tokens

CHAIN_NAMES = {1: "Ethereum", 10: "OP Mainnet", 137: "Polygon", 8453: "Base", 42161: "Arbitrum One"}


def chain_name(chain_id: int) -> str:
    return CHAIN_NAMES.get(chain_id, f"Chain {chain_id}")


class WalletNonceForm(forms.Form):
    address = forms.CharField(
        max_length=42,
        help_text="0x followed by 40 hexadecimal digits.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    chain_id = forms.TypedChoiceField(coerce=int, label="Chain")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chain_field = self.fields["chain_id"]
        assert isinstance(chain_field, forms.TypedChoiceField)
        chain_field.choices = [(chain, chain_name(chain)) for chain in settings.SIWE_CHAIN_IDS]


class WalletLinkForm(forms.Form):
    message = forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 10, "readonly": True, "class": "mono"}))
    signature = forms.CharField(
        help_text="The personal_sign signature: 0x followed by 130 hexadecimal digits.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    label = forms.CharField(max_length=100, required=False, help_text="Optional, for you: e.g. “Ledger”.")
    vouch_signature = forms.CharField(
        required=False,
        label="Vouch signature (optional)",
        help_text=(
            "To let the new wallet authorise withdrawals at once rather than in 48 h: the personal_sign signature "
            "of the vouch message below by one of your wallets linked 48 h or more ago."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )

    def clean_message(self) -> str:
        # Browsers submit textarea line breaks as CRLF; an EIP-4361 message has LF only and never ends with one.
        return str(self.cleaned_data["message"]).replace("\r\n", "\n").rstrip("\n")


SCOPE_LABELS = {
    tokens.SCOPE_READ: "read: every GET",
    tokens.SCOPE_TRADE: "trade: start analyses and (later) strategy actions; moves no funds",
    tokens.SCOPE_CUSTODY: "custody: request withdrawals, post wallet signatures, register destinations",
}


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “research notebook”.")
    scopes = forms.MultipleChoiceField(
        choices=[(scope, SCOPE_LABELS[scope]) for scope in tokens.SCOPES],
        initial=[tokens.SCOPE_READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="No token can create tokens or link wallets.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=365, initial=90, required=False, label="Expires in (days)", help_text="1 to 365 days."
    )

    def clean_expires_in_days(self) -> int:
        return self.cleaned_data["expires_in_days"] or 90
