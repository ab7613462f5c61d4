"""Settings shared by every mode. Everything environment-specific is read here, from the env.

Defaults work on a developer machine (PostgreSQL and Redis on 127.0.0.1); production.py refuses to
start without real secrets.
"""

from pathlib import Path

import environ

from apextrade.beat_schedule import BEAT_SCHEDULE, ohlcv_download_schedule, parse_ohlcv_downloads

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env(
    "SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnopq"
)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "apextrade",
    "accounts",
    "strategies",
    "trading",
    "marketdata",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above the session and auth middleware, whose errors (Redis or PostgreSQL down) it answers.
    "core.api_failures.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Account security: outside the API (the admin), a throttled sign-in is a 429 and an
    # unreachable Redis a 503.
    "accounts.middleware.SignInErrorsMiddleware",
]

ROOT_URLCONF = "apextrade.urls"
WSGI_APPLICATION = "apextrade.wsgi.application"
ASGI_APPLICATION = "apextrade.asgi.application"

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

# --- Databases: `default` is relational, `timeseries` holds the hypertables (TimescaleDB when the
# extension is there, plain PostgreSQL otherwise: see marketdata/timescale.py).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/apextrade"),
    "timeseries": env.db_url(
        "TIMESCALE_URL", default="postgres://postgres@127.0.0.1:5432/apextrade_ts"
    ),
}
for _db in DATABASES.values():
    _db["ENGINE"] = "django.db.backends.postgresql"
    _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
DATABASE_ROUTERS = ["apextrade.db_router.TimeseriesRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users: the `users` table, login by email, Argon2 hashes.
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: cache (spec key names such as `cache:ticker:{symbol}`, no Django prefix), sessions,
# rate limits, and Celery's broker.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

# The local cache of candle arrays for backtests (marketdata.array_cache): memory-mapped files,
# least recently used evicted past the cap; 0 bytes turns it off.
CANDLE_ARRAY_CACHE_DIR = env(
    "CANDLE_ARRAY_CACHE_DIR", default=str(BASE_DIR / "var" / "candle-arrays")
)
CANDLE_ARRAY_CACHE_BYTES = env.int("CANDLE_ARRAY_CACHE_BYTES", default=2 * 1024**3)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "core.cache_keys.spec_key",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
SESSION_ENGINE = "accounts.session_store"

# --- Exchanges (exchanges/, through ccxt). EXCHANGE_API_URLS replaces an exchange's API base URLs
# by ccxt name, as JSON: {"binance": {"public": "https://...", "private": "https://..."}}.
EXCHANGE_TIMEOUT_SECONDS = env.float("EXCHANGE_TIMEOUT_SECONDS", default=10.0)
EXCHANGE_API_URLS = env.json("EXCHANGE_API_URLS", default={})
# A live portfolio's cash may differ from its exchange account's by this much (quote currency)
# before the difference holds its live orders (trading.live_balances; docs/exchanges.md).
LIVE_BALANCE_TOLERANCE = env.str("LIVE_BALANCE_TOLERANCE", default="1.00")
# Candle series kept downloaded by beat, one job each: "binance:BTC/USDT:1m,binance:ETH/USDT:1h".
OHLCV_DOWNLOADS = parse_ohlcv_downloads(env("OHLCV_DOWNLOADS", default=""))
# How far back the beat job starts a series that has no candles stored yet.
OHLCV_DOWNLOAD_BACKFILL_DAYS = env.int("OHLCV_DOWNLOAD_BACKFILL_DAYS", default=1)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task past the soft limit gets SoftTimeLimitExceeded (a backtest then fails with a message);
# past the hard limit its process is killed. A child process is replaced once its resident memory
# passes worker_max_memory_per_child (KiB) after a task, and its address space is capped at
# CELERY_WORKER_MEMORY_LIMIT_MB (apextrade/celery.py), so a run that asks for more gets a
# MemoryError and fails with a message instead of taking the worker down. 0 turns the cap off.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1024 * 1024
)
CELERY_WORKER_MEMORY_LIMIT_MB = env.int("CELERY_WORKER_MEMORY_LIMIT_MB", default=4096)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Interactive work (backtests, everything else) goes to the default queue "celery"; parameter
# sweeps to "optimise", which workers on other machines can serve alone (docs/optimisation.md).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"strategies.tasks.run_optimisation_chunk": {"queue": "optimise"}}
# Periodic jobs are listed in apextrade/beat_schedule.py; the database
# scheduler copies them into django_celery_beat's tables when beat starts.
CELERY_BEAT_SCHEDULE = {**BEAT_SCHEDULE, **ohlcv_download_schedule(OHLCV_DOWNLOADS)}

# --- Optimisations (docs/optimisation.md): a cap on the variants of one optimisation, variants
# per chunk task, per-user limits, and each worker process's candle cache.
OPTIMISATION_MAX_VARIANTS = env.int("OPTIMISATION_MAX_VARIANTS", default=10_000)
OPTIMISATION_CHUNK_SIZE = env.int("OPTIMISATION_CHUNK_SIZE", default=25)
OPTIMISATION_VARIANTS_PER_HOUR = env.int("OPTIMISATION_VARIANTS_PER_HOUR", default=50_000)
OPTIMISATION_RUNNING_PER_USER = env.int("OPTIMISATION_RUNNING_PER_USER", default=2)
OPTIMISATION_CANDLE_CACHE_MB = env.int("OPTIMISATION_CANDLE_CACHE_MB", default=512)

