"""Per-user limits, counted atomically in Redis under the spec's rate_limit:{user_id} keys: a
concurrent burst gets exactly the limit through and 429s with Retry-After for the rest."""

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client, override_settings
from django_redis import get_redis_connection

from core.cache_keys import rate_limit_key
from strategies.models import Backtest
from tests.factories import BacktestFactory, StrategyFactory, UserFactory

# Threads, each with a database connection of its own: the server is shared with other runs.
BURST = 16


def _burst(user, send, size=BURST):
    """`size` requests sent at once from `size` threads, each with its own signed-in client and
    database connection; returns the responses."""
    clients = []
    for _ in range(size):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients.append(client)
    barrier = threading.Barrier(size)

    def one(client):
        barrier.wait()
        try:
            return send(client)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=size) as pool:
        return list(pool.map(one, clients))


@pytest.mark.django_db(transaction=True)
@override_settings(API_REQUESTS_PER_MINUTE=10)
def test_a_concurrent_burst_gets_exactly_the_requests_per_minute_through():
    user = UserFactory()

    responses = _burst(user, lambda client: client.get("/api/v1/strategies"))

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * 10 + [429] * (BURST - 10)
    refused = [response for response in responses if response.status_code == 429]
    assert all(0 < int(response["Retry-After"]) <= 60 for response in refused)
    assert all("throttled" in response.json()["detail"] for response in refused)
    key = cache.make_key(rate_limit_key(user.pk))
    assert key.endswith(f"rate_limit:{user.pk}")
    redis = get_redis_connection("default")
    assert int(redis.get(key)) == BURST
    assert 0 < redis.ttl(key) <= 60


@pytest.mark.django_db(transaction=True)
@override_settings(API_REQUESTS_PER_MINUTE=3)
def test_each_user_has_a_budget_of_their_own():
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        client = Client()
        client.force_login(user)
        assert [client.get("/api/v1/me").status_code for _ in range(4)] == [200, 200, 200, 429]


def _start(strategy):
    body = {
        "strategy": str(strategy.pk),
        "start_date": "2025-01-01",
        "end_date": "2025-01-02",
        "initial_capital": "10000.00",
    }
    return lambda client: client.post("/api/v1/backtests", body, content_type="application/json")


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
@override_settings(BACKTEST_MAX_ACTIVE_PER_USER=3)
def test_a_concurrent_burst_of_starts_leaves_at_most_the_active_limit_queued():
    strategy = StrategyFactory()

    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        responses = _burst(strategy.user, _start(strategy), size=10)

    codes = sorted(response.status_code for response in responses)
    assert codes == [202] * 3 + [429] * 7
    refused = next(response for response in responses if response.status_code == 429)
    assert "at most 3 at a time" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    assert Backtest.objects.filter(user=strategy.user).count() == 3


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
@override_settings(BACKTEST_STARTS_PER_HOUR=4)
def test_a_concurrent_burst_of_starts_gets_exactly_the_hourly_starts_through():
    strategy = StrategyFactory()

    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        responses = _burst(strategy.user, _start(strategy), size=10)

    assert sorted(r.status_code for r in responses) == [202] * 4 + [429] * 6
    refused = next(response for response in responses if response.status_code == 429)
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert Backtest.objects.count() == 4


@pytest.mark.django_db(databases=["default", "timeseries"])
@override_settings(BACKTEST_MAX_ACTIVE_PER_USER=1)
def test_finished_backtests_do_not_count_against_the_active_limit():
    strategy = StrategyFactory()
    BacktestFactory(strategy=strategy, completed=True)
    client = Client()
    client.force_login(strategy.user)

    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        first = _start(strategy)(client)
        second = _start(strategy)(client)

    assert (first.status_code, second.status_code) == (202, 429)
    Backtest.objects.filter(pk=first.json()["id"]).update(status="cancelled")
    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        assert _start(strategy)(client).status_code == 202


@pytest.mark.django_db(databases=["default", "timeseries"])
@override_settings(BACKTEST_STARTS_PER_HOUR=1)
def test_a_refused_start_does_not_use_up_the_hourly_starts():
    strategy = StrategyFactory()
    client = Client()
    client.force_login(strategy.user)
    start = _start(strategy)
    bad = {"strategy": str(strategy.pk), "start_date": "2025-01-01", "end_date": "2025-01-02"}

    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        no_capital = client.post("/api/v1/backtests", bad, content_type="application/json")
        zero_capital = client.post(
            "/api/v1/backtests", bad | {"initial_capital": "0"}, content_type="application/json"
        )
        started = start(client)
        second = start(client)

    assert (no_capital.status_code, zero_capital.status_code) == (400, 400)
    assert (started.status_code, second.status_code) == (202, 429)
