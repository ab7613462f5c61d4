"""Cache, sessions and Celery all use the real Redis, with the spec's key names."""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.utils.module_loading import import_string
from django_redis import get_redis_connection

from apextrade.celery import app as celery_app
from apextrade.settings import base as base_settings
from core.cache_keys import portfolio_key, rate_limit_key, spec_key, ticker_key


def test_cache_keys_are_stored_exactly_as_the_spec_names_them():
    cache.set("cache:ticker:BTC/USDT", {"price": "42000.5"}, timeout=30)

    raw = get_redis_connection("default")
    # Only the test run's own prefix (settings.test) stands before the spec's key; no version.
    assert raw.exists(f"{settings.CACHES['default']['KEY_PREFIX']}cache:ticker:BTC/USDT") == 1
    assert cache.get("cache:ticker:BTC/USDT") == {"price": "42000.5"}


def test_outside_tests_the_key_is_the_spec_key_itself():
    assert "KEY_PREFIX" not in base_settings.CACHES["default"]
    assert spec_key("cache:ticker:BTC/USDT", "", 1) == "cache:ticker:BTC/USDT"
    assert spec_key("rate_limit:42", "", 7) == "rate_limit:42"


def test_sessions_live_in_redis_under_the_session_prefix():
    store_class = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    session: SessionBase = store_class()
    session["user_id"] = "u-1"
    session.create()

    raw = get_redis_connection("default")
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    assert raw.exists(f"{prefix}session:{session.session_key}") == 1
    assert store_class(session.session_key)["user_id"] == "u-1"


def test_celery_uses_redis_and_the_database_beat_scheduler():
    assert celery_app.conf.broker_url.startswith("redis://")
    assert celery_app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert celery_app.conf.task_acks_late is True


@pytest.mark.django_db
def test_every_beat_job_names_a_registered_task():
    celery_app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in celery_app.tasks, f"beat job {name} names an unknown task"


def test_key_names_follow_the_spec():
    assert ticker_key("BTC/USDT") == "cache:ticker:BTC/USDT"
    assert portfolio_key("5f0c") == "cache:portfolio:5f0c"
    assert rate_limit_key(42) == "rate_limit:42"