# --- Field encryption (broker API credentials). A comma-separated list of Fernet keys: the first
# encrypts, all decrypt, so keys can be rotated.
# The development key is public (it is in this file): production.py refuses it.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[DEVELOPMENT_FIELD_ENCRYPTION_KEY]
)

# --- Account security (issue 10): sign-in, throttling, emails, two-factor.
# Every sign-in (API, admin, Django's authenticate()) goes through accounts.security.sign_in.
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailSignInBackend"]
# Sign-in attempts per account and per client address (IPv6: per /64) within the window; past
# either, a 429 with Retry-After before any password is hashed (accounts.security.login_throttle).
LOGIN_ATTEMPTS_PER_ACCOUNT = env.int("LOGIN_ATTEMPTS_PER_ACCOUNT", default=5)
LOGIN_ATTEMPTS_PER_ADDRESS = env.int("LOGIN_ATTEMPTS_PER_ADDRESS", default=20)
LOGIN_ATTEMPTS_WINDOW_SECONDS = env.int("LOGIN_ATTEMPTS_WINDOW_SECONDS", default=15 * 60)
# Registrations, verification links and password reset emails per client address.
ACCOUNT_REQUESTS_PER_ADDRESS = env.int("ACCOUNT_REQUESTS_PER_ADDRESS", default=10)
ACCOUNT_REQUESTS_WINDOW_SECONDS = env.int("ACCOUNT_REQUESTS_WINDOW_SECONDS", default=60 * 60)
# Links in emails start with this (never with the request's Host header).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 24 * 3600)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)
# Django's email backend from EMAIL_URL (e.g. smtp+tls://user:password@host:587); dev.py prints
# emails to the console, tests keep them in django.core.mail.outbox.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ApexTrade <no-reply@apextrade.local>")
# The issuer an authenticator app shows next to the account.
MFA_ISSUER = env("MFA_ISSUER", default="ApexTrade")

# The audit log records X-Forwarded-For only behind a proxy of ours that sets it.
AUDIT_TRUST_X_FORWARDED_FOR = env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False)

# --- API
# A larger body is refused with 413 before it is read (rule trees and orders are a few kB).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
# Per-user limits, counted in Redis under rate_limit:{user_id} keys (docs/api.md, "Limits").
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=120)
BACKTEST_STARTS_PER_HOUR = env.int("BACKTEST_STARTS_PER_HOUR", default=30)
BACKTEST_MAX_ACTIVE_PER_USER = env.int("BACKTEST_MAX_ACTIVE_PER_USER", default=3)
# A backtest's cost, bars × distinct indicator series, is refused above this before it is queued
# (20M is a year of 1m bars with 38 indicators: ~160 MB per set of float64 series).
BACKTEST_MAX_COST = env.int("BACKTEST_MAX_COST", default=20_000_000)
REST_FRAMEWORK = {
    # Account security: personal access tokens first (their Bearer challenge makes an
    # unauthenticated request a 401 with WWW-Authenticate), then sessions (with CSRF); a token's
    # scopes limit what it may do on every view that keeps the default permissions.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.TokenHasScope",
    ],
    # DRF's defaults, with a JSON parser that answers 400 to documents nested too deep.
    "DEFAULT_PARSER_CLASSES": [
        "core.api_parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api_pagination.CheckedCursorPagination",
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.api_throttles.UserRequestRate"],
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ApexTrade API",
    "DESCRIPTION": "Strategies, backtests, portfolios and market data.",
    "VERSION": "1.0.0",
    # Swagger UI's assets are served from the sidecar package: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StrategyStatusEnum": "strategies.models.StrategyStatus",
        "BacktestStatusEnum": "strategies.models.BacktestStatus",
        "TradeStatusEnum": "trading.models.TradeStatus",
    },
    # Adds the rule language's JSON Schema as components (StrategyRules, ...).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "strategies.api.openapi.add_rules_schema",
        "core.openapi_errors.add_error_responses",
    ],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- Cold storage of the retention jobs' archives (compliance.retention): the local filesystem
# by default; an S3-compatible store (MinIO, spec §7.2) through django-storages when
# ARCHIVE_S3_BUCKET is set.
ARCHIVE_S3_BUCKET = env("ARCHIVE_S3_BUCKET", default="")
if ARCHIVE_S3_BUCKET:
    _archives = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ARCHIVE_S3_BUCKET,
            "endpoint_url": env("ARCHIVE_S3_ENDPOINT_URL", default=None),
            "access_key": env("ARCHIVE_S3_ACCESS_KEY", default=None),
            "secret_key": env("ARCHIVE_S3_SECRET_KEY", default=None),
            "region_name": env("ARCHIVE_S3_REGION", default=None),
            "file_overwrite": True,
            "default_acl": None,
        },
    }
else:
    _archives = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("ARCHIVE_ROOT", default=str(BASE_DIR / "var" / "archives"))},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "archives": _archives,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# The spec names two CHECK constraints alike on two tables (`valid_currency` on users and
# portfolios, `valid_quantity` on backtest_trades and positions). PostgreSQL scopes CHECK names to
# their table, so this is valid; Django's check assumes names are global. Index names, which
# PostgreSQL does keep global, are all distinct.
SILENCED_SYSTEM_CHECKS = ["models.E032"]
