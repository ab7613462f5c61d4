"""The optimisation report's charts as inline SVG, like the backtest chart (admin_charts): a
heatmap of the objective over two parameters, and the walk-forward chart (stitched out-of-sample
equity above in-sample vs out-of-sample objective per fold). Pure functions; every text escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strategies.admin_charts import _moment, _points, _scale, _seconds, _text

LOW_COLOUR = (220, 38, 38)  # red: the worst objective shown
HIGH_COLOUR = (22, 163, 74)  # green: the best
EMPTY_COLOUR = "#e5e7eb"  # no qualifying variant in that cell
IN_SAMPLE_COLOUR = "#9ca3af"
OUT_OF_SAMPLE_COLOUR = "#2563eb"


def _svg(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
    )


def _colour(value: float, low: float, high: float) -> str:
    share = 0.5 if high == low else (value - low) / (high - low)
    rgb = [round(a + (b - a) * share) for a, b in zip(LOW_COLOUR, HIGH_COLOUR, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _label(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def heatmap_svg(
    cells: Mapping[tuple[Any, Any], float | None],
    *,
    x_values: Sequence[Any],
    y_values: Sequence[Any],
    x_label: str,
    y_label: str,
    objective: str,
    cell_width: int = 56,
    cell_height: int = 28,
) -> str:
    """One cell per (x, y): the best objective among the variants with those two values (the
    other parameters at their best), coloured red (worst) to green (best) and printed; grey
    where no variant qualified."""
    left, top, bottom, right = 80, 28, 44, 16
    width = left + cell_width * max(len(x_values), 1) + right
    height = top + cell_height * max(len(y_values), 1) + bottom
    parts = [_svg(width, height, f"Heatmap of {objective}")]
    if not x_values or not y_values:
        parts.append(_text(width / 2, height / 2, "No variants", anchor="middle"))
        return "".join(parts) + "</svg>"
    defined = [v for v in cells.values() if v is not None]
    low, high = (min(defined), max(defined)) if defined else (0.0, 0.0)
    for row, y in enumerate(reversed(y_values)):
        for column, x in enumerate(x_values):
            value = cells.get((x, y))
            cx, cy = left + column * cell_width, top + row * cell_height
            fill = EMPTY_COLOUR if value is None else _colour(value, low, high)
            title = f"{x_label}={_label(x)}, {y_label}={_label(y)}: " + (
                "no qualifying variant" if value is None else f"{value:g}"
            )
            parts.append(
                f'<rect class="cell" x="{cx}" y="{cy}" width="{cell_width}" '
                f'height="{cell_height}" fill="{fill}" stroke="#ffffff">'
                f"<title>{_escape(title)}</title></rect>"
            )
            if value is not None:
                parts.append(
                    _text(
                        cx + cell_width / 2,
                        cy + cell_height / 2 + 4,
                        f"{value:.2f}",
                        anchor="middle",
                        colour="#111827",
                    )
                )
        parts.append(_text(left - 6, top + row * cell_height + cell_height / 2 + 4, _label(y)))
    for column, x in enumerate(x_values):
        parts.append(
            _text(
                left + column * cell_width + cell_width / 2,
                height - bottom + 14,
                _label(x),
                anchor="middle",
            )
        )
    parts.append(_text(left + (width - left - right) / 2, height - 8, x_label, anchor="middle"))
    parts.append(_text(4, 16, f"{y_label} (rows) · {objective}", anchor="start"))
    return "".join(parts) + "</svg>"


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def walk_forward_svg(report: Mapping[str, Any], *, width: int = 760, height: int = 360) -> str:
    """Top: the stitched out-of-sample equity with a dashed line where each fold begins. Bottom:
    per fold, the in-sample objective (grey) beside the out-of-sample one (blue)."""
    parts = [
        _svg(width, height, "Walk-forward: stitched out-of-sample equity and objective per fold")
    ]
    points = report.get("stitched_equity") or []
    folds = report.get("folds") or []
    left, right, top = 72, 16, 16
    equity_bottom = top + (height - 60) * 0.6
    bars_top, bars_bottom = equity_bottom + 30, height - 24
    x_left, x_right = left, width - right
    if len(points) >= 1:
        times = [_seconds(p["time"]) for p in points]
        values = [float(p["equity"]) for p in points]
        low, high = min(values), max(values)
        xs = [_scale(t, times[0], times[-1], x_left, x_right) for t in times]
        ys = [_scale(v, low, high, equity_bottom, top) for v in values]
        parts.append(
            f'<rect x="{x_left}" y="{top}" width="{x_right - x_left}" '
            f'height="{equity_bottom - top:.1f}" fill="#f9fafb" stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<polyline class="stitched-equity" fill="none" stroke="{OUT_OF_SAMPLE_COLOUR}" '
            f'stroke-width="1.5" points="{_points(xs, ys)}"/>'
        )
        for fold in folds:
            start = fold["out_of_sample_start"]
            x = _scale(_moment(start), times[0], times[-1], x_left, x_right)
            parts.append(
                f'<line class="fold-start" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
                f'y2="{equity_bottom:.1f}" stroke="#6b7280" stroke-dasharray="3,3"/>'
            )
        parts.append(_text(x_left - 6, top + 10, f"{high:,.2f}"))
        parts.append(_text(x_left - 6, equity_bottom, f"{low:,.2f}"))
        parts.append(
            _text(
                x_left + 4,
                top + 12,
                "Out-of-sample equity, stitched",
                anchor="start",
                colour=OUT_OF_SAMPLE_COLOUR,
            )
        )
    else:
        parts.append(
            _text(width / 2, equity_bottom / 2, "No out-of-sample runs yet", anchor="middle")
        )
    values = [
        float(v)
        for fold in folds
        for v in (fold.get("in_sample_objective"), fold.get("out_of_sample_objective"))
        if v is not None
    ]
    if folds and values:
        low, high = min(min(values), 0.0), max(max(values), 0.0)
        zero = _scale(0.0, low, high, bars_bottom, bars_top)
        slot = (x_right - x_left) / len(folds)
        parts.append(
            f'<line x1="{x_left}" y1="{zero:.1f}" x2="{x_right}" y2="{zero:.1f}" stroke="#9ca3af"/>'
        )
        for index, fold in enumerate(folds):
            for offset, key, colour in (
                (0.2, "in_sample_objective", IN_SAMPLE_COLOUR),
                (0.5, "out_of_sample_objective", OUT_OF_SAMPLE_COLOUR),
            ):
                value = fold.get(key)
                if value is None:
                    continue
                y = _scale(float(value), low, high, bars_bottom, bars_top)
                css = key.replace("_", "-")
                x = x_left + slot * (index + offset)
                title = _escape(f"fold {fold['fold']} {key}: {value}")
                parts.append(
                    f'<rect class="{css}" x="{x:.1f}" y="{min(y, zero):.1f}" '
                    f'width="{slot * 0.28:.1f}" height="{abs(zero - y):.1f}" fill="{colour}">'
                    f"<title>{title}</title></rect>"
                )
            parts.append(
                _text(
                    x_left + slot * (index + 0.5),
                    height - 8,
                    f"fold {fold['fold']}",
                    anchor="middle",
                )
            )
        parts.append(_text(x_left - 6, bars_top + 10, f"{high:.2f}"))
        parts.append(_text(x_left - 6, bars_bottom, f"{low:.2f}"))
        parts.append(
            _text(
                x_left + 4,
                bars_top - 6,
                "Objective: in sample (grey) vs out of sample (blue)",
                anchor="start",
            )
        )
    return "".join(parts) + "</svg>"
