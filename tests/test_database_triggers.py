"""The spec's triggers (§3.1, §3.2) hold however a row is updated: Model.save(),
QuerySet.update() or raw SQL.

Inside a test's transaction NOW() is the transaction's start, earlier than the Python clock that
filled `updated_at` on insert; so rows are inserted with an old `updated_at` and the trigger is
expected to set exactly the transaction's NOW()."""

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.db import connection, models

from tests.factories import (
    SMA_CROSS_ENTRY,
    ApiKeyFactory,
    PortfolioFactory,
    PositionFactory,
    StrategyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

# (factory, a column the test changes and its new value)
TABLES_WITH_UPDATED_AT: dict[str, tuple[Callable[..., models.Model], str, object]] = {
    "users": (UserFactory, "first_name", "Grace"),
    "strategies": (StrategyFactory, "name", "Renamed"),
    "portfolios": (PortfolioFactory, "name", "Renamed"),
    "positions": (PositionFactory, "current_price", 41000),
    "api_keys": (ApiKeyFactory, "name", "Renamed"),
}


def transaction_now() -> dt.datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOW()")
        return cursor.fetchone()[0]


def update_with_save(instance: models.Model, column: str, value: object) -> None:
    setattr(instance, column, value)
    instance.save()


def update_with_queryset(instance: models.Model, column: str, value: object) -> None:
    type(instance).objects.filter(pk=instance.pk).update(**{column: value})


def update_with_raw_sql(instance: models.Model, column: str, value: object) -> None:
    table = instance._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, instance.pk])


UPDATE_PATHS = {
    "save": update_with_save,
    "queryset_update": update_with_queryset,
    "raw_sql": update_with_raw_sql,
}


@pytest.mark.parametrize("update", UPDATE_PATHS.values(), ids=UPDATE_PATHS.keys())
@pytest.mark.parametrize("table", TABLES_WITH_UPDATED_AT)
def test_updated_at_is_set_to_now_on_every_update(
    table: str, update: Callable[[models.Model, str, object], None]
) -> None:
    factory, column, value = TABLES_WITH_UPDATED_AT[table]
    instance = factory(updated_at=LONG_AGO)

    update(instance, column, value)

    instance.refresh_from_db()
    assert instance.updated_at == transaction_now()


def test_updated_at_cannot_be_backdated_by_an_update() -> None:
    user = UserFactory(updated_at=LONG_AGO)

    type(user).objects.filter(pk=user.pk).update(updated_at=LONG_AGO)

    user.refresh_from_db()
    assert user.updated_at == transaction_now()


def test_insert_keeps_the_updated_at_it_is_given() -> None:
    user = UserFactory(updated_at=LONG_AGO)

    user.refresh_from_db()
    assert user.updated_at == LONG_AGO


NEW_EXIT_RULES = {"left": "close", "op": "<", "right": {"indicator": "ema", "period": 50}}
NEW_ENTRY_RULES = {"left": "close", "op": ">", "right": {"indicator": "ema", "period": 50}}


def stored_version(strategy: models.Model) -> int:
    return type(strategy).objects.values_list("version", flat=True).get(pk=strategy.pk)


@pytest.mark.parametrize("update", UPDATE_PATHS.values(), ids=UPDATE_PATHS.keys())
@pytest.mark.parametrize("column", ["entry_rules", "exit_rules"])
def test_strategy_version_rises_by_one_when_its_rules_change(
    column: str, update: Callable[[models.Model, str, object], None]
) -> None:
    strategy = StrategyFactory()
    assert stored_version(strategy) == 1
    new_rules = NEW_ENTRY_RULES if column == "entry_rules" else NEW_EXIT_RULES
    if update is update_with_raw_sql:
        new_rules = json.dumps(new_rules)

    update(strategy, column, new_rules)

    assert stored_version(strategy) == 2


@pytest.mark.parametrize("update", UPDATE_PATHS.values(), ids=UPDATE_PATHS.keys())
def test_strategy_version_is_unchanged_when_only_other_columns_change(
    update: Callable[[models.Model, str, object], None],
) -> None:
    strategy = StrategyFactory()

    update(strategy, "name", "Renamed")

    assert stored_version(strategy) == 1


def test_strategy_version_rises_once_when_both_rules_change_in_one_update() -> None:
    strategy = StrategyFactory()

    type(strategy).objects.filter(pk=strategy.pk).update(
        entry_rules=NEW_ENTRY_RULES, exit_rules=NEW_EXIT_RULES
    )

    assert stored_version(strategy) == 2


def test_strategy_version_counts_each_change_of_rules() -> None:
    strategy = StrategyFactory()

    for period in (30, 40, 60):
        rules = {"left": "close", "op": ">", "right": {"indicator": "sma", "period": period}}
        type(strategy).objects.filter(pk=strategy.pk).update(entry_rules=rules)

    assert stored_version(strategy) == 4


def test_writing_identical_rules_back_does_not_raise_the_version() -> None:
    strategy = StrategyFactory()

    type(strategy).objects.filter(pk=strategy.pk).update(entry_rules=SMA_CROSS_ENTRY)

    assert stored_version(strategy) == 1


def test_saving_a_stale_strategy_instance_does_not_lower_the_version() -> None:
    strategy = StrategyFactory()
    strategy.entry_rules = NEW_ENTRY_RULES
    strategy.save()  # version 2 in the database, still 1 in memory

    strategy.name = "Renamed"
    strategy.save()

    assert stored_version(strategy) == 2


def test_an_update_cannot_set_the_version_directly() -> None:
    strategy = StrategyFactory()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE strategies SET version = 42 WHERE id = %s", [strategy.pk])

    assert stored_version(strategy) == 1


def test_a_version_set_alongside_new_rules_is_replaced_by_the_count() -> None:
    strategy = StrategyFactory()

    type(strategy).objects.filter(pk=strategy.pk).update(version=42, entry_rules=NEW_ENTRY_RULES)

    assert stored_version(strategy) == 2
