"""Settings guards: production refuses to start without its secrets; every variable is documented."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LONG_KEY = "k" * 64
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": LONG_KEY,
    "ALLOWED_HOSTS": "vaults.example.com",
    "DATABASE_URL": "postgres://hft:pw@db.example.internal:5432/hftbot",
    "REDIS_URL": "redis://redis.example.internal:6379/0",
    "SIWE_DOMAIN": "vaults.example.com",
}
PROBE = (
    "import json; from django.conf import settings; "
    "print(json.dumps({name: getattr(settings, name) for name in ("
    "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_SSL_REDIRECT', 'DEBUG', "
    "'CSRF_TRUSTED_ORIGINS', 'ADMIN_REQUIRES_MFA', 'CELERY_BROKER_URL')} | "
    "{'EMBEDDED': settings.EMBEDDED_SERVICES is not None, 'DB_HOST': settings.DATABASES['default']['HOST']}))"
)


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly these variables (and no test markers)."""
    clean = {key: value for key, value in os.environ.items() if key not in _SETTINGS_VARIABLES}
    clean.update(env, DJANGO_SETTINGS_MODULE="hftplatform.settings")
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _read_in_code() -> set[str]:
    names: set[str] = set()
    for path in [
        ROOT / "hftplatform" / "settings.py",
        ROOT / "hftplatform" / "embedded.py",
        ROOT / "hftplatform" / "management" / "commands" / "demo.py",
    ]:
        source = path.read_text()
        names |= set(re.findall(r"""env(?:_bool|_list)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
        names |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    return names


_SETTINGS_VARIABLES = _read_in_code() | {"DJANGO_SETTINGS_MODULE"}


def test_every_variable_the_code_reads_is_documented_in_env_example() -> None:
    read = _read_in_code()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_ENV", "HFT_DATA_DIR"} <= read
    assert read - _documented() == set()


def test_production_refuses_to_start_without_secrets_and_servers() -> None:
    result = load_settings({"DJANGO_ENV": "production"})
    assert result.returncode != 0
    assert (
        "DJANGO_ENV=production refuses to start without: SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, "
        "SIWE_DOMAIN" in result.stderr
    )


def test_production_refuses_to_start_without_siwe_domain() -> None:
    # Without it a signed wallet message is checked against the request's Host header, which the client chooses.
    result = load_settings({key: value for key, value in PRODUCTION_ENV.items() if key != "SIWE_DOMAIN"})
    assert result.returncode != 0
    assert "DJANGO_ENV=production refuses to start without: SIWE_DOMAIN (see .env.example)" in result.stderr


def test_production_refuses_the_development_secret_key() -> None:
    development_key = "development-only-insecure-key-do-not-use-in-production-0123456789"
    for key in (development_key, f"  {development_key}  ", "django-insecure-" + "x" * 50):
        result = load_settings(PRODUCTION_ENV | {"SECRET_KEY": key})
        assert result.returncode != 0
        assert "SECRET_KEY is a development key; production needs its own" in result.stderr
    assert load_settings(PRODUCTION_ENV).returncode == 0


def test_production_refuses_a_short_secret_key_and_debug() -> None:
    short = load_settings(PRODUCTION_ENV | {"SECRET_KEY": "short"})
    assert short.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in short.stderr
    debug = load_settings(PRODUCTION_ENV | {"DEBUG": "1"})
    assert debug.returncode != 0
    assert "DEBUG cannot be on in production" in debug.stderr


def test_production_with_everything_set_turns_on_secure_cookies_hsts_and_trusted_origins() -> None:
    result = load_settings(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_SSL_REDIRECT": True,
        "DEBUG": False,
        "CSRF_TRUSTED_ORIGINS": ["https://vaults.example.com"],
        "ADMIN_REQUIRES_MFA": True,
        "CELERY_BROKER_URL": "redis://redis.example.internal:6379/0",
        "EMBEDDED": False,
        "DB_HOST": "db.example.internal",
    }


def test_only_postgresql_is_accepted_as_database() -> None:
    result = load_settings({"DATABASE_URL": "sqlite:///tmp/x.db", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_development_with_urls_set_uses_them_and_starts_nothing() -> None:
    result = load_settings(
        {
            "DATABASE_URL": "postgres://someone@127.0.0.1:5432/elsewhere",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
        }
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["EMBEDDED"] is False
    assert values["DB_HOST"] == "127.0.0.1"
    assert values["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert values["SESSION_COOKIE_SECURE"] is False


def test_bad_boolean_is_a_clear_error() -> None:
    result = load_settings(PRODUCTION_ENV | {"EMAIL_USE_TLS": "maybe"})
    assert result.returncode != 0
    assert "EMAIL_USE_TLS must be a boolean (1/0, true/false), got 'maybe'" in result.stderr
