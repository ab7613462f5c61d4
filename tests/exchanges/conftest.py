"""The fake Kraken, and `fake_exchange`: each fake exchange in turn (Binance, Kraken), for the
adapter's tests that must hold on both."""

import ccxt
import pytest

from tests.exchanges.fake_binance import TIMEOUT_SECONDS
from tests.exchanges.fake_kraken import API_KEY, API_SECRET, FakeKraken

EXCHANGES = ("binance", "kraken")


@pytest.fixture
def fake_kraken(settings, monkeypatch):
    """A fake Kraken spot API on a free port of 127.0.0.1 (tests/exchanges/fake_kraken.py), with
    the exchange settings pointing ccxt's kraken at it. ccxt spaces Kraken's requests by a
    second (its published public rate); against the fake, by 20 ms, so that a test's candle
    window does not drift across a minute boundary while it waits."""
    describe = ccxt.kraken.describe
    monkeypatch.setattr(ccxt.kraken, "describe", lambda self: {**describe(self), "rateLimit": 20})
    fake = FakeKraken(API_KEY, API_SECRET, late_answer_seconds=TIMEOUT_SECONDS * 3).start()
    settings.EXCHANGE_API_URLS = {"kraken": fake.api_urls}
    settings.EXCHANGE_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    yield fake
    fake.stop()


@pytest.fixture(params=EXCHANGES)
def fake_exchange(request):
    return request.getfixturevalue(f"fake_{request.param}")
