"""Every write to accounts: linked wallets (proven by EIP-4361 signatures), API tokens, the operator role.

Each refusal is a ``ServiceError`` with a stable ``code`` and leaves the database as it was: in particular a
failed wallet link never consumes its nonce, so the user can fix the problem and retry with the same message.

Linking a wallet needs a freshly re-authenticated web session; that is the interfaces' to check (it is a property of
the request), and an API token can never do it. Every link and unlink emails the account once it is committed.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import selectors
from accounts.core import siwe, tokens, wallet_vouch
from accounts.models import ApiToken, OperatorRoleEvent, User, Wallet, WalletNonce
from hftplatform.errors import ServiceError

LINK_STATEMENT = "Link this wallet to your HFT Bot account."
# A token's last_used_at is a hint for people, not an audit log: one write a minute is enough.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
TOKEN_LIFETIME_DEFAULT = timedelta(days=90)
TOKEN_LIFETIME_MAX = timedelta(days=365)


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class SiweMessageInvalid(ServiceError):
    code = "siwe_message_invalid"


class SiweDomainMismatch(ServiceError):
    code = "siwe_domain_mismatch"


class SiweMessageExpired(ServiceError):
    code = "siwe_message_expired"


class SiweMessageNotYetValid(ServiceError):
    code = "siwe_message_not_yet_valid"


class WalletAddressInvalid(ServiceError):
    code = "wallet_address_invalid"


class WalletChainUnsupported(ServiceError):
    code = "wallet_chain_unsupported"


class WalletSignatureInvalid(ServiceError):
    code = "wallet_signature_invalid"


class WalletSignatureMismatch(ServiceError):
    code = "wallet_signature_mismatch"


class WalletNonceUnknown(ServiceError):
    code = "wallet_nonce_unknown"


class WalletNonceUsed(ServiceError):
    code = "wallet_nonce_used"


class WalletNonceExpired(ServiceError):
    code = "wallet_nonce_expired"


class WalletAlreadyLinked(ServiceError):
    code = "wallet_already_linked"
    http_status = 409


class WalletVouchInvalid(ServiceError):
    code = "wallet_vouch_invalid"


class ApiTokenNameInvalid(ServiceError):
    code = "api_token_name_invalid"


class ApiTokenScopesInvalid(ServiceError):
    code = "api_token_scopes_invalid"


class ApiTokenLifetimeInvalid(ServiceError):
    code = "api_token_lifetime_invalid"


def _expected_domain(request_domain: str) -> str:
    return settings.SIWE_DOMAIN or request_domain


def _check_chain(chain_id: int, field: str) -> None:
    if chain_id not in settings.SIWE_CHAIN_IDS:
        supported = ", ".join(str(chain) for chain in settings.SIWE_CHAIN_IDS)
        message = f"Chain {chain_id} is not supported; use one of: {supported}."
        raise WalletChainUnsupported(message, fields={field: [message]})


# -- wallets ------------------------------------------------------------------------------------------------


def wallet_nonce_create(*, user: User, address: str, chain_id: int, domain: str, uri: str) -> tuple[WalletNonce, str]:
    """Issue a single-use nonce and the EIP-4361 message ``address`` must sign to be linked to ``user``.

    ``domain`` and ``uri`` describe the site the request came to; ``settings.SIWE_DOMAIN``, when set, wins
    over ``domain``. The message expires with the nonce, ``settings.SIWE_NONCE_TTL`` from now.
    """
    try:
        address = siwe.checksum_address(address)
    except siwe.SiweAddressInvalid as exc:
        raise WalletAddressInvalid(str(exc), fields={"address": [str(exc)]}) from None
    _check_chain(chain_id, "chain_id")
    # Whole seconds, so the message's timestamps and the row's agree exactly.
    now = timezone.now().replace(microsecond=0)
    expires_at = now + settings.SIWE_NONCE_TTL
    nonce = secrets.token_hex(16)
    try:
        message = siwe.SiweMessage(
            domain=_expected_domain(domain),
            address=address,
            statement=LINK_STATEMENT,
            uri=uri,
            chain_id=chain_id,
            nonce=nonce,
            issued_at=siwe.format_datetime(now),
            expiration_time=siwe.format_datetime(expires_at),
        )
    except siwe.SiweMessageInvalid as exc:
        raise SiweMessageInvalid(f"Cannot build a sign-in message for this site: {exc}") from None
    with transaction.atomic():
        row = WalletNonce.objects.create(user=user, nonce=nonce, created_at=now, expires_at=expires_at)
    return row, message.text()


def wallet_link(
    *, user: User, message: str, signature: str, domain: str, label: str = "", vouch_signature: str = ""
) -> Wallet:
    """Link the address that signed ``message`` (an EIP-4361 message from ``wallet_nonce_create``) to ``user``.

    ``domain`` is the host the request came to (``settings.SIWE_DOMAIN`` wins when set); the message must name
    it. The nonce must be this user's, unused and unexpired; it is consumed in the same transaction that
    inserts the wallet, and only then.

    The wallet authorises withdrawals 48 h after the link, or at once if ``vouch_signature`` is given: the
    ``personal_sign`` signature, by one of ``user``'s wallets linked at least 48 h ago, of the link's vouch text
    (``accounts.core.wallet_vouch.vouch_text``). The account is emailed once the link is committed.
    """
    try:
        parsed = siwe.parse(message)
    except siwe.SiweMessageInvalid as exc:
        raise SiweMessageInvalid(str(exc), fields={"message": [str(exc)]}) from None
    expected = _expected_domain(domain)
    if parsed.domain != expected:
        text = f"The message is for {parsed.domain}, not for {expected}."
        raise SiweDomainMismatch(text, fields={"message": [text]})
    _check_chain(parsed.chain_id, "message")
    try:
        signer = siwe.recover_signer(message, signature)
    except siwe.SiweSignatureInvalid as exc:
        raise WalletSignatureInvalid(str(exc), fields={"signature": [str(exc)]}) from None
    if signer != parsed.address:
        text = f"The signature was made by {signer}, not by {parsed.address}."
        raise WalletSignatureMismatch(text, fields={"signature": [text]})
    now = timezone.now()
    try:
        parsed.check_time(now)
    except siwe.SiweMessageExpired as exc:
        raise SiweMessageExpired(str(exc), fields={"message": [str(exc)]}) from None
    except siwe.SiweMessageNotYetValid as exc:
        raise SiweMessageNotYetValid(str(exc), fields={"message": [str(exc)]}) from None

    vouched_by = _voucher(user=user, link=parsed, vouch_signature=vouch_signature.strip(), now=now)

    with transaction.atomic():
        # The lock makes two concurrent links with one nonce serialise: the second sees used_at set.
        nonce = WalletNonce.objects.select_for_update().filter(user=user, nonce=parsed.nonce).first()
        if nonce is None:
            raise WalletNonceUnknown("This nonce was not issued to you: request a new message.")
        if nonce.used_at is not None:
            raise WalletNonceUsed("This message was already used: request a new one.")
        if nonce.is_expired(now):
            raise WalletNonceExpired("This message's nonce has expired: request a new one.")
        try:
            with transaction.atomic():
                wallet = Wallet.objects.create(
                    user=user,
                    address=parsed.address,
                    chain_id=parsed.chain_id,
                    label=label.strip(),
                    created_at=now,
                    vouched_by=vouched_by,
                )
        except IntegrityError:
            mine = selectors.wallet_is_linked(user=user, address=parsed.address)
            owner = "your account" if mine else "another account"
            raise WalletAlreadyLinked(f"{parsed.address} is already linked to {owner}.") from None
        nonce.used_at = now
        nonce.save(update_fields=["used_at"])
        transaction.on_commit(partial(_wallet_linked_email_send, wallet=wallet, email=user.email), robust=True)
    return wallet


def _voucher(*, user: User, link: siwe.SiweMessage, vouch_signature: str, now: datetime) -> str:
    """The wallet that vouched for ``link`` (EIP-55), or "" without a vouch; refuses a vouch that does not hold."""
    if not vouch_signature:
        return ""
    try:
        voucher = siwe.recover_signer(wallet_vouch.vouch_text(link), vouch_signature)
    except siwe.SiweSignatureInvalid as exc:
        raise WalletVouchInvalid(str(exc), fields={"vouch_signature": [str(exc)]}) from None
    linked_at = Wallet.objects.filter(user=user, address=voucher).values_list("created_at", flat=True).first()
    if linked_at is None:
        text = (
            f"The vouch was signed by {voucher}, which is not one of your linked wallets (or it was made over "
            "another text: sign this link's vouch message exactly)."
        )
        raise WalletVouchInvalid(text, fields={"vouch_signature": [text]})
    if not wallet_vouch.voucher_is_old_enough(voucher_linked_at=linked_at, now=now):
        ready = wallet_vouch.withdrawals_from(linked_at=linked_at, vouched=False)
        text = (
            f"{voucher} was linked at {linked_at:%Y-%m-%d %H:%M} UTC: a wallet may vouch once it has been linked "
            f"48 h, from {ready:%Y-%m-%d %H:%M} UTC."
        )
        raise WalletVouchInvalid(text, fields={"vouch_signature": [text]})
    return voucher


def _wallet_linked_email_send(*, wallet: Wallet, email: str) -> None:
    usable = wallet_vouch.withdrawals_from(linked_at=wallet.created_at, vouched=bool(wallet.vouched_by))
    when = (
        f"at once: {wallet.vouched_by}, linked 48 h or more before, vouched for it"
        if wallet.vouched_by
        else f"from {usable:%Y-%m-%d %H:%M} UTC (48 h after the link)"
    )
    send_mail(
        subject="A wallet was linked to your HFT Bot account",
        message=(
            f"The wallet {wallet.address} (chain {wallet.chain_id}) was linked to your account "
            f"at {wallet.created_at:%Y-%m-%d %H:%M} UTC.\n"
            f"It can authorise withdrawals {when}. Deposits from it are credited to you at once.\n\n"
            "If this was not you, change your password now (that also revokes your API tokens) and unlink the "
            "wallet on your account page.\n"
        ),
        from_email=None,
        recipient_list=[email],
    )


def _wallet_unlinked_email_send(*, address: str, chain_id: int, email: str, at: datetime) -> None:
    send_mail(
        subject="A wallet was unlinked from your HFT Bot account",
        message=(
            f"The wallet {address} (chain {chain_id}) was unlinked from your account at {at:%Y-%m-%d %H:%M} UTC.\n"
            "It no longer authorises withdrawals, and deposits from it are no longer credited to you.\n\n"
            "If this was not you, change your password now (that also revokes your API tokens).\n"
        ),
        from_email=None,
        recipient_list=[email],
    )


def wallet_unlink(*, user: User, wallet_id: int) -> None:
    """Remove one of ``user``'s wallets; another user's wallet is reported as not found. The account is emailed."""
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().filter(user=user, pk=wallet_id).first()
        if wallet is None:
            raise NotFound("No such wallet.")
        wallet.delete()
        email = partial(
            _wallet_unlinked_email_send,
            address=wallet.address,
            chain_id=wallet.chain_id,
            email=user.email,
            at=timezone.now(),
        )
        transaction.on_commit(email, robust=True)


# -- API tokens ---------------------------------------------------------------------------------------------


def api_token_create(
    *,
    user: User,
    name: str,
    scopes: Collection[str] = (tokens.SCOPE_READ,),
    lifetime: timedelta = TOKEN_LIFETIME_DEFAULT,
) -> tuple[ApiToken, str]:
    """Create a token with ``scopes`` (``tokens.SCOPES``; at least one) that expires ``lifetime`` from now (at most
    a year); the plaintext is returned here and only here (the row keeps its SHA-256)."""
    name = name.strip()
    max_length = ApiToken._meta.get_field("name").max_length
    if not name or (max_length is not None and len(name) > max_length):
        text = f"A token needs a name of 1 to {max_length} characters."
        raise ApiTokenNameInvalid(text, fields={"name": [text]})
    unknown = sorted(set(scopes) - set(tokens.SCOPES))
    if not scopes or unknown:
        text = f"Scopes are one or more of {', '.join(tokens.SCOPES)}" + (
            f"; unknown: {', '.join(unknown)}." if unknown else "."
        )
        raise ApiTokenScopesInvalid(text, fields={"scopes": [text]})
    if not timedelta(0) < lifetime <= TOKEN_LIFETIME_MAX:
        text = f"A token lives 1 to {TOKEN_LIFETIME_MAX.days} days."
        raise ApiTokenLifetimeInvalid(text, fields={"expires_in_days": [text]})
    new = tokens.generate()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            scopes=[scope for scope in tokens.SCOPES if scope in scopes],
            created_at=now,
            expires_at=now + lifetime,
        )
    return token, new.plaintext


def api_tokens_revoke_all(*, user: User, now: datetime) -> int:
    """Revoke every active token of ``user`` (a password change or reset calls it). Returns how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens; revoking a revoked token changes nothing and succeeds."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if token is None:
            raise NotFound("No such API token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token


def api_token_touch(*, token_id: int, now: datetime) -> bool:
    """Record that a token was used, at most once per ``TOKEN_TOUCH_INTERVAL``; True when a row was written."""
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOKEN_TOUCH_INTERVAL)
    return ApiToken.objects.filter(stale, pk=token_id).update(last_used_at=now) == 1


