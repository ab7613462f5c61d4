"""timeseries_status and the operator console page show the mode, each table's rows and size,
and the jobs with their last run."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse

from marketdata.services import refresh_rollups
from marketdata.status import timeseries_status
from marketdata.timescale import timescaledb_enabled
from tests.factories import OperatorFactory, UserFactory
from tests.marketdata.helpers import minute_candles, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

STATUS_PAGE = "admin:marketdata_maintenancejobrun_changelist"


def test_status_names_the_mode_and_counts_rows(symbol: str) -> None:
    write_minutes(symbol, minute_candles(dt.datetime(2024, 3, 4, tzinfo=dt.UTC), 7))
    out = StringIO()

    call_command("timeseries_status", "--json", stdout=out)

    status = json.loads(out.getvalue())
    assert status["mode"] == ("timescaledb" if timescaledb_enabled() else "plain")
    tables = {table["table"]: table for table in status["tables"]}
    assert set(tables) == {"ohlcv", "equity_history", "tick_data", "ohlcv_1h", "ohlcv_1d"}
    assert tables["ohlcv"]["rows"] == 7
    assert tables["ohlcv"]["size_bytes"] > 0


@pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)
def test_estimated_counts_cover_the_rollups_too(symbol: str) -> None:
    write_minutes(symbol, minute_candles(dt.datetime(2024, 3, 4, tzinfo=dt.UTC), 3000))
    refresh_rollups()
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("ANALYZE")

    estimated = {t["table"]: t["rows"] for t in timeseries_status(exact_counts=False)["tables"]}
    exact = {t["table"]: t["rows"] for t in timeseries_status(exact_counts=True)["tables"]}

    assert exact["ohlcv_1h"] >= 50 and exact["ohlcv_1d"] >= 3  # (other tests may leave rows)
    for table in ("ohlcv", "ohlcv_1h", "ohlcv_1d"):
        assert estimated[table] == pytest.approx(exact[table], rel=0.2), table


@pytest.mark.plain_postgres
def test_plain_status_lists_the_beat_jobs_and_their_last_run() -> None:
    refresh_rollups()
    out = StringIO()

    call_command("timeseries_status", stdout=out)

    text = out.getvalue()
    assert "Mode: plain PostgreSQL" in text
    assert "refresh_ohlcv_rollups (marketdata.tasks.refresh_ohlcv_rollups): last run 20" in text
    assert "enforce_retention (marketdata.tasks.enforce_retention): last run never" in text
    assert "Rollup watermarks:" in text


@pytest.mark.timescaledb
def test_timescaledb_status_lists_chunks_compression_and_policies() -> None:
    out = StringIO()

    call_command("timeseries_status", stdout=out)

    text = out.getvalue()
    assert "Mode: TimescaleDB" in text
    assert "chunks  compressed   ratio" in text
    for policy in ("Columnstore Policy", "Retention Policy", "Refresh Continuous Aggregate"):
        assert policy in text
    assert "ohlcv_1h: real-time on" in text
    assert "Retention of 1m candles (ohlcv_retention) on ohlcv, every 1 day" in text


def test_operators_see_the_status_and_the_latest_candles_in_the_console(symbol: str) -> None:
    write_minutes(symbol, minute_candles(dt.datetime(2024, 3, 4, tzinfo=dt.UTC), 90))
    client = Client()
    client.force_login(OperatorFactory())

    page = client.get(reverse(STATUS_PAGE), {"symbol": symbol, "timeframe": "1h"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Timeseries status" in text
    assert "TimescaleDB" in text or "plain PostgreSQL" in text
    assert "ohlcv_1d" in text
    assert "2024-03-04 01:00" in text and "2024-03-04 00:00" in text
    assert "1m candles per day" in text


def test_the_status_page_is_for_staff_only() -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(reverse(STATUS_PAGE)).status_code == 302


def test_the_coverage_table_counts_whole_days_from_a_day_boundary(symbol: str) -> None:
    """A full day shows 1440 candles, the latest day counts its last candle too."""
    day = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
    write_minutes(symbol, minute_candles(day - dt.timedelta(minutes=30), 30 + 1440 + 90))
    client = Client()
    client.force_login(OperatorFactory())

    text = client.get(reverse(STATUS_PAGE), {"symbol": symbol, "timeframe": "1h"}).content.decode()

    assert "<td>2024-03-03</td><td><strong>30</strong></td>" in text
    assert "<td>2024-03-04</td><td>1440</td>" in text
    assert "<td>2024-03-05</td><td><strong>90</strong></td>" in text
