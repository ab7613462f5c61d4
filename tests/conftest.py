"""Fixtures shared by every test: the real PostgreSQL (both databases) and the real Redis."""

import ccxt
import pytest
from django.core.cache import cache

from tests.exchanges import fake_kraken as kraken
from tests.exchanges.fake_binance import API_KEY, API_SECRET, TIMEOUT_SECONDS, FakeBinance


def _forget_this_runs_keys() -> None:
    cache.delete_pattern("*")  # django-redis: only keys under this run's KEY_PREFIX


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts and ends with none of this run's keys in Redis (settings.test: db 15,
    a key prefix per run)."""
    _forget_this_runs_keys()
    yield
    _forget_this_runs_keys()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> None:
    """pytest-django's database setup, then no TimescaleDB jobs behind the tests' back: its
    scheduler would run the policies (compression, retention, aggregate refreshes; each is first
    due right after the test database is created) at moments of its own choosing while tests
    write and read. Tests that need a policy's work do it explicitly. (An extension of the setup
    fixture, not an autouse one, so a run of tests that need no database never connects.)"""
    from django.db import connections

    from marketdata.timescale import timescaledb_enabled

    timeseries = connections["timeseries"].settings_dict
    if timeseries["NAME"] != timeseries["TEST"]["NAME"]:
        return  # no test of this run uses the timeseries database: it was not set up
    with django_db_blocker.unblock():
        if timescaledb_enabled():
            with connections["timeseries"].cursor() as cursor:
                cursor.execute(
                    "SELECT alter_job(job_id, scheduled => false) "
                    "FROM timescaledb_information.jobs WHERE job_id >= 1000"
                )


@pytest.fixture
def fake_binance(settings):
    """A fake Binance spot API on a free port of 127.0.0.1 (tests/exchanges/fake_binance.py),
    with the exchange settings pointing ccxt's binance at it."""
    fake = FakeBinance(API_KEY, API_SECRET, late_answer_seconds=TIMEOUT_SECONDS * 3).start()
    settings.EXCHANGE_API_URLS = {"binance": fake.api_urls}
    settings.EXCHANGE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    yield fake
    fake.stop()


@pytest.fixture
def fake_kraken(settings, monkeypatch):
    """A fake Kraken spot API on a free port of 127.0.0.1 (tests/exchanges/fake_kraken.py), with
    the exchange settings pointing ccxt's kraken at it. ccxt spaces Kraken's requests by a
    second (its published public rate); against the fake, by 20 ms, so that a test's candle
    window does not drift across a minute boundary while it waits."""
    describe = ccxt.kraken.describe
    monkeypatch.setattr(ccxt.kraken, "describe", lambda self: {**describe(self), "rateLimit": 20})
    fake = kraken.FakeKraken(
        kraken.API_KEY, kraken.API_SECRET, late_answer_seconds=TIMEOUT_SECONDS * 3
    ).start()
    settings.EXCHANGE_API_URLS = {"kraken": fake.api_urls}
    settings.EXCHANGE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    yield fake
    fake.stop()


@pytest.fixture(scope="session", autouse=True)
def _candle_array_cache_of_this_run():
    """The run's candle array cache directory (settings.test) goes when the run ends. Entries
    are not emptied between tests: data versions never repeat, so none can be served stale."""
    import shutil

    from marketdata.array_cache import cache_dir

    yield
    shutil.rmtree(cache_dir(), ignore_errors=True)
