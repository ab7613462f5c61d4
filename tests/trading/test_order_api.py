import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import PortfolioFactory, UserFactory
from tests.trading.paper import SYMBOL, set_ticker
from trading.models import Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


@pytest.fixture
def portfolio():
    return PortfolioFactory(total_value=Decimal("10000.00"))


@pytest.fixture
def api(portfolio):
    client = APIClient()
    client.force_login(portfolio.user)
    return client


def url(portfolio):
    return f"/api/v1/portfolios/{portfolio.pk}/orders"


def test_a_market_order_is_placed_and_filled(api, portfolio):
    set_ticker("100")
    response = api.post(
        url(portfolio),
        {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "1.5"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "filled"
    assert body["filled_quantity"] == "1.50000000"
    assert body["portfolio_id"] == str(portfolio.pk)
    assert Trade.objects.get(pk=body["id"]).user == portfolio.user


def test_a_gtd_limit_order_rests_with_its_expiry(api, portfolio):
    set_ticker("100")
    expires = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = api.post(
        url(portfolio),
        {
            "symbol": SYMBOL,
            "side": "BUY",
            "order_type": "LIMIT",
            "quantity": "1",
            "price": "90",
            "time_in_force": "GTD",
            "expires_at": expires,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "submitted"
    assert response.json()["expires_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"side": "BUY", "order_type": "MARKET", "quantity": "1"}, "symbol"),
        ({"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": "1"}, "price"),
        ({"symbol": SYMBOL, "side": "SIDEWAYS", "order_type": "MARKET", "quantity": "1"}, "side"),
        ({"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "-1"}, "quantity"),
        (
            {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "100000"},
            "quantity",
        ),
        (
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "order_type": "LIMIT",
                "quantity": "1",
                "price": "1",
                "time_in_force": "GTD",
            },
            "expires_at",
        ),
    ],
)
def test_a_bad_order_is_a_400_naming_the_field(api, portfolio, body, field):
    set_ticker("100")
    response = api.post(url(portfolio), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Trade.objects.exists()


def test_another_users_portfolio_is_a_404(api):
    set_ticker("100")
    theirs = PortfolioFactory(user=UserFactory())
    response = api.post(
        url(theirs),
        {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "1"},
        format="json",
    )
    assert response.status_code == 404
    assert not Trade.objects.exists()


def test_a_retried_request_with_the_same_idempotency_key_returns_the_first_order(api, portfolio):
    set_ticker("100")
    body = {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "1"}
    first = api.post(url(portfolio), body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    again = api.post(url(portfolio), body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Trade.objects.count() == 1


def test_cancel_answers_the_cancelled_order_and_409_once_it_is_not_open(api, portfolio):
    set_ticker("100")
    placed = api.post(
        url(portfolio),
        {"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": "1", "price": "50"},
        format="json",
    ).json()
    response = api.post(f"/api/v1/trades/{placed['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/trades/{placed['id']}/cancel").status_code == 409


def test_cancelling_another_users_order_is_a_404(api):
    set_ticker("100")
    theirs = PortfolioFactory(user=UserFactory())
    trade = Trade.objects.create(
        user=theirs.user,
        portfolio=theirs,
        symbol=SYMBOL,
        side="BUY",
        order_type="LIMIT",
        price=Decimal("1"),
        quantity=Decimal("1"),
        is_paper=True,
        status="submitted",
    )
    assert api.post(f"/api/v1/trades/{trade.pk}/cancel").status_code == 404
    trade.refresh_from_db()
    assert trade.status == "submitted"


def test_a_live_portfolio_without_a_broker_key_is_a_409(api, portfolio):
    live = PortfolioFactory(user=portfolio.user, live=True)
    response = api.post(
        url(live),
        {"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": "1", "price": "5"},
        format="json",
    )
    assert response.status_code == 409
    assert "No binance API key" in response.json()["detail"]
    assert not Trade.objects.filter(portfolio=live).exists()


def test_placing_an_order_needs_a_signed_in_user(portfolio):
    response = APIClient().post(url(portfolio), {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
