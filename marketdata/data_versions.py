"""Candle data versions: what keys the array cache (marketdata.array_cache).

Every write to a symbol's candles through marketdata (imports, downloads, feeds, synthetic data,
the rollups' refresh, retention) moves the symbol's version in the writing transaction. A version
is the next value of one sequence, never a counter: sequences ignore rollbacks, so a version is
never handed out twice, even when a transaction that took it rolled back. A symbol without a row
was never written through marketdata (raw SQL, a bench's seed): its arrays are not cached.
"""

from collections.abc import Iterable

from django.db import connections

from marketdata.timescale import TIMESERIES_DB

_BUMP_SQL = """
INSERT INTO ohlcv_data_versions (symbol, version, changed_at)
SELECT symbol, nextval('ohlcv_data_version_seq'), now() FROM unnest(%s::text[]) symbol
ON CONFLICT (symbol) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at
"""


def move_data_versions(*, symbols: Iterable[str] | None, using: str = TIMESERIES_DB) -> None:
    """A new version for each of `symbols` (every symbol known, with None), in the caller's
    transaction."""
    with connections[using].cursor() as cursor:
        if symbols is None:
            cursor.execute(
                "UPDATE ohlcv_data_versions SET version = nextval('ohlcv_data_version_seq'), "
                "changed_at = now()"
            )
        else:
            cursor.execute(_BUMP_SQL, [sorted(set(symbols))])


def data_version(*, symbol: str, using: str = TIMESERIES_DB) -> int | None:
    """The symbol's current version; None when nothing was ever written through marketdata."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT version FROM ohlcv_data_versions WHERE symbol = %s", [symbol])
        row = cursor.fetchone()
    return row[0] if row else None
