"""The timeseries status page lets operators browse the composite-key tables the admin cannot
register: a portfolio's newest equity snapshots and a symbol's newest ticks, newest first."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from marketdata.models import MaintenanceJobRun, RollupInvalidation
from marketdata.services import (
    EquitySnapshotInput,
    TickInput,
    record_equity_snapshots,
    record_ticks,
)
from tests.factories import OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

STATUS_PAGE = "admin:marketdata_maintenancejobrun_changelist"
START = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)


def snapshot(portfolio_id: uuid.UUID, day: int, equity: str) -> EquitySnapshotInput:
    return EquitySnapshotInput(
        time=START + dt.timedelta(days=day),
        portfolio_id=portfolio_id,
        equity_value=Decimal(equity),
        cash_balance=Decimal("1000.00"),
        positions_value=Decimal(equity) - Decimal("1000.00"),
        daily_pnl=Decimal("12.34"),
        drawdown_pct=Decimal("1.2500"),
    )


def tick(symbol: str, second: int, price: str) -> TickInput:
    return TickInput(
        time=START + dt.timedelta(seconds=second),
        symbol=symbol,
        last_price=Decimal(price),
        bid=Decimal(price) - Decimal("0.5"),
        ask=Decimal(price) + Decimal("0.5"),
    )


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(OperatorFactory())
    return client


def test_operators_see_a_portfolios_equity_snapshots_newest_first(operator: Client) -> None:
    portfolio, other = uuid.uuid4(), uuid.uuid4()
    record_equity_snapshots(
        snapshots=[
            snapshot(portfolio, 0, "10100.11"),
            snapshot(portfolio, 2, "10300.33"),
            snapshot(portfolio, 1, "10200.22"),
            snapshot(other, 3, "99999.99"),
        ]
    )

    page = operator.get(reverse(STATUS_PAGE), {"portfolio": str(portfolio)})

    assert page.status_code == 200
    text = page.content.decode()
    newest, middle, oldest = (text.index(value) for value in ("10300.33", "10200.22", "10100.11"))
    assert newest < middle < oldest
    assert "2024-03-06 09:30:00" in text
    assert "12.34" in text and "1.2500" in text
    assert "99999.99" not in text


def test_a_portfolio_without_snapshots_says_so(operator: Client) -> None:
    portfolio = uuid.uuid4()

    page = operator.get(reverse(STATUS_PAGE), {"portfolio": str(portfolio)})

    assert page.status_code == 200
    assert f"No equity snapshots stored for portfolio {portfolio}." in page.content.decode()


def test_a_portfolio_id_that_is_not_a_uuid_is_reported_on_the_page(operator: Client) -> None:
    page = operator.get(reverse(STATUS_PAGE), {"portfolio": "not-a-uuid"})

    assert page.status_code == 200
    assert "“not-a-uuid” is not a portfolio id (a UUID)." in page.content.decode()


def test_equity_needs_the_permission_to_view_portfolios() -> None:
    portfolio = uuid.uuid4()
    record_equity_snapshots(snapshots=[snapshot(portfolio, 0, "10100.11")])
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_maintenancejobrun"))
    client = Client()
    client.force_login(viewer)

    page = client.get(reverse(STATUS_PAGE), {"portfolio": str(portfolio)})

    assert page.status_code == 200
    text = page.content.decode()
    assert "You may not view portfolios, so not their equity either." in text
    assert "10100.11" not in text


def test_operators_see_a_symbols_latest_ticks_newest_first(operator: Client, symbol: str) -> None:
    other = f"{symbol.split('/')[0]}/OTHER"
    record_ticks(
        ticks=[
            tick(symbol, 0, "100.25"),
            tick(symbol, 2, "102.25"),
            tick(symbol, 1, "101.25"),
            tick(other, 3, "777.75"),
        ]
    )

    page = operator.get(reverse(STATUS_PAGE), {"tick_symbol": symbol})

    assert page.status_code == 200
    text = page.content.decode()
    newest, middle, oldest = (text.index(value) for value in ("102.25", "101.25", "100.25"))
    assert newest < middle < oldest
    assert "2024-03-04 09:30:02.000000" in text
    assert "102.75" in text and "binance" in text  # the ask, and the default source
    assert "777.75" not in text


def test_only_the_newest_hundred_ticks_are_shown(operator: Client, symbol: str) -> None:
    record_ticks(ticks=[tick(symbol, second, str(1000 + second)) for second in range(101)])

    page = operator.get(reverse(STATUS_PAGE), {"tick_symbol": symbol})

    text = page.content.decode()
    assert "09:30:01.000000" in text and "09:31:40.000000" in text
    assert "09:30:00.000000" not in text


def test_a_bad_tick_symbol_is_reported_on_the_page(operator: Client) -> None:
    page = operator.get(reverse(STATUS_PAGE), {"tick_symbol": "btc usdt"})

    assert page.status_code == 200
    assert (
        '<p class="errornote">Enter a symbol as BASE/QUOTE in capitals, e.g. BTC/USDT.</p>'
        in page.content.decode()
    )


def test_browsing_is_for_staff_only() -> None:
    client = Client()
    client.force_login(UserFactory())

    for query in ({"portfolio": str(uuid.uuid4())}, {"tick_symbol": "BTC/USDT"}):
        response = client.get(reverse(STATUS_PAGE), query)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_market_data_bookkeeping_is_not_written_in_the_console(operator: Client) -> None:
    """Rollup invalidations and job runs change only through rollups and maintenance jobs: a
    deleted invalidation would leave a rollup stale."""
    request = type("Request", (), {"user": OperatorFactory()})()
    for model in (RollupInvalidation, MaintenanceJobRun):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.has_view_permission(request)
