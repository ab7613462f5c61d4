import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from strategies.models import Optimisation
from strategies.optimisation_charts import heatmap_svg
from strategies.optimisation_selectors import best_variant
from strategies.services.optimisation_runs import candle_cache, run_chunk
from strategies.services.optimisations import chunks_of, start_optimisation
from tests.factories import OperatorFactory, StrategyFactory
from tests.strategies.candle_rows import ONE_TRADE_STRATEGY, insert_candles
from tests.strategies.test_optimisation_services import ENTRY, EXIT, SPACE, WALK_FORWARD_BARS

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

CHANGELIST = "/admin/strategies/optimisation/"


@pytest.fixture(autouse=True)
def _fresh_candle_cache():
    candle_cache.clear()
    yield
    candle_cache.clear()


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(OperatorFactory())
    return client


def walk_forward_run(**strategy_overrides) -> Optimisation:
    insert_candles(WALK_FORWARD_BARS)
    strategy = StrategyFactory(**{**ONE_TRADE_STRATEGY, **strategy_overrides})
    run = start_optimisation(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        commission_pct=Decimal("0"),
        slippage_pct=Decimal("0"),
        parameter_space=SPACE,
        objective="total_return",
        constraints={"min_trades": 1},
        walk_forward_folds=2,
        in_sample_ratio=1,
        enqueue=False,
    )
    for fold, chunk in chunks_of(run):
        run_chunk(optimisation_id=run.pk, fold=fold, chunk=chunk)
    run.refresh_from_db()
    return run


def test_the_list_shows_progress(operator):
    run = walk_forward_run()
    page = operator.get(CHANGELIST).content.decode()
    assert f"{run.variants_total} / {run.variants_total} (100%)" in page


def test_the_report_page_has_the_heatmap_top_variants_and_walk_forward_chart(operator):
    run = walk_forward_run()

    page = operator.get(f"{CHANGELIST}{run.pk}/change/").content.decode()

    assert "Objective heatmap" in page
    assert page.count('class="cell"') == 6  # 3 entry values x 2 exit values
    assert 'class="optimisation-top-variants"' in page
    assert "stitched-equity" in page
    assert 'class="walk-forward-folds"' in page
    assert "Parameter stability" in page
    # The pair can be chosen: the axes swap.
    swapped = operator.get(f"{CHANGELIST}{run.pk}/change/?x={EXIT}&y={ENTRY}").content.decode()
    assert f"{EXIT}</text>" in swapped


def test_the_heatmap_colours_best_green_worst_red_and_greys_empty_cells():
    svg = heatmap_svg(
        {(1, 10): 2.0, (2, 10): -1.0, (1, 20): None},
        x_values=[1, 2],
        y_values=[10, 20],
        x_label="fast",
        y_label="slow",
        objective="sharpe",
    )
    assert 'fill="#16a34a"' in svg  # best
    assert 'fill="#dc2626"' in svg  # worst
    assert svg.count('fill="#e5e7eb"') == 2  # (1, 20) no qualifying variant, (2, 20) none ran


def test_cancel_action(operator):
    insert_candles(WALK_FORWARD_BARS)
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    run = start_optimisation(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        parameter_space=SPACE,
        objective="sharpe",
        enqueue=False,
    )
    operator.post(CHANGELIST, {"action": "cancel_optimisations", "_selected_action": [str(run.pk)]})
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_the_command_runs_an_optimisation_and_prints_the_report(capsys):
    insert_candles(WALK_FORWARD_BARS)
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    call_command(
        "optimize",
        str(strategy.pk),
        "--start=2025-01-01",
        "--end=2025-01-02",
        "--capital=10000",
        "--commission=0",
        "--slippage=0",
        f'--space={{"{ENTRY}": {{"values": [105, 200]}}}}',
        "--objective=total_return",
        '--constraints={"min_trades": 1}',
        "--folds=2",
        "--ratio=1",
    )
    out = capsys.readouterr().out
    assert "Status: completed; variants 6 / 6" in out
    assert "Top 1 variants" in out
    assert "Stitched out-of-sample equity: 10,000.00 -> 9,996.00 (-0.04%)" in out
    assert f"  {ENTRY}: [105.0, 105.0], 1 distinct" in out


def test_the_command_refuses_a_bad_space_with_the_reason():
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    with pytest.raises(CommandError, match=r"entry_rules\.nope: entry_rules has no 'nope'"):
        call_command(
            "optimize",
            str(strategy.pk),
            "--start=2025-01-01",
            "--end=2025-01-02",
            "--capital=10000",
            '--space={"entry_rules.nope": {"values": [1]}}',
        )


def test_the_apply_action_writes_the_best_variant_into_the_strategy(operator):
    # An entry threshold outside the space, so that the best variant changes the rules.
    run = walk_forward_run(entry_rules={"left": "close", "op": ">", "right": 150})

    operator.post(CHANGELIST, {"action": "apply_best_variants", "_selected_action": [str(run.pk)]})

    run.strategy.refresh_from_db()
    best = best_variant(run).parameters
    assert run.strategy.version == 2
    assert run.strategy.entry_rules["right"] == best[ENTRY]
    assert run.strategy.exit_rules["right"] == best[EXIT]
