"""The router sends the time-series app to the `timeseries` database and every other model to
`default`, for reads, writes and migrations; after `migrate`, each table exists only where its
model is routed."""

import pytest
from django.apps import apps
from django.db import connections, models, router

from apextrade.db_router import TimeseriesRouter

DATABASES = ("default", "timeseries")
RELATIONAL_TABLES = [
    "users",
    "strategies",
    "backtests",
    "backtest_trades",
    "portfolios",
    "positions",
    "trades",
    "api_keys",
    "alerts",
    "audit_logs",
]
TIME_SERIES_TABLES = ["ohlcv", "equity_history", "tick_data"]

ALL_MODELS = apps.get_models(include_auto_created=True)
MANAGED_TABLE_MODELS = [
    model for model in ALL_MODELS if model._meta.managed and not model._meta.proxy
]


def model_id(model: type[models.Model]) -> str:
    return model._meta.label


def expected_database(model: type[models.Model]) -> str:
    return "timeseries" if model._meta.app_label == "marketdata" else "default"


def table_exists(database: str, table: str) -> bool:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{table}"])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_reads_and_writes_go_to_the_models_database(model: type[models.Model]) -> None:
    assert router.db_for_read(model) == expected_database(model)
    assert router.db_for_write(model) == expected_database(model)


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_a_model_migrates_only_into_its_own_database(model: type[models.Model]) -> None:
    allowed = {
        database
        for database in DATABASES
        if router.allow_migrate_model(database, model)
        and router.allow_migrate(database, model._meta.app_label, model_name=model._meta.model_name)
    }

    assert allowed == {expected_database(model)}


def test_the_time_series_app_is_the_only_one_sent_to_timeseries() -> None:
    routed_apps = {
        config.label: TimeseriesRouter().allow_migrate("timeseries", config.label)
        for config in apps.get_app_configs()
    }

    assert {label for label, allowed in routed_apps.items() if allowed} == {"marketdata"}


def test_objects_of_the_two_databases_may_not_be_related() -> None:
    marketdata_models = [m for m in ALL_MODELS if m._meta.app_label == "marketdata"]
    if not marketdata_models:
        pytest.skip("the marketdata models have not landed yet")
    relational = apps.get_model("accounts", "User")()
    time_series = marketdata_models[0]()

    assert router.allow_relation(relational, time_series) is False
    assert router.allow_relation(relational, apps.get_model("trading", "Portfolio")()) is True


@pytest.mark.django_db(databases=["default", "timeseries"])
@pytest.mark.parametrize("table", RELATIONAL_TABLES)
def test_relational_tables_exist_only_in_the_default_database(table: str) -> None:
    assert table_exists("default", table)
    assert not table_exists("timeseries", table)


@pytest.mark.django_db(databases=["default", "timeseries"])
@pytest.mark.parametrize("table", TIME_SERIES_TABLES)
def test_time_series_tables_exist_only_in_the_timeseries_database(table: str) -> None:
    assert table_exists("timeseries", table)
    assert not table_exists("default", table)


@pytest.mark.django_db(databases=["default", "timeseries"])
@pytest.mark.parametrize("model", MANAGED_TABLE_MODELS, ids=model_id)
def test_every_table_is_created_in_its_models_database_and_nowhere_else(
    model: type[models.Model],
) -> None:
    here = expected_database(model)
    elsewhere = next(database for database in DATABASES if database != here)

    assert table_exists(here, model._meta.db_table)
    assert not table_exists(elsewhere, model._meta.db_table)
