"""Strategies that run (services): an active strategy deployed in a portfolio is evaluated on
each newly closed candle of its symbol and timeframe by the backtests' rule engine
(strategies.rules.evaluate_rules), and its signals become paper orders with the backtest's
timing: signal at the close, fill at the next price (the next candle's open), sized as the
backtest sizes (max_position_size_pct of the cash, commission included). docs/paper-trading.md.

Evaluation is incremental: each candle loads only the window the rules' indicators need
(their warm-up, ten times over for recursive ones such as EMA and RSI), once per symbol and
timeframe for all the strategies on it, so its cost does not grow with the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import User
from compliance.audit import AuditContext
from core.errors import StateConflict
from marketdata.selectors import candle_arrays
from marketdata.timeframes import Timeframe
from strategies.engine import Candles
from strategies.models import Strategy
from strategies.rules.evaluate import evaluate_rules, required_warmup
from strategies.rules.schema import rule_direction
from strategies.services.strategies import activate_strategy
from trading.fills import EIGHT_PLACES, OPEN_STATUSES
from trading.models import Portfolio, Position, StrategyDeployment, Trade
from trading.orders import place_order

# Indicators whose value depends on all the history before (recursions, running sums): the
# window gives them ten times their warm-up, where what came before weighs less than 1e-8.
RECURSIVE_INDICATORS = frozenset({"ema", "rsi", "macd", "atr", "obv", "vwap"})
RECURSIVE_FACTOR = 10
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNSUPPORTED_RISK_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "trailing_stop_pct",
    "max_drawdown_pct",
)


def _indicators(tree: Any) -> set[str]:
    if isinstance(tree, dict):
        found = {tree["indicator"]} if "indicator" in tree else set()
        for value in tree.values():
            found |= _indicators(value)
        return found
    if isinstance(tree, list):
        return set().union(*(_indicators(item) for item in tree)) if tree else set()
    return set()


def window_bars(entry_rules: dict, exit_rules: dict) -> int:
    """The closed bars one evaluation needs: the warm-up (×10 for recursive indicators), plus
    the bar before the last for crossings."""
    warmup = max(required_warmup(entry_rules), required_warmup(exit_rules))
    recursive = (_indicators(entry_rules) | _indicators(exit_rules)) & RECURSIVE_INDICATORS
    return warmup * (RECURSIVE_FACTOR if recursive else 1) + 2


def run_strategy(
    *,
    strategy: Strategy,
    portfolio: Portfolio,
    actor: User,
    context: AuditContext | None = None,
) -> Strategy:
    """Deploy the strategy in the portfolio (its own, paper unless the strategy says live) and
    activate it. Stops, targets, trailing stops and the drawdown limit are not simulated by the
    live path yet, so a strategy that sets them is refused rather than run without them."""
    if portfolio.user_id != strategy.user_id or actor.pk != strategy.user_id:
        raise Portfolio.DoesNotExist("No such portfolio.")
    mode = strategy.trading_mode or Strategy.TradingMode.PAPER
    if portfolio.is_paper != (mode == Strategy.TradingMode.PAPER):
        raise StateConflict(f"A {mode} strategy needs a {mode} portfolio.")
    unsupported = [name for name in UNSUPPORTED_RISK_FIELDS if getattr(strategy, name) is not None]
    if unsupported:
        raise StateConflict(
            "Running a strategy with " + ", ".join(unsupported) + " is not supported yet."
        )
    with transaction.atomic():
        StrategyDeployment.objects.update_or_create(
            strategy=strategy, defaults={"portfolio": portfolio}
        )
        return activate_strategy(strategy=strategy, actor=actor, context=context)


@dataclass(frozen=True)
class Signal:
    strategy_id: Any
    side: str
    reason: str


def _decide(
    strategy: Strategy, candles: Candles, position: Position | None, waiting: bool
) -> Signal | None:
    """Entry while flat, exit while in the strategy's position, at the last closed bar."""
    if waiting or len(candles) == 0:
        return None
    short = rule_direction(strategy.entry_rules) == "short"
    if position is None:
        if evaluate_rules(strategy.entry_rules, candles)[-1]:
            return Signal(strategy.pk, "SELL" if short else "BUY", "entry_rules")
        return None
    if (position.quantity < 0) != short:
        return None  # not this strategy's kind of position
    if strategy.exit_rules and evaluate_rules(strategy.exit_rules, candles)[-1]:
        return Signal(strategy.pk, "BUY" if short else "SELL", "exit_rules")
    return None


