from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import AuditLog
from strategies.models import Backtest, Strategy
from strategies.rules.schema import RULES_JSON_SCHEMA
from tests.factories import BacktestFactory, StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db

SMA_20 = {"indicator": "sma", "period": 20}
ENTRY = {
    "all": [
        {"left": SMA_20, "op": "crosses_above", "right": {"indicator": "sma", "period": 50}},
        {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": 70},
    ]
}
EXIT = {"left": SMA_20, "op": "crosses_below", "right": {"indicator": "sma", "period": 50}}
LIST_URL = "/api/v1/strategies"


def detail_url(strategy) -> str:
    return f"/api/v1/strategies/{strategy.pk}"


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_login(user)
    return client


def payload(**overrides):
    body = {
        "name": "SMA cross",
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": ENTRY,
        "exit_rules": EXIT,
        "stop_loss_pct": "2.00",
        "take_profit_pct": "4.50",
    }
    body.update(overrides)
    return body


def test_the_routes_are_where_the_api_spec_puts_them():
    assert reverse("strategy-list") == LIST_URL
    assert reverse("strategy-rules-schema") == "/api/v1/strategies/rules-schema"


def test_anonymous_requests_are_refused():
    assert APIClient().get(LIST_URL).status_code == 401


def test_create_returns_the_draft_with_money_as_strings_and_audits_it(api, user):
    response = api.post(LIST_URL, payload(), format="json", HTTP_USER_AGENT="pytest")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"]) == ("draft", 1)
    assert (body["stop_loss_pct"], body["take_profit_pct"]) == ("2.00", "4.50")
    assert body["max_position_size_pct"] == "10.00"
    assert body["entry_rules"] == ENTRY
    strategy = Strategy.objects.get(pk=body["id"])
    assert strategy.user == user
    row = AuditLog.objects.get(resource_id=strategy.pk)
    assert (row.action, row.user_agent, row.metadata["channel"]) == ("create", "pytest", "api")


def test_a_rule_error_comes_back_with_its_path(api):
    bad_entry = {
        "all": [ENTRY["all"][0], {"left": "close", "op": ">", "right": SMA_20 | {"period": 0}}]
    }

    response = api.post(LIST_URL, payload(entry_rules=bad_entry), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "entry_rules": ["entry_rules.all[1].right.period: must be an integer >= 1"]
    }
    assert not Strategy.objects.exists()


def test_every_rule_error_of_both_trees_is_reported(api):
    response = api.post(
        LIST_URL,
        payload(entry_rules={"left": "close", "op": "~", "right": 1}, exit_rules=[]),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "entry_rules": [
            "entry_rules.op: must be one of >, <, >=, <=, crosses_above, crosses_below"
        ],
        "exit_rules": ["exit_rules: must be an object"],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("asset_symbol", "btcusdt"), ("timeframe", "0m"), ("stop_loss_pct", "100.01"), ("name", "")],
)
def test_bad_columns_are_reported_on_their_field(api, field, value):
    response = api.post(LIST_URL, payload(**{field: value}), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("value", ["1000", "999.995", "1000.00"])
def test_take_profit_past_its_column_is_refused_with_the_columns_limit(api, value):
    response = api.post(LIST_URL, payload(take_profit_pct=value), format="json")

    assert response.status_code == 400
    [message] = response.json()["take_profit_pct"]
    assert "at most 999.99%" in message


def test_take_profit_at_its_columns_limit_is_stored(api):
    response = api.post(LIST_URL, payload(take_profit_pct="999.99"), format="json")

    assert response.status_code == 201
    assert Strategy.objects.get().take_profit_pct == Decimal("999.99")


def test_the_model_reports_take_profit_past_its_column_with_the_columns_limit(user):
    strategy = StrategyFactory.build(user=user, take_profit_pct=Decimal("1000"))

    with pytest.raises(ValidationError) as refused:
        strategy.full_clean()

    assert "at most 999.99%" in refused.value.message_dict["take_profit_pct"][0]


def test_list_shows_only_your_own_strategies_newest_first(api, user):
    older = StrategyFactory(user=user)
    newer = StrategyFactory(user=user)
    StrategyFactory()
    # Rows made in one transaction share NOW(); date them apart as separate requests would be.
    Strategy.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))

    response = api.get(LIST_URL)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(newer.pk), str(older.pk)]


def test_another_users_strategy_is_not_found(api):
    theirs = StrategyFactory()

    assert api.get(detail_url(theirs)).status_code == 404
    assert api.patch(detail_url(theirs), {"name": "x"}, format="json").status_code == 404
    assert api.delete(detail_url(theirs)).status_code == 404
    assert Strategy.objects.filter(pk=theirs.pk).exists()


def test_patch_changes_the_rules_and_the_database_raises_the_version(api, user):
    strategy = StrategyFactory(user=user)
    new_exit = {"left": "close", "op": "<", "right": {"indicator": "ema", "period": 10}}

    response = api.patch(detail_url(strategy), {"exit_rules": new_exit}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["version"], response.json()["exit_rules"]) == (2, new_exit)


