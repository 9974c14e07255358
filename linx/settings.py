"""Django settings for Linx, all read from the environment (see `.env.example`).

With nothing configured but SECRET_KEY and LINX_ENCRYPTION_KEYS, Linx runs on a SQLite
file under `var/` and queues tasks in that same database. DATABASE_URL moves it to
PostgreSQL and REDIS_URL moves the queue (and the shared cache) to Redis.
"""

import contextlib
import os
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from linx import environment as env

BASE_DIR = Path(__file__).resolve().parent.parent

# A .env beside manage.py is read if present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.boolean("DEBUG", False)

SECRET_KEY = env.required(
    "SECRET_KEY",
    "Set it to a long random string, e.g. the output of "
    '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.',
)

# Newest key first: new secrets are encrypted with it, older keys still decrypt until
# `manage.py linx_rotate_keys` has re-encrypted everything. Never derived from SECRET_KEY.
LINX_ENCRYPTION_KEYS = env.words("LINX_ENCRYPTION_KEYS", [])
if not LINX_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "LINX_ENCRYPTION_KEYS is not set. It encrypts connection secrets at rest. Generate "
        'a key with `python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"`.'
    )
for _position, _key in enumerate(LINX_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"LINX_ENCRYPTION_KEYS: key {_position} is not a Fernet key (32 url-safe "
            "base64-encoded bytes)."
        ) from None

ALLOWED_HOSTS = env.words("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.words("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "linx.apps.LinxConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
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
    "linx.accounts.RequireStaffMFAMiddleware",
]

ROOT_URLCONF = "linx.urls"
WSGI_APPLICATION = "linx.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATA_DIR = Path(env.string("LINX_DATA_DIR", str(BASE_DIR / "var")))

DATABASES = {"default": env.database("DATABASE_URL")}
if DATABASES["default"] is None:
    # Secrets in it are encrypted, but not staff addresses, sessions or run history: only
    # Linx's own user may read the directory and the file. SQLite gives the file's -wal
    # and -shm companions the file's own mode.
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sqlite_file = DATA_DIR / "linx.sqlite3"
    os.close(os.open(_sqlite_file, os.O_RDONLY | os.O_CREAT, 0o600))
    with contextlib.suppress(PermissionError):  # a file from before, made 0644
        _sqlite_file.chmod(0o600)
    DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": _sqlite_file}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the queue workers share the file: WAL lets readers run beside
    # a writer, IMMEDIATE takes the write lock when a transaction starts (so two writers
    # queue up instead of failing half-way) and the busy timeout is how long they queue.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.integer("LINX_SQLITE_BUSY_TIMEOUT", 20, minimum=1),
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue and cache ------------------------------------------------------------------
REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))

# A task that outlives `retry` would be handed to a second worker while the first still
# runs it, so `retry` is always the timeout plus a margin. Retrying HTTP calls is the
# clients' job; the queue re-delivers only a task whose worker died (max_attempts 2).
LINX_TASK_TIMEOUT = env.integer("LINX_TASK_TIMEOUT", 2 * 60 * 60, minimum=60)
Q_CLUSTER = {
    "name": "linx",
    "workers": env.integer("LINX_QUEUE_WORKERS", 2, minimum=1),
    # Take few tasks ahead of the workers: a killed cluster loses the ones it holds.
    "queue_limit": env.integer("LINX_QUEUE_WORKERS", 2, minimum=1),
    "timeout": LINX_TASK_TIMEOUT,
    "retry": LINX_TASK_TIMEOUT + 5 * 60,
    "max_attempts": 2,
    "save_limit": env.integer("LINX_TASK_RESULTS_KEPT", 5000, minimum=0),
    "ack_failures": True,
    "catch_up": False,
    "label": "Task queue",
}
# A running run says it is alive this often; one silent for LINX_RUN_DEAD_AFTER seconds
# (its worker was killed) is marked failed so the connection is free again.
LINX_RUN_HEARTBEAT_SECONDS = env.integer("LINX_RUN_HEARTBEAT_SECONDS", 10, minimum=0)
LINX_RUN_DEAD_AFTER = env.integer("LINX_RUN_DEAD_AFTER", 300, minimum=5)
# A run still queued this long after it was (re-)queued was lost with a killed worker and
# is queued again (twice is harmless: only one claim can win).
LINX_REQUEUE_AFTER = env.integer("LINX_REQUEUE_AFTER", 900, minimum=60)
# Near-real-time import (Procore webhooks): the base URL Procore delivers to (https, or
# http on loopback), the largest notice accepted, how long an apply waits so a burst of
# notices becomes one run, and how long without a notice (while Procore reports failed
# deliveries) counts as a gap.
LINX_PUBLIC_URL = env.url("LINX_PUBLIC_URL", schemes=("https", "http"))
LINX_WEBHOOK_MAX_BYTES = env.integer("LINX_WEBHOOK_MAX_BYTES", 16384, minimum=1024)
LINX_WEBHOOK_COALESCE_SECONDS = env.integer("LINX_WEBHOOK_COALESCE_SECONDS", 5, minimum=0)
LINX_WEBHOOK_QUIET_MINUTES = env.integer("LINX_WEBHOOK_QUIET_MINUTES", 60, minimum=1)
# How often each connection's hook is checked against Procore (drift, a gap).
LINX_WEBHOOK_CHECK_MINUTES = env.integer("LINX_WEBHOOK_CHECK_MINUTES", 15, minimum=1)
# /health/queue/ answers 503 when a run has waited in the queue longer than this.
LINX_QUEUE_STALE_SECONDS = env.integer("LINX_QUEUE_STALE_SECONDS", 600, minimum=10)
# After a write whose outcome is unknown (a 5xx, a lost answer), an export looks in
# Procore twice, this many milliseconds apart, before it believes the write did not land
# and sends it again in the same run.
LINX_RECHECK_PAUSE_MS = env.integer("LINX_RECHECK_PAUSE_MS", 2000, minimum=0)
# A Procore project's cost codes and sub-jobs, once read, are reused this long (minutes)
# before a new or changed time record is resolved against them; 0 reads them every run.
LINX_REFERENCE_MAX_AGE_MINUTES = env.integer("LINX_REFERENCE_MAX_AGE_MINUTES", 360, minimum=0)
# How many ExakTime writes an import sends at once (ExakTime has no bulk write). 1: one
# after another. Rate limits and Retry-After are honoured for the connection as a whole.
LINX_EXAKTIME_WRITES_AT_ONCE = env.integer("LINX_EXAKTIME_WRITES_AT_ONCE", 4, minimum=1)
# How many per-project Procore lists (sub-jobs, crews) an import reads at once. 1: one
# after another. Rate limits and Retry-After are honoured for the connection as a whole.
LINX_PROCORE_READS_AT_ONCE = env.integer("LINX_PROCORE_READS_AT_ONCE", 4, minimum=1)
# Overrides of the HTTP clients' retry policy (integrations.http.RetryPolicy); the
# defaults retry at least as hard as the seed product. Tests make the waits short.
LINX_HTTP_RETRY: dict = {}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    Q_CLUSTER["orm"] = "default"
    # Shared by every process on the machine, so login rate limits hold across workers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "linx_cache",
        }
    }

