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
