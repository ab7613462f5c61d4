"""Bucket arithmetic of marketdata.timeframes: buckets start on UTC boundaries whatever the offset
of the moment asked about."""

import datetime as dt

import pytest

from marketdata.timeframes import Timeframe

UTC = dt.UTC
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))


@pytest.mark.parametrize(
    ("code", "moment", "bucket"),
    [
        ("1m", dt.datetime(2024, 3, 4, 10, 7, 59, tzinfo=UTC), dt.datetime(2024, 3, 4, 10, 7)),
        ("4h", dt.datetime(2024, 3, 4, 10, 7, tzinfo=UTC), dt.datetime(2024, 3, 4, 8, 0)),
        ("1d", dt.datetime(2024, 3, 4, 0, 30, tzinfo=PLUS_ONE), dt.datetime(2024, 3, 3)),
        # 2024-03-01 00:30 at +01:00 is 29 February 23:30 UTC: February's bucket.
        ("1M", dt.datetime(2024, 3, 1, 0, 30, tzinfo=PLUS_ONE), dt.datetime(2024, 2, 1)),
        ("1M", dt.datetime(2024, 12, 31, 23, 59, tzinfo=UTC), dt.datetime(2024, 12, 1)),
    ],
)
def test_floor_is_the_utc_bucket_start(code: str, moment: dt.datetime, bucket: dt.datetime) -> None:
    assert Timeframe.parse(code).floor(moment) == bucket.replace(tzinfo=UTC)


def test_ceil_and_after_step_whole_buckets() -> None:
    frame = Timeframe.parse("1M")
    assert frame.ceil(dt.datetime(2024, 1, 15, tzinfo=UTC)) == dt.datetime(2024, 2, 1, tzinfo=UTC)
    assert frame.after(dt.datetime(2024, 11, 1, tzinfo=UTC), 3) == dt.datetime(
        2025, 2, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("code", ["1m", "50M", "1w"])
def test_after_within_stops_at_its_bound_and_at_the_end_of_the_calendar(code: str) -> None:
    frame = Timeframe.parse(code)
    moment = dt.datetime(2024, 1, 1, tzinfo=UTC)
    floor = dt.datetime(1970, 1, 1, tzinfo=UTC)
    ceiling = dt.datetime(9000, 1, 1, tzinfo=UTC)

    assert frame.after_within(moment, -(10**11), floor) == floor
    assert frame.after_within(moment, 10**11, ceiling) == ceiling
    assert frame.after_within(moment, 1, ceiling) == frame.after(moment)
    assert frame.after_within(moment, -1, floor) == frame.after(moment, -1)
