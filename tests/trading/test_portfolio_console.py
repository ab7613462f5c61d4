"""Console writes of portfolios go through trading.services, as the API's do: the same audit row
(the operator as actor, the request's address and agent), balances never typed in, and a refusal
that writes nothing. Positions and trades are not written in the console at all."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from compliance.models import AuditLog
from tests.console_forms import inline_management_data
from tests.factories import (
    OperatorFactory,
    PortfolioFactory,
    PositionFactory,
    TradeFactory,
    UserFactory,
)
from trading.models import Portfolio, Position, Trade

# The portfolio page draws its equity chart from the timeseries database.
pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

CONSOLE = {"REMOTE_ADDR": "192.0.2.10", "HTTP_USER_AGENT": "console-browser"}


@pytest.fixture
def operator() -> Client:
    client = Client(**CONSOLE)
    client.user = OperatorFactory()
    client.force_login(client.user)
    return client


def url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def written():
    """The audit rows of the writes (signing the operator in writes a `login` row)."""
    return AuditLog.objects.exclude(action="login")


def assert_console_row(row: AuditLog, operator: Client) -> None:
    assert (row.user, row.ip_address, row.user_agent, row.metadata["channel"]) == (
        operator.user,
        "192.0.2.10",
        "console-browser",
        "admin",
    )


def test_a_portfolio_added_in_the_console_is_funded_and_audited_as_the_api_creates_one(operator):
    owner = UserFactory()
    api = APIClient()
    api.force_login(owner)
    created = api.post(
        "/api/v1/portfolios", {"name": "Swing", "initial_balance": "2500.00"}, format="json"
    )
    assert created.status_code == 201, created.json()
    api_row = written().get(resource_id=created.json()["id"])
    form = {
        **inline_management_data(operator.get(url(Portfolio, "add"))),
        "user": str(owner.pk),
        "name": "Swing",
        "description": "",
        "is_paper": "on",
        "broker": "",
        "broker_account_id": "",
        "base_currency": "EUR",
        "initial_balance": "2500.00",
        # Balances are not fields of the form: typed in anyway, they are ignored.
        "cash_balance": "999999.00",
    }

    response = operator.post(url(Portfolio, "add"), form)

    assert response.status_code == 302
    portfolio = Portfolio.objects.exclude(pk=created.json()["id"]).get()
    assert (portfolio.user, portfolio.cash_balance, portfolio.total_value) == (
        owner,
        Decimal("2500.00"),
        Decimal("2500.00"),
    )
    assert portfolio.description is None
    row = written().get(resource_id=portfolio.pk)
    assert (row.action, row.resource_type, row.new_values) == (
        api_row.action,
        api_row.resource_type,
        api_row.new_values,
    )
    assert_console_row(row, operator)


def test_a_portfolio_edited_in_the_console_is_audited_by_update_portfolio(operator):
    portfolio = PortfolioFactory(name="Before")
    page = operator.get(url(Portfolio, "change", portfolio.pk))
    form = {
        **inline_management_data(page),
        "name": "After",
        "description": "",
        "is_active": "false",
        "broker_account_id": "",
        # Not fields of the change form: typed in anyway, they are ignored.
        "cash_balance": "1.00",
        "initial_balance": "1.00",
    }

    response = operator.post(url(Portfolio, "change", portfolio.pk), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = Portfolio.objects.get(pk=portfolio.pk)
    assert (stored.name, stored.is_active) == ("After", False)
    assert (stored.cash_balance, stored.initial_balance) == (
        portfolio.cash_balance,
        portfolio.initial_balance,
    )
    row = written().get()
    assert (row.action, row.resource_type, row.resource_id) == ("update", "portfolio", portfolio.pk)
    assert (row.old_values, row.new_values) == (
        {"name": "Before", "is_active": True},
        {"name": "After", "is_active": False},
    )
    assert_console_row(row, operator)


def test_a_portfolio_without_trades_is_deleted_through_the_service(operator):
    portfolio = PortfolioFactory()

    response = operator.post(url(Portfolio, "delete", portfolio.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Portfolio.objects.exists()
    row = written().get()
    assert (row.action, row.resource_type, row.resource_id) == ("delete", "portfolio", portfolio.pk)
    assert row.old_values["initial_balance"] == str(portfolio.initial_balance)
    assert_console_row(row, operator)


def test_a_bulk_delete_that_takes_a_portfolio_with_trades_deletes_none(operator):
    empty = PortfolioFactory()
    traded = TradeFactory().portfolio

    response = operator.post(
        url(Portfolio, "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(empty.pk), str(traded.pk)],
            "post": "yes",
        },
        follow=True,
    )

    assert Portfolio.objects.count() == 2
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        f"Nothing was changed: The portfolio {traded.name} has trades, which are kept ten "
        "years; deactivate it instead."
    ]
    assert not written().exists()


@pytest.mark.parametrize(("model", "factory"), [(Position, PositionFactory), (Trade, TradeFactory)])
def test_positions_and_trades_are_not_written_in_the_console(operator, model, factory):
    row = factory()

    assert operator.get(url(model, "add")).status_code == 403
    assert operator.post(url(model, "change", row.pk), {"quantity": "1"}).status_code == 403
    assert operator.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()
    assert not written().exists()
