"""`manage.py backtest STRATEGY_ID --start 2025-01-01 --end 2025-06-30 --capital 10000`: run one
backtest synchronously, through the same services as the API, and print its report."""

import datetime as dt
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit import AuditContext
from strategies.models import Backtest, Strategy
from strategies.selectors import backtest_trades_for
from strategies.services.backtest_runs import run_backtest
from strategies.services.backtests import start_backtest

METRICS = (
    ("Final capital", "final_capital", "{:,.2f}"),
    ("Total return", "total_return_pct", "{:.2f}%"),
    ("Annualized return", "annualized_return_pct", "{:.2f}%"),
    ("Sharpe ratio", "sharpe_ratio", "{:.2f}"),
    ("Sortino ratio", "sortino_ratio", "{:.2f}"),
    ("Calmar ratio", "calmar_ratio", "{:.2f}"),
    ("Max drawdown", "max_drawdown_pct", "{:.2f}%"),
    ("Longest drawdown", "max_drawdown_duration_days", "{} days"),
    ("Win rate", "win_rate_pct", "{:.2f}%"),
    ("Profit factor", "profit_factor", "{:.2f}"),
    ("Average trade", "avg_trade_pct", "{:.2f}%"),
    ("Average win", "avg_win_pct", "{:.2f}%"),
    ("Average loss", "avg_loss_pct", "{:.2f}%"),
    ("Average duration", "avg_trade_duration_minutes", "{} min"),
)
TRADE_HEADER = (
    f"{'#':>5}  {'side':4}  {'entry':16}  {'entry price':>16}  {'exit':16}  "
    f"{'exit price':>16}  {'net P&L':>14}  {'P&L %':>8}  exit reason"
)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from error


def _decimal(value: str, name: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise CommandError(f"--{name}: not a number: {value!r}") from error


def _metric(value: Any, template: str) -> str:
    return "-" if value is None else template.format(value)


class Command(BaseCommand):
    help = "Run a backtest of a strategy synchronously and print its report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("strategy_id", help="The strategy's id (UUID).")
        parser.add_argument("--start", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--end", required=True, help="Last day (included), YYYY-MM-DD.")
        parser.add_argument("--capital", required=True, help="Initial capital, e.g. 10000.")
        parser.add_argument("--commission", default="0.0010", help="Fraction, default 0.0010.")
        parser.add_argument("--slippage", default="0.0005", help="Fraction, default 0.0005.")
        parser.add_argument(
            "--trades", type=int, default=20, help="How many trades to list (default 20)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        strategy = self._strategy(options["strategy_id"])
        try:
            backtest = start_backtest(
                user=strategy.user,
                strategy=strategy,
                start_date=_date(options["start"]),
                end_date=_date(options["end"]),
                initial_capital=_decimal(options["capital"], "capital"),
                commission_pct=_decimal(options["commission"], "commission"),
                slippage_pct=_decimal(options["slippage"], "slippage"),
                context=AuditContext.system("manage.py backtest"),
                enqueue=False,
                limits=False,  # an operator's run, in this process: not a client's queue
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(f"Invalid backtest: {problems}") from error
        started = time.perf_counter()
        backtest = run_backtest(backtest_id=backtest.pk)
        seconds = time.perf_counter() - started
        self._report(backtest, seconds, options["trades"])
        if backtest.status != Backtest.Status.COMPLETED:
            raise CommandError(
                f"Backtest {backtest.pk} {backtest.status}: {backtest.error_message}"
            )

    @staticmethod
    def _strategy(strategy_id: str) -> Strategy:
        try:
            return Strategy.objects.select_related("user").get(pk=uuid.UUID(strategy_id))
        except (ValueError, Strategy.DoesNotExist) as error:
            raise CommandError(f"No strategy with id {strategy_id!r}.") from error

    def _report(self, backtest: Backtest, seconds: float, trades_shown: int) -> None:
        snapshot = backtest.strategy_snapshot
        write = self.stdout.write
        write(
            f"Backtest {backtest.pk}: {snapshot['name']} v{snapshot['version']} "
            f"({snapshot['asset_symbol']} {snapshot['timeframe']}), "
            f"{backtest.start_date} to {backtest.end_date}"
        )
        write(
            f"Initial capital {backtest.initial_capital:,.2f}, commission "
            f"{backtest.commission_pct * 100:.4f}%, slippage {backtest.slippage_pct * 100:.4f}%"
        )
        write(f"Status: {backtest.status} in {seconds:.2f} s")
        if backtest.status != Backtest.Status.COMPLETED:
            return
        write("")
        for label, name, template in METRICS:
            write(f"  {label:<20}{_metric(getattr(backtest, name), template):>16}")
        write("")
        write(
            f"Trades: {backtest.total_trades} ({backtest.winning_trades} winning, "
            f"{backtest.losing_trades} losing)"
        )
        if not backtest.total_trades or trades_shown <= 0:
            return
        write(TRADE_HEADER)
        for trade in backtest_trades_for(backtest)[:trades_shown]:
            write(
                f"{trade.trade_number:>5}  {trade.side:4}  {trade.entry_date:%Y-%m-%d %H:%M}  "
                f"{trade.entry_price:>16}  {trade.exit_date:%Y-%m-%d %H:%M}  "
                f"{trade.exit_price:>16}  {trade.net_pnl:>14.2f}  {trade.pnl_pct:>7.2f}%  "
                f"{trade.exit_signal}"
            )
        if backtest.total_trades > trades_shown:
            write(f"... and {backtest.total_trades - trades_shown} more trades")
