from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from compliance.models import AuditLog
from strategies.models import Backtest, Strategy
from strategies.rules.examples import EXAMPLE_STRATEGIES
from tests.factories import StrategyFactory, UserFactory
from tests.strategies.candle_rows import ONE_TRADE_BARS, ONE_TRADE_STRATEGY, insert_candles

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def backtest(*args: str) -> str:
    out = StringIO()
    call_command("backtest", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def strategy():
    return StrategyFactory(name="One trade", **ONE_TRADE_STRATEGY)


def test_runs_synchronously_and_prints_the_report(strategy):
    insert_candles(ONE_TRADE_BARS)

    output = backtest(
        str(strategy.pk),
        "--start=2025-01-01",
        "--end=2025-01-02",
        "--capital=10000",
        "--commission=0",
        "--slippage=0",
    )

    lines = output.splitlines()
    assert lines[0].endswith("One trade v1 (BTC/USDT 1m), 2025-01-01 to 2025-01-02")
    assert lines[1] == "Initial capital 10,000.00, commission 0.0000%, slippage 0.0000%"
    assert lines[2].startswith("Status: completed in ")
    assert "  Final capital               9,869.16" in lines
    assert "  Total return                  -1.31%" in lines
    assert "  Profit factor                   0.00" in lines  # no winning trade
    assert "  Win rate                       0.00%" in lines
    assert "Trades: 1 (0 winning, 1 losing)" in lines
    [trade] = [line for line in lines if line.startswith("    1  BUY")]
    assert trade.split() == [
        "1",
        "BUY",
        "2025-01-01",
        "00:02",
        "107.00000000",
        "2025-01-01",
        "00:06",
        "93.00000000",
        "-130.84",
        "-13.08%",
        "exit_rules",
    ]
    run = Backtest.objects.get()
    assert run.status == "completed"
    assert AuditLog.objects.get(resource_id=run.pk, action="create").metadata == {
        "channel": "manage.py backtest"
    }


def test_no_candles_is_a_failure_with_the_reason_and_a_non_zero_exit(strategy):
    with pytest.raises(CommandError, match="failed: No market data for BTC/USDT: "):
        backtest(str(strategy.pk), "--start=2025-01-01", "--end=2025-01-02", "--capital=10000")
    assert Backtest.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start=2025-01-02", "--end=2025-01-01"], "end_date: The end date must be after"),
        (["--start=2025-01-01", "--end=9999-12-31"], "end_date: The end date can be at most today"),
        (["--start=1969-12-31", "--end=2025-01-01"], "start_date: The start date can be 1970"),
        (["--start=2025-02-30", "--end=2025-03-01"], "Not a date"),
        (["--start=2025-01-01", "--end=2025-01-02", "--capital=lots"], "--capital: not a number"),
        (["--start=2025-01-01", "--end=2025-01-02", "--capital=0"], "initial_capital"),
    ],
)
def test_bad_input_stops_with_a_clear_message(strategy, args, message):
    options = {"--capital": "--capital=10000"}
    for arg in args:
        options[arg.split("=")[0]] = arg
    with pytest.raises(CommandError, match=message):
        backtest(str(strategy.pk), *options.values())
    assert not Backtest.objects.exists()


@pytest.mark.parametrize("strategy_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_strategy_is_refused(strategy_id):
    with pytest.raises(CommandError, match="No strategy with id"):
        backtest(strategy_id, "--start=2025-01-01", "--end=2025-01-02", "--capital=1")


def test_load_example_strategies_creates_them_once():
    user = UserFactory(email="quant@example.com")

    first = StringIO()
    call_command("load_example_strategies", "--user=Quant@Example.com", stdout=first)
    second = StringIO()
    call_command("load_example_strategies", "--user=quant@example.com", stdout=second)

    names = sorted(Strategy.objects.filter(user=user).values_list("name", flat=True))
    assert names == sorted(example["name"] for example in EXAMPLE_STRATEGIES)
    assert first.getvalue().count("created: ") == len(EXAMPLE_STRATEGIES)
    assert second.getvalue().count("exists:  ") == len(EXAMPLE_STRATEGIES)
    short = Strategy.objects.get(user=user, name="MACD momentum short")
    assert short.entry_rules["direction"] == "short"
    assert str(short.trailing_stop_pct) == "1.50"


def test_load_example_strategies_needs_a_known_user():
    with pytest.raises(CommandError, match="No user with email"):
        call_command("load_example_strategies", "--user=nobody@example.com")
