from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.services import register_user
from compliance.models import AuditLog
from core.errors import StateConflict
from tests.factories import TradeFactory
from trading.models import Portfolio
from trading.services import create_portfolio, delete_portfolio, update_portfolio

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return register_user(email="trader@example.com", password="pw-0123456789")


def test_a_paper_portfolio_starts_with_its_balance_in_cash(user):
    portfolio = create_portfolio(user=user, name="Paper", initial_balance=Decimal("2500.50"))

    portfolio.refresh_from_db()
    assert portfolio.is_paper is True
    assert portfolio.broker is None
    assert portfolio.cash_balance == Decimal("2500.50")
    assert portfolio.total_value == Decimal("2500.50")
    assert portfolio.positions_value == Decimal("0")
    assert AuditLog.objects.get(action="create", resource_type="portfolio").resource_id == (
        portfolio.pk
    )


def test_a_live_portfolio_needs_a_broker(user):
    with pytest.raises(ValidationError) as excinfo:
        create_portfolio(user=user, name="Live", initial_balance=Decimal("10"), is_paper=False)
    assert "A paper portfolio has no broker" in str(excinfo.value)
    assert not Portfolio.objects.exists()

    live = create_portfolio(
        user=user, name="Live", initial_balance=Decimal("10"), is_paper=False, broker="kraken"
    )
    assert live.broker == "kraken"


def test_a_paper_portfolio_cannot_name_a_broker(user):
    with pytest.raises(ValidationError):
        create_portfolio(user=user, name="P", initial_balance=Decimal("10"), broker="kraken")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("initial_balance", {"initial_balance": Decimal("-1")}),
        ("base_currency", {"initial_balance": Decimal("1"), "base_currency": "eur"}),
        ("initial_balance", {"initial_balance": 100.0}),
    ],
)
def test_bad_portfolio_values_are_field_errors(user, field, kwargs):
    with pytest.raises(ValidationError) as excinfo:
        create_portfolio(user=user, name="P", **kwargs)
    assert field in excinfo.value.message_dict


def test_a_portfolio_is_renamed_and_deactivated_with_old_and_new_values_audited(user):
    portfolio = create_portfolio(user=user, name="Paper", initial_balance=Decimal("100"))

    update_portfolio(portfolio=portfolio, actor=user, changes={"name": "Desk", "is_active": False})

    portfolio.refresh_from_db()
    assert (portfolio.name, portfolio.is_active) == ("Desk", False)
    row = AuditLog.objects.get(action="update", resource_type="portfolio")
    assert (row.resource_id, row.user) == (portfolio.pk, user)
    assert (row.old_values, row.new_values) == (
        {"name": "Paper", "is_active": True},
        {"name": "Desk", "is_active": False},
    )


@pytest.mark.parametrize("field", ["cash_balance", "initial_balance", "base_currency", "user"])
def test_balances_currency_and_owner_of_a_portfolio_cannot_be_changed(user, field):
    portfolio = create_portfolio(user=user, name="Paper", initial_balance=Decimal("100"))

    with pytest.raises(ValidationError) as excinfo:
        update_portfolio(portfolio=portfolio, actor=user, changes={field: None})

    assert list(excinfo.value.message_dict) == [field]
    assert not AuditLog.objects.filter(action="update").exists()


def test_a_portfolio_without_trades_is_deleted_and_audited(user):
    portfolio = create_portfolio(user=user, name="Paper", initial_balance=Decimal("100"))

    delete_portfolio(portfolio=portfolio, actor=user)

    assert not Portfolio.objects.exists()
    row = AuditLog.objects.get(action="delete", resource_type="portfolio")
    assert row.old_values == {
        "name": "Paper",
        "base_currency": "EUR",
        "is_paper": True,
        "broker": None,
        "initial_balance": "100.00",
    }


def test_a_portfolio_with_trades_is_not_deleted(user):
    trade = TradeFactory(portfolio__user=user)

    with pytest.raises(StateConflict):
        delete_portfolio(portfolio=trade.portfolio, actor=user)

    assert Portfolio.objects.filter(pk=trade.portfolio_id).exists()
    assert not AuditLog.objects.filter(action="delete").exists()
