"""Fixtures shared by every test: the real PostgreSQL (both databases) and the real Redis."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts and ends with an empty Redis test database (settings.test uses db 15)."""
    cache.clear()
    yield
    cache.clear()
