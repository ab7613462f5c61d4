import base64
import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from rest_framework.test import APIClient

from strategies.models import Backtest
from strategies.services.backtests import RUN_TASK
from strategies.tasks import run_backtest_task
from tests.factories import BacktestFactory, BacktestTradeFactory, StrategyFactory, UserFactory
from tests.strategies.candle_rows import (
    ENTRY_ABOVE_105,
    ONE_TRADE_BARS,
    ONE_TRADE_STRATEGY,
    insert_candles,
)

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

LIST_URL = "/api/v1/backtests"


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
    return StrategyFactory(user=user, **ONE_TRADE_STRATEGY)


def payload(strategy_row, **overrides):
    body = {
        "strategy": str(strategy_row.pk),
        "start_date": "2025-01-01",
        "end_date": "2025-01-02",
        "initial_capital": "10000.00",
        "commission_pct": "0",
        "slippage_pct": "0",
    }
    body.update(overrides)
    return body


def test_post_answers_202_with_the_pending_backtest_and_enqueues_after_commit(
    api, strategy, django_capture_on_commit_callbacks
):
    with (
        mock.patch("strategies.services.backtests.current_app.send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post(LIST_URL, payload(strategy), format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["progress_pct"]) == ("pending", 0)
    assert (body["initial_capital"], body["commission_pct"]) == ("10000.00", "0.0000")
    assert body["strategy_snapshot"]["entry_rules"] == ENTRY_ABOVE_105
    assert response["Location"] == f"/api/v1/backtests/{body['id']}"
    send.assert_called_once_with(RUN_TASK, args=[body["id"]])


def test_a_broker_outage_still_answers_202_and_leaves_the_backtest_pending(
    api, strategy, django_capture_on_commit_callbacks
):
    with (
        mock.patch(
            "strategies.services.backtests.current_app.send_task", side_effect=OSError("down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post(LIST_URL, payload(strategy), format="json")

    assert response.status_code == 202
    assert Backtest.objects.get(pk=response.json()["id"]).status == "pending"


def test_costs_default_to_the_schema_defaults(api, strategy):
    body = payload(strategy)
    del body["commission_pct"], body["slippage_pct"]

    response = api.post(LIST_URL, body, format="json")

    assert response.status_code == 202
    assert (response.json()["commission_pct"], response.json()["slippage_pct"]) == (
        "0.0010",
        "0.0005",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"end_date": "2025-01-01"}, "end_date"),
        ({"start_date": "2025-13-01"}, "start_date"),
        ({"initial_capital": "0"}, "initial_capital"),
        ({"initial_capital": "1234567890123456"}, "initial_capital"),
        ({"commission_pct": "0.6"}, "commission_pct"),
        ({"slippage_pct": "-0.0001"}, "slippage_pct"),
        ({"strategy": "not-a-uuid"}, "strategy"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, strategy, overrides, field):
    response = api.post(LIST_URL, payload(strategy, **overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Backtest.objects.exists()


def test_the_date_order_error_is_spelled_out(api, strategy):
    response = api.post(LIST_URL, payload(strategy, end_date="2024-12-31"), format="json")

    assert response.json() == {"end_date": ["The end date must be after the start date."]}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"end_date": "9999-12-31"}, "end_date"),
        ({"start_date": "0001-01-01"}, "start_date"),
        ({"initial_capital": "9999999999999.99"}, "initial_capital"),  # trades would not fit
    ],
)
def test_dates_outside_what_can_have_candles_are_a_400_not_a_failed_run(
    api, strategy, overrides, field
):
    response = api.post(LIST_URL, payload(strategy, **overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Backtest.objects.exists()


def nested_lists(depth: int, inner: object = "x") -> object:
    for _ in range(depth):
        inner = [inner]
    return inner


def test_a_deeply_nested_body_is_a_400_not_a_500(api, strategy):
    response = api.post(LIST_URL, payload(strategy, strategy=nested_lists(500)), format="json")

    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert not Backtest.objects.exists()


@pytest.mark.parametrize("value", [nested_lists(20), {"id": "x"}, 1.5, ""])
def test_a_strategy_that_is_not_a_uuid_is_a_field_error(api, strategy, value):
    response = api.post(LIST_URL, payload(strategy, strategy=value), format="json")

    assert response.status_code == 400
    assert response.json() == {"strategy": ["Must be a valid UUID."]}


def test_another_users_strategy_cannot_be_backtested(api):
    theirs = StrategyFactory()

    response = api.post(LIST_URL, payload(theirs), format="json")

    assert response.status_code == 400
    assert response.json() == {"strategy": [f'Invalid pk "{theirs.pk}" - object does not exist.']}


def test_list_shows_your_backtests_only_without_the_series(api, strategy):
    mine = BacktestFactory(strategy=strategy)
    BacktestFactory()

    response = api.get(LIST_URL)

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == str(mine.pk)
    assert "equity_curve" not in item


def test_list_filters_by_status(api, strategy):
    BacktestFactory(strategy=strategy, status="completed")
    running = BacktestFactory(strategy=strategy, status="running")

    response = api.get(LIST_URL, {"status": "running"})

    assert [item["id"] for item in response.json()["results"]] == [str(running.pk)]


def test_the_strategy_filter_treats_another_users_strategy_as_unknown(api, strategy):
    mine = BacktestFactory(strategy=strategy)
    theirs = StrategyFactory()

    assert [i["id"] for i in api.get(LIST_URL, {"strategy": strategy.pk}).json()["results"]] == [
        str(mine.pk)
    ]
    other = api.get(LIST_URL, {"strategy": theirs.pk})
    unknown = api.get(LIST_URL, {"strategy": "00000000-0000-0000-0000-000000000000"})
    assert other.status_code == unknown.status_code == 400
    assert other.json() == unknown.json()


def test_another_users_backtest_is_not_found_anywhere(api):
    theirs = BacktestFactory()
    base = f"{LIST_URL}/{theirs.pk}"

    assert api.get(base).status_code == 404
    assert api.get(f"{base}/trades").status_code == 404
    assert api.post(f"{base}/cancel").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"


def test_trades_are_paginated_in_trade_order(api, strategy):
    backtest = BacktestFactory(strategy=strategy, status="completed")
    for number in (3, 1, 5, 2, 4):
        BacktestTradeFactory(backtest=backtest, trade_number=number)
    url = f"{LIST_URL}/{backtest.pk}/trades"

    pages = []
    response = api.get(url, {"page_size": 2})
    while True:
        assert response.status_code == 200
        body = response.json()
        pages.append([trade["trade_number"] for trade in body["results"]])
        if not body["next"]:
            break
        response = api.get(body["next"])

    assert pages == [[1, 2], [3, 4], [5]]
    first = api.get(url).json()["results"][0]
    assert (first["quantity"], first["entry_price"]) == ("0.25000000", "40000.00000000")


@pytest.mark.parametrize(
    "position", ["p=notadate", "p=abc", "r=1&p=xxx", "p=99999-01-01", "p=\x00"]
)
def test_a_hand_made_cursor_that_does_not_fit_the_ordering_is_an_invalid_cursor(
    api, strategy, position
):
    backtest = BacktestFactory(strategy=strategy, status="completed")
    BacktestTradeFactory(backtest=backtest, trade_number=1)
    cursor = base64.b64encode(position.encode()).decode()

    for url in (LIST_URL, f"{LIST_URL}/{backtest.pk}/trades", "/api/v1/strategies"):
        response = api.get(url, {"cursor": cursor})
        assert response.status_code == 404, (url, response.content[:200])
        assert response.json()["detail"] == "Invalid cursor"


def test_cancel_a_pending_backtest_then_cancelling_again_is_a_conflict(api, strategy):
    backtest = BacktestFactory(strategy=strategy)
    url = f"{LIST_URL}/{backtest.pk}/cancel"

    first = api.post(url)
    second = api.post(url)

    assert (first.status_code, first.json()["status"]) == (200, "cancelled")
    assert second.status_code == 409
    assert second.json() == {
        "detail": "The backtest is already cancelled; only pending or running backtests can be "
        "cancelled."
    }


def test_a_backtest_started_over_the_api_runs_and_its_results_are_readable(api, strategy):
    insert_candles(ONE_TRADE_BARS)
    created = api.post(LIST_URL, payload(strategy), format="json").json()

    run_backtest_task.apply(args=[created["id"]])
    detail = api.get(f"{LIST_URL}/{created['id']}").json()
    trades = api.get(f"{LIST_URL}/{created['id']}/trades").json()["results"]

    assert (detail["status"], detail["progress_pct"]) == ("completed", 100)
    assert (detail["final_capital"], detail["total_return_pct"]) == ("9869.16", "-1.3084")
    assert detail["total_trades"] == 1
    assert len(detail["equity_curve"]) == len(ONE_TRADE_BARS)
    assert detail["monthly_returns"][0]["month"] == "2025-01"
    [trade] = trades
    assert (trade["entry_price"], trade["exit_price"]) == ("107.00000000", "93.00000000")
    assert trade["entry_date"] == "2025-01-01T00:02:00Z"
    assert Decimal(trade["net_pnl"]) == Decimal("-130.84112150")
    assert dt.date.fromisoformat(detail["end_date"]) == dt.date(2025, 1, 2)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("status", "read-only"),
        ("total_return_pct", "read-only"),
        ("user", "Unknown field"),
        ("completed_at", "read-only"),
        ("progress_pct", "read-only"),
    ],
)
def test_a_backtest_body_setting_a_read_only_or_unknown_field_is_refused(
    api, strategy, field, message
):
    with mock.patch("strategies.tasks.run_backtest_task.delay") as delay:
        response = api.post(LIST_URL, payload(strategy, **{field: "1"}), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert not Backtest.objects.exists()
    delay.assert_not_called()


def test_a_cancel_body_setting_anything_is_refused(api, user):
    backtest = BacktestFactory(strategy=StrategyFactory(user=user))

    response = api.post(f"{LIST_URL}/{backtest.pk}/cancel", {"status": "completed"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["status"]
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.PENDING


def test_a_backtests_trades_ignore_the_backtest_lists_ordering(api, user):
    backtest = BacktestFactory(strategy=StrategyFactory(user=user), completed=True)
    BacktestTradeFactory(backtest=backtest, trade_number=2)
    BacktestTradeFactory(backtest=backtest, trade_number=1)

    response = api.get(f"{LIST_URL}/{backtest.pk}/trades", {"ordering": "-start_date"})

    assert response.status_code == 200
    assert [t["trade_number"] for t in response.json()["results"]] == [1, 2]
