"""What operators see of the time-series database (`manage.py timeseries_status`, the admin's
status page): the mode, each table's rows and size, TimescaleDB's chunks, compression and policies
or plain mode's watermarks, the beat jobs with their last run, pending invalidations, and per
symbol the timeframes its candles are stored at."""

from datetime import timedelta

from django.db import connections

from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled

HYPERTABLES = ("ohlcv", "equity_history", "tick_data")
ROLLUP_RELATIONS = ("ohlcv_1h", "ohlcv_1d")
PLAIN_JOBS = {
    "refresh_ohlcv_rollups": "marketdata.tasks.refresh_ohlcv_rollups",
    "enforce_retention": "marketdata.tasks.enforce_retention",
}
# Under TimescaleDB the policies do the rest; the beat job refreshes logged ranges of history
# whose refresh right after their write failed or could not run.
TIMESCALEDB_JOBS = {"refresh_ohlcv_rollups": PLAIN_JOBS["refresh_ohlcv_rollups"]}


def _fetch_dicts(cursor, sql: str, params=None) -> list[dict]:
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _estimated_rows(cursor, table: str, *, timescale: bool) -> int | None:
    """The planner's row estimate; None where there is none (a plain table never analysed)."""
    if timescale and table in HYPERTABLES:
        cursor.execute("SELECT approximate_row_count(%s::regclass)", [table])
    elif timescale:
        # A continuous aggregate is a view: its rows live in its materialization hypertable.
        cursor.execute(
            "SELECT approximate_row_count(format('%%I.%%I', materialization_hypertable_schema, "
            "materialization_hypertable_name)::regclass) "
            "FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
            [table],
        )
    else:
        cursor.execute(
            "SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint END "
            "FROM pg_class WHERE oid = %s::regclass",
            [table],
        )
    return cursor.fetchone()[0]


