"""Equity history of portfolios (services and reads): the beat job's snapshot per active
portfolio into equity_history (time-series database), and the rolled-up series the API and the
admin chart show."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from marketdata.equity_queries import EQUITY_INTERVALS, equity_rollup, snapshot_bases
from marketdata.services import EquitySnapshotInput
from marketdata.services import record_equity_snapshots as store_snapshots
from trading.models import Portfolio

FOUR = Decimal("0.0001")
CENT = Decimal("0.01")
PERCENT_LIMIT = Decimal("9999.9999")  # NUMERIC(8,4)
MAX_BUCKETS = 5000
DEFAULT_WINDOW = timedelta(days=30)


def _percent(part: Decimal, whole: Decimal | None) -> Decimal | None:
    if not whole:
        return None
    value = (part / whole * 100).quantize(FOUR, rounding=ROUND_HALF_UP)
    return max(-PERCENT_LIMIT, min(PERCENT_LIMIT, value))


def snapshot(
    portfolio: Portfolio, *, at: datetime, day_base: Decimal | None, peak: Decimal | None
) -> EquitySnapshotInput:
    """One equity_history row. Daily P&L is against the last equity before today (UTC), or the
    initial balance on the first day; the peak starts at the initial balance."""
    equity = portfolio.total_value or portfolio.cash_balance
    base = day_base if day_base is not None else portfolio.initial_balance
    cumulative = equity - portfolio.initial_balance
    peak = max(peak if peak is not None else portfolio.initial_balance, equity)
    drawdown = peak - equity
    return EquitySnapshotInput(
        time=at,
        portfolio_id=portfolio.pk,
        equity_value=equity,
        cash_balance=portfolio.cash_balance,
        positions_value=portfolio.positions_value or Decimal(0),
        daily_pnl=(equity - base).quantize(CENT),
        daily_pnl_pct=_percent(equity - base, base),
        cumulative_pnl=cumulative.quantize(CENT),
        cumulative_pnl_pct=_percent(cumulative, portfolio.initial_balance),
        peak_equity=peak,
        drawdown=drawdown.quantize(CENT),
        drawdown_pct=_percent(drawdown, peak) or Decimal(0),
    )


def record_equity_snapshots(*, now: datetime | None = None) -> int:
    """Beat job: a row per active portfolio at this minute (a second run in the same minute
    replaces its rows, so a redelivered task writes nothing twice)."""
    at = (now or timezone.now()).replace(second=0, microsecond=0)
    portfolios = list(Portfolio.objects.filter(is_active=True))
    day_start = at.replace(hour=0, minute=0)
    bases = snapshot_bases(portfolio_ids=[p.pk for p in portfolios], day_start=day_start)
    rows = [
        snapshot(
            p,
            at=at,
            day_base=bases.get(p.pk, (None, None))[0],
            peak=bases.get(p.pk, (None, None))[1],
        )
        for p in portfolios
    ]
    return store_snapshots(snapshots=rows)


def equity_series(
    *,
    portfolio: Portfolio,
    start: datetime | None = None,
    end: datetime | None = None,
    interval: str = "1d",
) -> list[dict]:
    """The portfolio's equity per interval in [start, end) (default: the last 30 days).
    Raises ValidationError keyed by parameter."""
    errors: dict[str, list[str]] = {}
    if interval not in EQUITY_INTERVALS:
        errors["interval"] = [f"One of {', '.join(EQUITY_INTERVALS)}."]
    end = end or timezone.now()
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        errors["start"] = ["Must be before end."]
    elif not errors and (end - start) / EQUITY_INTERVALS[interval] > MAX_BUCKETS:
        errors["interval"] = [f"More than {MAX_BUCKETS} buckets: choose a longer interval."]
    if errors:
        raise ValidationError(errors)
    return equity_rollup(portfolio_id=portfolio.pk, start=start, end=end, interval=interval)
