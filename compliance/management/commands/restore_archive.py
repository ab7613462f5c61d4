"""Bring an archive back into the database, after checking it against its manifest."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from compliance.retention.archives import ArchiveInvalid
from compliance.retention.restore import restore_archive


class Command(BaseCommand):
    help = "Restore the rows of an archive (give its manifest's name in the archive storage)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "manifest", help="e.g. strategies.archive_backtests/2026/12/<id>.manifest.json"
        )

    def handle(self, *args: Any, manifest: str, **options: Any) -> None:
        try:
            restored = restore_archive(manifest)
        except ArchiveInvalid as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            raise CommandError(f"Nothing restored: {error}") from error
        for label, rows in restored.items():
            self.stdout.write(f"{label}: {rows} row(s) restored")