def test_patch_with_a_bad_rule_changes_nothing(api, user):
    strategy = StrategyFactory(user=user)

    response = api.patch(detail_url(strategy), {"exit_rules": {"all": []}}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["exit_rules"]
    strategy.refresh_from_db()
    assert strategy.version == 1


def test_put_replaces_the_definition(api, user):
    strategy = StrategyFactory(user=user)

    response = api.put(
        detail_url(strategy), payload(name="Renamed", stop_loss_pct=None), format="json"
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["name"], response.json()["stop_loss_pct"]) == ("Renamed", None)


def test_put_requires_every_field(api, user):
    strategy = StrategyFactory(user=user)

    response = api.put(detail_url(strategy), {"name": "Only a name"}, format="json")

    assert response.status_code == 400
    assert {"asset_symbol", "timeframe", "entry_rules", "exit_rules"} <= set(response.json())


def test_delete_removes_the_strategy_and_its_backtests_with_an_audit_row(api, user):
    strategy = StrategyFactory(user=user)
    BacktestFactory(strategy=strategy)

    response = api.delete(detail_url(strategy))

    assert response.status_code == 204
    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert not Backtest.objects.exists()
    row = AuditLog.objects.get(resource_id=strategy.pk, action="delete")
    assert row.old_values["name"] == strategy.name


def test_the_rules_schema_is_served_to_anyone():
    response = APIClient().get("/api/v1/strategies/rules-schema")

    assert response.status_code == 200
    assert response.json() == RULES_JSON_SCHEMA


def test_the_api_docs_describe_the_rules_with_the_rules_schema(api):
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    document = response.json()
    schemas = document["components"]["schemas"]
    assert schemas["StrategyRules"]["title"] == RULES_JSON_SCHEMA["title"]
    assert schemas["Strategy"]["properties"]["entry_rules"] == {
        "allOf": [{"$ref": "#/components/schemas/StrategyEntryRules"}],
        "readOnly": True,
    }
    assert schemas["StrategyInput"]["properties"]["entry_rules"] == {
        "$ref": "#/components/schemas/StrategyEntryRules"
    }
    assert schemas["StrategyInput"]["properties"]["exit_rules"] == {
        "$ref": "#/components/schemas/StrategyExitRules"
    }
    # Entry rules hold a condition; exit rules may be {} but carry no direction.
    rules = {"allOf": [{"$ref": "#/components/schemas/StrategyRules"}]}
    assert schemas["StrategyEntryRules"] | rules == schemas["StrategyEntryRules"]
    assert schemas["StrategyEntryRules"]["minProperties"] == 1
    assert schemas["StrategyExitRules"] | rules == schemas["StrategyExitRules"]
    assert schemas["StrategyExitRules"]["not"] == {"required": ["direction"]}
    sma = schemas["StrategyRulesIndicator"]["oneOf"][0]
    assert sma["properties"]["indicator"] == {"enum": ["sma"]}
    assert "/api/v1/strategies/rules-schema" in document["paths"]


def test_empty_exit_rules_are_accepted_on_create_and_patch(api, user):
    response = api.post(LIST_URL, payload(exit_rules={}), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["exit_rules"] == {}
    strategy = StrategyFactory(user=user)
    response = api.patch(detail_url(strategy), {"exit_rules": {}}, format="json")
    assert response.status_code == 200, response.json()
    strategy.refresh_from_db()
    assert strategy.exit_rules == {}


@pytest.mark.parametrize("body", [{"exit_rules": None}, {}])
def test_exit_rules_cannot_be_null_or_missing(api, body):
    data = payload(**body)
    if not body:
        del data["exit_rules"]

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["exit_rules"]
    assert not Strategy.objects.exists()


def nested_nots(depth: int) -> dict:
    tree = {"left": "close", "op": ">", "right": 1}
    for _ in range(depth):
        tree = {"not": tree}
    return tree


def test_rules_nested_far_too_deep_are_a_400_not_a_500(api):
    response = api.post(LIST_URL, payload(entry_rules=nested_nots(950)), format="json")

    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert not Strategy.objects.exists()


def test_rules_nested_deeper_than_the_language_allows_get_the_rule_error(api):
    response = api.post(LIST_URL, payload(exit_rules=nested_nots(30)), format="json")

    assert response.status_code == 400
    path = "exit_rules" + ".not" * 10
    assert response.json() == {"exit_rules": [f"{path}: nested deeper than 10 levels"]}


@pytest.mark.parametrize(
    "field", ["status", "version", "user", "created_at", "activated_at", "owner", "id"]
)
def test_a_body_setting_a_read_only_or_unknown_field_is_a_400_naming_it(api, user, field):
    strategy = StrategyFactory(user=user)
    name = strategy.name

    created = api.post(LIST_URL, payload(**{field: "x"}), format="json")
    changed = api.patch(detail_url(strategy), {"name": "New", field: "x"}, format="json")

    assert (created.status_code, list(created.json())) == (400, [field])
    assert (changed.status_code, list(changed.json())) == (400, [field])
    strategy.refresh_from_db()
    assert (strategy.name, strategy.status, strategy.version) == (name, "draft", 1)
    assert Strategy.objects.count() == 1


def test_a_refused_field_is_reported_with_the_other_fields_errors(api):
    response = api.post(LIST_URL, payload(status="active", name=""), format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"status", "name"}


def test_strategies_filter_by_status_and_order_by_name(api, user):
    StrategyFactory(user=user, name="Zeta", active=True)
    StrategyFactory(user=user, name="Alpha")
    StrategyFactory(user=user, name="Beta")

    drafts = api.get(LIST_URL, {"status": "draft", "ordering": "name"}).json()["results"]

    assert [s["name"] for s in drafts] == ["Alpha", "Beta"]
