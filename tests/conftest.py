"""Fixtures shared by every test: the real PostgreSQL (both databases) and the real Redis."""

import pytest
from django.core.cache import cache


def _forget_this_runs_keys() -> None:
    cache.delete_pattern("*")  # django-redis: only keys under this run's KEY_PREFIX


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts and ends with none of this run's keys in Redis (settings.test: db 15,
    a key prefix per run)."""
    _forget_this_runs_keys()
    yield
    _forget_this_runs_keys()


@pytest.fixture(scope="session", autouse=True)
def _no_timescaledb_jobs_behind_the_tests_back(django_db_setup, django_db_blocker) -> None:
    """With TimescaleDB, its scheduler would run the policies (compression, retention, aggregate
    refreshes; each is first due right after the test database is created) at moments of its own
    choosing while tests write and read. Tests that need a policy's work do it explicitly."""
    from django.db import connections

    from marketdata.timescale import timescaledb_enabled

    if not connections["timeseries"].settings_dict["NAME"].startswith("test_"):
        return  # no collected test uses the timeseries database: pytest-django made none
    with django_db_blocker.unblock():
        if timescaledb_enabled():
            with connections["timeseries"].cursor() as cursor:
                cursor.execute(
                    "SELECT alter_job(job_id, scheduled => false) "
                    "FROM timescaledb_information.jobs WHERE job_id >= 1000"
                )
