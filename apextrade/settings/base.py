"""Settings shared by every mode. Everything environment-specific is read here, from the env.

Defaults work on a developer machine (PostgreSQL and Redis on 127.0.0.1); production.py refuses to
start without real secrets.
"""

from pathlib import Path

import environ

from apextrade.beat_schedule import BEAT_SCHEDULE

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
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "core.cache_keys.spec_key",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
SESSION_ENGINE = "accounts.session_store"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Interactive work (backtests, everything else) goes to the default queue "celery"; parameter
# sweeps to "optimise", which workers on other machines can serve alone (docs/optimisation.md).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"strategies.tasks.run_optimisation_chunk": {"queue": "optimise"}}
# Periodic jobs are listed in apextrade/beat_schedule.py; the database
# scheduler copies them into django_celery_beat's tables when beat starts.
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

# --- Optimisations (docs/optimisation.md): a cap on the variants of one optimisation, variants
# per chunk task, per-user limits, and each worker process's candle cache.
OPTIMISATION_MAX_VARIANTS = env.int("OPTIMISATION_MAX_VARIANTS", default=10_000)
OPTIMISATION_CHUNK_SIZE = env.int("OPTIMISATION_CHUNK_SIZE", default=25)
OPTIMISATION_VARIANTS_PER_HOUR = env.int("OPTIMISATION_VARIANTS_PER_HOUR", default=50_000)
OPTIMISATION_RUNNING_PER_USER = env.int("OPTIMISATION_RUNNING_PER_USER", default=2)
OPTIMISATION_CANDLE_CACHE_MB = env.int("OPTIMISATION_CANDLE_CACHE_MB", default=512)

# --- Field encryption (broker API credentials). A comma-separated list of Fernet keys: the first
# encrypts, all decrypt, so keys can be rotated.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="]
)

# The audit log records X-Forwarded-For only behind a proxy of ours that sets it.
AUDIT_TRUST_X_FORWARDED_FOR = env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False)

# --- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
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
