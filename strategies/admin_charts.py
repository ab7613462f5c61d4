"""The backtest report's chart: the equity curve above its drawdown, drawn as inline SVG on the
server, so the admin page needs no JavaScript, CDN or other external asset.

Pure functions over the stored `equity_curve` ([{"time": ISO 8601, "equity": float}, ...]); the
result is a complete <svg> element whose every text is escaped.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

LEFT = 72  # room for the value labels
RIGHT = 16
TOP = 16
BOTTOM = 28  # room for the date labels
GAP = 20  # between the equity and the drawdown panels
EQUITY_SHARE = 0.7  # of the plot height
EQUITY_COLOUR = "#2563eb"
DRAWDOWN_COLOUR = "#dc2626"
ENTRY_COLOUR = "#16a34a"
EXIT_COLOUR = "#111827"
MAX_TICKS = 7
_DAY = 86_400
# Tick steps in seconds (fixed) and in months (calendar), smallest first.
_FIXED_STEPS = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    _DAY,
    2 * _DAY,
    7 * _DAY,
    14 * _DAY,
)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def drawdown_pct_series(equity: Sequence[float]) -> list[float]:
    """Drawdown at each point in percent (0 at a new high, -25.0 a quarter below the peak)."""
    out = []
    peak = float("-inf")
    for value in equity:
        peak = max(peak, value)
        out.append((value / peak - 1.0) * 100.0 if peak > 0 else 0.0)
    return out


def _percent(value: float) -> str:
    """Two decimals, without the "-0.00" that a zero or a tiny negative would print."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _seconds(moment: str) -> float:
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def _scale(value: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    """value in [lo, hi] mapped linearly onto [out_lo, out_hi]; the middle when lo == hi."""
    if hi == lo:
        return (out_lo + out_hi) / 2
    return out_lo + (value - lo) / (hi - lo) * (out_hi - out_lo)


def _points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def _text(x: float, y: float, label: str, *, anchor: str = "end", colour: str = "#374151") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{colour}" '
        f'font-size="11" font-family="sans-serif">{escape(label)}</text>'
    )


def _moment(value: Any) -> float:
    """Seconds since the epoch from an ISO 8601 string or an aware datetime."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return _seconds(str(value))


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def time_ticks(first: float, last: float, max_ticks: int = MAX_TICKS) -> list[tuple[float, str]]:
    """Round moments between first and last (seconds since the epoch, UTC) for the time axis,
    at most `max_ticks`, each with a label as precise as its step needs."""
    span = last - first
    if span <= 0:
        return [(first, dt.datetime.fromtimestamp(first, dt.UTC).strftime("%Y-%m-%d %H:%M"))]
    for step in _FIXED_STEPS:
        if span / step <= max_ticks - 1:
            start = -(-first // step) * step
            pattern = "%m-%d %H:%M" if step < _DAY else "%Y-%m-%d"
            moments = [start + i * step for i in range(int((last - start) // step) + 1)]
            return [(m, dt.datetime.fromtimestamp(m, dt.UTC).strftime(pattern)) for m in moments]
    begin = dt.datetime.fromtimestamp(first, dt.UTC)
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * _DAY) <= max_ticks - 1:
            month_index = begin.year * 12 + begin.month - 1
            month_index = -(-month_index // months) * months
            tick = dt.datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=dt.UTC)
            if tick.timestamp() < first:
                tick = _add_months(tick, months)
            pattern = "%Y" if months % 12 == 0 else "%Y-%m"
            ticks = []
            while tick.timestamp() <= last:
                ticks.append((tick.timestamp(), tick.strftime(pattern)))
                tick = _add_months(tick, months)
            return ticks
    return [
        (first, begin.strftime("%Y")),
        (last, dt.datetime.fromtimestamp(last, dt.UTC).strftime("%Y")),
    ]


def _equity_at(moment: float, times: Sequence[float], equity: Sequence[float]) -> float:
    """The curve's equity at `moment`, linear between its points (it may be thinned)."""
    i = bisect.bisect_left(times, moment)
    if i <= 0:
        return equity[0]
    if i >= len(times):
        return equity[-1]
    t0, t1 = times[i - 1], times[i]
    share = 0.0 if t1 == t0 else (moment - t0) / (t1 - t0)
    return equity[i - 1] + (equity[i] - equity[i - 1]) * share


def _marker(x: float, y: float, *, entry: bool, side: str) -> str:
    """A triangle: entries point up for a long (down for a short), exits the other way."""
    up = entry == (side != "SELL")
    tip, base = (y - 6, y + 2) if up else (y + 6, y - 2)
    colour = ENTRY_COLOUR if entry else EXIT_COLOUR
    kind = "entry" if entry else "exit"
    return (
        f'<polygon class="trade-{kind}" fill="{colour}" fill-opacity="0.8" '
        f'points="{x:.1f},{tip:.1f} {x - 4:.1f},{base:.1f} {x + 4:.1f},{base:.1f}"/>'
    )


