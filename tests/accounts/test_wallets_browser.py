"""static/js/wallets.js in headless Chromium: a fake EIP-1193 wallet, backed by a throwaway key in Python,
links itself through the real API from the account page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct

from accounts.core import siwe
from accounts.models import Wallet, WalletNonce
from tests.accounts.conftest import reauthenticate
from tests.conftest import CHROMIUM_ARGS
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a wallet extension injects, answering from the test: the account (lower-case, as MetaMask reports
# it), Base's chain id, and personal_sign through a function the test exposes.
FAKE_PROVIDER = """
window.ethereum = {
  request: async function ({ method, params }) {
    if (method === "eth_requestAccounts") return [window.TEST_ADDRESS];
    if (method === "eth_chainId") return "0x2105";
    if (method === "personal_sign") return await window.testPersonalSign(params[0], params[1]);
    throw new Error("unsupported method " + method);
  },
};
"""


def test_browser_wallet_links_through_the_api(live_server: Any, chromium_executable: Path, monkeypatch: Any) -> None:
    from playwright.sync_api import sync_playwright

    user = UserFactory()
    client = Client()
    client.force_login(user)
    reauthenticate(client)  # linking needs the password confirmed just now
    session_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    key = Account.create()
    signed: list[str] = []

    def personal_sign(message_hex: str, address: str) -> str:
        assert address == key.address.lower()
        signed.append(bytes.fromhex(message_hex[2:]).decode())
        return key.sign_message(encode_defunct(hexstr=message_hex)).signature.to_0x_hex()

    # Playwright's sync API keeps an event loop in this thread; the ORM calls below happen while it waits.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_executable), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie, "url": live_server.url}]
            )
            context.expose_function("testPersonalSign", personal_sign)
            context.add_init_script(f"window.TEST_ADDRESS = {key.address.lower()!r};" + FAKE_PROVIDER)
            page = context.new_page()
            page.goto(f"{live_server.url}/account/")
            page.get_by_label("Label (optional)").fill("browser")

            page.get_by_role("button", name="Link with your browser wallet").click()
            page.wait_for_selector(f"code:text('{key.address}')", timeout=15_000)
        finally:
            browser.close()

    wallet = Wallet.objects.get()
    assert (wallet.user, wallet.address, wallet.chain_id, wallet.label) == (user, key.address, 8453, "browser")
    assert len(signed) == 1
    message = siwe.parse(signed[0])
    host = live_server.url.removeprefix("http://")
    assert (message.domain, message.uri, message.address) == (host, f"{live_server.url}/", key.address)
    assert WalletNonce.objects.get().used_at == wallet.created_at


def test_without_a_browser_wallet_the_button_stays_disabled(
    live_server: Any, chromium_executable: Path, monkeypatch: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    client = Client()
    client.force_login(UserFactory())
    session_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_executable), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie, "url": live_server.url}]
            )
            page = context.new_page()
            page.goto(f"{live_server.url}/account/")

            expect(page.locator("#wallet-connect-status")).to_have_text(
                "No browser wallet detected: use “Link by hand” below."
            )
            expect(page.get_by_role("button", name="Link with your browser wallet")).to_be_disabled()
        finally:
            browser.close()
