"""Sends the time-series app to the `timeseries` database and everything else to `default`.

The hypertables (ohlcv, equity_history, tick_data) and the rollup bookkeeping beside them live in
the `marketdata` app; no foreign key crosses the two databases.
"""

from typing import Any

TIMESERIES_APPS = frozenset({"marketdata"})
TIMESERIES_DB = "timeseries"
DEFAULT_DB = "default"


def database_for_app(app_label: str) -> str:
    return TIMESERIES_DB if app_label in TIMESERIES_APPS else DEFAULT_DB


class TimeseriesRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        return database_for_app(model._meta.app_label)

    def db_for_write(self, model: type, **hints: Any) -> str:
        return database_for_app(model._meta.app_label)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return database_for_app(obj1._meta.app_label) == database_for_app(obj2._meta.app_label)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db == database_for_app(app_label)
