"""GDPR Article 15 export of one user (email or id), to a file or standard output."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit import AuditContext
from compliance.gdpr.export import export_user_data
from compliance.gdpr.subjects import resolve_user


class Command(BaseCommand):
    help = "Export everything held about a user (email or id) as one JSON document."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's email address or id")
        parser.add_argument("--out", help="write to this file (default: standard output)")

    def handle(self, *args: Any, user: str, out: str | None, **options: Any) -> None:
        try:
            subject = resolve_user(user)
        except ObjectDoesNotExist as error:
            raise CommandError(str(error)) from error
        if out and not Path(out).parent.is_dir():
            raise CommandError(f"No directory for {out}.")
        pieces = export_user_data(
            user=subject, actor=None, context=AuditContext.system("command:gdpr_export")
        )
        if out:
            partial = Path(f"{out}.partial")
            with partial.open("w", encoding="utf-8") as handle:
                handle.writelines(pieces)
            partial.replace(out)  # a reader never sees half a document
            self.stderr.write(f"Exported {subject.pk} to {out}")
        else:
            for piece in pieces:
                self.stdout.write(piece, ending="")
