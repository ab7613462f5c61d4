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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q

from accounts.models import User
from compliance.audit import AuditContext
from core.errors import StateConflict
from marketdata.selectors import candle_arrays
from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB
from strategies.engine import Candles
from strategies.models import Strategy
from strategies.rules.evaluate import evaluate_rules, indicator_keys, required_warmup
from strategies.rules.schema import rule_direction
from strategies.services.strategies import activate_strategy
from trading.fills import EIGHT_PLACES, OPEN_STATUSES, apply_fill
from trading.matching import PriceEvent
from trading.models import Portfolio, Position, StrategyDeployment, Trade
from trading.orders import place_order

# Indicators whose value depends on all the history before (recursions, running sums): the
# window gives them ten times their warm-up, where what came before weighs less than 1e-8.
RECURSIVE_INDICATORS = frozenset({"ema", "rsi", "macd", "atr", "obv", "vwap"})
RECURSIVE_FACTOR = 10
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_bars(entry_rules: dict, exit_rules: dict) -> int:
    """The closed bars one evaluation needs: the warm-up (×10 for recursive indicators), plus
    the bar before the last for crossings."""
    warmup = max(required_warmup(entry_rules), required_warmup(exit_rules))
    used = {key[0] for rules in (entry_rules, exit_rules) if rules for key in indicator_keys(rules)}
    recursive = used & RECURSIVE_INDICATORS
    return warmup * (RECURSIVE_FACTOR if recursive else 1) + 2


def run_strategy(
    *,
    strategy: Strategy,
    portfolio: Portfolio,
    actor: User,
    context: AuditContext | None = None,
) -> Strategy:
    """Deploy the strategy in the portfolio (its own, paper unless the strategy says live) and
    activate it. A drawdown limit starts watching from the portfolio's equity at this moment."""
    if portfolio.user_id != strategy.user_id or actor.pk != strategy.user_id:
        raise Portfolio.DoesNotExist("No such portfolio.")
    mode = strategy.trading_mode or Strategy.TradingMode.PAPER
    if portfolio.is_paper != (mode == Strategy.TradingMode.PAPER):
        raise StateConflict(f"A {mode} strategy needs a {mode} portfolio.")
    with transaction.atomic():
        StrategyDeployment.objects.update_or_create(
            strategy=strategy,
            defaults={"portfolio": portfolio, "peak_equity": None, "halted_at": None},
        )
        return activate_strategy(strategy=strategy, actor=actor, context=context)


@dataclass(frozen=True)
class Signal:
    strategy_id: Any
    side: str
    reason: str


def _short(deployment: Any) -> bool:
    return rule_direction(deployment.entry_rules) == "short"


def _decide(deployment: Any, candles: Candles, position: Position | None) -> Signal | None:
    """Entry while flat, exit while in the strategy's position, at the last closed bar."""
    short = _short(deployment)
    if position is None:
        if evaluate_rules(deployment.entry_rules, candles)[-1]:
            return Signal(deployment.strategy_id, "SELL" if short else "BUY", "entry_rules")
        return None
    if (position.quantity < 0) != short:
        return None  # not this strategy's kind of position
    if deployment.exit_rules and evaluate_rules(deployment.exit_rules, candles)[-1]:
        return Signal(deployment.strategy_id, "BUY" if short else "SELL", "exit_rules")
    return None


@dataclass(frozen=True)
class _Deployed:
    """What evaluation needs of a deployed strategy (rows, not model instances: most candles
    signal nothing, and building a thousand models per candle would cost more than the rules)."""

    strategy_id: Any
    portfolio_id: Any
    symbol: str
    entry_rules: dict
    exit_rules: dict
    window: int
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    trailing_stop_pct: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    deployment_id: int | None = None
    peak_equity: Decimal | None = None
    halted: bool = False
    waiting: bool = False  # an order of the strategy is still open
    in_position: bool = False  # its portfolio holds an open position in its symbol


_WINDOWS: dict[tuple[Any, int], int] = {}


def _window_for(strategy_id: Any, version: int, entry: dict, exit_: dict) -> int:
    key = (strategy_id, version)  # the version moves whenever the rules change
    if key not in _WINDOWS:
        _WINDOWS[key] = window_bars(entry, exit_)
    return _WINDOWS[key]


