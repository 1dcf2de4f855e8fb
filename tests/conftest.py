from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests import live_processes
from tests.factories import OperatorFactory, UserFactory


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    return UserFactory()


@pytest.fixture
def operator(db):  # type: ignore[no-untyped-def]
    return OperatorFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_api_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def redis_namespace(settings) -> Iterator[live_processes.RedisNamespace]:  # type: ignore[no-untyped-def]
    """Channel-layer and cache prefixes of this test's own, deleted from Redis afterwards."""
    with live_processes.redis_namespace_isolate(settings) as namespace:
        yield namespace


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root cannot use Chromium's sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the closed network refuses Chromium's own connections
    "--disable-component-update",
    "--disable-sync",
]


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


SHARED_FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"


def shared_fixture_dir(*parts: str) -> Path:
    """A folder of the real recorded data in ``../shared/fixtures`` (beside the repository in CI, absent from a
    user's clone): missing skips the test, unless ``CI`` is set, where it fails."""
    folder = SHARED_FIXTURES.joinpath(*parts)
    if not folder.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{folder} is missing and CI demands the tests that replay it")
        pytest.skip(f"{folder} is missing (the shared fixtures live beside the repository, not in it)")
    return folder
