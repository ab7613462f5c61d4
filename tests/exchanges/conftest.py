"""`fake_exchange`: each fake exchange in turn (Binance, Kraken; their fixtures are in
tests/conftest.py), for the adapter's tests that must hold on both."""

import pytest

EXCHANGES = ("binance", "kraken")


@pytest.fixture(params=EXCHANGES)
def fake_exchange(request):
    return request.getfixturevalue(f"fake_{request.param}")
