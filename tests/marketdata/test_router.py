"""The whole marketdata app lives in the `timeseries` database, bookkeeping included."""

import pytest
from django.apps import apps
from django.db import connections, router

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

MARKETDATA_MODELS = list(apps.get_app_config("marketdata").get_models())
TABLES = [
    "ohlcv",
    "equity_history",
    "tick_data",
    "ohlcv_1h",
    "ohlcv_1d",
    "ohlcv_rollup_invalidations",
    "ohlcv_rollup_watermarks",
    "timeseries_job_runs",
]


def exists(database: str, table: str) -> bool:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{table}"])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("model", MARKETDATA_MODELS, ids=lambda m: m._meta.label)
def test_marketdata_models_read_write_and_migrate_in_timeseries(model) -> None:
    assert router.db_for_read(model) == "timeseries"
    assert router.db_for_write(model) == "timeseries"
    assert router.allow_migrate_model("timeseries", model)
    assert not router.allow_migrate_model("default", model)


@pytest.mark.parametrize("table", TABLES)
def test_marketdata_tables_exist_only_in_timeseries(table: str) -> None:
    assert exists("timeseries", table)
    assert not exists("default", table)
