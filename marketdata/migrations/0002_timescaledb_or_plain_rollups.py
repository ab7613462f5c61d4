"""TimescaleDB when the server can load it, plain PostgreSQL otherwise (spec §4, §7.1).

TimescaleDB mode: the extension, hypertables with the spec's chunk intervals (made here with
create_hypertable, so the composite primary keys, which include `time`, stay; no default
`time DESC` index, since each primary key already leads with `time`), compression and
its policies, retention policies, and the continuous aggregates ohlcv_1h / ohlcv_1d (real-time:
`materialized_only = false`, so the not yet materialized tail comes from raw candles) with their
refresh policies. The aggregates are created WITH NO DATA, which is allowed in a transaction;
only refreshing them is not, and that happens outside migrations (marketdata/rollups.py).

Plain mode: ohlcv_1h / ohlcv_1d as tables with the same columns, refreshed incrementally by a
beat job from the invalidation log that the write services keep; retention is a beat
job too. See docs/timeseries.md.

The mode is decided by what the database can do when this migration runs, so the SQL lives here
and is never changed afterwards.
"""

from django.db import migrations

TIMESCALE_FORWARD = """
SELECT create_hypertable('ohlcv', 'time', chunk_time_interval => INTERVAL '7 days',
                         migrate_data => true, create_default_indexes => false);
ALTER TABLE ohlcv SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('ohlcv', INTERVAL '7 days');
SELECT add_retention_policy('ohlcv', INTERVAL '5 years');

SELECT create_hypertable('equity_history', 'time', chunk_time_interval => INTERVAL '30 days',
                         migrate_data => true, create_default_indexes => false);
ALTER TABLE equity_history SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'portfolio_id',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('equity_history', INTERVAL '30 days');
SELECT add_retention_policy('equity_history', INTERVAL '10 years');

SELECT create_hypertable('tick_data', 'time', chunk_time_interval => INTERVAL '1 day',
                         migrate_data => true, create_default_indexes => false);
ALTER TABLE tick_data SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('tick_data', INTERVAL '1 day');
SELECT add_retention_policy('tick_data', INTERVAL '7 days');

CREATE MATERIALIZED VIEW ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket('1 hour', time) AS bucket,
    symbol,
    '1h' AS timeframe,
    first(open, time) AS open,
    max(high) AS high,
    min(low) AS low,
    last(close, time) AS close,
    sum(volume) AS volume,
    count(*) AS candle_count
FROM ohlcv
WHERE timeframe = '1m'
GROUP BY bucket, symbol
WITH NO DATA;

SELECT add_continuous_aggregate_policy('ohlcv_1h',
    start_offset => INTERVAL '3 hours',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes'
);

CREATE MATERIALIZED VIEW ohlcv_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket('1 day', bucket) AS bucket,
    symbol,
    '1d' AS timeframe,
    first(open, bucket) AS open,
    max(high) AS high,
    min(low) AS low,
    last(close, bucket) AS close,
    sum(volume) AS volume,
    sum(candle_count) AS candle_count
FROM ohlcv_1h
GROUP BY time_bucket('1 day', bucket), symbol
WITH NO DATA;

SELECT add_continuous_aggregate_policy('ohlcv_1d',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour'
);
"""

TIMESCALE_REVERSE = """
DROP MATERIALIZED VIEW IF EXISTS ohlcv_1d;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_1h;
SELECT remove_retention_policy(t, if_exists => true)
  FROM unnest(ARRAY['ohlcv', 'equity_history', 'tick_data']::regclass[]) AS t;
SELECT remove_compression_policy(t, if_exists => true)
  FROM unnest(ARRAY['ohlcv', 'equity_history', 'tick_data']::regclass[]) AS t;
"""

# The rollup tables have the continuous aggregates' columns and types. Changed 1m candles are
# logged by marketdata.services into ohlcv_rollup_invalidations (see models.RollupInvalidation).
PLAIN_FORWARD = """
CREATE TABLE ohlcv_1h (
    bucket       TIMESTAMPTZ NOT NULL,
    symbol       TEXT NOT NULL,
    timeframe    TEXT NOT NULL DEFAULT '1h',
    open         NUMERIC NOT NULL,
    high         NUMERIC NOT NULL,
    low          NUMERIC NOT NULL,
    close        NUMERIC NOT NULL,
    volume       NUMERIC NOT NULL,
    candle_count BIGINT NOT NULL,
    PRIMARY KEY (symbol, bucket)
);
CREATE TABLE ohlcv_1d (
    bucket       TIMESTAMPTZ NOT NULL,
    symbol       TEXT NOT NULL,
    timeframe    TEXT NOT NULL DEFAULT '1d',
    open         NUMERIC NOT NULL,
    high         NUMERIC NOT NULL,
    low          NUMERIC NOT NULL,
    close        NUMERIC NOT NULL,
    volume       NUMERIC NOT NULL,
    candle_count NUMERIC NOT NULL,
    PRIMARY KEY (symbol, bucket)
);
INSERT INTO ohlcv_rollup_watermarks (rollup, watermark)
VALUES ('ohlcv_1h', '-infinity'), ('ohlcv_1d', '-infinity');

"""

PLAIN_REVERSE = """
DELETE FROM ohlcv_rollup_watermarks WHERE rollup IN ('ohlcv_1h', 'ohlcv_1d');
DROP TABLE IF EXISTS ohlcv_1d;
DROP TABLE IF EXISTS ohlcv_1h;
"""

_STATE_SQL = """
SELECT
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
    coalesce(current_setting('shared_preload_libraries', true), '') LIKE '%timescaledb%'
"""


def _timescaledb(schema_editor) -> bool:
    """Create the extension only where the server preloads it: elsewhere CREATE EXTENSION ends
    the connection with a FATAL even though pg_available_extensions lists timescaledb."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_STATE_SQL)
        installed, available, preloaded = cursor.fetchone()
        if not installed and available and preloaded:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            installed = True
    return bool(installed)


def forward(apps, schema_editor):
    schema_editor.execute(
        TIMESCALE_FORWARD if _timescaledb(schema_editor) else PLAIN_FORWARD, params=None
    )


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        timescale = cursor.fetchone()[0]
    schema_editor.execute(TIMESCALE_REVERSE if timescale else PLAIN_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