def timeseries_status(*, exact_counts: bool = True, using: str = TIMESERIES_DB) -> dict:
    """What operators need to see: the mode, each table's rows and size, and the jobs that keep
    the data in shape (TimescaleDB: chunks, compression and policies with their last run;
    plain: rollup watermarks), the beat jobs with their last run, pending invalidations, and per
    symbol the timeframes its candles are stored at (1m and the native ones)."""
    timescale = timescaledb_enabled(using)
    status: dict = {"mode": "timescaledb" if timescale else "plain", "tables": []}
    with connections[using].cursor() as cursor:
        for table in HYPERTABLES + ROLLUP_RELATIONS:
            rows = None if exact_counts else _estimated_rows(cursor, table, timescale=timescale)
            if rows is None:
                cursor.execute(f"SELECT count(*) FROM {table}")
                rows = cursor.fetchone()[0]
            entry = {"table": table, "rows": rows, "rows_exact": exact_counts}
            if timescale and table in HYPERTABLES:
                cursor.execute("SELECT hypertable_size(%s::regclass)", [table])
                entry["size_bytes"] = cursor.fetchone()[0] or 0
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE is_compressed) "
                    "FROM timescaledb_information.chunks WHERE hypertable_name = %s",
                    [table],
                )
                entry["chunks"], entry["compressed_chunks"] = cursor.fetchone()
                cursor.execute(
                    "SELECT sum(before_compression_total_bytes), "
                    "sum(after_compression_total_bytes) FROM hypertable_compression_stats(%s)",
                    [table],
                )
                before, after = cursor.fetchone()
                entry["compression_ratio"] = (
                    round(float(before) / float(after), 2) if before and after else None
                )
            elif timescale:
                cursor.execute(
                    "SELECT hypertable_size(format('%%I.%%I', materialization_hypertable_schema, "
                    "materialization_hypertable_name)::regclass) "
                    "FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
                    [table],
                )
                entry["size_bytes"] = cursor.fetchone()[0] or 0
            else:
                cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [table])
                entry["size_bytes"] = cursor.fetchone()[0]
            status["tables"].append(entry)
        if timescale:
            status["policies"] = _fetch_dicts(
                cursor,
                "SELECT j.job_id, CASE WHEN j.proc_name = 'ohlcv_retention' "
                "THEN 'Retention of 1m candles (ohlcv_retention)' "
                "ELSE j.application_name END AS job, "
                "coalesce(j.hypertable_name, "
                "CASE WHEN j.proc_name = 'ohlcv_retention' THEN 'ohlcv' END, '') AS relation, "
                "j.schedule_interval::text AS schedule, j.config::text AS config, "
                "s.last_run_started_at AS last_run_at, s.last_run_status, s.next_start, "
                "s.total_runs, s.total_failures "
                "FROM timescaledb_information.jobs j "
                "LEFT JOIN timescaledb_information.job_stats s USING (job_id) "
                "WHERE j.hypertable_name = ANY(%s) OR j.proc_name = 'ohlcv_retention' "
                "ORDER BY j.job_id",
                [list(HYPERTABLES + ROLLUP_RELATIONS)],
            )
            status["continuous_aggregates"] = _fetch_dicts(
                cursor,
                "SELECT view_name, materialized_only, compression_enabled "
                "FROM timescaledb_information.continuous_aggregates ORDER BY view_name",
            )
        else:
            status["watermarks"] = _fetch_dicts(
                cursor,
                "SELECT rollup, watermark::text AS watermark FROM ohlcv_rollup_watermarks "
                "ORDER BY rollup",
            )
        runs = {
            row["job"]: row
            for row in _fetch_dicts(
                cursor,
                "SELECT job, last_run_at, last_duration_ms, last_status, "
                "last_result::text AS last_result FROM timeseries_job_runs",
            )
        }
        status["jobs"] = [
            {
                "job": job,
                "task": task,
                "last_run_at": runs.get(job, {}).get("last_run_at"),
                "last_status": runs.get(job, {}).get("last_status", "never run"),
                "last_duration_ms": runs.get(job, {}).get("last_duration_ms"),
                "last_result": runs.get(job, {}).get("last_result"),
            }
            for job, task in (TIMESCALEDB_JOBS if timescale else PLAIN_JOBS).items()
        ]
        cursor.execute("SELECT count(*) FROM ohlcv_rollup_invalidations")
        status["pending_invalidations"] = cursor.fetchone()[0]
        status["series"] = _stored_series(cursor)
    return status


# Distinct (symbol, timeframe) pairs of ohlcv by a loose index scan: one index probe per pair,
# not a scan of millions of candles.
_STORED_SERIES_SQL = """
WITH RECURSIVE pairs AS (
    (SELECT symbol, timeframe FROM ohlcv ORDER BY symbol, timeframe LIMIT 1)
    UNION ALL
    SELECT next.symbol, next.timeframe FROM pairs, LATERAL (
        SELECT symbol, timeframe FROM ohlcv
        WHERE (symbol, timeframe) > (pairs.symbol, pairs.timeframe)
        ORDER BY symbol, timeframe LIMIT 1
    ) next
)
SELECT symbol, array_agg(timeframe ORDER BY timeframe) FROM pairs GROUP BY symbol ORDER BY symbol
"""


def _stored_series(cursor) -> list[dict]:
    """Per symbol, the timeframes its candles are stored at: `1m` (every other timeframe can be
    derived from it) and the native ones, served as they are where they exist."""
    cursor.execute(_STORED_SERIES_SQL)
    return [
        {
            "symbol": symbol,
            "minutes": "1m" in codes,
            "native_timeframes": sorted(
                (code for code in codes if code != "1m"), key=_timeframe_order
            ),
        }
        for symbol, codes in cursor.fetchall()
    ]


def _timeframe_order(code: str) -> tuple:
    frame = Timeframe.parse(code)
    return (frame.is_monthly, frame.width or timedelta(0), frame.count)
