"""Synthetic candles (marketdata.synthetic), checked and loaded like any other series."""

from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from django.core.exceptions import ValidationError
from django.utils import timezone

from marketdata.ingest.files import Row
from marketdata.services.candles import ImportResult, load_candle_rows, validate_series
from marketdata.synthetic import synthetic_candles
from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB

# Synthetic series start at most here, so that their random walk stays inside NUMERIC(18,8).
SYNTHETIC_PRICE_LIMIT = 1e8


def synthetic_series(
    *,
    symbol: str,
    timeframe: str,
    bars: int,
    seed: int,
    start: datetime | None = None,
    price: float = 30_000.0,
) -> dict[str, np.ndarray]:
    """Synthetic candles (marketdata.synthetic) of one series, checked like any other series; by
    default the last one is the current bar. Raises ValidationError keyed by argument."""
    validate_series(symbol=symbol, timeframe=timeframe)
    frame = Timeframe.parse(timeframe)
    if frame.width is None:
        raise ValidationError({"timeframe": ["Synthetic candles need a fixed-width timeframe."]})
    if bars < 1:
        raise ValidationError({"bars": ["Must be at least 1."]})
    if not 0 < price <= SYNTHETIC_PRICE_LIMIT:
        raise ValidationError(
            {"price": [f"Must be above 0 and at most {SYNTHETIC_PRICE_LIMIT:g}."]}
        )
    if start is None:
        start = frame.floor(timezone.now()) - frame.width * (bars - 1)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    else:
        start = start.astimezone(UTC)
    if frame.floor(start) != start:
        raise ValidationError(
            {"start": [f"Must start a {frame.code} candle, e.g. {frame.floor(start).isoformat()}."]}
        )
    return synthetic_candles(bars=bars, timeframe=frame.code, start=start, seed=seed, price=price)


def generate_synthetic_ohlcv(
    *,
    symbol: str,
    timeframe: str,
    bars: int,
    seed: int,
    start: datetime | None = None,
    price: float = 30_000.0,
    source: str = "synthetic",
    using: str = TIMESERIES_DB,
) -> ImportResult:
    """Load `bars` synthetic candles of one series into ohlcv (see synthetic_series)."""
    candles = synthetic_series(
        symbol=symbol, timeframe=timeframe, bars=bars, seed=seed, start=start, price=price
    )

    def rows() -> Iterable[Row]:
        values = zip(
            candles["time"].astype(datetime),
            *(candles[key].astype(str) for key in ("open", "high", "low", "close", "volume")),
            strict=True,
        )
        for line, (moment, *prices) in enumerate(values, start=2):
            yield (line, moment.replace(tzinfo=UTC), *prices)

    return load_candle_rows(
        rows=rows,
        symbol=symbol,
        timeframe=Timeframe.parse(timeframe).code,
        source=source,
        using=using,
    )
