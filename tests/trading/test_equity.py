"""Equity snapshots (the beat job), the rolled-up series over HTTP, and the admin chart."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from marketdata.models import EquityHistory
from tests.factories import OperatorFactory, PortfolioFactory, UserFactory
from trading.equity import record_equity_snapshots
from trading.models import Portfolio
from trading.tasks import record_equity_snapshots as snapshot_task

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

D = Decimal
DAY1 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def set_total(portfolio: Portfolio, total: str) -> None:
    Portfolio.objects.filter(pk=portfolio.pk).update(
        cash_balance=D(total), total_value=D(total), positions_value=D(0)
    )
    portfolio.refresh_from_db()


@pytest.fixture
def portfolio():
    return PortfolioFactory(total_value=D("10000.00"))


def rows(portfolio):
    return list(
        EquityHistory.objects.using("timeseries").filter(portfolio_id=portfolio.pk).order_by("time")
    )


def test_snapshots_carry_daily_and_cumulative_pnl_peak_and_drawdown(portfolio):
    PortfolioFactory(is_active=False)  # inactive: no row
    set_total(portfolio, "11000.00")
    assert record_equity_snapshots(now=DAY1) == 1
    set_total(portfolio, "9900.00")
    record_equity_snapshots(now=DAY1 + dt.timedelta(hours=2))
    set_total(portfolio, "10450.00")
    record_equity_snapshots(now=DAY1 + dt.timedelta(days=1))

    first, second, third = rows(portfolio)
    assert (first.equity_value, first.daily_pnl, first.cumulative_pnl) == (
        D("11000.00"),
        D("1000.00"),
        D("1000.00"),
    )
    assert first.peak_equity == D("11000.00") and first.drawdown == D("0.00")
    assert second.daily_pnl == D("-100.00")  # the first day's base is the initial balance
    assert second.daily_pnl_pct == D("-1.0000")
    assert second.drawdown == D("1100.00") and second.drawdown_pct == D("10.0000")
    assert third.daily_pnl == D("550.00")  # against the day before's last equity, 9900
    assert third.daily_pnl_pct == D("5.5556")
    assert third.cumulative_pnl_pct == D("4.5000")
    assert third.peak_equity == D("11000.00") and third.drawdown == D("550.00")
    assert third.cash_balance == D("10450.00") and third.positions_value == D("0")


def test_the_beat_task_run_twice_in_a_minute_writes_one_row(portfolio):
    snapshot_task()
    snapshot_task()
    assert len(rows(portfolio)) == 1


def test_the_equity_api_rolls_snapshots_up_per_interval(portfolio):
    for hours, total in [(0, "10100"), (1, "10300"), (5, "9800"), (26, "10500")]:
        set_total(portfolio, total)
        record_equity_snapshots(now=DAY1 + dt.timedelta(hours=hours))
    client = APIClient()
    client.force_login(portfolio.user)
    url = f"/api/v1/portfolios/{portfolio.pk}/equity"
    response = client.get(
        url, {"start": "2026-11-01T00:00:00Z", "end": "2026-11-05T00:00:00Z", "interval": "1d"}
    )
    assert response.status_code == 200, response.json()
    days = response.json()
    assert [d["time"][:10] for d in days] == ["2026-11-02", "2026-11-03"]
    assert days[0]["equity_value"] == "9800.00"  # the day's last
    assert (days[0]["equity_low"], days[0]["equity_high"]) == ("9800.00", "10300.00")
    assert days[0]["drawdown_pct"] == "4.8544"  # deepest: 9800 from the 10300 peak
    hourly = client.get(
        url, {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z", "interval": "1h"}
    ).json()
    assert len(hourly) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "7m"}, "interval"),
        ({"start": "2026-11-05T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2020-01-01T00:00:00Z", "interval": "1m"}, "interval"),
    ],
)
def test_bad_equity_queries_are_400s(portfolio, params, field):
    client = APIClient()
    client.force_login(portfolio.user)
    response = client.get(f"/api/v1/portfolios/{portfolio.pk}/equity", params)
    assert response.status_code == 400
    assert field in response.json()


def test_another_users_equity_is_a_404(portfolio):
    client = APIClient()
    client.force_login(UserFactory())
    assert client.get(f"/api/v1/portfolios/{portfolio.pk}/equity").status_code == 404


def test_the_admin_shows_the_equity_and_drawdown_chart(portfolio):
    client = Client()
    client.force_login(OperatorFactory())
    url = f"/admin/trading/portfolio/{portfolio.pk}/change/"
    assert "No equity history yet" in client.get(url).content.decode()
    set_total(portfolio, "10000")
    record_equity_snapshots(now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
    set_total(portfolio, "9000")
    record_equity_snapshots()
    page = client.get(url).content.decode()
    assert "<svg" in page and "Equity curve and drawdown" in page
    assert "-10.00" in page  # the deepest drawdown drawn
