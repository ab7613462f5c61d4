"""Performance metrics from the per-bar equity curve and the closed trades.

Definitions are in docs/metrics.md. Anything that cannot be computed (no trades, no losses, zero
variance, too little data) is None, never NaN or infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NS_PER_DAY = 86_400_000_000_000
NS_PER_MINUTE = 60_000_000_000
MAX_EQUITY_POINTS = 2_000
MAX_DRAWDOWN_PERIODS = 10


def iso_times(time_ns: np.ndarray) -> list[str]:
    """ISO 8601 UTC strings ('2024-01-01T00:00:00Z') for int64 nanosecond timestamps."""
    if len(time_ns) == 0:
        return []
    moments = np.asarray(time_ns, dtype=np.int64).astype("datetime64[ns]").astype("datetime64[s]")
    return np.datetime_as_string(moments, unit="s", timezone="UTC").tolist()


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _day_ends(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the last bar of each UTC day present in the data, that day's number)."""
    days = times // NS_PER_DAY
    if days.shape[0] == 0:
        return days, days
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    return last, days[last]


def _days_a_year(day_numbers: np.ndarray) -> int:
    """365 when any of the days is a Saturday or Sunday, else 252 trading days."""
    weekday = (day_numbers + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return 365 if bool(np.any(weekday >= 5)) else 252


def periods_per_year(time_ns: np.ndarray) -> int:
    """365 when the data has any Saturday or Sunday (UTC) bar, else 252 trading days."""
    return _days_a_year(_day_ends(np.asarray(time_ns, dtype=np.int64))[1])


def bar_width_days(time_ns: np.ndarray) -> float:
    """The typical (median) spacing of the bars, in days; 0 with fewer than two bars."""
    times = np.asarray(time_ns, dtype=np.int64)
    if times.shape[0] < 2:
        return 0.0
    return float(np.median(np.diff(times))) / NS_PER_DAY


def _return_periods(width: float, days_a_year: int) -> float:
    """N for Sharpe and Sortino: 365 or 252 daily returns a year (periods_per_year), or, for
    bars wider than a day (1w, 1M), one return per bar: 365.25 days / the bar width."""
    return 365.25 / width if width > 1.0 else float(days_a_year)


def _years(times: np.ndarray, returns_count: int, width: float, days_a_year: int) -> float | None:
    """How many years the data spans, for annualising the return. On the 252-day basis (data
    without weekends) it is the number of daily returns / 252; otherwise calendar time from the
    first bar to the end of the last one / 365 days, so that days missing from the data (a feed
    gap) or bars wider than a day do not stretch the year."""
    if times.shape[0] == 0 or returns_count == 0:
        return None
    if width <= 1.0 and days_a_year == 252:
        return returns_count / 252
    first_day = times[0] // NS_PER_DAY
    if width > 1.0:
        span_days = (times[-1] - times[0]) / NS_PER_DAY + width
    else:
        span_days = float(times[-1] // NS_PER_DAY - first_day + 1)
    return span_days / 365


def daily_equity(time_ns: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last equity of each UTC day present in the data: (day numbers, equity)."""
    last, day_numbers = _day_ends(np.asarray(time_ns, dtype=np.int64))
    return day_numbers, np.asarray(equity, dtype=np.float64)[last]


def _returns(values: np.ndarray, initial_capital: float) -> np.ndarray:
    if values.shape[0] == 0:
        return values
    previous = np.concatenate(([initial_capital], values[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return values / previous - 1.0


def daily_returns(time_ns: np.ndarray, equity: np.ndarray, initial_capital: float) -> np.ndarray:
    """Day-over-day returns of end-of-day equity, the first day measured from initial capital."""
    return _returns(daily_equity(time_ns, equity)[1], initial_capital)


def ratio_metrics(returns: np.ndarray, periods: int) -> dict[str, float | None]:
    """Annualised Sharpe and Sortino (risk-free 0) of daily returns."""
    out: dict[str, float | None] = {"sharpe_ratio": None, "sortino_ratio": None}
    if returns.shape[0] < 2 or not np.all(np.isfinite(returns)):
        return out
    mean = float(np.mean(returns))
    std = float(np.std(returns, ddof=1))
    if std > 0:
        out["sharpe_ratio"] = _finite(mean / std * math.sqrt(periods))
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside > 0:
        out["sortino_ratio"] = _finite(mean / downside * math.sqrt(periods))
    return out


@dataclass(frozen=True)
class DrawdownSegments:
    """Every stretch of the equity below a previous peak: bars start .. end - 1 (end is the
    recovery bar, or the number of bars when there is none) and the depth below the peak.
    A trough is looked up only for the segments that are reported or kept on the chart."""

    equity: np.ndarray
    start: np.ndarray
    end: np.ndarray
    depth: np.ndarray

    @property
    def peak(self) -> np.ndarray:
        return self.start - 1

    @property
    def recovery(self) -> np.ndarray:
        return np.where(self.end < self.equity.shape[0], self.end, -1)

    def trough(self, segment: int) -> int:
        """The first bar of the segment holding its lowest equity."""
        start = int(self.start[segment])
        return start + int(np.argmin(self.equity[start : int(self.end[segment])]))

    def deepest_first(self) -> np.ndarray:
        return np.argsort(-self.depth, kind="stable")


def drawdown_segments(equity: np.ndarray) -> DrawdownSegments:
    """The drawdown segments of a per-bar equity curve (one running maximum over it)."""
    eq = np.asarray(equity, dtype=np.float64)
    n = eq.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return DrawdownSegments(eq, empty, empty, np.zeros(0))
    running_peak = np.maximum.accumulate(eq)
    under = eq < running_peak  # never the first bar
    starts = np.flatnonzero(under[1:] & ~under[:-1]) + 1
    ends = np.flatnonzero(under[:-1] & ~under[1:]) + 1
    if under[-1]:
        ends = np.append(ends, n)
    if starts.shape[0] == 0:
        return DrawdownSegments(eq, empty, empty, np.zeros(0))
    minima = np.minimum.reduceat(eq, starts)
    peak_values = running_peak[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(peak_values > 0, 1.0 - minima / peak_values, 1.0)
    return DrawdownSegments(eq, starts, ends, depth)


def drawdown_report(
    time_ns: np.ndarray, equity: np.ndarray, *, segments: DrawdownSegments | None = None
) -> tuple[float, int, list[dict[str, Any]]]:
    """(max drawdown %, longest drawdown in whole days, the deepest drawdown periods).
    `segments` (drawdown_segments of the same equity) saves computing them again."""
    seg = drawdown_segments(equity) if segments is None else segments
    if seg.start.shape[0] == 0:
        return 0.0, 0, []
    t = np.asarray(time_ns, dtype=np.int64)
    recovery = seg.recovery
    end_bar = np.where(recovery >= 0, recovery, t.shape[0] - 1)
    duration_days = (t[end_bar] - t[seg.peak]) / NS_PER_DAY
    order = seg.deepest_first()[:MAX_DRAWDOWN_PERIODS]
    peak_iso = iso_times(t[seg.peak[order]])
    trough_iso = iso_times(t[[seg.trough(i) for i in order.tolist()]])
    periods = []
    for rank, i in enumerate(order):
        recovered_at = int(recovery[i])
        periods.append(
            {
                "start": peak_iso[rank],
                "trough": trough_iso[rank],
                "recovery": iso_times(t[[recovered_at]])[0] if recovered_at >= 0 else None,
                "depth_pct": float(seg.depth[i] * 100.0),
                "duration_days": float(duration_days[i]),
                "recovered": recovered_at >= 0,
            }
        )
    return (
        float(np.max(seg.depth) * 100.0),
        math.floor(float(np.max(duration_days))),
        periods,
    )


def thin_indices(
    equity: np.ndarray,
    max_points: int = MAX_EQUITY_POINTS,
    *,
    segments: DrawdownSegments | None = None,
) -> np.ndarray:
    """At most max_points bar indices, evenly spread, always keeping first, last, max and min, and
    the peak, trough and recovery bars of the deepest drawdowns (deepest first, within a quarter
    of the points), so that a drawdown recomputed from the kept points reaches max_drawdown_pct
    even when its trough is not the lowest equity. `segments`: drawdown_segments(equity)."""
    eq = np.asarray(equity, dtype=np.float64)
    n = eq.shape[0]
    if n <= max_points:
        return np.arange(n)
    kept = {0, n - 1, int(np.argmax(eq)), int(np.argmin(eq))}
    budget = min(max_points, max(max_points // 4, len(kept) + 3))
    seg = drawdown_segments(eq) if segments is None else segments
    peaks = seg.peak
    recovery = seg.recovery
    for i in seg.deepest_first().tolist():
        bars = {int(peaks[i]), seg.trough(i), int(recovery[i])} - {-1}
        if len(kept | bars) > budget:
            break
        kept |= bars
    even_count = max(max_points - len(kept), 0)
    even = np.round(np.linspace(0, n - 1, even_count)).astype(np.int64)
    return np.unique(np.concatenate((even, np.fromiter(kept, dtype=np.int64))))


def equity_curve_points(
    time_ns: np.ndarray, equity: np.ndarray, *, segments: DrawdownSegments | None = None
) -> list[dict[str, Any]]:
    """The thinned equity curve as [{"time": iso, "equity": float}, ...]."""
    idx = thin_indices(equity, segments=segments)
    times = iso_times(np.asarray(time_ns)[idx])
    values = np.asarray(equity, dtype=np.float64)[idx].tolist()
    return [{"time": s, "equity": v} for s, v in zip(times, values, strict=True)]


def monthly_returns(
    time_ns: np.ndarray, equity: np.ndarray, initial_capital: float
) -> list[dict[str, Any]]:
    """Return of each UTC calendar month from month-end equity: [{"month": "2024-01", ...}]."""
    t = np.asarray(time_ns, dtype=np.int64)
    if t.shape[0] == 0:
        return []
    # Month ends are among day ends: convert only the last bar of each day to a month.
    days = t // NS_PER_DAY
    day_ends = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    day_months = days[day_ends].astype("datetime64[D]").astype("datetime64[M]")
    month_ends = np.flatnonzero(np.append(day_months[1:] != day_months[:-1], True))
    last = day_ends[month_ends]
    months = day_months[month_ends]
    values = np.asarray(equity, dtype=np.float64)[last]
    previous = np.concatenate(([initial_capital], values[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = (values / previous - 1.0) * 100.0
    return [
        {"month": str(month), "return_pct": _finite(r), "equity": float(v)}
        for month, r, v in zip(months, returns, values, strict=True)
    ]


def trade_metrics(
    net_pnl: np.ndarray, pnl_pct: np.ndarray, duration_ns: np.ndarray
) -> dict[str, Any]:
    """Win rate, profit factor, averages and counts of the closed trades."""
    total = int(net_pnl.shape[0])
    wins = net_pnl > 0
    losses = net_pnl < 0
    gross_profit = float(np.sum(net_pnl[wins]))
    gross_loss = float(-np.sum(net_pnl[losses]))
    return {
        "total_trades": total,
        "winning_trades": int(np.sum(wins)),
        "losing_trades": int(np.sum(losses)),
        "win_rate_pct": float(np.sum(wins)) / total * 100.0 if total else None,
        "profit_factor": _finite(gross_profit / gross_loss) if gross_loss > 0 else None,
        "avg_trade_pct": _finite(np.mean(pnl_pct)) if total else None,
        "avg_win_pct": _finite(np.mean(pnl_pct[wins])) if wins.any() else None,
        "avg_loss_pct": _finite(np.mean(pnl_pct[losses])) if losses.any() else None,
        "avg_trade_duration_minutes": round(float(np.mean(duration_ns)) / NS_PER_MINUTE)
        if total
        else None,
    }


def compute_metrics(
    time_ns: np.ndarray,
    equity: np.ndarray,
    initial_capital: float,
    net_pnl: np.ndarray,
    pnl_pct: np.ndarray,
    duration_ns: np.ndarray,
    *,
    segments: DrawdownSegments | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """All scalar metrics (keys are the backtests column names) and the drawdown periods.
    `segments` (drawdown_segments of the same equity) saves computing them again."""
    eq = np.asarray(equity, dtype=np.float64)
    times = np.asarray(time_ns, dtype=np.int64)
    final = float(eq[-1]) if eq.shape[0] else float(initial_capital)
    total_return = final / initial_capital - 1.0
    # The calendar once: the last bar of each day, the bar width, weekends or not.
    day_ends, day_numbers = _day_ends(times)
    width = bar_width_days(times)
    days_a_year = _days_a_year(day_numbers)
    periods = _return_periods(width, days_a_year)
    returns = _returns(eq[day_ends], initial_capital)
    years = _years(times, returns.shape[0], width, days_a_year)
    annualized: float | None = None
    if years:
        if total_return <= -1.0:
            annualized = -100.0
        else:
            try:
                growth = math.exp(math.log1p(total_return) / years)
            except OverflowError:
                growth = math.inf
            annualized = _finite((growth - 1.0) * 100.0)
    max_dd, max_dd_days, periods_list = drawdown_report(times, eq, segments=segments)
    calmar = annualized / max_dd if annualized is not None and max_dd > 0 else None
    metrics: dict[str, Any] = {
        "final_capital": final,
        "total_return_pct": total_return * 100.0,
        "annualized_return_pct": annualized,
        **ratio_metrics(returns, periods),
        "calmar_ratio": _finite(calmar),
        "max_drawdown_pct": max_dd,
        "max_drawdown_duration_days": max_dd_days,
        **trade_metrics(net_pnl, pnl_pct, duration_ns),
        "periods_per_year": round(periods, 2),
    }
    return metrics, periods_list
