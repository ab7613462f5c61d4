"""Retention of ohlcv spares native history: only 1m candles past the 5-year horizon are deleted,
so candles stored at their own timeframe (a stock's twenty years of daily candles, an hourly
import) stay (docs/timeseries.md, "Retention", a deviation from spec §7.1).

TimescaleDB mode: the retention policy (drop_chunks, whole chunks whatever the timeframe) is
replaced by a custom job that DELETEs the 1m rows past the horizon (TimescaleDB deletes from
compressed chunks too) and, when it deleted any, moves every symbol's data version, as the plain
job does, so the candle array cache never serves deleted candles. Plain mode: nothing to do here;
the beat job (marketdata/retention.py) deletes 1m rows only.

The mode is detected as migration 0002 left it (is the extension installed?), and the SQL is a
frozen copy that never changes.
"""

from django.db import migrations

TIMESCALE_FORWARD = """
CREATE OR REPLACE PROCEDURE ohlcv_retention(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    deleted bigint;
BEGIN
    DELETE FROM ohlcv
     WHERE timeframe = '1m'
       AND time < now() - (config->>'drop_after')::interval;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF deleted > 0 THEN
        UPDATE ohlcv_data_versions
           SET version = nextval('ohlcv_data_version_seq'), changed_at = now();
    END IF;
    RAISE LOG 'ohlcv_retention: % 1m candles deleted', deleted;
END
$$;

SELECT remove_retention_policy('ohlcv', if_exists => true);
SELECT add_job('ohlcv_retention', INTERVAL '1 day',
               config => '{"drop_after": "5 years"}'::jsonb);
"""

TIMESCALE_REVERSE = """
SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_name = 'ohlcv_retention';
DROP PROCEDURE IF EXISTS ohlcv_retention(integer, jsonb);
SELECT add_retention_policy('ohlcv', INTERVAL '5 years', if_not_exists => true);
"""

_INSTALLED_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"


def _timescaledb(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_INSTALLED_SQL)
        return bool(cursor.fetchone()[0])


def forward(apps, schema_editor):
    if _timescaledb(schema_editor):
        schema_editor.execute(TIMESCALE_FORWARD, params=None)


def backward(apps, schema_editor):
    if _timescaledb(schema_editor):
        schema_editor.execute(TIMESCALE_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0003_ohlcv_data_versions")]

    operations = [migrations.RunPython(forward, backward)]