# Used nonces are kept a day for the audit trail of a link; unused ones go once they expire.
NONCE_RETENTION = timedelta(days=1)


def wallet_nonces_purge(*, now: datetime) -> int:
    """Delete nonces that expired unused, and used ones older than a day. Returns how many went."""
    stale = Q(used_at__isnull=True, expires_at__lt=now) | Q(used_at__lt=now - NONCE_RETENTION)
    deleted, _ = WalletNonce.objects.filter(stale).delete()
    return deleted


class OperatorRoleError(ServiceError):
    code = "operator_role_refused"


def operator_role_grant(
    *, user_id: int, granted_by_id: int | None, via: str, superuser: bool = False, now: datetime | None = None
) -> User:
    """Make the user an operator (``is_staff``, and ``is_superuser`` if asked) and log it
    (:class:`~accounts.models.OperatorRoleEvent`: to whom, by whom, when, how). Their approvals count 72 h later
    (:func:`accounts.selectors.operator_is_seasoned`). A user who already holds exactly this role is returned
    unchanged, with nothing logged."""
    now = timezone.now() if now is None else now
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise NotFound(f"no user {user_id}")
        if not user.is_active:
            raise OperatorRoleError("an inactive user cannot be made an operator")
        if user.is_staff and user.is_superuser == (superuser or user.is_superuser):
            return user
        user.is_staff, user.is_superuser = True, superuser or user.is_superuser
        user.save(update_fields=["is_staff", "is_superuser"])
        OperatorRoleEvent.objects.create(
            user=user, action=OperatorRoleEvent.Action.GRANT, superuser=user.is_superuser, by_id=granted_by_id,
            via=via, at=now,
        )  # fmt: skip
        return user


def operator_role_revoke(*, user_id: int, revoked_by_id: int | None, via: str, now: datetime | None = None) -> User:
    """Take the operator role (``is_staff`` and ``is_superuser``) from the user and log it. A later grant starts
    its 72 h again. Revoking a user who is no operator changes and logs nothing."""
    now = timezone.now() if now is None else now
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise NotFound(f"no user {user_id}")
        if not user.is_staff and not user.is_superuser:
            return user
        user.is_staff = user.is_superuser = False
        user.save(update_fields=["is_staff", "is_superuser"])
        OperatorRoleEvent.objects.create(
            user=user, action=OperatorRoleEvent.Action.REVOKE, by_id=revoked_by_id, via=via, at=now
        )
        return user
