"""Writes of ticks and portfolio equity snapshots (bulk upserts; COPY for large batches)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connections, transaction

from marketdata.models import DEFAULT_SOURCE
from marketdata.price_events import announce_price
from marketdata.services.candles import COPY_THRESHOLD, validate_series
from marketdata.services.ticker import update_ticker
from marketdata.timescale import TIMESERIES_DB


@dataclass(frozen=True)
class TickInput:
    time: datetime
    symbol: str
    last_price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    last_volume: Decimal | None = None
    source: str = DEFAULT_SOURCE


TICK_COLUMNS = ("time", "symbol", "bid", "ask", "last_price", "last_volume", "source")
EQUITY_COLUMNS = (
    "time",
    "portfolio_id",
    "equity_value",
    "cash_balance",
    "positions_value",
    "daily_pnl",
    "daily_pnl_pct",
    "cumulative_pnl",
    "cumulative_pnl_pct",
    "peak_equity",
    "drawdown",
    "drawdown_pct",
)


def _bulk_upsert(
    *,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple],
    using: str,
) -> int:
    """Insert or replace rows keyed by `key`: one multi-row INSERT for a few, COPY into a
    temporary staging table and one INSERT ... SELECT for many. Rows repeating a key are
    collapsed first, the last one winning, the same way whatever the batch size."""
    positions = [columns.index(name) for name in key]
    rows = list({tuple(row[i] for i in positions): row for row in rows}.values())
    column_list = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    with connections[using].cursor() as cursor:
        if len(rows) < COPY_THRESHOLD:
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) VALUES {placeholders} {conflict}",
                [value for row in rows for value in row],
            )
            return cursor.rowcount
        staging = f"{table}_staging"
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {staging} {conflict}"
        )
        written = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")
        return written


def record_ticks(*, ticks: Iterable[TickInput], using: str = TIMESERIES_DB) -> int:
    """Store ticks (bulk; COPY for large batches) and move each symbol's ticker forward."""
    ticks = list(ticks)
    if not ticks:
        return 0
    for symbol in {t.symbol for t in ticks}:
        validate_series(symbol=symbol)
    rows = [(t.time, t.symbol, t.bid, t.ask, t.last_price, t.last_volume, t.source) for t in ticks]
    with transaction.atomic(using=using):
        written = _bulk_upsert(
            table="tick_data", columns=TICK_COLUMNS, key=("time", "symbol"), rows=rows, using=using
        )
        newest: dict[str, TickInput] = {}
        for tick in ticks:
            if tick.symbol not in newest or tick.time >= newest[tick.symbol].time:
                newest[tick.symbol] = tick

        def publish() -> None:
            # A tick that became the symbol's latest price is announced (paper exchange, price
            # alerts); an older one, arriving late, only stays stored.
            for tick in newest.values():
                if update_ticker(
                    symbol=tick.symbol,
                    price=tick.last_price,
                    at=tick.time,
                    origin="tick",
                    bid=tick.bid,
                    ask=tick.ask,
                ):
                    announce_price(
                        symbol=tick.symbol,
                        price=tick.last_price,
                        at=tick.time,
                        volume=tick.last_volume,
                    )

        transaction.on_commit(publish, using=using)
    return written


@dataclass(frozen=True)
class EquitySnapshotInput:
    time: datetime
    portfolio_id: UUID
    equity_value: Decimal
    cash_balance: Decimal
    positions_value: Decimal
    daily_pnl: Decimal | None = None
    daily_pnl_pct: Decimal | None = None
    cumulative_pnl: Decimal | None = None
    cumulative_pnl_pct: Decimal | None = None
    peak_equity: Decimal | None = None
    drawdown: Decimal | None = None
    drawdown_pct: Decimal | None = None


def record_equity_snapshots(
    *, snapshots: Iterable[EquitySnapshotInput], using: str = TIMESERIES_DB
) -> int:
    """Store portfolio equity snapshots (insert or replace per time and portfolio)."""
    rows = [tuple(getattr(s, column) for column in EQUITY_COLUMNS) for s in snapshots]
    if not rows:
        return 0
    with transaction.atomic(using=using):
        return _bulk_upsert(
            table="equity_history",
            columns=EQUITY_COLUMNS,
            key=("time", "portfolio_id"),
            rows=rows,
            using=using,
        )
