"""The backtest report's chart: the equity curve above its drawdown, drawn as inline SVG on the
server, so the admin page needs no JavaScript, CDN or other external asset.

Pure functions over the stored `equity_curve` ([{"time": ISO 8601, "equity": float}, ...]); the
result is a complete <svg> element whose every text is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
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


def equity_chart_svg(
    equity_curve: Sequence[Mapping[str, Any]] | None,
    drawdown: Sequence[float] | None = None,
    *,
    max_drawdown_pct: float | Decimal | None = None,
    width: int = 760,
    height: int = 320,
) -> str:
    """Equity (line, top panel) and drawdown in % (area, bottom panel) against time.

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
    first_day, last_day = equity_curve[0]["time"][:10], equity_curve[-1]["time"][:10]
    parts = [
        header,
        f'<rect x="{x_left}" y="{equity_top:.1f}" width="{x_right - x_left}" '
        f'height="{equity_bottom - equity_top:.1f}" fill="#f9fafb" stroke="#e5e7eb"/>',
        f'<rect x="{x_left}" y="{drawdown_top:.1f}" width="{x_right - x_left}" '
        f'height="{drawdown_bottom - drawdown_top:.1f}" fill="#f9fafb" stroke="#e5e7eb"/>',
        f'<polyline class="equity" fill="none" stroke="{EQUITY_COLOUR}" stroke-width="1.5" '
        f'points="{_points(xs, equity_ys)}"/>',
        f'<polygon class="drawdown" fill="{DRAWDOWN_COLOUR}" fill-opacity="0.35" '
        f'stroke="{DRAWDOWN_COLOUR}" stroke-width="1" points="{area}"/>',
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
        _text(x_left, height - 8, first_day, anchor="start"),
        _text(x_right, height - 8, last_day, anchor="end"),
        "</svg>",
    ]
    return "".join(parts)
