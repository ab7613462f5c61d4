from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.services import register_user
from compliance.models import AuditLog
from core.errors import StateConflict
from strategies.models import Strategy
from strategies.services.strategies import (
    activate_strategy,
    archive_strategy,
    create_strategy,
    pause_strategy,
    update_strategy,
)

pytestmark = pytest.mark.django_db

ENTRY = {
    "all": [
        {
            "left": {"indicator": "sma", "period": 20},
            "op": "crosses_above",
            "right": {"indicator": "sma", "period": 50},
        }
    ]
}
EXIT = {
    "left": {"indicator": "sma", "period": 20},
    "op": "crosses_below",
    "right": {"indicator": "sma", "period": 50},
}


@pytest.fixture
def user():
    return register_user(email="quant@example.com", password="pw-0123456789")


def make(user, **overrides):
    values = {
        "user": user,
        "name": "Cross",
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": ENTRY,
        "exit_rules": EXIT,
        "stop_loss_pct": Decimal("2.00"),
    }
    values.update(overrides)
    return create_strategy(**values)


def test_create_strategy_saves_a_draft_at_version_one_with_an_audit_row(user):
    strategy = make(user)

    strategy.refresh_from_db()
    assert (strategy.status, strategy.version) == ("draft", 1)
    row = AuditLog.objects.get(resource_type="strategy")
    assert row.action == "create"
    assert row.new_values["stop_loss_pct"] == "2.00"


def test_rule_errors_name_their_path(user):
    bad = {"all": [ENTRY["all"][0], {"left": "close", "op": ">", "right": {"indicator": "sma"}}]}
    with pytest.raises(ValidationError) as excinfo:
        make(user, entry_rules=bad)

    messages = excinfo.value.message_dict["entry_rules"]
    assert any(message.startswith("entry_rules.all[1].right") for message in messages)
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("asset_symbol", "btcusdt"),
        ("timeframe", "0m"),
        ("stop_loss_pct", Decimal("100.01")),
        ("take_profit_pct", Decimal("1000.01")),
        ("max_position_size_pct", Decimal("0")),
    ],
)
def test_bad_values_are_reported_on_their_field(user, field, value):
    with pytest.raises(ValidationError) as excinfo:
        make(user, **{field: value})
    assert field in excinfo.value.message_dict


def test_changing_rules_raises_the_version_and_audits_the_change(user):
    strategy = make(user)
    new_exit = {"left": "close", "op": "<", "right": {"indicator": "ema", "period": 10}}

    updated = update_strategy(strategy=strategy, actor=user, changes={"exit_rules": new_exit})
    assert updated.version == 2
    renamed = update_strategy(strategy=updated, actor=user, changes={"name": "Renamed"})
    assert renamed.version == 2
    rows = AuditLog.objects.filter(action="update").order_by("id")
    assert rows[0].new_values == {"exit_rules": new_exit}
    assert rows[1].old_values == {"name": "Cross"}


def test_update_strategy_refuses_fields_that_are_not_editable(user):
    strategy = make(user)
    with pytest.raises(ValueError, match="version"):
        update_strategy(strategy=strategy, actor=user, changes={"version": 9})


def test_lifecycle_activate_pause_archive(user):
    strategy = make(user)
    active = activate_strategy(strategy=strategy, actor=user)
    assert (active.status, active.trading_mode) == ("active", "paper")
    assert active.activated_at is not None
    assert pause_strategy(strategy=active, actor=user).status == "paused"
    assert archive_strategy(strategy=active, actor=user).status == "archived"
    actions = list(AuditLog.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["activate", "deactivate", "deactivate"]


def test_empty_exit_rules_mean_stops_and_targets_only_and_are_saved(user):
    strategy = make(user, exit_rules={})

    strategy.refresh_from_db()
    assert strategy.exit_rules == {}
    updated = update_strategy(strategy=make(user), actor=user, changes={"exit_rules": {}})
    assert updated.exit_rules == {}


def test_exit_rules_are_still_required(user):
    with pytest.raises(ValidationError) as excinfo:
        make(user, exit_rules=None)

    assert "This field cannot be null." in excinfo.value.message_dict["exit_rules"]
    assert not Strategy.objects.exists()


def test_rules_nested_hundreds_deep_are_refused_before_anything_recurses_into_them(user):
    tree = {"left": "close", "op": ">", "right": 1}
    for _ in range(5_000):
        tree = {"not": tree}

    with pytest.raises(ValidationError) as excinfo:
        make(user, entry_rules=tree)

    path = "entry_rules" + ".not" * 10
    assert excinfo.value.message_dict == {"entry_rules": [f"{path}: nested deeper than 10 levels"]}
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    ("start", "move", "allowed"),
    [
        ("draft", "activate", True),
        ("paused", "activate", True),
        ("active", "activate", False),
        ("archived", "activate", False),
        ("active", "pause", True),
        ("draft", "pause", False),
        ("paused", "pause", False),
        ("archived", "pause", False),
        ("draft", "archive", True),
        ("active", "archive", True),
        ("paused", "archive", True),
        ("archived", "archive", False),
    ],
)
def test_transitions_start_only_from_the_states_that_allow_them(user, start, move, allowed):
    strategy = make(user)
    Strategy.objects.filter(pk=strategy.pk).update(status=start)
    service = {"activate": activate_strategy, "pause": pause_strategy, "archive": archive_strategy}
    if allowed:
        service[move](strategy=strategy, actor=user)
    else:
        with pytest.raises(StateConflict):
            service[move](strategy=strategy, actor=user)
        strategy.refresh_from_db()
        assert strategy.status == start
