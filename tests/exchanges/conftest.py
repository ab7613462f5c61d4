"""The fake Binance (tests/exchanges/fake_binance.py) on a free port of 127.0.0.1, with the
exchange settings pointing Binance's spot API at it."""

import pytest

from tests.exchanges.fake_binance import FakeBinance

# The clear texts ApiKeyFactory encrypts (its Params).
API_KEY = "factory-api-key-CLEARTEXT"
API_SECRET = "factory-api-secret-CLEARTEXT"
# Short, so that a test of an order answered too late does not wait long.
TIMEOUT_SECONDS = 0.5


@pytest.fixture
def fake_binance(settings):
    fake = FakeBinance(API_KEY, API_SECRET, late_answer_seconds=TIMEOUT_SECONDS * 3).start()
    settings.EXCHANGE_API_URLS = {"binance": fake.api_urls}
    settings.EXCHANGE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    yield fake
    fake.stop()
