"""Settings for the onboarding service, driven by environment variables (see .env.example).

A bare checkout runs with no services: SQLite under var/, and the embedded Redis-protocol
server that `make run` starts. With DEBUG off the service refuses to start unless the secret
key, the encryption keys and the allowed hosts are configured.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import redis
import redis.backoff
import redis.retry
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# HTTPS only with DEBUG off (`manage.py check --deploy` passes on the defaults): plain http is
# redirected, cookies are Secure and browsers are told to stay on https (HSTS). Behind a proxy
# that terminates TLS set BEHIND_PROXY, or every request looks like http and is redirected
# forever. `make run` (DEBUG on) and the tests (tests/backends.py) serve plain http on localhost.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers and orchestrators probe over plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is the domain owner's decision (a submission to hstspreload.org, hard to undo).
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Fernet keys for tokens at rest: the first encrypts, every listed key decrypts.
ENCRYPTION_KEYS = env_list("ENCRYPTION_KEYS")

if DEBUG:
    from project.devkeys import ensure_dev_secrets

    SECRET_KEY, ENCRYPTION_KEYS = ensure_dev_secrets(VAR_DIR, SECRET_KEY, ENCRYPTION_KEYS)
else:
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"With DEBUG off, set {', '.join(missing)} (see .env.example); refusing to start."
        )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_dramatiq",
    "axes",
    "sync",
    "onboarding",
    "staff",
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
    "csp.middleware.CSPMiddleware",
    "project.middleware.no_store_for_sessions",
    # Last, as django-axes asks: it answers a locked-out admin sign-in.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "asgi.application"

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

# PostgreSQL when DATABASE_URL is set, SQLite under var/ otherwise. The SQLite test database
# is a file so that a worker process sees what the tests write.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Test runs name their own database, so that runs side by side never share one.
TEST_DATABASE_NAME = os.environ.get("TEST_DATABASE_NAME", "test")
# Connections, bounded per process. Under ASGI each request's sync code runs in a fresh thread,
# whose persistent connection only a garbage collection closes (Django ticket #33497), so the
# web process never keeps one: it takes them from a pool of at most DATABASE_POOL_SIZE (0: a
# new connection per request, closed at its end), and a request that waits longer than
# DATABASE_POOL_TIMEOUT for one is answered 503, as when the database is down. Measured with
# tests/drills/test_load.py (20 users at once): the pool peaked at its 10, without it Daphne
# held one per user in flight (20). Dramatiq's worker processes (`rundramatiq` execs
# `dramatiq django_dramatiq.setup ...`) run a fixed set of long-lived threads that keep their
# connection (django_dramatiq closes it when too old or broken): one per thread at most.
IS_WORKER = "django_dramatiq.setup" in sys.argv
DATABASE_POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
DATABASE_POOL_TIMEOUT = float(os.environ.get("DATABASE_POOL_TIMEOUT", "10"))
DATABASE_WORKER_CONN_MAX_AGE = int(os.environ.get("DATABASE_WORKER_CONN_MAX_AGE", "600"))
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=DATABASE_WORKER_CONN_MAX_AGE if IS_WORKER else 0
        )
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    postgresql = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if postgresql and DATABASE_POOL_SIZE and not IS_WORKER:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
            "max_idle": 60,  # seconds an unused connection beyond the first is kept
        }
    DATABASES["default"]["TEST"] = {"NAME": f"{TEST_DATABASE_NAME}_{DATABASES['default']['NAME']}"}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Worker threads write concurrently: wait for the lock and take it up front, unless
        # the URL's query string says otherwise (sqlite:///db.sqlite3?timeout=5).
        DATABASES["default"]["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            **DATABASES["default"].get("OPTIONS", {}),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": str(VAR_DIR / f"{TEST_DATABASE_NAME}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One Redis for the Dramatiq broker and the channel layer; `make run` starts an embedded
# Redis-protocol server and sets REDIS_URL for its children.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "onboarding")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{REDIS_PREFIX}:asgi",
            "capacity": int(os.environ.get("CHANNEL_CAPACITY", "500")),
            "expiry": 60,
        },
    }
}

# The broker's commands ride through a Redis restart: a connection refused or dropped is retried
# every half second for up to 15 s, then raised. Without this, a message sent while Redis
# restarts is lost: an actor's "next page" send fails, and so does the Retries middleware's
# re-enqueue of the failed message, which is then acked (the job stalls). The channel layer
# does not retry: a progress update is a notification, and the fan-out closes its sockets on
# a lost connection so that they reconnect to a snapshot (sync.fanout).
BROKER_REDIS_RETRY = redis.retry.Retry(redis.backoff.ConstantBackoff(0.5), retries=30)

DRAMATIQ_BROKER: dict[str, Any] = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {
        "url": REDIS_URL,
        "client": redis.Redis.from_url(
            REDIS_URL,
            retry=BROKER_REDIS_RETRY,
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        ),
        "namespace": f"{REDIS_PREFIX}:dramatiq",
        # A worker silent this long is presumed dead and its unacked messages are requeued;
        # the check runs on `maintenance_chance` of every million broker commands. Every
        # worker process renews its broker heartbeat every 2 s however busy it is
        # (sync.heartbeat), so a short timeout only catches processes that really died.
        "heartbeat_timeout": int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "6000")),
        "maintenance_chance": int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "200000")),
    },
    # Listed explicitly: django_dramatiq's AdminMiddleware would write a row per message.
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "sync.heartbeat.WorkerHeartbeat",
        "project.logs.ActorLogContext",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]

# GitHub: the sandbox unless a real OAuth app is configured.
GITHUB_API_URL = os.environ.get("GITHUB_API_URL", "http://127.0.0.1:8001/api/v3")
GITHUB_CLIENT_ID = os.environ.get("GITHUB_CLIENT_ID", "sandbox-client")
GITHUB_CLIENT_SECRET = os.environ.get("GITHUB_CLIENT_SECRET", "sandbox-secret")
GITHUB_TIMEOUT = float(os.environ.get("GITHUB_TIMEOUT", "15"))
# Requests one GitHub user's token has in flight at once, across every worker process
# (sync.github.ratelimit; GitHub allows 100). It caps one team's import, not the pool's.
GITHUB_MAX_CONCURRENT_REQUESTS = int(os.environ.get("GITHUB_MAX_CONCURRENT_REQUESTS", "8"))
# GitHub's web root, where the OAuth pages live; empty derives it from GITHUB_API_URL
# (https://api.github.com -> https://github.com; http://host/api/v3 -> http://host).
GITHUB_WEB_URL = os.environ.get("GITHUB_WEB_URL", "")
# GitHub webhooks (sync.webhooks): the address GitHub delivers to (empty: this site's own
# /webhooks/github/ as the browser reached it when the hook is registered), and the largest
# delivery accepted (GitHub caps payloads at 25 MB; ours are far smaller), larger ones get 413.
WEBHOOK_URL = os.environ.get("WEBHOOK_URL", "")
WEBHOOK_MAX_BYTES = int(os.environ.get("WEBHOOK_MAX_BYTES", str(5 * 1024 * 1024)))
# Jira Cloud (optional onboarding step): Atlassian's authorization server and API gateway, and
# the OAuth 2.0 (3LO) app. Defaults point at the sandbox that `make run` starts on port 8001.
JIRA_AUTH_URL = os.environ.get("JIRA_AUTH_URL", "http://127.0.0.1:8001/atlassian")
JIRA_API_URL = os.environ.get("JIRA_API_URL", "http://127.0.0.1:8001/atlassian-api")
JIRA_CLIENT_ID = os.environ.get("JIRA_CLIENT_ID", "sandbox-jira-client-id")
JIRA_CLIENT_SECRET = os.environ.get("JIRA_CLIENT_SECRET", "sandbox-jira-client-secret")
JIRA_TIMEOUT = float(os.environ.get("JIRA_TIMEOUT", "10"))
# Slack (optional onboarding step): Slack's web root and the OAuth v2 app; the sandbox by default.
SLACK_URL = os.environ.get("SLACK_URL", "http://127.0.0.1:8001/slack")
SLACK_CLIENT_ID = os.environ.get("SLACK_CLIENT_ID", "sandbox-slack-client-id")
SLACK_CLIENT_SECRET = os.environ.get("SLACK_CLIENT_SECRET", "sandbox-slack-client-secret")
SLACK_TIMEOUT = float(os.environ.get("SLACK_TIMEOUT", "10"))
# This site's public root, for links in Slack messages; empty leaves the links out.
SITE_URL = os.environ.get("SITE_URL", "")
SYNC_HISTORY_DAYS = int(os.environ.get("SYNC_HISTORY_DAYS", "180"))
# A first import stores every repository's pull requests of the last SYNC_RECENT_DAYS before
# any older page, so the team sees recent activity early (0: plain page order).
SYNC_RECENT_DAYS = int(os.environ.get("SYNC_RECENT_DAYS", "30"))
# Repositories of one import synced at once: the imports of many teams take turns on the
# workers instead of one organization's repositories filling the queue. The default is the
# compose worker pool's threads (2 x 8), so a team alone still uses the whole pool.
SYNC_REPOS_IN_FLIGHT = int(os.environ.get("SYNC_REPOS_IN_FLIGHT", "16"))
# A started import with no sign of life (a page, a retry or rate-limit time) for this long is
# shown as stalled; the workers' watchdog resumes it once stalled this much longer, checking
# every SYNC_WATCHDOG_SECONDS (0: never).
SYNC_STALL_AFTER_SECONDS = int(os.environ.get("SYNC_STALL_AFTER_SECONDS", "60"))
SYNC_RESUME_AFTER_SECONDS = int(os.environ.get("SYNC_RESUME_AFTER_SECONDS", "60"))
SYNC_WATCHDOG_SECONDS = float(os.environ.get("SYNC_WATCHDOG_SECONDS", "30"))
# The reconciliation sweep (sync/sweep.py), sent by the scheduler process (manage.py
# runscheduler): every SWEEP_PERIOD_SECONDS, each team's sweep a random 0..SWEEP_JITTER_SECONDS
# later, spending at most SWEEP_BUDGET_SHARE of the GraphQL points its token has left.
SWEEP_PERIOD_SECONDS = float(os.environ.get("SWEEP_PERIOD_SECONDS", "900"))
SWEEP_JITTER_SECONDS = float(os.environ.get("SWEEP_JITTER_SECONDS", "90"))
SWEEP_BUDGET_SHARE = float(os.environ.get("SWEEP_BUDGET_SHARE", "0.1"))
# The scheduler's leader lock (dramatiq-crontab): held for SCHEDULER_LOCK_SECONDS and renewed
# every third of it, so a standby scheduler takes over that long after the leader dies.
SCHEDULER_LOCK_SECONDS = float(os.environ.get("SCHEDULER_LOCK_SECONDS", "15"))
DRAMATIQ_CRONTAB = {
    "REDIS_URL": REDIS_URL,
    "LOCK_TIMEOUT": SCHEDULER_LOCK_SECONDS,
    "LOCK_REFRESH_INTERVAL": SCHEDULER_LOCK_SECONDS / 3,
    "LOCK_BLOCKING_TIMEOUT": None,
}
# Seconds a progress socket stays open before the server closes it for the client to reconnect:
# under the 24 h after which Daphne times sockets out and Redis forgets group memberships.
SYNC_SOCKET_MAX_AGE = int(os.environ.get("SYNC_SOCKET_MAX_AGE", str(23 * 3600)))
# Progress sockets one user may hold open in one web process (more close with 4409).
SYNC_SOCKETS_PER_USER = int(os.environ.get("SYNC_SOCKETS_PER_USER", "20"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# Users sign in with GitHub; only staff have passwords, for /admin/login/. django-axes locks a
# username from an address after AXES_FAILURE_LIMIT wrong passwords for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ONLY_ADMIN_SITE = True  # the address is REMOTE_ADDR: behind a proxy, Daphne's --proxy-headers

# Avatars come from GitHub's avatar host, or, on GitHub Enterprise and the sandbox, from the
# host GITHUB_API_URL names (every avatar URL GitHub's payloads give is on one of the two).
_github_api = urlsplit(GITHUB_API_URL)
AVATAR_ORIGINS = ["https://avatars.githubusercontent.com"]
if _github_api.hostname != "api.github.com":
    AVATAR_ORIGINS.append(f"{_github_api.scheme}://{_github_api.netloc}")

# Scripts and styles from this site only: no inline script, no eval, no <style> element (htmx's
# indicator styles are off: templates/base.html, static/css/app.css). Style attributes stay
# allowed: the progress bar's width is one, and they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:", *AVATAR_ORIGINS],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}
LOGIN_URL = "/onboarding/start/"
# The repository picker posts one field per chosen repository; organizations have thousands.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production collects static files into STATIC_ROOT (the Dockerfile does); otherwise WhiteNoise
# serves them straight from STATICFILES_DIRS.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

# JSON lines in production, readable lines in development; both carry job/team/repo ids.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "project.logs.JsonFormatter"},
        "plain": {
            "()": "project.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # The scheduler's APScheduler logs every run of its jobs (the lock's renewal every few
    # seconds); runscheduler and the sweep log what matters themselves.
    "loggers": {"apscheduler": {"level": "WARNING"}},
}
