"""What the browser tests share: running Django work off Playwright's thread, and a signed-in session cookie."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections
from django.test import Client


def run_outside_playwright(function: Any, **kwargs: Any) -> Any:
    """Run ``function`` in a plain thread: Playwright's sync API keeps an event loop on this one, where Django's
    ORM and ``async_to_sync`` refuse to run. The thread's database connections are closed when it is done."""

    def run() -> Any:
        try:
            return function(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def session_cookie(user: Any, url: str) -> dict[str, str]:
    """A Playwright cookie signing ``user`` in on the site at ``url`` (call it outside Playwright's thread)."""
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": url}