# --- Staff accounts (django-allauth) --------------------------------------------------
AUTH_USER_MODEL = "linx.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_ADAPTER = "linx.accounts.StaffAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_BY_CODE_ENABLED = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {
    # Per client address and per account: five wrong passwords lock the account out for
    # five minutes, whatever address they come from.
    "login_failed": env.string("LINX_LOGIN_RATE_LIMIT", "10/m/ip,5/5m/key"),
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# TOTP secrets and recovery-code seeds are encrypted at rest with LINX_ENCRYPTION_KEYS.
MFA_ADAPTER = "linx.mfa_secrets.StaffMFAAdapter"
MFA_TOTP_ISSUER = "Linx"
# A code typed as the app turns to the next one (the previous 30-second step) is still
# taken; each code is taken once. Without it a sign-in at the turn fails for no reason.
MFA_TOTP_TOLERANCE = 1
# Staff without a second factor are sent to set one up before they reach any page but
# signing in and out, password reset, the set-up itself and the health checks.
LINX_REQUIRE_MFA = env.boolean("LINX_REQUIRE_MFA", not DEBUG)

# --- Security -------------------------------------------------------------------------
LINX_HTTPS = env.boolean("LINX_HTTPS", not DEBUG)
LINX_BEHIND_PROXY = env.boolean("LINX_BEHIND_PROXY", False)
if LINX_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Login rate limits key on the client's address. Behind a proxy REMOTE_ADDR is the
    # proxy's, so one attacker would lock every staff member out: take the address the
    # proxies we run appended to X-Forwarded-For instead (never an entry a client wrote),
    # or the header a proxy sets on its own, e.g. X-Real-IP.
    ALLAUTH_TRUSTED_PROXY_COUNT = env.integer("LINX_TRUSTED_PROXY_COUNT", 1, minimum=1)
    ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env.string("LINX_CLIENT_IP_HEADER", "") or None
SECURE_SSL_REDIRECT = LINX_HTTPS
SESSION_COOKIE_SECURE = LINX_HTTPS
CSRF_COOKIE_SECURE = LINX_HTTPS
SECURE_HSTS_SECONDS = env.integer("LINX_HSTS_SECONDS", 31_536_000 if LINX_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.boolean("LINX_HSTS_PRELOAD", False)
# Preloading binds the domain and every subdomain to HTTPS in browsers for months and is
# slow to undo, so it is the operator's decision. An explicit LINX_HSTS_PRELOAD=false is
# that decision made, and answers `check --deploy`'s reminder (W021); unset, it still asks.
SILENCED_SYSTEM_CHECKS = (
    ["security.W021"] if env.boolean("LINX_HSTS_PRELOAD", None) is False else []
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.integer("LINX_SESSION_SECONDS", 12 * 60 * 60, minimum=300)
X_FRAME_OPTIONS = "DENY"

# Where connections may send their secrets (see linx/service_urls.py): host names under
# these domains ("*": any host name), and never a non-public address unless allowed. The
# HTTP layer checks the address every connection really uses, after DNS.
LINX_SERVICE_HOSTS = env.words("LINX_SERVICE_HOSTS", ["procore.com", "arcoro.com", "exaktime.com"])
LINX_ALLOW_PRIVATE_NETWORKS = env.boolean("LINX_ALLOW_PRIVATE_NETWORKS", False)
# This machine (the bundled sandboxes listen here).
LINX_ALLOW_LOOPBACK = env.boolean("LINX_ALLOW_LOOPBACK", True)

# --- Mail -----------------------------------------------------------------------------
MAILERS = env.mailers("EMAIL_URL")
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Linx <linx@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Static files, i18n ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Logging --------------------------------------------------------------------------
LOG_FORMAT = env.string("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "linx.logs.FieldsFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "linx.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {
        # urllib3 logs full URLs at DEBUG; Linx's own HTTP layer logs redacted lines.
        "urllib3": {"level": "WARNING"},
    },
}
