"""Issue 13, item 10: behind a proxy, rate limits key on the real client.

``TRUSTED_PROXY_COUNT`` (default 0) is DRF's ``NUM_PROXIES`` and allauth's ``ALLAUTH_TRUSTED_PROXY_COUNT``, and
turns on daphne's ``--proxy-headers``. With N proxies the client is the Nth address from the right of
X-Forwarded-For (what our proxies appended); with 0 the header is ignored. Login limits count per address and per
account. The limits live in Redis: each test has its own cache prefix (``redis_namespace``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from hftplatform.management.commands.demo import web_command
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.hftplatform.test_settings import load_settings

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOO_MANY = "Too many failed login attempts. Try again later."
WRONG = "The email address and/or password you specified are not correct."


@pytest.fixture
def proxies(settings: Any, redis_namespace: Any) -> Any:
    """Set the trusted proxy count the way settings.py derives it from TRUSTED_PROXY_COUNT."""

    def trust(count: int) -> None:
        settings.TRUSTED_PROXY_COUNT = count
        settings.ALLAUTH_TRUSTED_PROXY_COUNT = count
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return trust


# -- the API throttles (DRF) -------------------------------------------------------------------------------------


def _anonymous_gets(forwarded_for: str, times: int) -> list[int]:
    client = APIClient()
    return [client.get("/api/v1/vaults/", HTTP_X_FORWARDED_FOR=forwarded_for).status_code for _ in range(times)]


def test_two_clients_behind_our_proxy_are_throttled_separately(proxies: Any, monkeypatch: Any) -> None:
    proxies(1)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})

    # our proxy appends the address it saw; what a client wrote before it does not matter
    first = _anonymous_gets("198.51.100.1", 3)
    spoofing_first = _anonymous_gets("203.0.113.9, 198.51.100.1", 1)
    second = _anonymous_gets("203.0.113.9, 198.51.100.2", 2)

    assert first == [200, 200, 429]
    assert spoofing_first == [429]  # the same client, whatever it prepends
    assert second == [200, 200]


def test_by_default_a_forwarded_for_header_is_ignored(settings: Any, redis_namespace: Any, monkeypatch: Any) -> None:
    # the settings as they come, with no TRUSTED_PROXY_COUNT in the environment
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})

    codes = [_anonymous_gets(f"198.51.100.{n}", 1)[0] for n in range(1, 4)]

    assert codes == [200, 200, 429]  # one client (the socket's peer), whatever the header says
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0


# -- the login limits (allauth) ------------------------------------------------------------------------------------


def _login(client: Client, email: str, password: str, forwarded_for: str) -> str:
    """The outcome of one sign-in attempt: "signed in", or the form's error."""
    response = client.post(
        reverse("account_login"), {"login": email, "password": password}, HTTP_X_FORWARDED_FOR=forwarded_for
    )
    if response.status_code == 302:
        return "signed in"
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1, errors
    return str(errors[0])


def test_failed_logins_are_limited_per_address_behind_the_proxy(proxies: Any, settings: Any) -> None:
    proxies(1)
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/ip"}
    user = UserFactory()

    attacker = [_login(Client(), f"nobody{n}@example.com", "wrong-password-1", "198.51.100.1") for n in range(3)]
    spoofed = _login(Client(), "nobody9@example.com", "wrong-password-1", "203.0.113.7, 198.51.100.1")
    neighbour = _login(Client(), user.email, DEFAULT_PASSWORD, "198.51.100.2")

    assert attacker == [WRONG, WRONG, TOO_MANY]
    assert spoofed == TOO_MANY
    assert neighbour == "signed in"


def test_by_default_spoofed_addresses_share_one_login_limit(settings: Any, redis_namespace: Any) -> None:
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == 0
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/ip"}

    outcomes = [_login(Client(), f"nobody{n}@example.com", "wrong-password-1", f"198.51.100.{n}") for n in range(3)]

    assert outcomes == [WRONG, WRONG, TOO_MANY]


def test_failed_logins_are_limited_per_account_from_any_address(proxies: Any, settings: Any) -> None:
    proxies(1)
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/key"}
    target, other = UserFactory(), UserFactory()

    guesses = [_login(Client(), target.email, "wrong-password-1", f"198.51.100.{n}") for n in range(1, 4)]
    right_password_now = _login(Client(), target.email, DEFAULT_PASSWORD, "198.51.100.4")
    other_account = _login(Client(), other.email, DEFAULT_PASSWORD, "198.51.100.1")

    assert guesses == [WRONG, WRONG, TOO_MANY]
    assert right_password_now == TOO_MANY  # the account is locked for the window, from every address
    assert other_account == "signed in"


# -- the settings and the processes -------------------------------------------------------------------------------


def test_production_login_limits_count_per_address_and_per_account() -> None:
    from django.conf import settings

    assert settings.LOGIN_RATE_LIMITS == {"login": "30/m/ip", "login_failed": "10/m/ip,5/5m/key"}


PROBE = (
    "import json; from django.conf import settings; print(json.dumps([settings.TRUSTED_PROXY_COUNT, "
    "settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.REST_FRAMEWORK['NUM_PROXIES'], settings.ACCOUNT_RATE_LIMITS]))"
)


@pytest.mark.parametrize(("value", "expected"), [(None, 0), ("2", 2)])
def test_trusted_proxy_count_sets_drf_and_allauth(value: str | None, expected: int) -> None:
    env = {"DATABASE_URL": "postgres://x@127.0.0.1/x", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    if value is not None:
        env["TRUSTED_PROXY_COUNT"] = value
    clean = {k: v for k, v in os.environ.items() if k not in {"TRUSTED_PROXY_COUNT", "HFT_TESTING"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="hftplatform.settings")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        expected,
        expected,
        expected,
        {"login": "30/m/ip", "login_failed": "10/m/ip,5/5m/key"},
    ]


def test_a_negative_trusted_proxy_count_is_refused() -> None:
    done = load_settings({"TRUSTED_PROXY_COUNT": "-1", "DATABASE_URL": "postgres://x@h/x", "REDIS_URL": "redis://h"})

    assert done.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0 or more, got -1" in done.stderr


def test_daphne_reads_proxy_headers_only_behind_trusted_proxies() -> None:
    bin_dir = Path("/venv/bin")

    assert web_command(bin_dir, "127.0.0.1", 8000, trusted_proxy_count=0) == [
        "/venv/bin/daphne", "-b", "127.0.0.1", "-p", "8000", "hftplatform.asgi:application",
    ]  # fmt: skip
    assert web_command(bin_dir, "0.0.0.0", 80, trusted_proxy_count=1) == [  # noqa: S104
        "/venv/bin/daphne", "--proxy-headers", "-b", "0.0.0.0", "-p", "80", "hftplatform.asgi:application",  # noqa: S104
    ]  # fmt: skip


@pytest.mark.parametrize(("count", "flag"), [("0", ""), ("1", "--proxy-headers")])
def test_the_procfile_passes_proxy_headers_only_behind_trusted_proxies(count: str, flag: str) -> None:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")).removeprefix(
        "web:"
    )
    # what the process manager's shell runs, with daphne replaced by echo
    done = subprocess.run(
        ["sh", "-c", line.replace("daphne", "echo", 1)],
        env={"TRUSTED_PROXY_COUNT": count, "PORT": "8000", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    served = [*([flag] if flag else []), "-b", "0.0.0.0", "-p", "8000", "hftplatform.asgi:application"]  # noqa: S104
    assert done.stdout.split() == served