def _deployed(timeframe: str, symbols: Sequence[str], close_at: datetime) -> list[_Deployed]:
    """The active deployments on these symbols and timeframe not yet evaluated at `close_at` or
    a later close, with whether an order of theirs is waiting and whether their portfolio is in
    their symbol (in the same query: each symbol's candle is a task of its own, so every query
    per call counts fifty times per minute)."""
    rows = (
        StrategyDeployment.objects.filter(
            Q(evaluated_close_at__isnull=True) | Q(evaluated_close_at__lt=close_at),
            strategy__status=Strategy.Status.ACTIVE,
            strategy__asset_symbol__in=list(symbols),
            strategy__timeframe=timeframe,
            portfolio__is_active=True,
        )
        .annotate(
            waiting=Exists(
                Trade.objects.filter(strategy_id=OuterRef("strategy_id"), status__in=OPEN_STATUSES)
            ),
            in_position=Exists(
                Position.objects.filter(
                    portfolio_id=OuterRef("portfolio_id"),
                    symbol=OuterRef("strategy__asset_symbol"),
                    is_open=True,
                )
            ),
        )
        .values_list(
            "strategy_id",
            "portfolio_id",
            "strategy__asset_symbol",
            "strategy__entry_rules",
            "strategy__exit_rules",
            "strategy__version",
            "strategy__stop_loss_pct",
            "strategy__take_profit_pct",
            "strategy__trailing_stop_pct",
            "strategy__max_drawdown_pct",
            "id",
            "peak_equity",
            "halted_at",
            "waiting",
            "in_position",
        )
    )
    return [
        _Deployed(
            sid,
            pid,
            symbol,
            entry,
            exit_,
            _window_for(sid, version, entry, exit_),
            stop,
            target,
            trail,
            drawdown,
            deployment_id,
            peak,
            halted_at is not None,
            waiting,
            in_position,
        )
        for (
            sid,
            pid,
            symbol,
            entry,
            exit_,
            version,
            stop,
            target,
            trail,
            drawdown,
            deployment_id,
            peak,
            halted_at,
            waiting,
            in_position,
        ) in rows
    ]


def _halted_by_drawdown(deployment: _Deployed, close_at: datetime) -> bool:
    """The drawdown limit, as the engine applies it: the portfolio's equity (marked at this
    close) against its running peak since the strategy started; once below peak × (1 − limit),
    no new position for the rest of the run. A position already open ends by its own exits."""
    if deployment.max_drawdown_pct is None:
        return False
    if deployment.halted:
        return True
    portfolio = Portfolio.objects.only("total_value", "initial_balance").get(
        pk=deployment.portfolio_id
    )
    equity = portfolio.total_value
    peak = max(deployment.peak_equity if deployment.peak_equity is not None else equity, equity)
    halted = equity < peak * (1 - deployment.max_drawdown_pct / 100)
    StrategyDeployment.objects.filter(pk=deployment.deployment_id).update(
        peak_equity=peak, halted_at=close_at if halted else None
    )
    return halted


