from unittest import mock

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from strategies.models import Optimisation, Strategy
from strategies.services.optimisation_runs import candle_cache, run_chunk
from strategies.services.optimisations import chunks_of
from tests.factories import StrategyFactory, UserFactory
from tests.strategies.candle_rows import ONE_TRADE_BARS, ONE_TRADE_STRATEGY, insert_candles

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

URL = "/api/v1/optimisations"
ENTRY = "entry_rules.right"
EXIT = "exit_rules.right"


@pytest.fixture(autouse=True)
def _fresh_candle_cache():
    candle_cache.clear()
    yield
    candle_cache.clear()


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def strategy(user):
    insert_candles(ONE_TRADE_BARS)
    return StrategyFactory(user=user, **ONE_TRADE_STRATEGY)


def payload(strategy_row, **overrides):
    body = {
        "strategy": str(strategy_row.pk),
        "start_date": "2025-01-01",
        "end_date": "2025-01-02",
        "initial_capital": "10000.00",
        "commission_pct": "0",
        "slippage_pct": "0",
        "parameter_space": {ENTRY: {"values": [105, 107.5, 200]}, EXIT: {"values": [95, 100]}},
        "objective": "total_return",
        "constraints": {"min_trades": 1},
    }
    body.update(overrides)
    return body


def create(api, body):
    with mock.patch("celery.canvas.group.apply_async"):
        return api.post(URL, body, format="json")


def finished(api, strategy):
    response = create(api, payload(strategy))
    run = Optimisation.objects.get(pk=response.json()["id"])
    for fold, chunk in chunks_of(run):
        run_chunk(optimisation_id=run.pk, fold=fold, chunk=chunk)
    return run


def test_post_answers_202_with_the_pending_optimisation_and_its_location(api, strategy):
    response = create(api, payload(strategy))

    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == f"{URL}/{body['id']}"
    assert (body["status"], body["variants_done"], body["variants_total"]) == ("pending", 0, 6)
    assert body["progress_pct"] == 0
    assert body["best_variant"] is None and body["walk_forward"] is None


def test_status_shows_progress_and_the_best_variant_when_done(api, strategy):
    run = finished(api, strategy)

    body = api.get(f"{URL}/{run.pk}").json()

    assert (body["status"], body["variants_done"], body["progress_pct"]) == ("completed", 6, 100)
    assert body["best_variant"]["parameters"] == {ENTRY: 105.0, EXIT: 100.0}
    assert body["best_variant"]["total_return_pct"] == "-1.0280"


def test_variants_are_paged_and_sorted_by_any_metric_nulls_last(api, strategy):
    run = finished(api, strategy)

    page = api.get(f"{URL}/{run.pk}/variants?ordering=-total_return_pct&page_size=4").json()
    assert page["count"] == 6
    assert [v["total_return_pct"] for v in page["results"]] == [
        "0.0000",
        "0.0000",
        "-1.0280",
        "-1.1111",
    ]
    second = api.get(page["next"]).json()
    assert [v["total_return_pct"] for v in second["results"]] == ["-1.3084", "-1.3889"]

    by_win_rate = api.get(f"{URL}/{run.pk}/variants?ordering=win_rate_pct").json()["results"]
    assert [v["win_rate_pct"] for v in by_win_rate][-2:] == [None, None]  # no trades: last

    bad = api.get(f"{URL}/{run.pk}/variants?ordering=luck")
    assert bad.status_code == 400
    assert "must be one of variant_number" in bad.json()["ordering"][0]


def test_the_best_variant_becomes_the_strategys_next_version_in_one_call(api, strategy):
    run = finished(api, strategy)

    response = api.post(f"{URL}/{run.pk}/apply", {}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["exit_rules"]["right"] == 100.0
    assert api.post(f"{URL}/{run.pk}/apply", {}, format="json").status_code == 409


def test_cancel_answers_200_then_409(api, strategy):
    run_id = create(api, payload(strategy)).json()["id"]

    first = api.post(f"{URL}/{run_id}/cancel")
    second = api.post(f"{URL}/{run_id}/cancel")

    assert (first.status_code, first.json()["status"]) == (200, "cancelled")
    assert second.status_code == 409


def test_a_bad_path_is_a_400_naming_it(api, strategy):
    response = create(
        api, payload(strategy, parameter_space={"entry_rules.left.period": {"values": [5]}})
    )
    assert response.status_code == 400
    assert response.json() == {
        "parameter_space": [
            "parameters.entry_rules.left.period: entry_rules.left is 'close'; it has no 'period'"
        ]
    }
    assert not Optimisation.objects.exists()


@override_settings(OPTIMISATION_RUNNING_PER_USER=1)
def test_a_limit_is_a_429_with_retry_after(api, strategy):
    assert create(api, payload(strategy)).status_code == 202
    response = create(api, payload(strategy))
    assert response.status_code == 429
    assert response["Retry-After"] == "60"


def test_another_users_optimisation_is_a_404(api, strategy):
    other = StrategyFactory(**ONE_TRADE_STRATEGY)
    other_client = APIClient()
    other_client.force_login(other.user)
    run_id = create(other_client, payload(other)).json()["id"]

    assert api.get(f"{URL}/{run_id}").status_code == 404
    assert api.post(f"{URL}/{run_id}/cancel").status_code == 404
    assert api.get(f"{URL}/{run_id}/variants").status_code == 404
    assert create(api, payload(other)).status_code == 400  # their strategy
    assert Strategy.objects.get(pk=other.pk).version == 1
