"""A new user, in a real browser against the real ASGI server: sign up, confirm the email, sign out, sign in,
and watch the dashboard take a live status update over its websocket."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from hftplatform import status
from tests import live_processes
from tests.e2e.browser import run_outside_playwright

pytestmark = pytest.mark.browser

CONFIRMATION_LINK = re.compile(r"http://127\.0\.0\.1:\d+/accounts/confirm-email/[^/\s]+/")
SCREENSHOT = Path(tempfile.gettempdir()) / "dashboard.png"  # for a person to look at after a run
EMAIL = "new-operator@example.com"
PASSWORD = "violet-Ledger-4471-harbor"  # test-only


def test_new_user_signs_up_confirms_signs_in_and_sees_live_status(chromium, live_asgi_server) -> None:
    site = live_asgi_server.url
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)

    # Sign up
    page.goto(f"{site}/accounts/signup/")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(f"{site}/accounts/confirm-email/")

    # The verification email (printed by the server's console backend) holds the one confirmation link
    live_processes.wait_until(
        lambda: CONFIRMATION_LINK.search(live_asgi_server.log()),
        timeout=10,
        what="the confirmation email",
        log_path=live_asgi_server.log_path,
    )
    links = CONFIRMATION_LINK.findall(live_asgi_server.log())
    assert len(links) == 1, links
    page.goto(links[0])
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{site}/dashboard/")

    # Sign out, then sign in with the confirmed address
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{site}/dashboard/")

    # The dashboard's socket is live and has shown the snapshot sent on connect
    expect(page.locator("#status-connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#status-updates")).to_have_text("1")
    expect(page.locator("#status-worker")).to_have_text("no heartbeat yet")

    # When a worker broadcasts the platform status
    snapshot = run_outside_playwright(status.status_broadcast, worker_hostname="celery@e2e-worker")

    # Then the page shows it, live
    expect(page.locator("#status-updates")).to_have_text("2")
    worker_at = snapshot["worker"]["at"][:19].replace("T", " ")
    expect(page.locator("#status-worker")).to_have_text(f"celery@e2e-worker at {worker_at} UTC")
    expect(page.locator("#status-server-time")).to_have_text(snapshot["server_time"][:19].replace("T", " ") + " UTC")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    verified = run_outside_playwright(
        lambda: list(EmailAddress.objects.filter(email=EMAIL).values_list("verified", "primary"))
    )
    assert verified == [(True, True)]


def test_signed_out_browser_socket_is_closed_with_the_sign_in_code(chromium, live_asgi_server) -> None:
    # Given a visitor who is not signed in
    page = chromium.new_page()
    page.goto(f"{live_asgi_server.url}/")

    # When the page opens the status socket, Then the server closes it with 4401, the code status.js
    # answers with "sign in again" instead of reconnecting forever
    close_code = page.evaluate(
        """() => new Promise(resolve => {
            const socket = new WebSocket("ws://" + location.host + "/ws/status/");
            socket.onmessage = () => resolve("unexpected message");
            socket.onclose = event => resolve(event.code);
        })"""
    )
    assert close_code == 4401
