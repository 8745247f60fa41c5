"""Django settings for Sightline, derived from :mod:`backend.sightline.config` (the typed environment).

Embedded default (no variables set): SQLite in WAL mode under ``var/``, media on local disk, the database
search backend, a Celery broker on the local file system, and an in-process channel layer.
Server mode: ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL`` (Celery broker and channel layer),
``ELASTICSEARCH_URL`` (search backend).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import dj_database_url

from .config import REPO_ROOT, SightlineSettings, load_settings

ENV = load_settings()

BASE_DIR = REPO_ROOT
DATA_DIR = ENV.DATA_DIR
# The embedded default keeps its database, media and broker queue here.
DATA_DIR.mkdir(parents=True, exist_ok=True)
DEBUG = ENV.DEBUG
if ENV.SECRET_KEY:
    SECRET_KEY = ENV.SECRET_KEY
elif DEBUG:
    # A development server without a configured key gets a fresh one per process: sessions do not survive
    # a restart, which is the honest cost of not configuring one.
    SECRET_KEY = secrets.token_urlsafe(50)
else:
    from .config import SettingsError

    raise SettingsError("Invalid Sightline settings: SIGHTLINE_SECRET_KEY is required unless SIGHTLINE_DEBUG=1")
ALLOWED_HOSTS = ENV.ALLOWED_HOSTS

X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) of every page: scripts, styles, media and connections from this origin
# only (style attributes allowed: the UI positions boxes with them). Media responses carry a stricter,
# sandboxing policy of their own (backend.sightline.media), which this one does not replace.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 12 * 3600
if ENV.BEHIND_TLS_PROXY:
    # The proxy terminates TLS and says so in X-Forwarded-Proto (it must overwrite a client's own value).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # The health checks are probed over plain HTTP from inside the deployment.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 86400
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS if host and not host.startswith(".")]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "channels",
    "backend.sightline",  # site-wide commands (check_health)
    "backend.accounts",
    "backend.audit",
    "backend.cameras",
    "backend.clips",
    "backend.exports",
    "backend.analyze",
    "backend.eventlog",
    "backend.recorder.apps.RecorderAppConfig",
    "backend.live.apps.LiveConfig",
    "search",
    "analysis",
]

MIDDLEWARE = [
    # First and last: HTTP latency per route, for /metrics (backend.sightline.metrics).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Every response carries X-Request-ID, every record logged while serving it the same id.
    "backend.sightline.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "backend.audit.context.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a locked-out login (too many failures) into a 429 for the admin and the API alike.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Failed logins are counted per user name and address (django-axes); the fifth locks that pair out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "backend.accounts.lockout.locked_out"

ROOT_URLCONF = "backend.sightline.urls"
WSGI_APPLICATION = "backend.sightline.wsgi.application"
ASGI_APPLICATION = "backend.sightline.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
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

_SQLITE_OPTIONS = {
    # IMMEDIATE: a transaction takes the write lock when it begins, so two appenders or two projectors never
    # interleave their read-then-write steps.
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if ENV.DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(ENV.DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # a SQLite file named by URL
        DATABASES["default"].update(CONN_MAX_AGE=0, OPTIONS=dict(_SQLITE_OPTIONS))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "sightline.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
            "TEST": {"NAME": DATA_DIR / "test-sightline.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names, served by WhiteNoise from the ASGI/WSGI process: no separate static server needed.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATICFILES_DIRS = [d for d in [BASE_DIR / "frontend" / "dist"] if d.is_dir()]
# Vite names built assets "<name>-<8-char hash>.<ext>" under assets/: cache them forever.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^.+[-.][0-9A-Za-z_-]{8,12}\.(?:js|css|woff2?|svg|png)$"
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    # Token logins are throttled per address on top of the per-user lockout.
    "DEFAULT_THROTTLE_RATES": {"login": ENV.LOGIN_RATE},
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "backend.sightline.api.exception_handler",
}
# API tokens (django-rest-knox): stored hashed, expire after SIGHTLINE_API_TOKEN_TTL_H without use (each use
# extends them, up to a week), and are deleted at sign-out.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=ENV.API_TOKEN_TTL_H),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=7),
    "MIN_REFRESH_INTERVAL": 60,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sightline API",
    "DESCRIPTION": "Search what your cameras saw: sightings ranked by detector confidence.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One name for the masking choices, whether a field is a camera's privacy_mask or an export's masking.
    # One name for the statuses of jobs that analyse (a clip's, a synchronous analysis request's).
    "ENUM_NAME_OVERRIDES": {"MaskingEnum": "backend.cameras.models.Masking",
                            "JobStatusEnum": "backend.analyze.models.AnalysisRequest.Status"},
}

# Celery: a broker on the local file system needs no server; Redis when configured.
CELERY_BROKER_DIR = DATA_DIR / "broker"
if ENV.REDIS_URL:
    CELERY_BROKER_URL = ENV.REDIS_URL
    # An unacknowledged message comes back after this; above the longest task, so a slow analysis is
    # never handed to a second worker while the first still runs (the job claim refuses it anyway).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": ENV.ANALYSIS_TIME_LIMIT_S + 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    # Kombu's file-system transport expects its folders to exist.
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Its exchange table; kombu's default is "control" in the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = ENV.CELERY_ALWAYS_EAGER
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A worker child killed mid-task (SIGKILL, OOM) gives its message back instead of acknowledging it; the job
# table's attempt count ends a clip that kills every worker (the database is the truth, see clips/jobs.py).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = ENV.ANALYSIS_TIME_LIMIT_S
CELERY_TASK_SOFT_TIME_LIMIT = max(ENV.ANALYSIS_TIME_LIMIT_S - 60, 1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Search's few tasks (re-projections after a camera's rules change) go to the same workers.
CELERY_TASK_ROUTES = {"analysis.*": {"queue": "analysis"}, "search.*": {"queue": "analysis"},
                      "exports.*": {"queue": "analysis"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

if ENV.REDIS_URL:
    # Shared by every web process: login throttling counts across all of them.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": ENV.REDIS_URL,
                          "KEY_PREFIX": "sightline-cache"}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [ENV.REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

#: Sightline's own settings: the typed, frozen object parsed from the environment (see config.py).
SIGHTLINE: SightlineSettings = ENV

LOGIN_URL = "/admin/login/"
# Every process (web, workers, recorder, projector) logs one JSON object a line to stderr: timestamp (UTC),
# level, logger, message and what it is about (request id, user, task, clip, camera, process role; see
# backend.sightline.logs); SIGHTLINE_LOG_FORMAT=text for a terminal (the default with SIGHTLINE_DEBUG=1).
# Every handler has the context and secret-redaction filters (tests/test_logging.py checks each one).
# Django's own handlers (django: console and mail_admins; django.server) are replaced: its records reach
# the root's handler like all others; Python's warnings become records too (LOGGING_CONFIG).
LOG_FORMAT = ENV.LOG_FORMAT or ("text" if DEBUG else "json")
LOGGING_CONFIG = "backend.sightline.logs.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "backend.sightline.logs.ContextFilter"},
                "redact": {"()": "backend.sightline.redaction.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "backend.sightline.logs.JsonFormatter"},
                   "text": {"()": "backend.sightline.logs.TextFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["context", "redact"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True},
                "django.server": {"handlers": [], "level": "INFO", "propagate": True},
                "django.db.backends": {"level": "WARNING"}, "elastic_transport": {"level": "WARNING"},
                "axes": {"level": "WARNING"}},
}
