"""A live ASGI server (Daphne, websockets included) on the test database, and headless Chromium to drive it.

pytest-django's ``live_server`` speaks WSGI only, and Channels' ``ChannelsLiveServerTestCase`` derives the
test database name a second time (``test_test_...``) once pytest-django has switched to it, so the server
here is the real ``daphne hftplatform.asgi:application`` in a child process, configured through the
environment as a deployment is. It prints mail to its stdout (the console backend), where the test reads it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import live_processes

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root cannot use Chromium's sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LISTENING = re.compile(rb"Listening on TCP address 127\.0\.0\.1:(\d+)")
SERVER_START_SECONDS = 30.0


@dataclass(frozen=True)
class LiveAsgiServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def live_asgi_server(
    transactional_db: None, redis_namespace: live_processes.RedisNamespace, tmp_path: Path
) -> Iterator[LiveAsgiServer]:
    log_path = tmp_path / "daphne.log"
    env = live_processes.child_env(redis_namespace, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "hftplatform.asgi:application"]
    server = live_processes.process_start(command, env=env, log_path=log_path)
    try:

        def port() -> int | None:
            if server.poll() is not None:
                raise AssertionError(f"daphne exited with {server.returncode}:\n{log_path.read_text()}")
            match = LISTENING.search(log_path.read_bytes())
            return int(match.group(1)) if match else None

        bound = live_processes.wait_until(port, timeout=SERVER_START_SECONDS, what="daphne", log_path=log_path)
        yield LiveAsgiServer(url=f"http://127.0.0.1:{bound}", log_path=log_path)
    finally:
        live_processes.process_stop(server)


def chromium_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("HFT_REQUIRE_BROWSER"))


@pytest.fixture
def chromium_executable() -> Path:
    """The browser binary; a missing one skips, unless CI or HFT_REQUIRE_BROWSER says the tests must run."""
    if shutil.which(str(CHROMIUM)) is None:
        if chromium_required():
            pytest.fail(f"{CHROMIUM} is missing and CI/HFT_REQUIRE_BROWSER demands the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); set HFT_REQUIRE_BROWSER=1 to fail instead")
    return CHROMIUM


@pytest.fixture
def chromium(chromium_executable: Path, transactional_db: None) -> Iterator[Any]:
    """A headless Chromium browser (Playwright's sync API over the Debian ``chromium`` package).

    Playwright keeps an event loop on the test's thread while it runs, and Django refuses database work there:
    the database is set up before the browser starts and flushed after it stops.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
