"""manage.py rotate_encryption_keys: re-encrypt every secret column under the first of
FIELD_ENCRYPTION_KEYS (accounts.security.key_rotation). To rotate: put the new key first in
FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this, then drop the old keys."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.security.key_rotation import rotate_encryption_keys


class Command(BaseCommand):
    help = "Re-encrypt broker credentials and TOTP secrets under the first encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction.")

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        report = rotate_encryption_keys(batch_size=batch_size)
        for label in sorted(set(report.rotated) | set(report.already_current)):
            self.stdout.write(
                f"{label}: {report.rotated.get(label, 0)} re-encrypted, "
                f"{report.already_current.get(label, 0)} already under the first key"
            )
        if not report.rotated and not report.already_current:
            self.stdout.write("No secrets stored.")
        if report.undecryptable:
            raise CommandError(
                f"{len(report.undecryptable)} value(s) decrypt with none of the configured keys "
                f"and were left as they are: {', '.join(report.undecryptable[:20])}"
            )
