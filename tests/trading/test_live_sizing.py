"""A live strategy's order by amount fitted to the market: rounded down to the lot size with the
taker fee on top, refused (failed, not sent, the strategy unharmed) below the market's minimum.
The fake Binance lists BTC/USDT with a step of 0.00001, a minimum quantity of 0.00001 and a
minimum order value (NOTIONAL) of 5 USDT; ccxt gives Binance's taker fee as 0.001."""

import datetime as dt
from decimal import Decimal

import pytest

from compliance.models import AuditLog
from exchanges.records import MarketRules
from marketdata.services import CandleInput, upsert_candles
from strategies.models import Strategy
from tests.factories import ApiKeyFactory, PortfolioFactory, StrategyFactory
from tests.trading.paper import assert_books_balance
from trading.live_sizing import BelowMarketMinimum, fit_order_by_amount, round_down_to_step
from trading.models import Trade
from trading.strategy_runs import evaluate_strategies, run_strategy

D = Decimal
SYMBOL = "BTC/USDT"
BINANCE_BTC_USDT = MarketRules(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    quantity_step=D("0.00001"),
    min_quantity=D("0.00001"),
    min_notional=D("5"),
    taker_fee=D("0.001"),
)
ALWAYS = {"all": [{"left": "close", "op": ">", "right": 0}]}
NEVER = {"all": [{"left": "close", "op": "<", "right": 0}]}


# --- the arithmetic -------------------------------------------------------------------------------


def test_an_amount_is_sized_with_the_fee_on_top_and_rounded_down_to_the_step() -> None:
    fitted = fit_order_by_amount(amount=D("1000"), price=D("40000"), rules=BINANCE_BTC_USDT)

    # 1000 / (40000 × 1.001) = 0.024975024975…, down to the step 0.00001
    assert fitted.quantity == D("0.02497")
    assert fitted.notional == D("998.80")
    assert fitted.notional * (1 + BINANCE_BTC_USDT.taker_fee) <= D("1000")  # 999.7988


def test_rounding_is_always_down_even_a_hair_below_the_next_step() -> None:
    assert round_down_to_step(D("0.0249999999"), D("0.00001")) == D("0.02499")
    assert round_down_to_step(D("0.025"), D("0.00001")) == D("0.02500")
    assert round_down_to_step(D("1.23456789"), None) == D("1.23456789")


def test_an_amount_worth_less_than_the_minimum_order_value_is_refused() -> None:
    # 4 / 40040 = 0.0000999 → 0.00009 BTC, worth 3.6 USDT < 5
    with pytest.raises(
        BelowMarketMinimum, match=r"worth 3\.6 USDT, below BTC/USDT's minimum order"
    ):
        fit_order_by_amount(amount=D("4"), price=D("40000"), rules=BINANCE_BTC_USDT)


def test_an_amount_that_buys_less_than_one_step_is_refused() -> None:
    with pytest.raises(BelowMarketMinimum, match=r"lot size 0\.00001 BTC"):
        fit_order_by_amount(amount=D("0.3"), price=D("40000"), rules=BINANCE_BTC_USDT)


def test_an_amount_below_the_minimum_quantity_is_refused() -> None:
    rules = MarketRules(SYMBOL, "BTC", "USDT", D("0.00001"), D("0.001"), None, None)
    # 30 / 40000 = 0.00075 < 0.001
    with pytest.raises(BelowMarketMinimum, match=r"0\.00075 BTC, below BTC/USDT's minimum"):
        fit_order_by_amount(amount=D("30"), price=D("40000"), rules=rules)


# --- a live strategy against the fake Binance -----------------------------------------------


@pytest.fixture
def closed_candle():
    """Three 1m candles closing at 40,000 USDT; the last closes at the returned moment."""
    start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    candles = [
        CandleInput(
            time=start + dt.timedelta(minutes=i),
            open=D("39990"),
            high=D("40010"),
            low=D("39980"),
            close=D("40000"),
            volume=D("5"),
        )
        for i in range(3)
    ]
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    return start + dt.timedelta(minutes=3)


def live_strategy(cash: str):
    portfolio = PortfolioFactory(live=True, cash_balance=D(cash), total_value=D(cash))
    ApiKeyFactory(user=portfolio.user, permissions=["read", "trade"])
    strategy = StrategyFactory(
        user=portfolio.user,
        asset_symbol=SYMBOL,
        timeframe="1m",
        entry_rules=ALWAYS,
        exit_rules=NEVER,
        max_position_size_pct=D("10"),
        trading_mode=Strategy.TradingMode.LIVE,
    )
    run_strategy(strategy=strategy, portfolio=portfolio, actor=portfolio.user)
    return strategy, portfolio


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_a_live_strategys_entry_is_sent_fitted_to_the_lot_size_and_booked(
    fake_binance, run_tasks, closed_candle
) -> None:
    _, portfolio = live_strategy("10000.00")
    capture, sent = run_tasks

    with capture():
        (placed,) = evaluate_strategies(timeframe="1m", close_at=closed_candle, symbols=[SYMBOL])
    assert (placed.quote_quantity, placed.quantity) == (D("1000"), D("0.025"))  # the estimate

    placed.refresh_from_db()
    assert sent == ["trading.tasks.submit_live_order"]
    (order,) = fake_binance.calls("POST", "/order")
    assert (order["type"], order["quantity"]) == ("MARKET", "0.02497")
    assert "quoteOrderQty" not in order
    assert placed.status == Trade.Status.FILLED
    assert (placed.quantity, placed.filled_quantity) == (D("0.02497"), D("0.02497"))
    # 0.02497 × 40,000 = 998.80, commission 0.9988: cash 10,000 − 999.80 (settled to the cent)
    assert placed.commission == D("0.9988")
    assert assert_books_balance(portfolio).cash_balance == D("9000.20")
    fitted = AuditLog.objects.get(resource_id=placed.pk, old_values__quantity="0.02500000")
    assert fitted.new_values == {"quantity": "0.02497000"}
    assert fitted.metadata["sized_at_price"] == "40000.00000000"


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_a_live_strategys_entry_below_the_minimum_order_value_fails_unsent(
    fake_binance, run_tasks, closed_candle
) -> None:
    strategy, portfolio = live_strategy("40.00")  # 10 % = 4 USDT
    capture, _ = run_tasks

    with capture():
        (placed,) = evaluate_strategies(timeframe="1m", close_at=closed_candle, symbols=[SYMBOL])

    placed.refresh_from_db()
    assert placed.status == Trade.Status.FAILED
    assert placed.error_message.startswith("Not sent: the order is below the exchange's minimum.")
    assert "minimum order value 5 USDT" in placed.error_message
    assert fake_binance.calls("POST", "/order") == []
    assert assert_books_balance(portfolio).cash_balance == D("40.00")
    strategy.refresh_from_db()
    assert strategy.status == Strategy.Status.ACTIVE  # the strategy runs on
    # A failed order is not waiting: the strategy signals again on the next candle (each candle
    # is evaluated once, so the same candle places nothing more).
    assert evaluate_strategies(timeframe="1m", close_at=closed_candle, symbols=[SYMBOL]) == []
    upsert_candles(
        symbol=SYMBOL,
        timeframe="1m",
        candles=[
            CandleInput(
                time=closed_candle,
                open=D("40000"),
                high=D("40010"),
                low=D("39990"),
                close=D("40000"),
                volume=D("5"),
            )
        ],
    )
    next_close = closed_candle + dt.timedelta(minutes=1)
    assert len(evaluate_strategies(timeframe="1m", close_at=next_close, symbols=[SYMBOL])) == 1
