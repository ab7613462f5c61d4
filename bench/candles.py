"""Candles endpoint benchmark: latency (p50, p95) of GET /api/v1/marketdata/candles for 1,000 1h
candles (from ohlcv_1h) and 1,000 4h candles (rolled up on the fly), over a 10,000,000-row ohlcv.

Usage:
    .venv/bin/python bench/candles.py                 # seeds 10M rows once, then measures
    .venv/bin/python bench/candles.py --requests 500
    .venv/bin/python bench/candles.py --drop          # delete the bench rows afterwards
    TIMESCALE_URL=postgres://postgres@127.0.0.1:5433/apextrade_ts \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5433/apextrade .venv/bin/python bench/candles.py

Data: 5 symbols (BENCH/AAA ... BENCH/EEE) x 2,000,000 one-minute candles (about 3.8 years each,
from the first of this month four years ago, so all of it lies inside ohlcv's 5-year retention,
which TimescaleDB's policy enforces while the bench runs), generated in SQL with generate_series,
then the rollups are materialized once (refresh_continuous_aggregate in TimescaleDB mode, the
plain refresh job otherwise). Requests go through Django's test client with a signed-in session
(URL routing, DRF, the session in Redis, the SQL, JSON rendering; no HTTP socket), each for a
random 1,000-bucket window of one symbol.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402

from marketdata import rollups  # noqa: E402
from marketdata.timescale import mode_name, timescaledb_enabled  # noqa: E402

SYMBOLS = [f"BENCH/{letter * 3}" for letter in "ABCDE"]
MINUTES = 2_000_000
_TODAY = dt.datetime.now(dt.UTC)
START = dt.datetime(_TODAY.year - 4, _TODAY.month, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=MINUTES)

SEED_SQL = """
INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume, source)
SELECT %(start)s::timestamptz + i * INTERVAL '1 minute', %(symbol)s, '1m',
       p.o, greatest(p.o, p.c) + p.w, least(p.o, p.c) - p.w, p.c, p.v, 'bench'
FROM generate_series(0, %(minutes)s - 1) AS i,
LATERAL (
    SELECT round((%(base)s * exp(0.3 * sin(i / 20000.0) + 0.02 * sin(i / 37.0)))::numeric, 8) AS o,
           round((%(base)s * exp(0.3 * sin((i + 1) / 20000.0) + 0.02 * sin((i + 1) / 37.0)))
                 ::numeric, 8) AS c,
           round((abs(sin(i * 1.7)) * %(base)s * 0.0005)::numeric, 8) AS w,
           round((10 + 5 * abs(sin(i / 13.0)))::numeric, 8) AS v
) AS p
"""


def scalar(sql: str, params=None):
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def seed() -> None:
    for n, symbol in enumerate(SYMBOLS):
        stored = "SELECT count(*), min(time) FROM ohlcv WHERE symbol = %s"
        with connections["timeseries"].cursor() as cursor:
            cursor.execute(stored, [symbol])
            if cursor.fetchone() == (MINUTES, START):
                continue
        started = time.perf_counter()
        with connections["timeseries"].cursor() as cursor:
            cursor.execute("DELETE FROM ohlcv WHERE symbol = %s", [symbol])
            cursor.execute(
                SEED_SQL,
                {"symbol": symbol, "start": START, "minutes": MINUTES, "base": 100 * (n + 1)},
            )
            if not timescaledb_enabled():
                cursor.execute(
                    "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
                    "VALUES ('ohlcv_1h', %s, %s, %s)",
                    [symbol, START, END - dt.timedelta(minutes=1)],
                )
        print(f"seeded {symbol}: {MINUTES:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        if timescaledb_enabled():
            rollups.refresh_continuous_aggregates(earliest=START, latest=END)
        else:
            rollups.refresh_pending()
        print(f"  rollups materialized in {time.perf_counter() - started:.1f} s")
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("ANALYZE ohlcv")


def measure(client: Client, timeframe: str, width: dt.timedelta, requests: int) -> list[float]:
    rng = random.Random(42)
    span = END - START - width * 1000
    latencies = []
    for n in range(requests + 10):
        symbol = rng.choice(SYMBOLS)
        offset = dt.timedelta(seconds=int(rng.random() * span.total_seconds()) // 86400 * 86400)
        start = START + offset
        params = {
            "symbol": symbol,
            "timeframe": timeframe,
            "start": start.isoformat(),
            "end": (start + width * 1000).isoformat(),
            "limit": 1000,
        }
        started = time.perf_counter()
        response = client.get("/api/v1/marketdata/candles", params)
        elapsed = time.perf_counter() - started
        body = response.json()
        if response.status_code != 200 or body["count"] != 1000:
            raise SystemExit(f"unexpected answer for {params}: {response.status_code} {body}")
        if n >= 10:  # warm-up
            latencies.append(elapsed * 1000)
    return latencies


def report(label: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"{label}: p50 {statistics.median(ordered):6.1f} ms, p95 {p95:6.1f} ms, "
        f"max {ordered[-1]:6.1f} ms over {len(ordered)} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--drop", action="store_true", help="delete the bench rows afterwards")
    args = parser.parse_args()
    settings.DEBUG = False

    seed()
    total = scalar("SELECT count(*) FROM ohlcv")
    print(f"timeseries mode: {mode_name()}; ohlcv rows: {total:,}")

    user, _ = get_user_model().objects.get_or_create(email="bench-candles@apextrade.example")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    report("1,000 1h candles (ohlcv_1h)        ", measure(client, "1h", dt.timedelta(hours=1),
                                                          args.requests))  # fmt: skip
    report("1,000 4h candles (rolled up)       ", measure(client, "4h", dt.timedelta(hours=4),
                                                          args.requests))  # fmt: skip
    report("1,000 1d candles (ohlcv_1d)        ", measure(client, "1d", dt.timedelta(days=1),
                                                          args.requests))  # fmt: skip
    report("1,000 15m candles (rolled up from 1m)", measure(client, "15m",
                                                            dt.timedelta(minutes=15),
                                                            args.requests))  # fmt: skip
    report("1,000 1m candles (ohlcv)           ", measure(client, "1m", dt.timedelta(minutes=1),
                                                          args.requests))  # fmt: skip
    if args.drop:
        with connections["timeseries"].cursor() as cursor:
            cursor.execute("DELETE FROM ohlcv WHERE symbol = ANY(%s)", [SYMBOLS])
            if not timescaledb_enabled():
                cursor.execute("DELETE FROM ohlcv_1h WHERE symbol = ANY(%s)", [SYMBOLS])
                cursor.execute("DELETE FROM ohlcv_1d WHERE symbol = ANY(%s)", [SYMBOLS])


if __name__ == "__main__":
    main()
