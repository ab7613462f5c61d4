"""Spec §7.1: OHLCV 5 years (1m candles only: native 1h/1d history is kept), equity history 10
years, ticks 7 days. Plain mode deletes with a beat job; TimescaleDB mode has retention policies
and, for ohlcv, the custom job ohlcv_retention."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connections

from marketdata.models import EquityHistory, MaintenanceJobRun, Ohlcv, OhlcvDataVersion, TickData
from marketdata.retention import enforce_retention
from marketdata.services import enforce_retention as enforce_retention_job
from marketdata.tasks import enforce_retention as enforce_retention_task
from marketdata.timescale import timescaledb_enabled
from tests.marketdata.helpers import run_ohlcv_retention

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)


def candle(symbol: str, time: dt.datetime, timeframe: str = "1m") -> Ohlcv:
    return Ohlcv(time=time, symbol=symbol, timeframe=timeframe, open=1, high=1, low=1, close=1,
                 volume=1)  # fmt: skip


def equity(portfolio: uuid.UUID, time: dt.datetime) -> EquityHistory:
    return EquityHistory(time=time, portfolio_id=portfolio, equity_value=Decimal(1),
                         cash_balance=Decimal(1), positions_value=Decimal(0))  # fmt: skip


@pytest.mark.plain_postgres
def test_the_retention_job_deletes_only_what_is_past_each_window(symbol: str) -> None:
    Ohlcv.objects.bulk_create(
        [candle(symbol, NOW - dt.timedelta(days=365 * 5 + 2)),
         candle(symbol, NOW - dt.timedelta(days=365 * 5 - 2))]
    )  # fmt: skip
    portfolio = uuid.uuid4()
    EquityHistory.objects.bulk_create(
        [equity(portfolio, NOW - dt.timedelta(days=3655)),
         equity(portfolio, NOW - dt.timedelta(days=3645))]
    )  # fmt: skip
    TickData.objects.bulk_create(
        [TickData(time=NOW - dt.timedelta(days=8), symbol=symbol, last_price=1),
         TickData(time=NOW - dt.timedelta(days=6), symbol=symbol, last_price=1)]
    )  # fmt: skip

    deleted = enforce_retention(now=NOW)

    assert deleted == {"ohlcv": 1, "equity_history": 1, "tick_data": 1}
    assert Ohlcv.objects.filter(symbol=symbol).count() == 1
    assert EquityHistory.objects.filter(portfolio_id=portfolio).count() == 1
    assert TickData.objects.filter(symbol=symbol).count() == 1


@pytest.mark.plain_postgres
def test_retention_leaves_the_rollups_alone(symbol: str) -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv_1h VALUES (%s, %s, '1h', 1, 1, 1, 1, 1, 60)",
            [NOW - dt.timedelta(days=365 * 6), symbol],
        )
        enforce_retention(now=NOW)
        cursor.execute("SELECT count(*) FROM ohlcv_1h WHERE symbol = %s", [symbol])
        assert cursor.fetchone()[0] == 1


def test_the_beat_task_records_its_run() -> None:
    assert enforce_retention_task() == "success"

    run = MaintenanceJobRun.objects.get(job="enforce_retention")
    assert run.last_status == "success"
    assert enforce_retention_job().last_run_at >= run.last_run_at


@pytest.mark.timescaledb
def test_timescaledb_has_the_spec_retention_policies_and_a_1m_job_for_ohlcv() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name, config->>'drop_after' FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_retention' ORDER BY hypertable_name"
        )
        assert cursor.fetchall() == [("equity_history", "10 years"), ("tick_data", "7 days")]
        cursor.execute(
            "SELECT schedule_interval, config->>'drop_after' FROM timescaledb_information.jobs "
            "WHERE proc_name = 'ohlcv_retention'"
        )
        assert cursor.fetchall() == [(dt.timedelta(days=1), "5 years")]


def test_retention_deletes_old_1m_candles_and_keeps_native_history(symbol: str) -> None:
    """Both modes: twenty-year-old daily and six-year-old hourly candles stay; only the 1m
    candle past the 5-year horizon goes. In TimescaleDB mode the old chunks are compressed
    first: the job deletes from compressed chunks too."""
    now = dt.datetime.now(UTC)
    old, recent = now - dt.timedelta(days=365 * 5 + 30), now - dt.timedelta(days=365 * 5 - 30)
    Ohlcv.objects.bulk_create(
        [candle(symbol, old), candle(symbol, recent),
         candle(symbol, old - dt.timedelta(days=365), "1h"),
         candle(symbol, now - dt.timedelta(days=365 * 20), "1d")]
    )  # fmt: skip
    with connections["timeseries"].cursor() as cursor:
        if timescaledb_enabled():
            cursor.execute(
                "SELECT count(compress_chunk(c)) FROM show_chunks('ohlcv', older_than => %s) c",
                [recent - dt.timedelta(days=30)],
            )
            assert cursor.fetchone()[0] >= 3
        cursor.execute("INSERT INTO ohlcv_data_versions (symbol, version) VALUES (%s, 0)", [symbol])

    run_ohlcv_retention()

    kept = Ohlcv.objects.filter(symbol=symbol).order_by("time").values_list("timeframe", "time")
    assert [timeframe for timeframe, _ in kept] == ["1d", "1h", "1m"]
    assert kept[2][1] == recent
    assert OhlcvDataVersion.objects.get(symbol=symbol).version > 0  # moved


@pytest.mark.timescaledb
def test_timescaledb_retention_drops_old_chunks(symbol: str) -> None:
    old = dt.datetime.now(UTC) - dt.timedelta(days=30)
    TickData.objects.create(time=old, symbol=symbol, last_price=1)
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT drop_chunks('tick_data', older_than => INTERVAL '7 days')")

    assert not TickData.objects.filter(symbol=symbol).exists()
