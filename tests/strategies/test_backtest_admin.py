import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from compliance.models import AuditLog
from strategies.models import Backtest
from strategies.services.backtest_runs import run_backtest
from strategies.services.backtests import start_backtest
from tests.factories import BacktestFactory, OperatorFactory, StrategyFactory, UserFactory
from tests.strategies.candle_rows import (
    ONE_TRADE_BARS,
    ONE_TRADE_STRATEGY,
    insert_candles,
)

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

CHANGELIST = "/admin/strategies/backtest/"


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(OperatorFactory())
    return client


def completed_backtest() -> Backtest:
    insert_candles(ONE_TRADE_BARS)
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    backtest = start_backtest(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        commission_pct=Decimal("0"),
        slippage_pct=Decimal("0"),
        enqueue=False,
    )
    return run_backtest(backtest_id=backtest.pk)


def test_the_backtest_page_shows_metrics_the_inline_chart_and_the_trades(operator):
    backtest = completed_backtest()

    response = operator.get(reverse("admin:strategies_backtest_change", args=[backtest.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Equity and drawdown" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    # peak 10,000 + 1000/107 at the 108 close, then down to 9,869.16: 1.40% below it
    assert "Drawdown (max 1.40%)" in page
    assert "9869.16" in page  # final capital
    assert "<td>107.00000000</td>" in page and "<td>exit_rules</td>" in page
    assert "1 of 1 trades shown." in page
    assert "cdn" not in page.lower()


def test_the_chart_labels_the_backtests_max_drawdown_not_the_thinned_curves(operator):
    # The stored curve is thinned; a trough it does not hold still counts in max_drawdown_pct.
    curve = [
        {"time": "2025-01-01T00:00:00Z", "equity": 10_000.0},
        {"time": "2025-03-01T00:00:00Z", "equity": 10_500.0},
        {"time": "2025-06-30T00:00:00Z", "equity": 11_250.0},
    ]
    backtest = BacktestFactory(completed=True, equity_curve=curve, max_drawdown_pct=Decimal("25"))

    response = operator.get(reverse("admin:strategies_backtest_change", args=[backtest.pk]))

    assert "Drawdown (max 25.00%)" in response.content.decode()


def test_a_pending_backtest_page_says_there_is_no_chart_yet(operator):
    backtest = BacktestFactory()

    response = operator.get(reverse("admin:strategies_backtest_change", args=[backtest.pk]))

    page = response.content.decode()
    assert "No equity curve (the backtest has not completed)." in page
    assert "No trades." in page


def test_the_cancel_action_cancels_pending_and_running_and_leaves_finished_ones(operator):
    pending = BacktestFactory()
    running = BacktestFactory(status="running")
    completed = BacktestFactory(status="completed")

    response = operator.post(
        CHANGELIST,
        {
            "action": "cancel_backtests",
            "_selected_action": [str(b.pk) for b in (pending, running, completed)],
        },
        follow=True,
    )

    assert response.status_code == 200
    statuses = dict(Backtest.objects.values_list("pk", "status"))
    assert statuses == {pending.pk: "cancelled", running.pk: "cancelled", completed.pk: "completed"}
    text = [str(message) for message in response.context["messages"]]
    assert text[0] == "Cancelled 2 backtests."
    assert text[1].startswith("Only pending or running backtests can be cancelled")
    channels = {
        row.metadata["channel"] for row in AuditLog.objects.filter(resource_type="backtest")
    }
    assert channels == {"admin"}


def test_staff_who_may_only_view_backtests_are_not_offered_the_cancel_action():
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_backtest"))
    client = Client()
    client.force_login(viewer)
    BacktestFactory()

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert "cancel_backtests" not in response.content.decode()


def test_the_list_shows_the_key_metrics_in_seven_short_columns(operator):
    backtest = completed_backtest()

    response = operator.get(CHANGELIST)

    page = response.content.decode()
    headers = [column["text"] for column in response.context["result_headers"]]
    assert headers[1:] == [
        "period",
        "strategy",
        "status",
        "return %",
        "Sharpe",
        "max DD %",
        "trades",
    ]
    assert f"{backtest.start_date:%Y-%m-%d} → {backtest.end_date:%Y-%m-%d}" in page
    assert f">{backtest.total_return_pct:.2f}<" in page


def test_the_report_chart_marks_the_trades(operator):
    backtest = completed_backtest()

    page = operator.get(f"{CHANGELIST}{backtest.pk}/change/").content.decode()

    assert page.count('class="trade-entry"') == 1
    assert page.count('class="trade-exit"') == 1
