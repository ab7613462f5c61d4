"""Test run: the real PostgreSQL and Redis, a Redis database of its own, fast password hashing."""

import copy
import os
import tempfile

from apextrade.settings.base import *  # noqa: F403
from apextrade.settings.base import CACHES, DATABASES, env

# Copies, so that base.py's values (which tests compare against) stay as production reads them.
CACHES = copy.deepcopy(CACHES)
DATABASES = copy.deepcopy(DATABASES)

DEBUG = False
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES["default"]["LOCATION"] = REDIS_URL
# Keys of this run carry a prefix of their own, so that the per-test cleanup (tests/conftest.py)
# removes only this run's keys when two suites share the Redis test database.
CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}:"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
# A candle array cache of this run's own (tests/conftest.py removes it at the end).
CANDLE_ARRAY_CACHE_DIR = os.path.join(tempfile.gettempdir(), f"apextrade-test-arrays-{os.getpid()}")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test run gets test databases of its own (several runs may share one PostgreSQL server, as on
# a developer machine running two suites at once). TEST_DB_SUFFIX overrides the default, the pid.
_suffix = os.environ.get("TEST_DB_SUFFIX", f"_{os.getpid()}")
for _config in DATABASES.values():
    _config["TEST"] = {"NAME": f"test_{_config['NAME']}{_suffix}", "DEPENDENCIES": []}

# Limits far above what tests reach; the tests of the limits set their own (override_settings).
API_REQUESTS_PER_MINUTE = 100_000
BACKTEST_STARTS_PER_HOUR = 100_000
BACKTEST_MAX_ACTIVE_PER_USER = 100_000

# A test that kills a retention job at a named point runs it in a subprocess with these set
# (compliance/retention/pause_points.py); no other settings module defines them.
RETENTION_PAUSE_AT = os.environ.get("RETENTION_PAUSE_AT", "")
RETENTION_PAUSE_FILE = os.environ.get("RETENTION_PAUSE_FILE", "")
