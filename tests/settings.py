"""Settings for the test suite: Linx's own settings with test-only secrets.

Real environment variables still win, which is how CI points the same suite at
PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-any-deployment-0123456789")
# Two keys, newest first, so rotation is exercised by the suite's own configuration.
os.environ.setdefault(
    "LINX_ENCRYPTION_KEYS",
    "pvuoNaQPrWYiHEWRVdmsAnMqKA0tjbgvEXx2mfJxlvI=,CqzJ6TptnJbG2CkZbqAt13XMVEnWebtp-lkjgTTnqVw=",
)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("LINX_HTTPS", "false")
# Runs write their sign of life with their rows; the background heartbeat is tested on its own.
os.environ.setdefault("LINX_RUN_HEARTBEAT_SECONDS", "0")
# An export's second look for a write whose answer was lost: a short pause, not seconds.
os.environ.setdefault("LINX_RECHECK_PAUSE_MS", "20")

from linx.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

# A file, not SQLite's shared in-memory database, so tests that use threads meet the same
# locking (WAL, IMMEDIATE transactions, busy timeout) as production processes do.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # One file per test process, so two test runs in one checkout never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# The same retries as production, with waits short enough for a test suite.
LINX_HTTP_RETRY = {
    "base_delay": 0.01,
    "max_delay": 0.05,
    "max_total_wait": 0.5,
    "max_rate_limit_wait": 2.0,
}
