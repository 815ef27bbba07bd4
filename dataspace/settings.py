"""Settings of a Scène Commune node, read from the environment.

Every value that differs between deployments comes from an environment variable (see
`docs/operations.md`); the defaults give a working single node on SQLite with no other service.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from dataspace.env import env_bool, env_choices, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------- node identity
NODE_ROLE_CHOICES = ("structure", "registry", "ministry")
NODE_NAME = env_str("NODE_NAME", "scene-commune")
NODE_BASE_URL = env_str("NODE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
NODE_ROLES = env_choices("NODE_ROLES", ["structure"], NODE_ROLE_CHOICES)
# Where this node keeps its files: SQLite database, key pair, generated secret key.
NODE_DATA_DIR = Path(env_str("NODE_DATA_DIR", str(BASE_DIR / "var" / "node")))
NODE_KEY_DIR = Path(env_str("NODE_KEY_DIR", str(NODE_DATA_DIR / "keys")))
NODE_TIME_ZONE = env_str("NODE_TIME_ZONE", "Europe/Paris")


def _node_secret(env_name: str, filename: str) -> str:
    """A server-side secret: from the environment, else a per-node file created once (mode 0600)."""
    from_env = env_str(env_name, "")
    if from_env:
        return from_env
    path = NODE_DATA_DIR / filename
    if path.exists():
        return path.read_text().strip()
    NODE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this node created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


SECRET_KEY = _node_secret("DJANGO_SECRET_KEY", "secret_key")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [NODE_BASE_URL])

# ---------------------------------------------------------------------------- applications
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "dataspace.node",
    "dataspace.records",
    "dataspace.api",
    "dataspace.referentials",
    "dataspace.oauth",
    "dataspace.directory",
    "dataspace.audit",
    "dataspace.consent",
    "dataspace.contacts",
    "dataspace.indicators",
    "policies",
    "federation",
    "dataspace.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dataspace.web.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Verifies RFC 9421 signatures of node-to-node requests and signs the responses (federation.signing).
    "federation.middleware.SignatureMiddleware",
]

ROOT_URLCONF = "dataspace.urls"
WSGI_APPLICATION = "dataspace.wsgi.application"
ASGI_APPLICATION = "dataspace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dataspace.web.context_processors.node",
            ],
        },
    },
]

# ---------------------------------------------------------------------------- database
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{NODE_DATA_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    NODE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Concurrent readers with one writer; wait rather than fail when the writer holds the lock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------- Redis / Celery
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without Redis, tasks run in-process at once: a single node needs no other service.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {"task": "dataspace.api.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "report-old-client-secrets": {"task": "dataspace.oauth.tasks.report_old_secrets", "schedule": 86400.0},
}

# ---------------------------------------------------------------------------- journal (dataspace.audit)
# Benchmark/test-only switch: False makes journal() write nothing. Never turn it off in production.
JOURNAL_ENABLED = env_bool("JOURNAL_ENABLED", True)
# PostgreSQL: every journal entry waits for the WAL flush (durable: an access that was answered is
# never lost from the journal). Off, entries written in a transaction of their own (guarded reads)
# commit without waiting, faster, but a database crash may lose the last fraction of a second of
# entries (never break the chain). See docs/journal.md.
JOURNAL_SYNCHRONOUS_COMMIT = env_bool("JOURNAL_SYNCHRONOUS_COMMIT", True)
# Seconds between two seals of the journal's head (signed with the node key).
JOURNAL_SEAL_INTERVAL = env_int("JOURNAL_SEAL_INTERVAL", 3600, minimum=10)
CELERY_BEAT_SCHEDULE["seal-journal"] = {
    "task": "dataspace.audit.tasks.seal_journal",
    "schedule": float(JOURNAL_SEAL_INTERVAL),
}

# ---------------------------------------------------------------------------- licence registry (dataspace.directory)
# The ministry's open-data list of licences, re-imported daily on a `registry` node (empty: no re-import).
LICENCE_IMPORT_PATH = env_str("LICENCE_IMPORT_PATH", "")
CELERY_BEAT_SCHEDULE["reimport-licences"] = {
    "task": "dataspace.directory.tasks.reimport_licences",
    "schedule": 86400.0,
}

# ---------------------------------------------------------------------------- consents (dataspace.consent)
# Days a renewal lasts when no expiry is given (docs/consent.md).
CONSENT_RENEWAL_DAYS = env_int("CONSENT_RENEWAL_DAYS", 3 * 365, minimum=1)
# Consents past their expiry are marked "expired" (with the effects of a withdrawal) every hour.
CELERY_BEAT_SCHEDULE["expire-consents"] = {
    "task": "dataspace.consent.tasks.expire_consents",
    "schedule": 3600.0,
}

# ---------------------------------------------------------------------------- federation outbox (federation.outbox)
# The registry's base URL: it receives every outbound notice (consent withdrawals…); empty: none.
FEDERATION_REGISTRY_URL = env_str("FEDERATION_REGISTRY_URL", "").rstrip("/")
# Delivery of outbox notices: attempts before a message is dead, HTTP timeout (s), backoff (s).
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 10, minimum=1)
OUTBOX_TIMEOUT = float(env_int("OUTBOX_TIMEOUT", 5, minimum=1))
OUTBOX_BACKOFF_BASE = float(env_int("OUTBOX_BACKOFF_BASE", 30, minimum=1))
OUTBOX_BACKOFF_MAX = float(env_int("OUTBOX_BACKOFF_MAX", 6 * 3600, minimum=1))
# Seconds between two sweeps of the outbox for messages due (receiver or Redis was down).
OUTBOX_POLL_INTERVAL = env_int("OUTBOX_POLL_INTERVAL", 60, minimum=5)
CELERY_BEAT_SCHEDULE["deliver-due-outbox"] = {
    "task": "federation.tasks.deliver_due_outbox",
    "schedule": float(OUTBOX_POLL_INTERVAL),
}

# ---------------------------------------------------------------------------- federation (docs/federation.md)
# Trust only the keys of members listed in the registry's signed member list (peer tokens, signed
# calls). Off only in unit tests that register a peer by hand; the demo and production turn it on.
FEDERATION_TRUST_MEMBERS_ONLY = env_bool("FEDERATION_TRUST_MEMBERS_ONLY", False)
# Seconds between two refreshes of the signed member list (every node).
FEDERATION_MEMBERS_REFRESH = env_int("FEDERATION_MEMBERS_REFRESH", 300, minimum=5)
# Seconds a member list signed by the registry stays valid (a node that cannot refresh it in that
# time stops trusting its peers: fail closed).
FEDERATION_MEMBER_LIST_TTL = env_int("FEDERATION_MEMBER_LIST_TTL", 7 * 86400, minimum=60)
# RFC 9421 signatures: lifetime of a signature (`expires` − `created`) and the clock skew tolerated.
FEDERATION_SIGNATURE_TTL = env_int("FEDERATION_SIGNATURE_TTL", 60, minimum=5)
FEDERATION_CLOCK_SKEW = env_int("FEDERATION_CLOCK_SKEW", 30, minimum=0)
# Seconds between two pulls of every member's change feed by the registry (push notices pull at once).
FEDERATION_SYNC_INTERVAL = env_int("FEDERATION_SYNC_INTERVAL", 60, minimum=5)
# Per-node timeout of a live federated search (seconds, may be fractional).
FEDERATION_SEARCH_TIMEOUT = env_float("FEDERATION_SEARCH_TIMEOUT", 3.0)
# Aggregation campaigns (ministry node, issue 7): seconds a structure node has to answer, and how
# many nodes are asked at once by the campaign task (threads overlapping the network waits).
INDICATORS_CAMPAIGN_TIMEOUT = env_float("INDICATORS_CAMPAIGN_TIMEOUT", 10.0)
INDICATORS_CAMPAIGN_CONCURRENCY = env_int("INDICATORS_CAMPAIGN_CONCURRENCY", 32, minimum=1)
CELERY_BEAT_SCHEDULE["refresh-members"] = {
    "task": "federation.tasks.refresh_members",
    "schedule": float(FEDERATION_MEMBERS_REFRESH),
}
CELERY_BEAT_SCHEDULE["sync-all-nodes"] = {
    "task": "federation.tasks.sync_all_nodes",
    "schedule": float(FEDERATION_SYNC_INTERVAL),
}
CELERY_BEAT_SCHEDULE["purge-nonces"] = {"task": "federation.tasks.purge_nonces", "schedule": 600.0}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ---------------------------------------------------------------------------- auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every login (admin, OAuth consent screen, any form calling authenticate()) goes through the
# throttling backend: after LOGIN_THROTTLE_ATTEMPTS failures for a username or an IP address
# within LOGIN_THROTTLE_WINDOW seconds, further attempts are refused for LOGIN_THROTTLE_LOCKOUT
# seconds, even with the right password (dataspace.node.throttling; counters in the cache).
# guardian's backend answers object-level permissions (a co-producer's rights on one performance).
AUTHENTICATION_BACKENDS = [
    "dataspace.node.throttling.ThrottledModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No anonymous user row: anonymous callers never hold object permissions here.
ANONYMOUS_USER_NAME = None
LOGIN_THROTTLE_ATTEMPTS = env_int("LOGIN_THROTTLE_ATTEMPTS", 5, minimum=1)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 15 * 60, minimum=1)
LOGIN_THROTTLE_LOCKOUT = env_int("LOGIN_THROTTLE_LOCKOUT", 15 * 60, minimum=1)
LOGIN_URL = "admin:login"

# ---------------------------------------------------------------------------- i18n
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = NODE_TIME_ZONE
USE_TZ = True

# ---------------------------------------------------------------------------- static files
STATIC_URL = "static/"
STATIC_ROOT = NODE_DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps when collectstatic has not run

# ---------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    # dataspace.api.auth: bearer tokens first (its header is the one every 401 carries), then the
    # staff's session. dataspace.api.permissions: scopes, public reads, roles, depositors, mandates.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dataspace.api.auth.BearerTokenAuthentication",
        "dataspace.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dataspace.api.permissions.ScopePermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "dataspace.api.renderers.JSONLDRenderer",
        "dataspace.api.renderers.CSVRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "dataspace.api.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "dataspace.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dataspace.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Scène Commune node API",
    "DESCRIPTION": "Shared referentials of a performing-arts structure: works, productions, "
    "performances, venues, halls and technical sheets, organisations, seasons. "
    "JSON by default, JSON-LD (schema.org) with `Accept: application/ld+json`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ContactKindEnum": "dataspace.contacts.models.Contact.Kind"},
}
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1)

# ---------------------------------------------------------------------------- OAuth2
# Key of the HMAC-SHA256 digests under which client secrets, codes and refresh tokens are stored.
OAUTH_SECRET_DIGEST_KEY = _node_secret("OAUTH_SECRET_DIGEST_KEY", "oauth_digest_key")
OAUTH_ACCESS_TOKEN_LIFETIME = env_int("OAUTH_ACCESS_TOKEN_LIFETIME", 600, minimum=30)  # seconds
OAUTH_REFRESH_TOKEN_LIFETIME = env_int("OAUTH_REFRESH_TOKEN_LIFETIME", 30 * 24 * 3600, minimum=60)
OAUTH_CODE_LIFETIME = env_int("OAUTH_CODE_LIFETIME", 60, minimum=10)
OAUTH_SECRET_GRACE_PERIOD = env_int("OAUTH_SECRET_GRACE_PERIOD", 7 * 24 * 3600, minimum=0)
OAUTH_SECRET_MAX_AGE_DAYS = env_int("OAUTH_SECRET_MAX_AGE_DAYS", 365, minimum=1)
# The plain-http exception for loopback demo/test nodes only (authlib refuses http otherwise).
OAUTH_ALLOW_INSECURE_LOOPBACK = NODE_BASE_URL.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))

# ------------------------------------------------------------------ personal data at rest (dataspace.node.crypto)
# Comma-separated Fernet keys, newest first; empty: the key file $NODE_DATA_DIR/personal_data_keys
# (created 0600 on first use). Rotation: docs/operations.md.
PERSONAL_DATA_KEYS = env_str("PERSONAL_DATA_KEYS", "")

# ------------------------------------------------------------------ rights of the person (dataspace.consent.rights)
# Directory entries and contacts not re-verified with the person for this many days are flagged
# for review ("à revérifier"); a daily task counts them per structure.
CONSENT_REVIEW_DAYS = env_int("CONSENT_REVIEW_DAYS", 365, minimum=1)
CELERY_BEAT_SCHEDULE["flag-records-for-review"] = {
    "task": "dataspace.contacts.tasks.flag_records_for_review",
    "schedule": 86400.0,
}

# ---------------------------------------------------------------------------- the person's portal (/moi/)
# How long a one-time sign-in link stays valid, in minutes; how many links one email address (or one
# client address) may request per PORTAL_LINK_THROTTLE_WINDOW seconds.
PORTAL_LINK_MINUTES = env_int("PORTAL_LINK_MINUTES", 15, minimum=1)
PORTAL_LINK_REQUESTS_PER_EMAIL = env_int("PORTAL_LINK_REQUESTS_PER_EMAIL", 5, minimum=1)
PORTAL_LINK_REQUESTS_PER_ADDRESS = env_int("PORTAL_LINK_REQUESTS_PER_ADDRESS", 20, minimum=1)
PORTAL_LINK_THROTTLE_WINDOW = env_int("PORTAL_LINK_THROTTLE_WINDOW", 900, minimum=10)

# ---------------------------------------------------------------------------- usage policies (policies)
# Base URLs of the ministry's nodes, the assignee of the "ministry aggregates only" template (empty:
# this node if it has the ministry role; otherwise the administrator names the node in the template).
POLICY_MINISTRY_NODES = [url.rstrip("/") for url in env_list("POLICY_MINISTRY_NODES", [])]

# ---------------------------------------------------------------------------- DMP controls
# How long a break-glass (emergency) access to one record lasts, in minutes.
BREAK_GLASS_MINUTES = env_int("BREAK_GLASS_MINUTES", 60, minimum=1)
# Alerts to structures (break-glass) leave by email; the demo prints them on the console.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "scene-commune@localhost")
# With the SMTP backend (django.core.mail.backends.smtp.EmailBackend):
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

# ---------------------------------------------------------------------------- security
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = NODE_BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
