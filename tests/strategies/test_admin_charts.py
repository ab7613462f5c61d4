import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from strategies.admin_charts import (
    BOTTOM,
    GAP,
    LEFT,
    RIGHT,
    TOP,
    drawdown_pct_series,
    equity_chart_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
CURVE = [
    {"time": "2025-01-01T00:00:00Z", "equity": 100.0},
    {"time": "2025-01-02T00:00:00Z", "equity": 120.0},
    {"time": "2025-01-03T00:00:00Z", "equity": 90.0},
    {"time": "2025-01-05T00:00:00Z", "equity": 120.0},
]


def points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in element.get("points").split()]


def test_drawdown_is_the_fall_from_the_running_peak_in_percent():
    assert drawdown_pct_series([100.0, 120.0, 90.0, 120.0, 60.0]) == [0.0, 0.0, -25.0, 0.0, -50.0]


def test_the_equity_line_spans_the_plot_and_time_sets_the_x_position():
    width, height = 416, 244  # plot 328 wide, 180 high: equity panel 126, drawdown panel 54
    root = ET.fromstring(equity_chart_svg(CURVE, width=width, height=height))

    line = points(root.find(f"{SVG}polyline"))

    xs = [x for x, _y in line]
    # four days from the first to the last point: 1, 1 and 2 days apart
    assert xs == [LEFT, LEFT + 82, LEFT + 164, width - RIGHT]
    equity_bottom = TOP + (height - TOP - BOTTOM - GAP) * 0.7
    assert [y for _x, y in line] == [
        equity_bottom - 126 * 10 / 30,
        TOP,
        equity_bottom,
        TOP,
    ]


def test_the_drawdown_area_reaches_the_panel_bottom_at_the_deepest_point():
    width, height = 416, 244
    root = ET.fromstring(equity_chart_svg(CURVE, width=width, height=height))

    area = points(root.find(f"{SVG}polygon"))

    drawdown_top = TOP + 126 + GAP
    # closed along the zero line: first and last corners at 0%
    assert area[0] == (LEFT, drawdown_top) and area[-1] == (width - RIGHT, drawdown_top)
    assert [y for _x, y in area[1:-1]] == [
        drawdown_top,
        drawdown_top,
        height - BOTTOM,
        drawdown_top,
    ]
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert "Drawdown (max 25.00%)" in labels
    assert {"120.00", "90.00", "-25.00%", "2025-01-01", "2025-01-05"} <= set(labels)


def test_a_flat_curve_draws_a_level_line_and_no_drawdown():
    flat = [{"time": f"2025-01-0{day}T00:00:00Z", "equity": 10_000.0} for day in (1, 2, 3)]
    root = ET.fromstring(equity_chart_svg(flat, width=416, height=248))

    ys = {y for _x, y in points(root.find(f"{SVG}polyline"))}
    area_ys = {y for _x, y in points(root.find(f"{SVG}polygon"))}

    assert len(ys) == 1 and len(area_ys) == 1


def test_a_single_point_is_drawn_in_the_middle():
    root = ET.fromstring(equity_chart_svg(CURVE[:1], width=416, height=248))

    [(x, _y)] = points(root.find(f"{SVG}polyline"))

    assert x == (LEFT + 416 - RIGHT) / 2


def test_no_curve_gives_a_labelled_empty_chart():
    root = ET.fromstring(equity_chart_svg([]))
    assert [text.text for text in root.iter(f"{SVG}text")] == ["No equity curve"]


def test_the_chart_is_self_contained():
    svg = equity_chart_svg(CURVE)

    assert "<script" not in svg and "href" not in svg
    assert svg.count("http") == 1  # the SVG namespace only: no external asset
    assert ET.fromstring(svg).tag == f"{SVG}svg"


def test_a_drawdown_series_of_another_length_is_refused():
    with pytest.raises(ValueError, match="one value per equity point"):
        equity_chart_svg(CURVE, [0.0, -1.0])


