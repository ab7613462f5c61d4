"""Hourly buckets of the 1m candles a bulk load writes, computed from the blocks as they are
COPYed (marketdata.ingest.bulk_copy), so that plain mode can write `ohlcv_1h` for a series that
had no candles without reading the million rows back (marketdata.rollups.materialize_hourly).

The same aggregates as the rollups' SQL: open of the bucket's first minute, close of its last,
highest high, lowest low, summed volume, the number of candles. Values are held as integers
scaled by 10**8 (every value the bulk load takes is exact at 8 decimals), so nothing is rounded.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

HOUR_US = 3_600_000_000  # hours from 1970 are the rollups' hours (their origin is a midnight)
_SCALE = 10**8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

HourlyRow = tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal, int]


class HourlyBuckets:
    """Hourly aggregates of blocks of 1m candles, merged block by block (in any order)."""

    def __init__(self) -> None:
        # hour -> [first_us, open, last_us, close, high, low, volume_whole, volume_fraction, count]
        self._buckets: dict[int, list[int]] = {}

    def add(
        self,
        moments: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        lo: np.ndarray,
        c: np.ndarray,
        v: np.ndarray,
    ) -> None:
        """A block: microseconds since 1970 and the values scaled by 10**8, row by row."""
        order = np.argsort(moments, kind="stable")
        times = moments[order]
        hours = times // HOUR_US
        starts = np.flatnonzero(np.concatenate(([True], hours[1:] != hours[:-1])))
        ends = np.concatenate((starts[1:], [len(times)])) - 1
        whole, fraction = np.divmod(v[order], _SCALE)
        columns = (
            hours[starts],
            times[starts],
            o[order][starts],
            times[ends],
            c[order][ends],
            np.maximum.reduceat(h[order], starts),
            np.minimum.reduceat(lo[order], starts),
            np.add.reduceat(whole, starts),
            np.add.reduceat(fraction, starts),
            ends - starts + 1,
        )
        buckets = self._buckets
        for hour, first, opened, last, closed, high, low, vw, vf, count in zip(
            *(column.tolist() for column in columns), strict=True
        ):
            bucket = buckets.get(hour)
            if bucket is None:
                buckets[hour] = [first, opened, last, closed, high, low, vw, vf, count]
                continue
            if first < bucket[0]:
                bucket[0], bucket[1] = first, opened
            if last > bucket[2]:
                bucket[2], bucket[3] = last, closed
            bucket[4] = max(bucket[4], high)
            bucket[5] = min(bucket[5], low)
            bucket[6] += vw
            bucket[7] += vf
            bucket[8] += count

    def rows(self) -> list[HourlyRow]:
        """(bucket, open, high, low, close, volume, candle_count) in bucket order."""

        def decimal(scaled: int) -> Decimal:
            return Decimal(scaled).scaleb(-8)

        return [
            (
                _EPOCH + timedelta(microseconds=hour * HOUR_US),
                decimal(opened),
                decimal(high),
                decimal(low),
                decimal(closed),
                decimal(vw * _SCALE + vf),
                count,
            )
            for hour, (_f, opened, _l, closed, high, low, vw, vf, count) in sorted(
                self._buckets.items()
            )
        ]
