"""Writing test candles and files."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.db import connections

from marketdata.retention import enforce_retention
from marketdata.services import CandleInput, upsert_candles
from marketdata.timescale import timescaledb_enabled

UTC = dt.UTC


def minute_candles(start: dt.datetime, count: int, *, first_open: int = 100) -> list[CandleInput]:
    """Candle i: open 100+i, close 100.5+i, high close+1, low open-1, volume i+1."""
    return [
        CandleInput(
            time=start + dt.timedelta(minutes=i),
            open=Decimal(first_open + i),
            high=Decimal(first_open + i) + Decimal("1.5"),
            low=Decimal(first_open + i) - Decimal("1"),
            close=Decimal(first_open + i) + Decimal("0.5"),
            volume=Decimal(i + 1),
        )
        for i in range(count)
    ]


def write_minutes(symbol: str, candles: list[CandleInput]) -> int:
    return upsert_candles(symbol=symbol, timeframe="1m", candles=candles)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"))
    return path


def run_ohlcv_retention() -> None:
    """Run what enforces ohlcv's retention in this mode, now: the plain beat job, or
    TimescaleDB's ohlcv_retention job (the scheduler is paused in tests, tests/conftest.py)."""
    if not timescaledb_enabled():
        enforce_retention()
        return
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'ohlcv_retention'"
        )
        (job_id,) = cursor.fetchone()
        cursor.execute("CALL run_job(%s)", [job_id])
