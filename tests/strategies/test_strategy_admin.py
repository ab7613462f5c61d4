import json

import pytest
from django.urls import reverse

from compliance.models import AuditLog
from strategies.models import Strategy
from tests.factories import OperatorFactory, StrategyFactory

pytestmark = pytest.mark.django_db


def test_status_is_changed_only_through_the_lifecycle_actions(client):
    operator = OperatorFactory()
    client.force_login(operator)
    strategy = StrategyFactory(trading_mode=None)
    url = reverse("admin:strategies_strategy_changelist")

    response = client.post(
        url, {"action": "activate_selected", "_selected_action": [str(strategy.pk)]}
    )

    assert response.status_code == 302
    strategy.refresh_from_db()
    assert (strategy.status, strategy.trading_mode) == ("active", "paper")
    assert strategy.activated_at is not None
    row = AuditLog.objects.get(action="activate")
    assert (row.user, row.resource_id, row.metadata["channel"]) == (operator, strategy.pk, "admin")

    client.post(url, {"action": "archive_selected", "_selected_action": [str(strategy.pk)]})
    strategy.refresh_from_db()
    assert strategy.status == "archived"


def test_the_change_form_does_not_offer_status(client):
    client.force_login(OperatorFactory())
    strategy = StrategyFactory()
    response = client.get(reverse("admin:strategies_strategy_change", args=[strategy.pk]))
    assert response.status_code == 200
    assert 'name="status"' not in response.content.decode()
    assert Strategy.objects.get(pk=strategy.pk).status == "draft"


def _change_form_data(strategy, **overrides):
    data = {
        "user": str(strategy.user_id),
        "name": strategy.name,
        "description": "",
        "asset_symbol": strategy.asset_symbol,
        "timeframe": strategy.timeframe,
        "entry_rules": json.dumps(strategy.entry_rules),
        "exit_rules": json.dumps(strategy.exit_rules),
        "stop_loss_pct": "2.00",
        "take_profit_pct": "",
        "max_position_size_pct": "10.00",
        "max_drawdown_pct": "",
        "trailing_stop_pct": "",
        "trading_mode": "",
    }
    data.update(overrides)
    return data


def test_the_change_form_saves_empty_exit_rules(client):
    client.force_login(OperatorFactory())
    strategy = StrategyFactory()
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])

    response = client.post(url, _change_form_data(strategy, exit_rules="{}"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    strategy.refresh_from_db()
    assert strategy.exit_rules == {}


def test_the_change_form_refuses_blank_exit_rules(client):
    client.force_login(OperatorFactory())
    strategy = StrategyFactory()
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])

    response = client.post(url, _change_form_data(strategy, exit_rules=""))

    assert response.status_code == 200
    assert "exit_rules" in response.context["adminform"].form.errors
    strategy.refresh_from_db()
    assert strategy.exit_rules != {}


@pytest.mark.parametrize("depth", [30, 950, 5_000])
def test_the_change_form_refuses_deeply_nested_rules_with_a_form_error(client, depth):
    client.force_login(OperatorFactory())
    strategy = StrategyFactory()
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])
    deep = '{"not": ' * depth + '{"left": "close", "op": ">", "right": 1}' + "}" * depth

    response = client.post(url, _change_form_data(strategy, entry_rules=deep))

    assert response.status_code == 200
    assert "entry_rules" in response.context["adminform"].form.errors
    strategy.refresh_from_db()
    assert "not" not in strategy.entry_rules