def evaluate_strategies(
    *, symbol: str, timeframe: str, close_at: datetime, close: Decimal
) -> list[Trade]:
    """The candle of `symbol`/`timeframe` closing at `close_at` (its close price `close`) has
    arrived: evaluate every active paper strategy on it and place the orders its signals call for.
    Safe to run twice for a candle: a strategy whose order is waiting places no other."""
    deployments = list(
        StrategyDeployment.objects.filter(
            strategy__status=Strategy.Status.ACTIVE,
            strategy__asset_symbol=symbol,
            strategy__timeframe=timeframe,
            portfolio__is_active=True,
        ).select_related("strategy", "portfolio", "strategy__user")
    )
    if not deployments:
        return []
    frame = Timeframe.parse(timeframe)
    if frame.width is None:
        return []  # monthly strategies are not run (their candles have no fixed width)
    bars = max(window_bars(d.strategy.entry_rules, d.strategy.exit_rules) for d in deployments)
    arrays = candle_arrays(
        symbol=symbol, timeframe=timeframe, start=close_at - frame.width * bars, end=close_at
    )
    candles = Candles.from_arrays(**arrays)
    last_open_ns = (close_at - frame.width - EPOCH) // timedelta(microseconds=1) * 1000
    if len(candles) == 0 or int(candles.time[-1]) != last_open_ns:
        return []  # the candle that closed is not stored (yet): nothing to evaluate on

    portfolio_ids = {d.portfolio_id for d in deployments}
    positions = {
        p.portfolio_id: p
        for p in Position.objects.filter(
            portfolio_id__in=portfolio_ids, symbol=symbol, is_open=True
        )
    }
    waiting = set(
        Trade.objects.filter(
            strategy_id__in=[d.strategy_id for d in deployments], status__in=OPEN_STATUSES
        ).values_list("strategy_id", flat=True)
    )
    by_window: dict[int, Candles] = defaultdict(lambda: candles)
    placed = []
    for deployment in deployments:
        strategy = deployment.strategy
        need = window_bars(strategy.entry_rules, strategy.exit_rules)
        window = by_window.setdefault(
            need, candles.slice(max(0, len(candles) - need), len(candles))
        )
        position = positions.get(deployment.portfolio_id)
        signal = _decide(strategy, window, position, strategy.pk in waiting)
        if signal is None:
            continue
        placed.append(
            _place_signal(deployment, strategy, signal, position, close_at=close_at, close=close)
        )
    return placed


def _place_signal(
    deployment: StrategyDeployment,
    strategy: Strategy,
    signal: Signal,
    position: Position | None,
    *,
    close_at: datetime,
    close: Decimal,
) -> Trade:
    portfolio = deployment.portfolio
    fields: dict[str, Any] = {}
    if position is None:
        budget = (
            portfolio.cash_balance * (strategy.max_position_size_pct or Decimal(10)) / 100
        ).quantize(EIGHT_PLACES)
        fields["quote_quantity"] = budget
        fields["quantity"] = (budget / close).quantize(EIGHT_PLACES)
    else:
        fields["quantity"] = abs(position.quantity)
    with transaction.atomic():
        trade = place_order(
            portfolio=portfolio,
            actor=strategy.user,
            symbol=strategy.asset_symbol,
            side=signal.side,
            order_type="MARKET",
            strategy=strategy,
            signal_reason=signal.reason,
            fill_at_next_price=True,
            signal_at=close_at,
            **fields,
        )
        Strategy.objects.filter(pk=strategy.pk).update(last_signal_at=close_at)
    return trade
