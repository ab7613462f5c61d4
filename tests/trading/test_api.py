"""Portfolios, positions and trades over HTTP: paper portfolios created through the service,
reads scoped to the user, filters and ordering, refused fields."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditLog
from tests.factories import PortfolioFactory, PositionFactory, TradeFactory, UserFactory
from trading.models import Portfolio, Trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_a_paper_portfolio_is_created_funded_in_cash_and_audited(api, user):
    response = api.post(
        "/api/v1/portfolios", {"name": "Swing", "initial_balance": "2500.00"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["is_paper"], body["broker"], body["base_currency"]) == (True, None, "EUR")
    assert (body["initial_balance"], body["cash_balance"], body["total_value"]) == (
        "2500.00",
        "2500.00",
        "2500.00",
    )
    assert response["Location"] == f"/api/v1/portfolios/{body['id']}"
    portfolio = Portfolio.objects.get(pk=body["id"])
    assert portfolio.user == user
    assert AuditLog.objects.filter(resource_id=portfolio.pk, action="create").exists()


@pytest.mark.parametrize(
    "field", ["cash_balance", "realized_pnl", "is_paper", "broker", "user", "id", "created_at"]
)
def test_a_portfolio_body_setting_a_read_only_or_unknown_field_is_refused(api, field):
    body = {"name": "Swing", "initial_balance": "100.00", field: "1000000.00"}

    response = api.post("/api/v1/portfolios", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Portfolio.objects.exists()


def test_bad_portfolio_input_is_reported_on_its_field(api):
    response = api.post(
        "/api/v1/portfolios",
        {"name": "x", "initial_balance": "-1", "base_currency": "eur"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"initial_balance", "base_currency"}

    response = api.post(
        "/api/v1/portfolios", {"name": "x", "initial_balance": "1", "base_currency": "eur"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"base_currency"}

    response = api.post(
        "/api/v1/portfolios", {"name": "x", "initial_balance": "1", "base_currency": "XYZ"}
    )
    assert response.status_code == 400
    assert "ISO 4217" in response.json()["base_currency"][0]
    assert not Portfolio.objects.exists()


def test_portfolios_are_listed_filtered_and_ordered_for_their_owner_only(api, user):
    PortfolioFactory(user=user, name="Beta")
    PortfolioFactory(user=user, name="Alpha", is_active=False)
    PortfolioFactory(name="Someone else's")

    names = [p["name"] for p in api.get("/api/v1/portfolios?ordering=name").json()["results"]]
    active = api.get("/api/v1/portfolios?is_active=true").json()["results"]

    assert names == ["Alpha", "Beta"]
    assert [p["name"] for p in active] == ["Beta"]


def test_positions_filter_by_portfolio_and_openness(api, user):
    mine = PortfolioFactory(user=user)
    other_of_mine = PortfolioFactory(user=user)
    open_position = PositionFactory(portfolio=mine)
    PositionFactory(portfolio=mine, closed=True, symbol="ETH/USDT")
    PositionFactory(portfolio=other_of_mine)
    PositionFactory()  # another user's

    all_mine = api.get("/api/v1/positions").json()["results"]
    open_in_mine = api.get(f"/api/v1/positions?portfolio={mine.pk}&is_open=true").json()

    assert len(all_mine) == 3
    assert [p["id"] for p in open_in_mine["results"]] == [str(open_position.pk)]


def test_filtering_by_another_users_portfolio_is_refused_like_a_missing_one(api):
    theirs = PortfolioFactory()

    response = api.get(f"/api/v1/trades?portfolio={theirs.pk}")

    assert response.status_code == 400
    assert list(response.json()) == ["portfolio"]


def test_trades_are_read_only_and_filter_by_status_and_side(api, user):
    portfolio = PortfolioFactory(user=user)
    filled = TradeFactory(portfolio=portfolio, filled=True)
    TradeFactory(portfolio=portfolio, side="SELL")
    TradeFactory()  # another user's

    response = api.get("/api/v1/trades?status=filled&side=BUY")

    assert [t["id"] for t in response.json()["results"]] == [str(filled.pk)]
    assert response.json()["results"][0]["filled_price"] == "40000.00000000"
    assert api.post("/api/v1/trades", {}, format="json").status_code == 405
    detail = f"/api/v1/trades/{filled.pk}"
    assert api.patch(detail, {"status": "cancelled"}, format="json").status_code == 405
    assert Trade.objects.get(pk=filled.pk).status == "filled"
    assert api.get(detail).json()["quantity"] == str(Decimal("0.10000000"))


@pytest.mark.parametrize(
    ("moment", "status"),
    [
        ("2192-09-06T16:49:50+22:33", 200),  # an offset PostgreSQL would refuse: taken as UTC
        ("0001-01-01T00:00:00+05:00", 400),  # before year 1 in UTC
        ("yesterday", 400),
    ],
)
def test_a_trade_time_filter_takes_any_offset_and_refuses_what_is_no_moment(api, moment, status):
    response = api.get("/api/v1/trades", {"created_after": moment})
    assert response.status_code == status
