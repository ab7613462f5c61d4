"""Console writes of strategies, backtests and optimisations go through the services the API
uses: the same audit row as the API's (the operator as actor, the request's address and agent,
channel "admin"), and a refusal that writes nothing."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from compliance.models import AuditLog
from strategies.models import Backtest, BacktestTrade, Optimisation, Strategy
from strategies.services import strategies as strategy_services
from tests.factories import (
    BacktestFactory,
    BacktestTradeFactory,
    OperatorFactory,
    OptimisationFactory,
    StrategyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ENTRY = {"left": {"indicator": "sma", "period": 20}, "op": ">", "right": 100}
EXIT = {"left": {"indicator": "sma", "period": 20}, "op": "<", "right": 90}
CONSOLE = {"REMOTE_ADDR": "192.0.2.10", "HTTP_USER_AGENT": "console-browser"}
# What must be equal between the API's row and the console's for the same write.
SAME = ("action", "resource_type", "old_values", "new_values")


@pytest.fixture
def operator() -> Client:
    client = Client(**CONSOLE)
    client.user = OperatorFactory()
    client.force_login(client.user)
    return client


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def strategy_form(user, **changes) -> dict:
    data = {
        "user": str(user.pk),
        "name": "SMA band",
        "description": "",
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": json.dumps(ENTRY),
        "exit_rules": json.dumps(EXIT),
        "stop_loss_pct": "2.00",
        "take_profit_pct": "",
        "max_position_size_pct": "10.00",
        "max_drawdown_pct": "",
        "trailing_stop_pct": "",
        "trading_mode": "",
    }
    data.update(changes)
    return data


def form_of(strategy: Strategy, **changes) -> dict:
    """The console's change form of `strategy` as stored, with `changes` typed in."""

    def typed(value) -> str:
        return "" if value is None else str(value)

    data = {
        "name": strategy.name,
        "description": typed(strategy.description),
        "asset_symbol": strategy.asset_symbol,
        "timeframe": strategy.timeframe,
        "entry_rules": json.dumps(strategy.entry_rules),
        "exit_rules": json.dumps(strategy.exit_rules),
        "stop_loss_pct": typed(strategy.stop_loss_pct),
        "take_profit_pct": typed(strategy.take_profit_pct),
        "max_position_size_pct": typed(strategy.max_position_size_pct),
        "max_drawdown_pct": typed(strategy.max_drawdown_pct),
        "trailing_stop_pct": typed(strategy.trailing_stop_pct),
        "trading_mode": typed(strategy.trading_mode),
    }
    data.update(changes)
    return data


def api_body(**changes) -> dict:
    body = {
        "name": "SMA band",
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": ENTRY,
        "exit_rules": EXIT,
        "stop_loss_pct": "2.00",
        "max_position_size_pct": "10.00",
    }
    body.update(changes)
    return body


def written():
    """The audit rows of the writes (signing the operator in writes a `login` row)."""
    return AuditLog.objects.exclude(action="login")


def values(row: AuditLog) -> tuple:
    return tuple(getattr(row, name) for name in SAME)


def assert_console_row(row: AuditLog, operator: Client) -> None:
    assert (row.user, row.ip_address, row.user_agent, row.metadata["channel"]) == (
        operator.user,
        "192.0.2.10",
        "console-browser",
        "admin",
    )


# --- Strategies: the same rows as the API's ---------------------------------------------------


def test_a_strategy_added_in_the_console_is_audited_as_the_api_creates_one(operator):
    owner = UserFactory()
    created = api_for(owner).post("/api/v1/strategies", api_body(), format="json")
    assert created.status_code == 201, created.json()
    api_row = AuditLog.objects.get(resource_id=created.json()["id"])

    response = operator.post(url(Strategy, "add"), strategy_form(owner))

    assert response.status_code == 302
    strategy = Strategy.objects.exclude(pk=created.json()["id"]).get()
    assert (strategy.user, strategy.name, strategy.status) == (owner, "SMA band", "draft")
    row = AuditLog.objects.get(resource_id=strategy.pk)
    assert values(row) == values(api_row)
    assert row.new_values["stop_loss_pct"] == "2.00"
    assert_console_row(row, operator)


