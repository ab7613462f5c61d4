"""The time-series schema (spec §4): columns and types, composite keys that include `time`, the
valid_ohlcv CHECK, the indexes; in TimescaleDB mode hypertables with the spec's chunk intervals
and compression; in plain mode the rollup tables."""

import datetime as dt

import pytest
from django.db import IntegrityError, connections, transaction

from marketdata.models import Ohlcv

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def columns(table: str) -> dict[str, str]:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns "
            "JOIN pg_attribute ON attrelid = %s::regclass AND attname = column_name "
            "WHERE table_name = %s ORDER BY ordinal_position",
            [table, table],
        )
        return dict(cursor.fetchall())


def primary_key(table: str) -> list[str]:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def test_ohlcv_has_the_spec_columns_and_types() -> None:
    assert columns("ohlcv") == {
        "time": "timestamp with time zone",
        "symbol": "text",
        "timeframe": "text",
        "open": "numeric(18,8)",
        "high": "numeric(18,8)",
        "low": "numeric(18,8)",
        "close": "numeric(18,8)",
        "volume": "numeric(24,8)",
        "source": "text",
    }


def test_equity_history_and_tick_data_have_the_spec_columns() -> None:
    assert columns("equity_history") == {
        "time": "timestamp with time zone",
        "portfolio_id": "uuid",
        "equity_value": "numeric(15,2)",
        "cash_balance": "numeric(15,2)",
        "positions_value": "numeric(15,2)",
        "daily_pnl": "numeric(15,2)",
        "daily_pnl_pct": "numeric(8,4)",
        "cumulative_pnl": "numeric(15,2)",
        "cumulative_pnl_pct": "numeric(8,4)",
        "peak_equity": "numeric(15,2)",
        "drawdown": "numeric(15,2)",
        "drawdown_pct": "numeric(8,4)",
    }
    assert columns("tick_data") == {
        "time": "timestamp with time zone",
        "symbol": "text",
        "bid": "numeric(18,8)",
        "ask": "numeric(18,8)",
        "last_price": "numeric(18,8)",
        "last_volume": "numeric(18,8)",
        "source": "text",
    }


def test_the_keys_are_the_er_diagrams_composite_keys_and_include_time() -> None:
    assert primary_key("ohlcv") == ["time", "symbol", "timeframe"]
    assert primary_key("equity_history") == ["time", "portfolio_id"]
    assert primary_key("tick_data") == ["time", "symbol"]


def test_the_spec_indexes_exist() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('ohlcv', 'equity_history', 'tick_data') ORDER BY indexname"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert {
        "idx_ohlcv_symbol_time",
        "idx_ohlcv_symbol_timeframe_time",
        "idx_equity_portfolio_time",
        "idx_tick_symbol_time",
        "idx_ohlcv_unique",
    } <= names


def test_the_spec_indexes_are_built_as_written() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('ohlcv', 'equity_history', 'tick_data')"
        )
        definitions = {name: definition.split(" USING ")[1] for name, definition in cursor}
    assert definitions["idx_ohlcv_unique"] == 'btree ("time", symbol, timeframe)'
    assert definitions["idx_ohlcv_symbol_time"] == 'btree (symbol, "time" DESC)'
    assert (
        definitions["idx_ohlcv_symbol_timeframe_time"] == 'btree (symbol, timeframe, "time" DESC)'
    )
    assert definitions["idx_equity_portfolio_time"] == 'btree (portfolio_id, "time" DESC)'
    assert definitions["idx_tick_symbol_time"] == 'btree (symbol, "time" DESC)'


def test_the_upsert_key_is_unique_under_its_spec_name() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT indisunique, indisprimary FROM pg_index "
            "WHERE indexrelid = 'idx_ohlcv_unique'::regclass"
        )
        assert cursor.fetchone() == (True, True)


@pytest.mark.parametrize(
    ("open_", "high", "low", "close", "volume"),
    [(1, 1, 2, 1, 1), (3, 2, 1, 1, 1), (1, 2, 1, 3, 1), (1, 2, 1, 1, -1), (0.5, 2, 1, 1, 1)],
)
def test_valid_ohlcv_refuses_an_impossible_candle(open_, high, low, close, volume) -> None:
    with pytest.raises(IntegrityError, match="valid_ohlcv"), transaction.atomic("timeseries"):
        Ohlcv.objects.create(
            time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), symbol="BTC/USDT", timeframe="1m",
            open=open_, high=high, low=low, close=close, volume=volume,
        )  # fmt: skip


def test_source_defaults_to_binance_in_the_database() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume) "
            "VALUES ('2024-01-01', 'BTC/USDT', '1m', 1, 1, 1, 1, 1) RETURNING source"
        )
        assert cursor.fetchone()[0] == "binance"


@pytest.mark.timescaledb
def test_timescaledb_hypertables_have_the_spec_chunk_intervals() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name, column_name, time_interval "
            "FROM timescaledb_information.dimensions "
            "WHERE hypertable_name IN ('ohlcv', 'equity_history', 'tick_data') "
            "ORDER BY hypertable_name"
        )
        assert cursor.fetchall() == [
            ("equity_history", "time", dt.timedelta(days=30)),
            ("ohlcv", "time", dt.timedelta(days=7)),
            ("tick_data", "time", dt.timedelta(days=1)),
        ]


@pytest.mark.timescaledb
def test_timescaledb_compression_is_set_as_the_spec_says() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index, "
            "orderby_asc FROM timescaledb_information.compression_settings "
            "WHERE hypertable_name IN ('ohlcv', 'equity_history', 'tick_data') "
            "ORDER BY hypertable_name, attname"
        )
        assert cursor.fetchall() == [
            ("equity_history", "portfolio_id", 1, None, None),
            ("equity_history", "time", None, 1, False),
            ("ohlcv", "symbol", 1, None, None),
            ("ohlcv", "time", None, 1, False),
            ("ohlcv", "timeframe", 2, None, None),
            ("tick_data", "symbol", 1, None, None),
            ("tick_data", "time", None, 1, False),
        ]
        cursor.execute(
            "SELECT hypertable_name, config->>'compress_after' FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_compression' ORDER BY hypertable_name"
        )
        assert cursor.fetchall() == [
            ("equity_history", "30 days"),
            ("ohlcv", "7 days"),
            ("tick_data", "1 day"),
        ]


@pytest.mark.timescaledb
def test_timescaledb_keeps_the_composite_primary_key_on_the_hypertable() -> None:
    assert primary_key("ohlcv") == ["time", "symbol", "timeframe"]
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'ohlcv'")
        assert cursor.fetchone()[0] == 3  # the key and the two spec indexes, no default index


@pytest.mark.plain_postgres
def test_plain_mode_has_rollup_tables_with_the_aggregates_columns() -> None:
    expected = ["bucket", "symbol", "timeframe", "open", "high", "low", "close", "volume",
                "candle_count"]  # fmt: skip
    assert list(columns("ohlcv_1h")) == expected
    assert list(columns("ohlcv_1d")) == expected
    assert primary_key("ohlcv_1h") == ["symbol", "bucket"]
