"""The audited-write helper pair: the write and its audit row in one transaction, values by one
encoder, secrets redacted as the apps declare them; and the console's read-only audit browser."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import Alert, ApiKey
from accounts.services import create_api_key, delete_api_key
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audited_create, audited_delete, audited_update
from strategies.services.strategies import create_strategy, delete_strategy
from tests.factories import OperatorFactory, StrategyFactory, UserFactory
from trading.services import create_portfolio

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
CONTEXT = AuditContext(ip_address="192.0.2.44", user_agent="tests", channel="api")


def new_alert(user) -> Alert:
    return Alert(
        user=user, symbol="BTC/USDT", alert_type="price", condition="above", threshold=Decimal("1")
    )


def test_create_update_delete_each_write_their_row_with_context():
    user = UserFactory()
    alert = audited_create(instance=new_alert(user), actor=user, context=CONTEXT)
    audited_update(
        instance=alert, changes={"threshold": Decimal("2.5")}, actor=user, context=CONTEXT
    )
    alert_id = alert.pk
    audited_delete(instance=alert, actor=user, context=CONTEXT, fields=["symbol"])

    rows = list(AuditLog.objects.order_by("chain_seq"))
    assert [row.action for row in rows] == ["create", "update", "delete"]
    assert {(row.resource_type, row.resource_id) for row in rows} == {("alert", alert_id)}
    assert {(row.ip_address, row.user_agent, row.user_id) for row in rows} == {
        ("192.0.2.44", "tests", user.pk)
    }
    # Decimal as a string at its column's scale, not a float
    assert rows[0].new_values["threshold"] == "1.00000000"
    assert (rows[1].old_values, rows[1].new_values) == (
        {"threshold": "1.00000000"},
        {"threshold": "2.50000000"},
    )
    assert rows[2].old_values == {"symbol": "BTC/USDT"}
    assert not Alert.objects.filter(pk=alert_id).exists()


def test_a_rolled_back_write_leaves_no_row_and_an_invalid_one_writes_nothing():
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        audited_create(instance=new_alert(user), actor=user)
        raise RuntimeError("the caller's transaction fails later")
    bad = new_alert(user)
    bad.symbol = "not a symbol!"
    with pytest.raises(ValidationError):
        audited_create(instance=bad, actor=user)
    assert not AuditLog.objects.exists()
    assert not Alert.objects.exists()


def test_declared_secrets_never_reach_the_audit_row():
    user = UserFactory()
    key = create_api_key(
        user=user, name="main", exchange="binance", api_key="AK-CLEAR", api_secret="SK-CLEAR"
    )
    audited_update(instance=key, changes={"name": "renamed"}, actor=user)
    audited_delete(
        instance=ApiKey.objects.get(pk=key.pk), actor=user, action=AuditLog.Action.API_KEY_DELETED
    )
    for row in AuditLog.objects.all():
        text = str(row.old_values) + str(row.new_values)
        assert "encrypted" not in text
        assert "CLEAR" not in text


def test_a_row_whose_key_is_not_a_uuid_names_it_in_metadata():
    group = audited_create(instance=Group(name="Desk"), actor=None)
    audited_update(instance=group, changes={"name": "Risk desk"}, actor=None)
    rows = list(AuditLog.objects.order_by("chain_seq"))
    assert [(row.resource_type, row.resource_id, row.metadata["pk"]) for row in rows] == [
        ("group", None, str(group.pk)),
        ("group", None, str(group.pk)),
    ]


def test_the_services_write_through_the_helpers():
    user = UserFactory()
    strategy = StrategyFactory(user=user)
    portfolio = create_portfolio(user=user, name="P", initial_balance=Decimal("100.00"))
    key = create_api_key(user=user, name="k", exchange="kraken", api_key="a", api_secret="b")
    key_id, strategy_id = key.pk, strategy.pk
    delete_api_key(api_key=key, actor=user)
    delete_strategy(strategy=strategy, actor=user)
    made = create_strategy(
        user=user,
        name="S",
        asset_symbol="BTC/USDT",
        timeframe="1h",
        entry_rules=strategy.entry_rules,
        exit_rules=strategy.exit_rules,
    )
    actions = set(AuditLog.objects.values_list("resource_type", "action", "resource_id"))
    assert actions == {
        ("portfolio", "create", portfolio.pk),
        ("api_key", "api_key_created", key_id),
        ("api_key", "api_key_deleted", key_id),
        ("strategy", "delete", strategy_id),
        ("strategy", "create", made.pk),
    }


def test_operators_filter_the_audit_log_by_user_action_resource_and_date(client: Client):
    operator = OperatorFactory()
    client.force_login(operator)
    user, other = UserFactory(), UserFactory()
    audited_create(instance=new_alert(user), actor=user)
    audited_create(instance=new_alert(other), actor=other)
    url = reverse("admin:compliance_auditlog_changelist")

    listing = client.get(url)
    assert f"user__id__exact={user.pk}" in listing.content.decode()
    by_user = client.get(url, {"user__id__exact": str(user.pk)})
    assert [row.user_id for row in by_user.context["cl"].result_list] == [user.pk]
    by_action = client.get(url, {"action__exact": "create", "resource_type__exact": "alert"})
    assert len(by_action.context["cl"].result_list) == 2
    today = dt.datetime.now(dt.UTC).date()
    by_date = client.get(
        url,
        {
            "created_at__gte": f"{today}T00:00:00+00:00",
            "created_at__lt": f"{today + dt.timedelta(days=1)}T00:00:00+00:00",
            "resource_type__exact": "alert",
        },
    )
    assert len(by_date.context["cl"].result_list) == 2
