"""What an import reports as its load time: parsing, checking, writing and the COMMIT (the bench's
"load" figure), but not the rollup refresh that runs after the commit."""

from pathlib import Path

import pytest
from django.db import connections

from marketdata.services import import_ohlcv
from tests.marketdata.helpers import write_csv

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

COMMIT_SECONDS = 0.4


@pytest.fixture
def slow_commit():
    """A deferred constraint trigger: it runs at COMMIT, once per transaction that writes the
    marked symbol, and sleeps there."""
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION test_slow_commit() RETURNS trigger AS $$
            BEGIN
                IF current_setting('test.slept', true) IS DISTINCT FROM 'yes' THEN
                    PERFORM set_config('test.slept', 'yes', true);
                    PERFORM pg_sleep({COMMIT_SECONDS});
                END IF;
                RETURN NULL;
            END $$ LANGUAGE plpgsql;
            CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON ohlcv
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (NEW.symbol LIKE '%%/SLOW') EXECUTE FUNCTION test_slow_commit();
            """
        )
    yield
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("DROP TRIGGER test_slow_commit ON ohlcv; DROP FUNCTION test_slow_commit();")


def test_the_load_time_includes_the_commit(tmp_path: Path, symbol: str, slow_commit) -> None:
    series = symbol.replace("/TEST", "/SLOW")
    path = write_csv(
        tmp_path / "candles.csv",
        """
time,open,high,low,close,volume
2024-03-04T00:00:00Z,100,101,99,100.5,1
2024-03-04T00:01:00Z,100.5,102,100,101,2
""",
    )

    result = import_ohlcv(path=path, symbol=series, timeframe="1m")

    assert result.report.rows_written == 2
    assert result.seconds_loading >= COMMIT_SECONDS
    assert result.seconds_refreshing < COMMIT_SECONDS
