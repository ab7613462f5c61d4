"""`manage.py optimize STRATEGY_ID --start ... --end ... --capital ... --space '{...}' --objective
sharpe`: run an optimisation synchronously in this process (the same services and chunks the
workers run) and print its report; `manage.py optimize --report OPTIMISATION_ID` prints the
report of one already run."""

import json
import time
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit import AuditContext
from core.errors import LimitExceeded
from strategies.management.commands.backtest import _date, _decimal
from strategies.models import Optimisation, Strategy
from strategies.optimisation import METHODS, MODES, OBJECTIVES
from strategies.optimisation_selectors import parameter_paths, ranked_variants, walk_forward_report
from strategies.services.optimisation_runs import run_chunk
from strategies.services.optimisations import chunks_of, start_optimisation

COLUMNS = (
    ("objective", "objective_value"),
    ("return %", "total_return_pct"),
    ("sharpe", "sharpe_ratio"),
    ("max DD %", "max_drawdown_pct"),
    ("trades", "total_trades"),
)


def _json(value: str, name: str) -> Any:
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"--{name}: not JSON ({error})") from error


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


class Command(BaseCommand):
    help = "Run a parameter optimisation (optionally walk-forward) and print its report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("strategy_id", nargs="?", help="The strategy's id (UUID).")
        parser.add_argument("--report", help="Print the report of this optimisation and stop.")
        parser.add_argument("--start", help="First day, YYYY-MM-DD.")
        parser.add_argument("--end", help="Last day (included), YYYY-MM-DD.")
        parser.add_argument("--capital", help="Initial capital, e.g. 10000.")
        parser.add_argument("--commission", default="0.0010", help="Fraction, default 0.0010.")
        parser.add_argument("--slippage", default="0.0005", help="Fraction, default 0.0005.")
        parser.add_argument(
            "--space", help="The parameter space as JSON, or @FILE holding it (see docs)."
        )
        parser.add_argument("--objective", choices=list(OBJECTIVES), default="sharpe")
        parser.add_argument("--method", choices=METHODS, default="grid")
        parser.add_argument("--max-variants", type=int, default=None)
        parser.add_argument("--seed", type=int, default=None, help="Random search's seed.")
        parser.add_argument("--constraints", default=None, help='JSON, e.g. {"min_trades": 10}')
        parser.add_argument("--folds", type=int, default=None, help="Walk-forward folds.")
        parser.add_argument("--mode", choices=MODES, default=None)
        parser.add_argument("--ratio", type=int, default=None, help="In-sample bars per OOS bar.")
        parser.add_argument("--top", type=int, default=10, help="Variants listed (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["report"]:
            run = Optimisation.objects.filter(pk=self._uuid(options["report"])).first()
            if run is None:
                raise CommandError(f"No optimisation with id {options['report']!r}.")
            self.report(run, options["top"])
            return
        missing = [f"--{n}" for n in ("start", "end", "capital", "space") if not options[n]]
        if not options["strategy_id"] or missing:
            raise CommandError(
                "Give STRATEGY_ID and "
                + ", ".join(missing or ["--start, --end, --capital, --space"])
            )
        strategy = Strategy.objects.filter(pk=self._uuid(options["strategy_id"])).first()
        if strategy is None:
            raise CommandError(f"No strategy with id {options['strategy_id']!r}.")
        try:
            run = start_optimisation(
                user=strategy.user,
                strategy=strategy,
                start_date=_date(options["start"]),
                end_date=_date(options["end"]),
                initial_capital=_decimal(options["capital"], "capital"),
                commission_pct=_decimal(options["commission"], "commission"),
                slippage_pct=_decimal(options["slippage"], "slippage"),
                parameter_space=_json(options["space"], "space"),
                objective=options["objective"],
                search_method=options["method"],
                max_variants=options["max_variants"],
                random_seed=options["seed"],
                constraints=_json(options["constraints"], "constraints")
                if options["constraints"]
                else None,
                walk_forward_folds=options["folds"],
                walk_forward_mode=options["mode"],
                in_sample_ratio=options["ratio"],
                context=AuditContext.system("manage.py optimize"),
                enqueue=False,
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(f"Invalid optimisation: {problems}") from error
        except LimitExceeded as error:
            raise CommandError(f"{error} (retry in {error.retry_after} s)") from error
        started = time.perf_counter()
        for fold, chunk in chunks_of(run):
            if run_chunk(optimisation_id=run.pk, fold=fold, chunk=chunk) in ("failed", "cancelled"):
                break
        run.refresh_from_db()
        self.stdout.write(f"Ran in {time.perf_counter() - started:.2f} s")
        self.report(run, options["top"])
        if run.status != Optimisation.Status.COMPLETED:
            raise CommandError(f"Optimisation {run.pk} {run.status}: {run.error_message}")

    @staticmethod
    def _uuid(value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError as error:
            raise CommandError(f"Not an id (UUID): {value!r}") from error

    def report(self, run: Optimisation, top: int) -> None:
        """The same report as the console: status, top variants, walk-forward folds, stitched
        out-of-sample result and parameter stability."""
        write = self.stdout.write
        snapshot = run.strategy_snapshot
        write(
            f"Optimisation {run.pk}: {snapshot['name']} v{snapshot['version']} "
            f"({snapshot['asset_symbol']} {snapshot['timeframe']}), {run.start_date} to "
            f"{run.end_date}; {run.search_method} search, objective {run.objective}, "
            f"constraints {run.constraints or 'none'}"
        )
        write(f"Status: {run.status}; variants {run.variants_done:,} / {run.variants_total:,}")
        if run.error_message:
            write(f"Error: {run.error_message}")
        paths = parameter_paths(run)
        header = ["#", *paths, *(label for label, _name in COLUMNS)]
        rows = [
            [
                str(v.variant_number),
                *(_show(v.parameters.get(p)) for p in paths),
                *(_show(getattr(v, name)) for _label, name in COLUMNS),
            ]
            for v in ranked_variants(run)[:top]
        ]
        write(f"Top {len(rows)} variants (whole window):")
        self._table(header, rows)
        report = walk_forward_report(run)
        if report is None:
            return
        write(
            f"Walk-forward: {run.walk_forward_folds} folds, {run.walk_forward_mode}, in-sample "
            f"ratio {run.in_sample_ratio}; {len(report['folds'])} scored"
        )
        self._table(
            [
                "fold",
                "out of sample",
                "parameters",
                "IS objective",
                "OOS objective",
                "OOS return %",
            ],
            [
                [
                    str(f["fold"]),
                    f"{f['out_of_sample_start']:%Y-%m-%d %H:%M} to "
                    f"{f['out_of_sample_end']:%Y-%m-%d %H:%M}",
                    ", ".join(f"{k}={v}" for k, v in (f["parameters"] or {}).items()) or "-",
                    _show(f["in_sample_objective"]),
                    _show(f["out_of_sample_objective"]),
                    _show(f["out_of_sample_return_pct"]),
                ]
                for f in report["folds"]
            ],
        )
        stitched = report["stitched_equity"]
        if stitched:
            final = stitched[-1]["equity"]
            capital = float(run.initial_capital)
            write(
                f"Stitched out-of-sample equity: {capital:,.2f} -> {final:,.2f} "
                f"({(final / capital - 1) * 100:.2f}%)"
            )
        efficiency = report["efficiency"]
        shown = "-" if efficiency is None else f"{efficiency:.4f}"
        write(f"Efficiency (mean OOS / mean IS objective): {shown}")
        write("Parameter stability across folds:")
        for path, info in report["parameter_stability"].items():
            cv = info["coefficient_of_variation"]
            write(
                f"  {path}: {info['values']}, {info['distinct']} distinct, coefficient of "
                f"variation {'-' if cv is None else f'{cv:.3f}'}"
            )

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
