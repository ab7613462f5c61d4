"""manage.py timeseries_status [--estimate] [--json]"""

import json

from django.core.management.base import BaseCommand

from marketdata.byte_sizes import human_size
from marketdata.status import timeseries_status


class Command(BaseCommand):
    help = (
        "The timeseries database: TimescaleDB or plain mode, each table's rows and size, and "
        "(TimescaleDB) chunks, compression and policies, or (plain) the beat jobs, with their "
        "last run."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--estimate", action="store_true", help="estimated row counts (no full COUNT)"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        status = timeseries_status(exact_counts=not options["estimate"])
        if options["json"]:
            self.stdout.write(json.dumps(status, default=str, indent=2))
            return
        out = self.stdout.write
        timescale = status["mode"] == "timescaledb"
        out(f"Mode: {'TimescaleDB' if timescale else 'plain PostgreSQL'}")
        out("")
        header = f"{'table':<16}{'rows':>14}{'size':>11}"
        if timescale:
            header += f"{'chunks':>8}{'compressed':>12}{'ratio':>8}"
        out(header)
        for table in status["tables"]:
            line = f"{table['table']:<16}{table['rows']:>14,}{human_size(table['size_bytes']):>11}"
            if timescale and "chunks" in table:
                ratio = table["compression_ratio"]
                line += (
                    f"{table['chunks']:>8}{table['compressed_chunks']:>12}"
                    f"{(f'{ratio}x' if ratio else '-'):>8}"
                )
            out(line)
        out("")
        if timescale:
            out("Policies:")
            for policy in status["policies"]:
                out(
                    f"  [{policy['job_id']}] {policy['job']} on {policy['relation']}, every "
                    f"{policy['schedule']}; last run {policy['last_run_at'] or 'never'} "
                    f"({policy['last_run_status'] or '-'}), next {policy['next_start']}, "
                    f"{policy['total_runs'] or 0} runs, {policy['total_failures'] or 0} failed"
                )
                out(f"      {policy['config']}")
            out("Continuous aggregates:")
            for aggregate in status["continuous_aggregates"]:
                out(
                    f"  {aggregate['view_name']}: real-time "
                    f"{'off' if aggregate['materialized_only'] else 'on'}"
                )
        else:
            out("Rollup watermarks:")
            for mark in status["watermarks"]:
                out(f"  {mark['rollup']}: materialized before {mark['watermark']}")
        out("Beat jobs:")
        for job in status["jobs"]:
            out(
                f"  {job['job']} ({job['task']}): last run {job['last_run_at'] or 'never'}"
                f" — {job['last_status']}"
                + (f" in {job['last_duration_ms']} ms" if job["last_duration_ms"] else "")
            )
            if job["last_result"]:
                out(f"      {job['last_result']}")
        out(f"Pending invalidations: {status['pending_invalidations']}")
        out("Stored series (native timeframes are served as stored where they exist):")
        for series in status["series"]:
            native = ", ".join(series["native_timeframes"]) or "none"
            minutes = "1m and derived timeframes" if series["minutes"] else "no 1m candles"
            out(f"  {series['symbol']}: {minutes}; native: {native}")
