"""Writes to the time-series database, by job: candle imports and upserts (candles), synthetic
series (synthetic), ticks and equity snapshots (ticks_and_equity), the ticker cache (ticker) and the
maintenance beat jobs (maintenance). Other apps call these, never the tables; the names below are
the package's public interface."""

from marketdata.services.candles import (
    COPY_THRESHOLD,
    CandleInput,
    ImportResult,
    import_ohlcv,
    load_candle_rows,
    upsert_candles,
    validate_series,
)
from marketdata.services.maintenance import enforce_retention, refresh_rollups
from marketdata.services.synthetic import (
    SYNTHETIC_PRICE_LIMIT,
    generate_synthetic_ohlcv,
    synthetic_series,
)
from marketdata.services.ticker import publish_stored_price, update_ticker
from marketdata.services.ticks_and_equity import (
    EQUITY_COLUMNS,
    TICK_COLUMNS,
    EquitySnapshotInput,
    TickInput,
    record_equity_snapshots,
    record_ticks,
)

__all__ = [
    "COPY_THRESHOLD",
    "EQUITY_COLUMNS",
    "SYNTHETIC_PRICE_LIMIT",
    "TICK_COLUMNS",
    "CandleInput",
    "EquitySnapshotInput",
    "ImportResult",
    "TickInput",
    "enforce_retention",
    "generate_synthetic_ohlcv",
    "import_ohlcv",
    "load_candle_rows",
    "publish_stored_price",
    "record_equity_snapshots",
    "record_ticks",
    "refresh_rollups",
    "synthetic_series",
    "update_ticker",
    "upsert_candles",
    "validate_series",
]
