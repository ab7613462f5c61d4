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
