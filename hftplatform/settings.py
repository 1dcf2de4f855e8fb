"""HFT Bot settings: one module, driven by the environment, with a zero-setup default.

Every variable is documented in ``.env.example``. With no ``DATABASE_URL`` / ``REDIS_URL`` the platform starts
its own PostgreSQL / Redis under ``HFT_DATA_DIR`` (see ``hftplatform.embedded``). ``DJANGO_ENV=production``
refuses to start without its secrets and real servers.
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import schedule
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DJANGO_ENV = env("DJANGO_ENV", "development").lower()
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', got {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"
TESTING = "pytest" in sys.modules or env_bool("HFT_TESTING")

# A development key is fine only because development never serves the public: production demands its own.
DEVELOPMENT_SECRET_KEY = "development-only-insecure-key-do-not-use-in-production-0123456789"  # noqa: S105
if PRODUCTION:
    # SIWE_DOMAIN: without it a wallet sign-in message is checked against the request's Host header, which the
    # client writes; a phishing site's message naming our host would then pass.
    required = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "SIWE_DOMAIN")
    missing = [name for name in required if not env(name)]
    if missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start without: " + ", ".join(missing) + " (see .env.example)"
        )
    if env("SECRET_KEY") == DEVELOPMENT_SECRET_KEY or env("SECRET_KEY").startswith("django-insecure-"):
        raise ImproperlyConfigured("SECRET_KEY is a development key; production needs its own (see .env.example)")
    if len(env("SECRET_KEY")) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")

SECRET_KEY = env("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
DEBUG = env_bool("DEBUG", default=not PRODUCTION and not TESTING)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG cannot be on in production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
# Production trusts its own hosts over https unless told otherwise.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or (
    [f"https://{host.lstrip('.')}" for host in ALLOWED_HOSTS if host != "*"] if PRODUCTION else []
)

# -- services: given servers, or the embedded default --------------------------------------------------------

DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("REDIS_URL")
EMBEDDED_SERVICES = None
if not DATABASE_URL or not REDIS_URL:
    from hftplatform import embedded

    EMBEDDED_SERVICES = embedded.services()

if DATABASE_URL:
    DATABASES: dict[str, dict[str, Any]] = {
        "default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True))
    }
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL, the only database engine supported")
else:
    assert EMBEDDED_SERVICES is not None
    DATABASES = {"default": {**EMBEDDED_SERVICES.database_settings(), "CONN_MAX_AGE": 60}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CHANNEL_REDIS_URL = REDIS_URL
    CELERY_BROKER_URL = REDIS_URL
else:
    assert EMBEDDED_SERVICES is not None
    CHANNEL_REDIS_URL = EMBEDDED_SERVICES.redis_url()
    CELERY_BROKER_URL = EMBEDDED_SERVICES.celery_broker_url()

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels_redis waits for messages with a 5 s server-side BZPOPMIN; the client's own socket timeout
            # (redis-py's default is 5 s too) must be longer, or an idle consumer's wait dies with a timeout.
            "hosts": [{"address": CHANNEL_REDIS_URL, "socket_timeout": 15}],
            "prefix": env("CHANNEL_PREFIX", "hftbot"),
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CHANNEL_REDIS_URL,
        "KEY_PREFIX": env("CACHE_PREFIX", "hftbot"),
    }
}

# -- applications ------------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "hftplatform.apps.HftPlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_celery_results",
    "hftplatform",
    "accounts",
    "marketdata",
    "orderbook",
    "strategies",
    "vaults",
    "vaults.custody",
    "fees",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "hftplatform.urls"
ASGI_APPLICATION = "hftplatform.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hftplatform.context_processors.platform",
            ],
        },
    }
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

# -- allauth: email sign-in with verification, MFA (TOTP + recovery codes) ----------------------------------

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"  # a password change or reset revokes the API tokens
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Login limits per address (ip: the client's, see TRUSTED_PROXY_COUNT) and per account (key: the email tried).
# Tests turn them on where they test them: the suite signs in far more often than any person.
LOGIN_RATE_LIMITS = {"login": "30/m/ip", "login_failed": "10/m/ip,5/5m/key"}
ACCOUNT_RATE_LIMITS: dict[str, str] = {} if TESTING else LOGIN_RATE_LIMITS
# Linking a wallet needs a password (and TOTP) re-authentication at most this many seconds old.
ACCOUNT_REAUTHENTICATION_TIMEOUT = int(env("ACCOUNT_REAUTHENTICATION_TIMEOUT", "300"))
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", "HFT Bot")
# Operators must have MFA before the admin opens to them (hftplatform.admin_site); on by default in production.
ADMIN_REQUIRES_MFA = env_bool("ADMIN_REQUIRES_MFA", default=PRODUCTION)

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "HFT Bot <noreply@localhost>")

# -- linked wallets (Sign-In with Ethereum, EIP-4361) --------------------------------------------------------

# The domain and URI a signed message must name; empty: the request's own host.
SIWE_DOMAIN = env("SIWE_DOMAIN")
SIWE_NONCE_TTL = timedelta(seconds=int(env("SIWE_NONCE_TTL_SECONDS", "600")))
SIWE_CHAIN_IDS = [int(chain) for chain in env_list("SIWE_CHAIN_IDS", "1,10,137,8453,42161")]

# -- behind a proxy ---------------------------------------------------------------------------------------------

# How many reverse proxies of ours sit in front of daphne, each appending to X-Forwarded-For. 0: none, so the header
# is the client's own text and ignored; the client is the socket's peer. N > 0: the client is the Nth address from
# the right of X-Forwarded-For, for DRF's throttles (NUM_PROXIES) and allauth's login limits alike; the Procfile and
# the demo start daphne with --proxy-headers.
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

# -- Chains and custody (vaults.custody) ----------------------------------------------------------------------

# JSON-RPC endpoint per EIP-155 chain ID: "1=https://node.example/...,31337=http://127.0.0.1:8545".
CHAIN_RPC_URLS: dict[int, str] = {
    int(chain.strip()): url.strip()
    for chain, _, url in (item.partition("=") for item in env_list("CHAIN_RPC_URLS"))
    if chain.strip() and url.strip()
}
# Blocks on top of a deposit's block before it is credited; a credited deposit reorganised away is reversed.
DEPOSIT_CONFIRMATIONS = int(env("DEPOSIT_CONFIRMATIONS", "12"))
# Seconds between two reads of the vault Safes' deposit logs (beat).
DEPOSIT_SCAN_SECONDS = float(env("DEPOSIT_SCAN_SECONDS", "15"))
# The relayer that sends execTransaction for signed proposals (0x-hex key): it only pays gas, it is no Safe owner.
HFT_SAFE_RELAYER_KEY = env("HFT_SAFE_RELAYER_KEY")
# The platform's fee address: the only recipient the co-signer accepts for a fee collection.
HFT_SAFE_FEE_RECIPIENT = env("HFT_SAFE_FEE_RECIPIENT")

# -- Market data ------------------------------------------------------------------------------------------

# Venue base URLs (testnets, mirrors and the local fake servers of the tests point these elsewhere).
BINANCE_REST_URL = env("BINANCE_REST_URL", "https://api.binance.com")
BINANCE_FUTURES_REST_URL = env("BINANCE_FUTURES_REST_URL", "https://fapi.binance.com")
BINANCE_ARCHIVE_URL = env("BINANCE_ARCHIVE_URL", "https://data.binance.vision")
BYBIT_REST_URL = env("BYBIT_REST_URL", "https://api.bybit.com")
COINBASE_REST_URL = env("COINBASE_REST_URL", "https://api.exchange.coinbase.com")
# Order-book websockets (orderbook.l2.connectors): Binance spot streams (/ws/<stream> is appended), Bybit v5 public
# streams (/v5/public/<category> is appended), Coinbase Advanced Trade market data (level2 with sequence_num).
BINANCE_WS_URL = env("BINANCE_WS_URL", "wss://stream.binance.com:9443")
BYBIT_WS_URL = env("BYBIT_WS_URL", "wss://stream.bybit.com")
COINBASE_WS_URL = env("COINBASE_WS_URL", "wss://advanced-trade-ws.coinbase.com")
# Concurrent requests per venue budget during a download (the rate limiters decide the pace).
KLINES_DOWNLOAD_CONCURRENCY = int(env("KLINES_DOWNLOAD_CONCURRENCY", "8"))
# How often beat brings tracked markets up to date: a 1m market lags at most this plus one request.
KLINES_SYNC_SECONDS = float(env("KLINES_SYNC_SECONDS", "10"))
# How often beat brings tracked perpetuals' funding history up to date (events settle every 1 to 8 hours).
FUNDING_SYNC_SECONDS = float(env("FUNDING_SYNC_SECONDS", "900"))
# A signed-in user's lead-lag request costs grid steps x markets x max_lag (marketdata.core.leadlag.cost); one over
# the budget is refused. The default admits a year of 1-minute candles on three venues at ±30 lags (47,304,000).
LEADLAG_COST_BUDGET = int(env("LEADLAG_COST_BUDGET", "50000000"))
# How many of a user's runs may be queued or running at once.
LEADLAG_USER_CONCURRENCY = int(env("LEADLAG_USER_CONCURRENCY", "2"))

# -- Strategies -------------------------------------------------------------------------------------------

# How often beat steps every running paper run (a step does nothing until a candle of every market has closed).
STRATEGY_PAPER_STEP_SECONDS = float(env("STRATEGY_PAPER_STEP_SECONDS", "5"))
# A live book older than this is not used for a paper fill (the order then fills at the next candle's open).
STRATEGY_PAPER_BOOK_MAX_AGE_MS = int(env("STRATEGY_PAPER_BOOK_MAX_AGE_MS", "10000"))
# A paper step does not wait for a market this far behind the run's freshest market.
STRATEGY_PAPER_MARKET_WAIT_MS = int(env("STRATEGY_PAPER_MARKET_WAIT_MS", "120000"))

# -- REST -------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "hftplatform.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Tests share one Redis across runs: their own rates stay out of the way (the throttle test sets its own).
        "anon": env("API_THROTTLE_ANON", "100000/minute" if TESTING else "60/minute"),
        "user": env("API_THROTTLE_USER", "100000/minute" if TESTING else "600/minute"),
    },
    # DRF's own default (None) takes the whole X-Forwarded-For as the client: anyone could pick their throttle key.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "hftplatform.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HFT Bot API",
    "DESCRIPTION": 'Klines, analyses, vaults and accounts. Errors: {"error": {"code", "message", "fields"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
}

# -- Celery -----------------------------------------------------------------------------------------------

CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(env("CELERY_TASK_SOFT_TIME_LIMIT", "300"))
CELERY_TASK_TIME_LIMIT = int(env("CELERY_TASK_TIME_LIMIT", "360"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "hftbot")
# Custody and deposit tasks run on a queue of their own, served by a worker of their own (Procfile `custody`,
# `manage.py demo`), so an analysis backlog on the default queue (lead-lag runs take minutes) never delays a
# withdrawal's execution, the co-signer's retry or a deposit's credit.
CELERY_CUSTODY_QUEUE = env("CELERY_CUSTODY_QUEUE", "custody")
CELERY_TASK_ROUTES = {
    "vaults.custody.tasks.*": {"queue": CELERY_CUSTODY_QUEUE},
    # the deposit scans, registered under their old vaults.tasks names
    "vaults.tasks.vault_safe_deposits_scan": {"queue": CELERY_CUSTODY_QUEUE},
    "vaults.tasks.vault_safes_deposits_scan_all": {"queue": CELERY_CUSTODY_QUEUE},
}
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "hftplatform.celery:RecordingScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(Path(env("HFT_DATA_DIR", str(BASE_DIR / ".data"))) / "celerybeat-schedule")
STATUS_BROADCAST_SECONDS = float(env("STATUS_BROADCAST_SECONDS", "5"))
CELERY_BEAT_SCHEDULE = {
    "platform-status-broadcast": {
        "task": "hftplatform.tasks.platform_status_broadcast",
        "schedule": schedule(timedelta(seconds=STATUS_BROADCAST_SECONDS)),
        "options": {"expires": STATUS_BROADCAST_SECONDS * 2},
    },
    "marketdata-klines-sync-tracked": {
        "task": "marketdata.tasks.klines_sync_tracked",
        "schedule": schedule(timedelta(seconds=KLINES_SYNC_SECONDS)),
        "options": {"expires": KLINES_SYNC_SECONDS * 3},
    },
    "accounts-wallet-nonces-purge": {
        "task": "accounts.tasks.wallet_nonces_purge",
        "schedule": schedule(timedelta(hours=1)),
    },
    "marketdata-funding-sync-tracked": {
        "task": "marketdata.tasks.funding_sync_tracked",
        "schedule": schedule(timedelta(seconds=FUNDING_SYNC_SECONDS)),
        "options": {"expires": FUNDING_SYNC_SECONDS},
    },
    "marketdata-leadlag-refresh-tracked": {
        "task": "marketdata.tasks.leadlag_refresh_tracked",
        "schedule": schedule(timedelta(days=1)),
    },
    "strategies-paper-step-all": {
        "task": "strategies.tasks.strategy_paper_step_all",
        "schedule": schedule(timedelta(seconds=STRATEGY_PAPER_STEP_SECONDS)),
        "options": {"expires": STRATEGY_PAPER_STEP_SECONDS * 2},
    },
    "vaults-fees-settle-all": {"task": "vaults.tasks.vaults_fees_settle_all", "schedule": schedule(timedelta(hours=1))},
    "vaults-year-end-crystallise-all": {
        "task": "vaults.tasks.vaults_year_end_crystallise_all",
        "schedule": schedule(timedelta(days=1)),
    },
    "vaults-deposits-scan-all": {
        "task": "vaults.tasks.vault_safes_deposits_scan_all",
        "schedule": schedule(timedelta(seconds=DEPOSIT_SCAN_SECONDS)),
        "options": {"expires": DEPOSIT_SCAN_SECONDS * 2},
    },
    "custody-proposals-advance": {
        "task": "vaults.custody.tasks.custody_proposals_advance",
        "schedule": schedule(timedelta(seconds=30)),
        "options": {"expires": 60},
    },
    # Co-signer recoveries announced on a vault Safe's guard appear on the vault's public page within a minute.
    "custody-recoveries-sync": {
        "task": "vaults.custody.tasks.vault_safes_recoveries_sync_all",
        "schedule": schedule(timedelta(seconds=60)),
        "options": {"expires": 60},
    },
}

# -- i18n, static ------------------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    # Development serves static files from the finders; STATIC_ROOT exists only after collectstatic.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

# -- security --------------------------------------------------------------------------------------------

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000")) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION and env_bool("SECURE_HSTS_PRELOAD")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
