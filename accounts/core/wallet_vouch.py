"""Vouching for a new wallet: an EIP-191 (``personal_sign``) text that a wallet linked for at least
:data:`WALLET_WITHDRAWAL_DELAY` signs so that a wallet being linked may authorise withdrawals at once. Pure: no Django.

A newly linked wallet authorises withdrawals only 48 h after its link (the same delay as a registered withdrawal
destination), so a stolen session cannot link two wallets of its own and sign a withdrawal with them. The depositor
who links a wallet of their own can skip the wait by signing, with a wallet they linked 48 h or more before, the
vouch text of that very link. It names the site, the new address, its chain and the link's single-use nonce, so a
vouch is good for one link only::

    example.com asks you to vouch for a new wallet.

    Link 0x… on chain 1 to the account that holds this wallet and let it authorise withdrawals at once.

    Nonce: 3f2a…

The text deliberately does not look like an EIP-4361 message: wallets warn when a Sign-In with Ethereum message
names another address than the signing one, and a vouch is not a sign-in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from accounts.core.siwe import SiweMessage

# The same delay as a registered withdrawal destination's (vaults.custody.policy.DESTINATION_REGISTRATION_DELAY,
# which the withdrawal signature check applies; a test holds the two equal).
WALLET_WITHDRAWAL_DELAY = timedelta(hours=48)


def vouch_text(link: SiweMessage) -> str:
    """The text a linked wallet signs to vouch for the wallet that ``link`` (the EIP-4361 link message) links."""
    return (
        f"{link.domain} asks you to vouch for a new wallet.\n"
        "\n"
        f"Link {link.address} on chain {link.chain_id} to the account that holds this wallet "
        "and let it authorise withdrawals at once.\n"
        "\n"
        f"Nonce: {link.nonce}"
    )


def withdrawals_from(*, linked_at: datetime, vouched: bool) -> datetime:
    """When a wallet linked at ``linked_at`` starts authorising withdrawals: at once when vouched for, else 48 h on."""
    return linked_at if vouched else linked_at + WALLET_WITHDRAWAL_DELAY


def voucher_is_old_enough(*, voucher_linked_at: datetime, now: datetime) -> bool:
    """A wallet may vouch once it has been linked for at least :data:`WALLET_WITHDRAWAL_DELAY`."""
    return now - voucher_linked_at >= WALLET_WITHDRAWAL_DELAY
