"""Per table, the rows past their retention; per retention job, when it last ran."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from compliance.retention.report import job_runs, tables_past_retention


class Command(BaseCommand):
    help = "Show the rows past their retention per table and when each retention job last ran."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, json: bool = False, **options: Any) -> None:
        tables = tables_past_retention()
        runs = job_runs()
        if json:
            self.stdout.write(_dumps({"tables": [line.__dict__ for line in tables], "jobs": runs}))
            return
        self.stdout.write(f"{'table':<28} {'retention':>10} {'rows past':>10}  reason")
        for line in tables:
            self.stdout.write(
                f"{line.table:<28} {line.retention_days:>9}d {line.rows_past:>10}  {line.reason}"
            )
        self.stdout.write("")
        for run in runs:
            self.stdout.write(
                f"{run['job']:<32} {run['last_status']:<10} last run {run['last_run_at'] or '-'}"
                f"  beat: {run['beat_task'] or 'not scheduled'}"
                f" (last {run['beat_last_run_at'] or '-'})"
            )


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