def _price(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(EIGHT_PLACES)


def _best_since_entry(
    deployment: _Deployed, position: Position, candles: Candles, frame: Timeframe
) -> Decimal:
    """The trailing reference: the entry fill and the best price (high for a long, low for a
    short) of the candles from the entry candle up to the one before the last."""
    entry_open = position.opened_at - frame.width
    entry_ns = (entry_open - EPOCH) // timedelta(microseconds=1) * 1000
    if len(candles) and int(candles.time[0]) <= entry_ns:
        before = candles.slice(0, len(candles) - 1)
        keep = before.time >= entry_ns
        highs, lows = before.high[keep], before.low[keep]
    else:  # the window starts after the entry: read the candles since
        last_open = EPOCH + timedelta(microseconds=int(candles.time[-1]) // 1000)
        arrays = candle_arrays(
            symbol=deployment.symbol, timeframe=frame.code, start=entry_open, end=last_open
        )
        highs, lows = arrays["high"], arrays["low"]
    entry = position.average_entry_price
    if position.quantity > 0:
        return max([entry, *(_price(h) for h in highs)])
    return min([entry, *(_price(low) for low in lows)])


def _level_exit(
    deployment: _Deployed, position: Position, candles: Candles, frame: Timeframe
) -> tuple[Decimal, str] | None:
    """The stop, trailing stop or target the last candle reached, as the engine's _exit_at_bar
    takes them: levels from the entry fill rounded to 8 places, the tighter of the fixed and
    trailing stops (`trailing_stop` only when strictly tighter), a candle opening beyond a
    level exits at its open, the stop when both lie inside one candle."""
    if (
        deployment.stop_loss_pct is None
        and deployment.take_profit_pct is None
        and deployment.trailing_stop_pct is None
    ):
        return None
    entry = position.average_entry_price
    long = position.quantity > 0
    sign = Decimal(1) if long else Decimal(-1)
    low, high, open_ = (_price(a[-1]) for a in (candles.low, candles.high, candles.open))
    hundred = Decimal(100)
    stop = target = None
    if deployment.stop_loss_pct is not None:
        stop = (entry * (1 - sign * deployment.stop_loss_pct / hundred)).quantize(EIGHT_PLACES)
    if deployment.take_profit_pct is not None:
        target = (entry * (1 + sign * deployment.take_profit_pct / hundred)).quantize(EIGHT_PLACES)
    reason = "stop_loss"
    if deployment.trailing_stop_pct is not None:
        best = _best_since_entry(deployment, position, candles, frame)
        trail = (best * (1 - sign * deployment.trailing_stop_pct / hundred)).quantize(EIGHT_PLACES)
        if stop is None or (trail > stop if long else trail < stop):
            stop, reason = trail, "trailing_stop"

    def beyond_stop(price: Decimal) -> bool:
        return stop is not None and (price <= stop if long else price >= stop)

    def beyond_target(price: Decimal) -> bool:
        return target is not None and (price >= target if long else price <= target)

    worst, best_price = (low, high) if long else (high, low)
    if not (beyond_stop(worst) or beyond_target(best_price)):
        return None
    if beyond_stop(open_):
        return open_, reason
    if beyond_target(open_):
        return open_, "take_profit"
    if beyond_stop(worst):
        return stop, reason
    return target, "take_profit"


def _windows(
    frame: Timeframe, symbols: Sequence[str], close_at: datetime, bars: int
) -> dict[str, Candles]:
    """The last `bars` closed candles of each symbol ending at `close_at`; 1m candles for all
    symbols in one query, other timeframes through market data's rollups."""
    start = close_at - frame.width * bars
    out: dict[str, Candles] = {}
    if frame.code != "1m":
        for symbol in symbols:
            arrays = candle_arrays(symbol=symbol, timeframe=frame.code, start=start, end=close_at)
            out[symbol] = Candles.from_arrays(**arrays)
        return out
    with connections[TIMESERIES_DB].cursor() as cursor:
        cursor.execute(
            "SELECT symbol, (extract(epoch FROM time) * 1000000)::bigint, open::float8, "
            "high::float8, low::float8, close::float8, volume::float8 FROM ohlcv "
            "WHERE symbol = ANY(%s) AND timeframe = '1m' AND time >= %s AND time < %s "
            "ORDER BY symbol, time",
            [list(symbols), start, close_at],
        )
        rows = cursor.fetchall()
    by_symbol: dict[str, list] = defaultdict(list)
    for row in rows:
        by_symbol[row[0]].append(row[1:])
    for symbol, values in by_symbol.items():
        array = np.array(values, dtype=np.float64)
        out[symbol] = Candles.from_arrays(
            time=array[:, 0].astype(np.int64) * 1000,
            open=array[:, 1],
            high=array[:, 2],
            low=array[:, 3],
            close=array[:, 4],
            volume=array[:, 5],
        )
    return out


def evaluate_strategies(
    *, timeframe: str, close_at: datetime, symbols: Sequence[str]
) -> list[Trade]:
    """The candles of `symbols` on `timeframe` closing at `close_at` have arrived: evaluate
    every active strategy deployed on them and place the orders their signals call for. One
    query for the strategies (with whether each has an order waiting or a position), one for the
    candles, one for the positions (when any is held), whatever the number of strategies, and one
    to record the evaluation of those that place nothing.

    Each strategy is evaluated once per candle: its deployment's `evaluated_close_at` is
    claimed (moved to `close_at` unless already there or later) in the transaction that places
    its orders, so a task run twice, a candle announced twice, or an older candle arriving after
    a newer one places nothing more. A strategy whose candle is not stored yet is not marked: a
    retry once it is evaluates it."""
    frame = Timeframe.parse(timeframe)
    if frame.width is None:
        return []  # monthly strategies are not run (their candles have no fixed width)
    deployments = _deployed(timeframe, symbols, close_at)
    if not deployments:
        return []
    windows = _windows(
        frame, sorted({d.symbol for d in deployments}), close_at, max(d.window for d in deployments)
    )
    last_open_ns = (close_at - frame.width - EPOCH) // timedelta(microseconds=1) * 1000
    holding = {d.portfolio_id for d in deployments if d.in_position}
    positions = (
        {
            (p.portfolio_id, p.symbol): p
            for p in Position.objects.filter(
                portfolio_id__in=holding, symbol__in=list(symbols), is_open=True
            )
        }
        if holding
        else {}
    )
    waiting = {d.strategy_id for d in deployments if d.waiting}
    placed: list[Trade] = []
    quiet: list[int] = []  # evaluated, nothing to place
    for deployment in deployments:
        candles = windows.get(deployment.symbol)
        if candles is None or len(candles) == 0 or int(candles.time[-1]) != last_open_ns:
            continue  # the candle that closed is not stored (yet): nothing to evaluate on
        if deployment.strategy_id in waiting:
            quiet.append(deployment.deployment_id)
            continue
        window = candles.slice(max(0, len(candles) - deployment.window), len(candles))
        position = positions.get((deployment.portfolio_id, deployment.symbol))
        level = None
        if position is not None and (position.quantity < 0) == _short(deployment):
            level = _level_exit(deployment, position, candles, frame)
        signal = None
        if level is None:
            signal = _signal(deployment, window, position, close_at)
            if signal is None:
                quiet.append(deployment.deployment_id)
                continue
        with transaction.atomic():
            if not _claim(deployment.deployment_id, close_at):
                continue  # evaluated meanwhile by another run of this candle
            if level is not None:
                placed.append(_exit_at_level(deployment, position, level, candles, close_at))
                position = None  # flat at this close: an entry signal may open again
                signal = _signal(deployment, window, position, close_at)
            if signal is not None:
                close = _price(candles.close[-1])
                placed.append(
                    _place_signal(deployment, signal, position, close_at=close_at, close=close)
                )
    if quiet:
        StrategyDeployment.objects.filter(
            Q(evaluated_close_at__isnull=True) | Q(evaluated_close_at__lt=close_at),
            pk__in=quiet,
        ).update(evaluated_close_at=close_at)
    return placed


def _signal(
    deployment: _Deployed, window: Candles, position: Position | None, close_at: datetime
) -> Signal | None:
    """The rules' signal at this close, after the drawdown limit (watched at every close; once
    crossed, no new position)."""
    if _halted_by_drawdown(deployment, close_at) and position is None:
        return None
    return _decide(deployment, window, position)


def _claim(deployment_id: int | None, close_at: datetime) -> bool:
    """Mark the deployment evaluated at `close_at`, unless it already is (at it or later). The
    row stays locked until the caller's transaction ends, so a concurrent run of the same candle
    waits here and then finds it claimed."""
    return bool(
        StrategyDeployment.objects.filter(
            Q(evaluated_close_at__isnull=True) | Q(evaluated_close_at__lt=close_at),
            pk=deployment_id,
        ).update(evaluated_close_at=close_at)
    )


def _place_signal(
    deployment: _Deployed,
    signal: Signal,
    position: Position | None,
    *,
    close_at: datetime,
    close: Decimal,
) -> Trade:
    strategy = Strategy.objects.select_related("user").get(pk=deployment.strategy_id)
    portfolio = Portfolio.objects.get(pk=deployment.portfolio_id)
    fields: dict[str, Any] = {}
    if position is None:
        # Of the cash no open order holds back (all of it when nothing rests): an amount
        # beyond that would be refused at placement.
        budget = (
            portfolio.available_cash * (strategy.max_position_size_pct or Decimal(10)) / 100
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


def _exit_at_level(
    deployment: _Deployed,
    position: Position,
    level: tuple[Decimal, str],
    candles: Candles,
    close_at: datetime,
) -> Trade:
    """Close the position at the stop or target the candle reached: a market order filled at
    the level (with slippage, as backtests fill stops and targets)."""
    price, reason = level
    strategy = Strategy.objects.select_related("user").get(pk=deployment.strategy_id)
    event = PriceEvent(
        symbol=deployment.symbol,
        at=close_at,
        open=_price(candles.open[-1]),
        high=_price(candles.high[-1]),
        low=_price(candles.low[-1]),
        close=_price(candles.close[-1]),
    )
    with transaction.atomic():
        trade = place_order(
            portfolio=Portfolio.objects.get(pk=deployment.portfolio_id),
            actor=strategy.user,
            symbol=deployment.symbol,
            side="SELL" if position.quantity > 0 else "BUY",
            order_type="MARKET",
            quantity=abs(position.quantity),
            strategy=strategy,
            signal_reason=reason,
            fill_at_next_price=True,
            signal_at=close_at - timedelta(microseconds=1),
        )
        apply_fill(trade_id=trade.pk, event=event, reference=price)
        Strategy.objects.filter(pk=strategy.pk).update(last_signal_at=close_at)
    trade.refresh_from_db()
    return trade
