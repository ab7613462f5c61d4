"""Reads of equity_history (the time-series database) for paper and live portfolios: the values a
new snapshot builds on, and snapshots rolled up per interval for charts and the API."""

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import connections

from marketdata.timescale import TIMESERIES_DB

# The intervals the API rolls equity up to; buckets are aligned on a Monday (2000-01-03).
EQUITY_INTERVALS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "1w": timedelta(weeks=1),
}
ROLLUP_COLUMNS = (
    "time",
    "equity_value",
    "cash_balance",
    "positions_value",
    "cumulative_pnl",
    "cumulative_pnl_pct",
    "peak_equity",
    "drawdown",
    "drawdown_pct",
    "equity_low",
    "equity_high",
)


def snapshot_bases(
    *, portfolio_ids: list[UUID], day_start: datetime, using: str = TIMESERIES_DB
) -> dict[UUID, tuple[Decimal | None, Decimal | None]]:
    """Per portfolio: (the last equity before `day_start`, the highest peak so far)."""
    if not portfolio_ids:
        return {}
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT p.id,
                   (SELECT equity_value FROM equity_history
                    WHERE portfolio_id = p.id AND time < %(day)s ORDER BY time DESC LIMIT 1),
                   (SELECT peak_equity FROM equity_history
                    WHERE portfolio_id = p.id ORDER BY time DESC LIMIT 1)
            FROM unnest(%(ids)s::uuid[]) AS p(id)
            """,
            {"ids": portfolio_ids, "day": day_start},
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def equity_rollup(
    *,
    portfolio_id: UUID,
    start: datetime,
    end: datetime,
    interval: str,
    using: str = TIMESERIES_DB,
) -> list[dict]:
    """Snapshots in [start, end) per `interval` bucket: the bucket's last values, its highest
    peak and deepest drawdown, its lowest and highest equity. Oldest first."""
    width = EQUITY_INTERVALS[interval]
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT date_bin(%(width)s, time, TIMESTAMPTZ '2000-01-03') AS bucket,
                   (array_agg(equity_value ORDER BY time DESC))[1],
                   (array_agg(cash_balance ORDER BY time DESC))[1],
                   (array_agg(positions_value ORDER BY time DESC))[1],
                   (array_agg(cumulative_pnl ORDER BY time DESC))[1],
                   (array_agg(cumulative_pnl_pct ORDER BY time DESC))[1],
                   max(peak_equity), max(drawdown), max(drawdown_pct),
                   min(equity_value), max(equity_value)
            FROM equity_history
            WHERE portfolio_id = %(portfolio)s AND time >= %(start)s AND time < %(end)s
            GROUP BY bucket ORDER BY bucket
            """,
            {"width": width, "portfolio": portfolio_id, "start": start, "end": end},
        )
        return [dict(zip(ROLLUP_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
