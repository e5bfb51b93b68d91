"""Settings, driven by the environment.

Defaults give the embedded setup (SQLite file under ``var/``, django-q2 ORM broker, DEBUG on) so
``make run`` works on a fresh clone. Production sets at least ``DJANGO_DEBUG=0``, ``SECRET_KEY``,
``FIELD_ENCRYPTION_KEYS``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and, for more than one worker
machine, ``REDIS_URL``. See docs/operations.md.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("INTEGRATOR_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


TESTING = "pytest" in sys.modules
DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET if DEBUG or TESTING else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DJANGO_DEBUG=0")
# ``manage.py demo`` makes users with published passwords and channels with known secrets: it runs
# only where DJANGO_DEBUG is on, unless a demo server says INTEGRATOR_ALLOW_DEMO=1 (issue 14).
DEMO_ALLOWED = env_bool("INTEGRATOR_ALLOW_DEMO", DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Keys for encrypted fields (credentials, OAuth tokens, webhook secrets): a comma-separated list of
# Fernet keys, newest first. `manage.py rotate_keys` re-encrypts everything under the first one.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "import_export",
    # Security: second factor (TOTP + backup codes) and login throttling
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "integrator.apps.IntegratorConfig",
    "integrator.security.apps.SecurityConfig",
    "reconciliation.apps.ReconciliationConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "integrator.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "integrator.security.middleware.SessionTimeoutMiddleware",
    "integrator.security.middleware.MfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its own answer
]

ROOT_URLCONF = "integrator.urls"
WSGI_APPLICATION = "integrator.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'integrator.sqlite3'}"),
        # Production keeps connections open (a new PostgreSQL connection per webhook costs a
        # backend start); the development server and tests open one per request.
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0" if DEBUG else "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; a busy timeout instead of "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Where people reach this installation (links in alert e-mails, the webhook addresses shown in Setup).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
# Alert e-mails: printed to the console in development (and in `make run`), kept in memory in tests
# (Django's test runner switches to locmem), sent over SMTP when EMAIL_HOST is set.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "integrator@localhost")

# Webhook bodies above 1 MiB are refused with 413 before they are parsed.
WEBHOOK_MAX_BODY_BYTES = 1_048_576
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1_048_576
# Bank statement files larger than this are refused by the screens and the API (manage.py import_statement has no cap).
STATEMENT_UPLOAD_MAX_BYTES = int(os.environ.get("STATEMENT_UPLOAD_MAX_BYTES", 10 * 1_048_576))
# Uploads larger than this import in the worker with a progress bar, not within the web request.
STATEMENT_INLINE_IMPORT_BYTES = int(os.environ.get("STATEMENT_INLINE_IMPORT_BYTES", 1_048_576))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
# Security (docs/security.md): session limits enforced server-side by
# integrator.security.middleware.SessionTimeoutMiddleware; the cookie age is the absolute lifetime.
SESSION_IDLE_TIMEOUT = int(os.environ.get("SESSION_IDLE_TIMEOUT", 30 * 60))
SESSION_ABSOLUTE_TIMEOUT = SESSION_COOKIE_AGE
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Login throttling (django-axes): this many failures lock the account (or the address) for the cool-off time.
AUTHENTICATION_BACKENDS = [
    "integrator.security.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
# Each entry counts on its own: an account is locked after N failures from anywhere (password
# spraying across IPs), and an address after N failures on any accounts (credential stuffing).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Behind a reverse proxy, set how many proxies append to X-Forwarded-For so the client's address is used.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "0")) or None
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "security/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Second factor (django-otp): the issuer shown in authenticator apps; wrong codes slow down.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Integrator")
OTP_TOTP_THROTTLE_FACTOR = 1
# Retention: the integration log is a financial record (7 years); personal data only as long as
# needed (purge_integration_log, purge_personal_data).
INTEGRATION_LOG_RETENTION_DAYS = int(os.environ.get("INTEGRATION_LOG_RETENTION_DAYS", 7 * 366))
PERSONAL_DATA_RETENTION_DAYS = int(os.environ.get("PERSONAL_DATA_RETENTION_DAYS", 2 * 366))
# Content-Security-Policy (django-csp): scripts only from our own static files (htmx, Chart.js,
# app.js; data reaches them through json_script elements, never inline code); no plugins, no
# framing, forms post only here. Inline style attributes stay allowed: they cannot run code, and
# the templates and Chart.js use them for sizes and colours.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Where ``export_audit_head`` keeps a copy of the last head it exported, for ``verify_audit`` to
# compare with (a shorter chain fails loudly). Keep the real copies outside the server too.
AUDIT_HEAD_FILE = Path(os.environ.get("AUDIT_HEAD_FILE", VAR_DIR / "audit-head.json"))
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "integrator.security.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "integrator.api.permissions.ModelPermission",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "integrator.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "integrator.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Integrator API",
    "DESCRIPTION": "Sales systems in, balanced books out, exactly once.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "kind" field with its own choices: name each enum after its meaning.
    "ENUM_NAME_OVERRIDES": {
        "TransactionKindEnum": "integrator.choices.TransactionKind",
        "EntryKindEnum": "integrator.choices.EntryKind",
        "RuleKindEnum": "integrator.choices.RuleKind",
        "ReconciliationRunKindEnum": "reconciliation.choices.RunKind",
        "ReconciliationExceptionKindEnum": "reconciliation.choices.ExceptionKind",
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "")
# Background workers yield the CPU to the web process: webhook receipt must stay fast however hard
# the workers book (issue 19). The cluster's processes run at this niceness (0 to leave them be).
Q_WORKER_NICE = int(os.environ.get("Q_WORKER_NICE", "10"))
# A worker process's garbage collector (integrator.services.collector): a young collection every
# this many allocations instead of 700, and what the worker loaded at start set aside; 0 keeps
# Python's default. The collector's time in the spine benchmark (9,000 sales, one process): 5.2 s
# at 700, 3.4 s at 2,000, 1.8 s at 5,000 and 10,000, 2.1 s at 20,000, 2.4 s at 50,000.
WORKER_GC_THRESHOLD = max(0, int(os.environ.get("WORKER_GC_THRESHOLD", "10000")))
# Inbox rows a worker claims and processes in one database transaction (issue 19); 1 processes
# every event on its own, as before batching. A batch's fixed cost (about 30 statements, each
# compiled by the ORM) is spread over its rows: one process booked 290 sales/s in batches of 50,
# 390 in batches of 200 and no more in batches of 500; but while webhooks arrive at 100/s,
# receipt's p99 with the workers booking in batches of 200 passed 100 ms in two runs of three
# (160 ms, 483 ms), never in batches of 50 (bench, PostgreSQL, 4 Dec 2026; docs/operations.md).
PROCESS_BATCH_SIZE = max(1, int(os.environ.get("PROCESS_BATCH_SIZE", "50")))
# Batches one processing task takes before it leaves the rest to the task it woke (a task's cost
# spread over many batches, and never near the cluster's timeout).
PROCESS_BATCHES_PER_TASK = max(1, int(os.environ.get("PROCESS_BATCHES_PER_TASK", "20")))
# Due postings of one connection a posting's task sends together (capped by the ledger's own batch
# size); 1 sends every posting on its own task.
POSTING_TASK_BATCH = max(1, int(os.environ.get("POSTING_TASK_BATCH", "500")))
Q_CLUSTER: dict[str, object] = {
    "name": "integrator",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 1,  # our services retry with their own backoff; never let the broker re-run blindly
    "ack_failures": True,
    "catch_up": False,
    # Successful tasks are not stored (failures are): with a limit, the cluster's monitor locks and
    # reads every stored success to prune one after EACH task, which capped a cluster at about 20
    # sales/s whatever its workers did (issue 19). What work did is in the inbox, the outbox and the
    # audit trail, not in task results.
    "save_limit": int(os.environ.get("Q_SAVE_LIMIT", "-1")),
    "sync": TESTING and not env_bool("Q_REAL_CLUSTER", False),
    "poll": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Posting retries: exponential backoff with full jitter, capped, then dead letter.
POSTING_MAX_ATTEMPTS = int(os.environ.get("POSTING_MAX_ATTEMPTS", "8"))
POSTING_BACKOFF_BASE_SECONDS = float(os.environ.get("POSTING_BACKOFF_BASE_SECONDS", "2"))
POSTING_BACKOFF_CAP_SECONDS = float(os.environ.get("POSTING_BACKOFF_CAP_SECONDS", "900"))
POSTING_LEASE_SECONDS = int(os.environ.get("POSTING_LEASE_SECONDS", "120"))
# A document waiting for another to reach the ledger first (a payment for its invoice) is tried
# again after this long; the invoice's posting wakes it at once.
POSTING_DEFER_SECONDS = float(os.environ.get("POSTING_DEFER_SECONDS", "300"))
# Circuit breaker per ledger connection: after this many consecutive transient failures the
# connection waits CIRCUIT_OPEN_SECONDS between single probes instead of hammering a vendor that is down.
CIRCUIT_FAILURE_THRESHOLD = int(os.environ.get("CIRCUIT_FAILURE_THRESHOLD", "5"))
CIRCUIT_OPEN_SECONDS = float(os.environ.get("CIRCUIT_OPEN_SECONDS", "30"))
# Exchange rates: where the daily reference rates are fetched from (the ECB's eurofxref-daily.xml;
# empty: import the files by hand or by command).
REFERENCE_RATES_URL = os.environ.get("REFERENCE_RATES_URL", "")
# Failpoints (crash-injection for reliability tests) work only when this is set.
ALLOW_FAILPOINTS = env_bool("INTEGRATOR_ALLOW_FAILPOINTS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "integrator.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django-q": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # lockouts are logged on integrator.security
    },
}