def labels(svg: str) -> list[str]:
    return [text.text for text in ET.fromstring(svg).iter(f"{SVG}text")]


def test_the_drawdown_title_gives_the_backtests_max_drawdown_over_the_thinned_curve():
    # A thinned curve may miss the trough; the backtest's own figure is from every bar.
    rising = [{"time": f"2025-01-0{day}T00:00:00Z", "equity": 100.0 + day} for day in (1, 2, 3)]

    svg = equity_chart_svg(rising, max_drawdown_pct=Decimal("25.0000"))

    assert "Drawdown (max 25.00%)" in labels(svg)


def test_a_curve_without_drawdown_is_labelled_zero_not_minus_zero():
    rising = [{"time": f"2025-01-0{day}T00:00:00Z", "equity": 100.0 + day} for day in (1, 2, 3)]

    assert "Drawdown (max 0.00%)" in labels(equity_chart_svg(rising))
    assert "Drawdown (max 0.00%)" in labels(equity_chart_svg(rising, max_drawdown_pct=0.0))
    assert "0.00%" in labels(equity_chart_svg(rising, [0.0, -1e-9, 0.0]))
    assert not any("-0.00" in label for label in labels(equity_chart_svg(rising)))


def test_date_ticks_fall_on_round_moments_with_labels_as_precise_as_their_step():
    from strategies.admin_charts import time_ticks

    day = 86_400
    jan_1 = 1_735_689_600  # 2025-01-01 00:00 UTC
    assert [label for _t, label in time_ticks(jan_1 + 3600, jan_1 + 4 * day)] == [
        "2025-01-02",
        "2025-01-03",
        "2025-01-04",
        "2025-01-05",
    ]
    assert [label for _t, label in time_ticks(jan_1, jan_1 + 3 * 3600)][:2] == [
        "01-01 00:00",
        "01-01 00:30",
    ]
    months = time_ticks(jan_1 + day, jan_1 + 200 * day)
    assert [label for _t, label in months] == ["2025-03", "2025-05", "2025-07"]
    assert len(time_ticks(jan_1, jan_1 + 3000 * day)) <= 7


def test_the_chart_draws_tick_lines_under_its_date_labels():
    root = ET.fromstring(equity_chart_svg(CURVE))
    ticks = [line for line in root.iter(f"{SVG}line") if line.get("class") == "tick"]
    assert len(ticks) == 5  # 1 to 5 January
    assert "2025-01-03" in labels(equity_chart_svg(CURVE))


def test_trades_are_marked_at_their_entry_and_exit_on_the_equity_line():
    width, height = 416, 244
    trades = [
        {"entry_date": "2025-01-02T00:00:00Z", "exit_date": "2025-01-03T00:00:00Z", "side": "BUY"}
    ]
    root = ET.fromstring(equity_chart_svg(CURVE, trades=trades, width=width, height=height))

    marks = {
        p.get("class"): points(p)
        for p in root.iter(f"{SVG}polygon")
        if p.get("class", "").startswith("trade")
    }

    # The entry at the 120 peak (top of the panel), the exit at the 90 trough (its bottom); the
    # entry triangle of a long points up, the exit's down.
    equity_bottom = TOP + (height - TOP - BOTTOM - GAP) * 0.7
    entry_tip, exit_tip = marks["trade-entry"][0], marks["trade-exit"][0]
    assert entry_tip == (LEFT + 82, TOP - 6)
    assert exit_tip == (LEFT + 164, round(equity_bottom + 6, 1))
    assert "▲ entry ▼ exit (1 trades)" in labels(
        equity_chart_svg(CURVE, trades=trades, width=width, height=height)
    )


def test_the_legend_says_when_only_some_trades_are_marked():
    trades = [{"entry_date": "2025-01-02T00:00:00Z", "exit_date": None, "side": "SELL"}]
    assert "▲ entry ▼ exit (1 of 40 trades)" in labels(
        equity_chart_svg(CURVE, trades=trades, trades_total=40)
    )