def test_a_strategy_edited_in_the_console_is_audited_as_the_api_edits_one(operator):
    by_api, by_console = StrategyFactory(name="Before"), StrategyFactory(name="Before")
    patched = api_for(by_api.user).patch(
        f"/api/v1/strategies/{by_api.pk}",
        {"name": "After", "stop_loss_pct": "3.00"},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    form = form_of(by_console, name="After", stop_loss_pct="3.00")

    response = operator.post(url(Strategy, "change", by_console.pk), form)

    assert response.status_code == 302
    by_console.refresh_from_db()
    assert (by_console.name, by_console.stop_loss_pct) == ("After", Decimal("3.00"))
    api_row = AuditLog.objects.get(resource_id=by_api.pk, action="update")
    row = AuditLog.objects.get(resource_id=by_console.pk, action="update")
    assert values(row) == values(api_row)
    assert row.new_values == {"name": "After", "stop_loss_pct": "3.00"}
    assert_console_row(row, operator)


def test_a_strategy_deleted_in_the_console_is_audited_as_the_api_deletes_one(operator):
    by_api = StrategyFactory(name="Gone")
    by_console = StrategyFactory(
        name="Gone",
        user=by_api.user,
        entry_rules=by_api.entry_rules,
        exit_rules=by_api.exit_rules,
        asset_symbol=by_api.asset_symbol,
        timeframe=by_api.timeframe,
        stop_loss_pct=by_api.stop_loss_pct,
        take_profit_pct=by_api.take_profit_pct,
        max_position_size_pct=by_api.max_position_size_pct,
    )
    assert api_for(by_api.user).delete(f"/api/v1/strategies/{by_api.pk}").status_code == 204

    response = operator.post(url(Strategy, "delete", by_console.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Strategy.objects.exists()
    api_row = AuditLog.objects.get(resource_id=by_api.pk, action="delete")
    row = AuditLog.objects.get(resource_id=by_console.pk, action="delete")
    assert values(row) == values(api_row)
    assert_console_row(row, operator)


def test_a_refusal_from_the_service_is_shown_on_the_form_and_undoes_what_it_wrote(
    operator, monkeypatch
):
    strategy = StrategyFactory(name="Before")
    real_update = strategy_services.update_strategy

    def update_then_refuse(**kwargs):
        real_update(**kwargs)  # the strategy and its audit row are written...
        raise ValidationError({"name": ["Refused by the service."]})  # ...then refused

    monkeypatch.setattr("strategies.admin.update_strategy", update_then_refuse)
    form = form_of(strategy, name="After")

    response = operator.post(url(Strategy, "change", strategy.pk), form)

    assert response.status_code == 200
    shown = response.context["adminform"].form
    assert shown.errors["name"] == ["Refused by the service."]
    assert shown["name"].value() == "After"  # as typed
    strategy.refresh_from_db()
    assert strategy.name == "Before"
    assert not written().exists()


def test_a_lifecycle_action_the_service_refuses_changes_nothing_and_says_why(operator):
    strategy = StrategyFactory(status=Strategy.Status.ARCHIVED)

    response = operator.post(
        url(Strategy, "changelist"),
        {"action": "activate_selected", "_selected_action": [str(strategy.pk)]},
        follow=True,
    )

    strategy.refresh_from_db()
    assert strategy.status == "archived"
    shown = [str(message) for message in response.context["messages"]]
    assert f"{strategy.name}: A archived strategy cannot become active." in shown
    assert not written().exists()


def test_the_owner_of_an_existing_strategy_is_not_editable(operator):
    strategy = StrategyFactory()
    response = operator.get(url(Strategy, "change", strategy.pk))
    assert 'name="user"' not in response.content.decode()


# --- Backtests and optimisations: deleted through their services, never edited ---------------


def test_a_finished_backtest_is_deleted_through_its_service(operator):
    backtest = BacktestFactory(completed=True)
    BacktestTradeFactory(backtest=backtest)

    response = operator.post(url(Backtest, "delete", backtest.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Backtest.objects.exists() and not BacktestTrade.objects.exists()
    row = AuditLog.objects.get(resource_id=backtest.pk)
    assert (row.action, row.resource_type) == ("delete", "backtest")
    assert row.old_values["status"] == "completed"
    assert row.old_values["initial_capital"] == "10000.00"
    assert_console_row(row, operator)


def test_a_running_backtest_is_not_deleted_and_the_operator_is_told_why(operator):
    backtest = BacktestFactory(status=Backtest.Status.RUNNING)

    response = operator.post(url(Backtest, "delete", backtest.pk), {"post": "yes"}, follow=True)

    assert Backtest.objects.filter(pk=backtest.pk).exists()
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Not deleted: The backtest is running; cancel it before deleting it."]
    assert not written().exists()


def test_a_bulk_delete_with_one_running_backtest_deletes_none(operator):
    finished = BacktestFactory(completed=True)
    running = BacktestFactory(status=Backtest.Status.RUNNING)

    response = operator.post(
        url(Backtest, "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(finished.pk), str(running.pk)],
            "post": "yes",
        },
        follow=True,
    )

    assert Backtest.objects.count() == 2
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Nothing was changed: The backtest is running; cancel it before deleting it."]
    assert not written().exists()


def test_a_running_optimisation_is_not_deleted_a_finished_one_is(operator):
    running = OptimisationFactory(status=Optimisation.Status.RUNNING)
    finished = OptimisationFactory(status=Optimisation.Status.COMPLETED)

    operator.post(url(Optimisation, "delete", running.pk), {"post": "yes"})
    response = operator.post(url(Optimisation, "delete", finished.pk), {"post": "yes"})

    assert response.status_code == 302
    assert list(Optimisation.objects.all()) == [running]
    row = written().get()
    assert (row.action, row.resource_type, row.resource_id) == (
        "delete",
        "optimisation",
        finished.pk,
    )
    assert_console_row(row, operator)


@pytest.mark.parametrize(
    ("model", "factory"),
    [(Backtest, BacktestFactory), (BacktestTrade, BacktestTradeFactory)],
)
def test_backtests_and_their_trades_are_not_edited_in_the_console(operator, model, factory):
    row = factory()
    assert operator.get(url(model, "add")).status_code == 403
    assert operator.post(url(model, "change", row.pk), {}).status_code == 403
    assert not written().exists()


def test_backtest_trades_are_not_deleted_one_by_one(operator):
    trade = BacktestTradeFactory()
    assert operator.post(url(BacktestTrade, "delete", trade.pk), {"post": "yes"}).status_code == 403
    assert BacktestTrade.objects.filter(pk=trade.pk).exists()
