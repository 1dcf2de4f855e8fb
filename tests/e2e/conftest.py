"""A live ASGI server (Daphne, websockets included) on the test database, and headless Chromium to drive it.

pytest-django's ``live_server`` speaks WSGI only, and Channels' ``ChannelsLiveServerTestCase`` derives the
test database name a second time (``test_test_...``) once pytest-django has switched to it, so the server
here is the real ``daphne hftplatform.asgi:application`` in a child process, configured through the
environment as a deployment is. It prints mail to its stdout (the console backend), where the test reads it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import live_processes

LISTENING = re.compile(rb"Listening on TCP address 127\.0\.0\.1:(\d+)")
SERVER_START_SECONDS = 30.0


@dataclass(frozen=True)
class LiveAsgiServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def live_asgi_server_env() -> dict[str, str]:
    """Extra environment of the server (a test module overrides it: a chain's RPC URL, a co-signer key)."""
    return {}


@pytest.fixture
def live_asgi_server(
    transactional_db: None,
    redis_namespace: live_processes.RedisNamespace,
    tmp_path: Path,
    live_asgi_server_env: dict[str, str],
) -> Iterator[LiveAsgiServer]:
    log_path = tmp_path / "daphne.log"
    env = live_processes.child_env(
        redis_namespace, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend", **live_asgi_server_env
    )
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
