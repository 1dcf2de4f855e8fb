"""Real processes for tests: a Celery worker or a Daphne server run against the test database and Redis.

A child process reads its services from the environment like any deployment, so it is handed a
``DATABASE_URL`` naming the *test* database, the same Redis as this process, and a Redis namespace (channel and
cache key prefixes) of its own, so it never sees another checkout's or another test run's dashboards, beats or
workers on a shared Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import redis
from celery import Celery
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue

BASE_DIR = Path(settings.BASE_DIR)
STOP_TIMEOUT_SECONDS = 15.0
T = TypeVar("T")


@dataclass(frozen=True)
class RedisNamespace:
    """Channel-layer and cache key prefixes unique to one test."""

    name: str

    @property
    def env(self) -> dict[str, str]:
        return {"CHANNEL_PREFIX": self.name, "CACHE_PREFIX": self.name}


@contextlib.contextmanager
def redis_namespace_isolate(settings_fixture: Any) -> Iterator[RedisNamespace]:
    """Point this process's channel layer and cache at a fresh namespace (pytest-django ``settings``); on exit,
    delete every key the namespace left in Redis (heartbeats, groups, rate limits)."""
    namespace = RedisNamespace(f"hfttest-{uuid.uuid4().hex[:12]}")
    channel_layers = deepcopy(settings.CHANNEL_LAYERS)
    channel_layers["default"]["CONFIG"]["prefix"] = namespace.name
    caches = deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = namespace.name
    # Assigning through the fixture sends setting_changed, which drops the cached layer and cache clients.
    settings_fixture.CHANNEL_LAYERS = channel_layers
    settings_fixture.CACHES = caches
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{namespace.name}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def child_database_url() -> str:
    """A ``DATABASE_URL`` for the database this test runs on (``test_<name>``), host or socket directory."""
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    # The embedded server's HOST is its socket directory: percent-encoded, libpq reads it as a path again.
    host = quote(str(db["HOST"]), safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def child_env(namespace: RedisNamespace, **extra: str) -> dict[str, str]:
    """The environment for a child that must share this test's database, Redis and namespace."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hftplatform.settings",
        "DATABASE_URL": child_database_url(),
        "HFT_TESTING": "1",
        "PYTHONUNBUFFERED": "1",
        **namespace.env,
        **extra,
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        # No REDIS_URL: the child joins the embedded Redis of the same data directory, as this process did.
        env.pop("REDIS_URL", None)
    return env


def process_start(command: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, stdout and stderr into ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def process_stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (a graceful stop), then SIGKILL if it lingers; returns the exit status. Leaves nothing running."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
    # A child of the child would share its session (process group); none must outlive the test.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str, log_path: Path | None = None) -> T:
    """Poll ``probe`` until it returns something other than None/False; fail with the child's log on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            log = log_path.read_text(errors="replace")[-4000:] if log_path and log_path.exists() else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n--- log ---\n{log}")
        time.sleep(0.1)


def broker_queue_name() -> str:
    """A queue no other worker listens on, so a test's tasks are never taken by a stray worker."""
    return f"hfttest-{uuid.uuid4().hex[:12]}"


def broker_queue(name: str) -> Queue:
    """The queue as Celery creates it for ``queue=name`` (a direct exchange of the same name)."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def broker_queue_delete(app: Celery, name: str) -> None:
    """Drop the queue, its messages and its binding from the broker (a shared Redis keeps them otherwise)."""
    with app.connection_for_write() as broker:
        queue = broker_queue(name).bind(broker.default_channel)
        # kombu deletes only the bindings this channel knows of: declaring first makes it know them.
        queue.declare()
        queue.delete()


@contextlib.contextmanager
def celery_worker(namespace: RedisNamespace, log_path: Path, *, timeout: float = 60.0) -> Iterator[str]:
    """One real worker (solo pool) alone on a queue of its own, reading the test database; yields the queue's name
    once the worker is ready. Afterwards the worker is stopped, its queue deleted, and a worker that did not exit
    cleanly fails the test with its log."""
    from hftplatform.celery import app

    queue = broker_queue_name()
    node = f"{queue}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "hftplatform", "worker",
        "--pool", "solo", "--queues", queue, "--hostname", node,
        "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    process = process_start(command, env=child_env(namespace), log_path=log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"worker exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        return f"{node} ready.".encode() in log_path.read_bytes()

    try:
        wait_until(ready, timeout=timeout, what=node, log_path=log_path)
        yield queue
    finally:
        exit_status = process_stop(process)
        broker_queue_delete(app, queue)
    assert exit_status == 0, log_path.read_text(errors="replace")[-4000:]


@dataclass(frozen=True)
class DevChainProcess:
    """The demo's dev chain (``python -m hftplatform.devchain``) in a child process: a real EVM over JSON-RPC."""

    process: subprocess.Popen[bytes]
    state: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.state["url"])


@contextlib.contextmanager
def devchain_process(state_file: Path, log_path: Path, *, port: int | None = None) -> Iterator[DevChainProcess]:
    """Start the dev chain on ``port`` of 127.0.0.1 (a free one by default; the chain takes another if it is
    taken), yield it once it has written its state file, stop it."""
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "hftplatform.devchain", "--state-file", str(state_file), "--port", str(port)]
    process = process_start(command, env=dict(os.environ), log_path=log_path)
    try:

        def started() -> dict[str, Any] | None:
            if process.poll() is not None:
                raise AssertionError(f"the dev chain exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                return json.loads(state_file.read_text()) if state_file.exists() else None
            except json.JSONDecodeError:  # being written
                return None

        yield DevChainProcess(process, wait_until(started, timeout=60, what="the dev chain", log_path=log_path))
    finally:
        process_stop(process)