def equity_chart_svg(
    equity_curve: Sequence[Mapping[str, Any]] | None,
    drawdown: Sequence[float] | None = None,
    *,
    max_drawdown_pct: float | Decimal | None = None,
    trades: Iterable[Mapping[str, Any]] = (),
    trades_total: int | None = None,
    width: int = 760,
    height: int = 320,
) -> str:
    """Equity (line, top panel) and drawdown in % (area, bottom panel) against time, with date
    ticks along the time axis and a marker at each trade's entry and exit (`trades`: mappings
    with entry_date, exit_date and side; `trades_total` says how many there are when only some
    are passed).

    `drawdown` defaults to drawdown_pct_series of the curve's equity. The panel's title gives
    `max_drawdown_pct` (the backtest's, from every bar) when known, as the stored curve is thinned;
    otherwise the deepest point drawn."""
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Equity curve and drawdown">'
    )
    if not equity_curve:
        return header + _text(width / 2, height / 2, "No equity curve", anchor="middle") + "</svg>"

    times = [_seconds(point["time"]) for point in equity_curve]
    equity = [float(point["equity"]) for point in equity_curve]
    drawdown = list(drawdown) if drawdown is not None else drawdown_pct_series(equity)
    if len(drawdown) != len(equity):
        raise ValueError("drawdown: needs one value per equity point")

    plot_height = height - TOP - BOTTOM - GAP
    equity_top, equity_bottom = TOP, TOP + plot_height * EQUITY_SHARE
    drawdown_top, drawdown_bottom = equity_bottom + GAP, height - BOTTOM
    x_left, x_right = LEFT, width - RIGHT

    xs = [_scale(t, times[0], times[-1], x_left, x_right) for t in times]
    low, high = min(equity), max(equity)
    equity_ys = [_scale(v, low, high, equity_bottom, equity_top) for v in equity]
    deepest = min(min(drawdown), 0.0)
    max_drawdown = -deepest if max_drawdown_pct is None else float(max_drawdown_pct)
    drawdown_ys = [_scale(d, 0.0, deepest, drawdown_top, drawdown_bottom) for d in drawdown]
    if deepest == 0.0:
        drawdown_ys = [drawdown_top] * len(drawdown)

    area = _points([xs[0], *xs, xs[-1]], [drawdown_top, *drawdown_ys, drawdown_top])
    tick_lines, tick_labels = [], []
    for moment, label in time_ticks(times[0], times[-1]):
        x = _scale(moment, times[0], times[-1], x_left, x_right)
        tick_lines.append(
            f'<line class="tick" x1="{x:.1f}" y1="{equity_top:.1f}" x2="{x:.1f}" '
            f'y2="{drawdown_bottom + 4:.1f}" stroke="#e5e7eb" stroke-width="1"/>'
        )
        tick_labels.append(_text(x, height - 8, label, anchor="middle"))
    markers = []
    shown = 0
    for trade in trades:
        shown += 1
        side = str(trade.get("side") or "BUY")
        for key, entry in (("entry_date", True), ("exit_date", False)):
            if trade.get(key) is None:
                continue
            moment = _moment(trade[key])
            if not times[0] <= moment <= times[-1]:
                continue
            x = _scale(moment, times[0], times[-1], x_left, x_right)
            y = _scale(_equity_at(moment, times, equity), low, high, equity_bottom, equity_top)
            markers.append(_marker(x, y, entry=entry, side=side))
    legend = []
    if shown:
        total = trades_total if trades_total is not None else shown
        note = f"{shown} trades" if shown >= total else f"{shown} of {total} trades"
        legend = [
            _text(
                x_right - 4,
                equity_top + 12,
                f"▲ entry ▼ exit ({note})",
                anchor="end",
                colour=EXIT_COLOUR,
            )
        ]
    parts = [
        header,
        f'<rect x="{x_left}" y="{equity_top:.1f}" width="{x_right - x_left}" '
        f'height="{equity_bottom - equity_top:.1f}" fill="#f9fafb" stroke="#e5e7eb"/>',
        f'<rect x="{x_left}" y="{drawdown_top:.1f}" width="{x_right - x_left}" '
        f'height="{drawdown_bottom - drawdown_top:.1f}" fill="#f9fafb" stroke="#e5e7eb"/>',
        *tick_lines,
        f'<polyline class="equity" fill="none" stroke="{EQUITY_COLOUR}" stroke-width="1.5" '
        f'points="{_points(xs, equity_ys)}"/>',
        f'<polygon class="drawdown" fill="{DRAWDOWN_COLOUR}" fill-opacity="0.35" '
        f'stroke="{DRAWDOWN_COLOUR}" stroke-width="1" points="{area}"/>',
        *markers,
        _text(x_left - 6, equity_top + 10, f"{high:,.2f}"),
        _text(x_left - 6, equity_bottom, f"{low:,.2f}"),
        _text(x_left - 6, drawdown_top + 10, "0%"),
        _text(x_left - 6, drawdown_bottom, f"{_percent(deepest)}%"),
        _text(x_left + 4, equity_top + 12, "Equity", anchor="start", colour=EQUITY_COLOUR),
        _text(
            x_left + 4,
            drawdown_top + 12,
            f"Drawdown (max {_percent(max_drawdown)}%)",
            anchor="start",
            colour=DRAWDOWN_COLOUR,
        ),
        *tick_labels,
        *legend,
        "</svg>",
    ]
    return "".join(parts)
