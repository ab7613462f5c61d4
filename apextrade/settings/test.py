"""Test run: the real PostgreSQL and Redis, a Redis database of its own, fast password hashing."""

from apextrade.settings.base import *  # noqa: F403
from apextrade.settings.base import CACHES, env

DEBUG = False
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
