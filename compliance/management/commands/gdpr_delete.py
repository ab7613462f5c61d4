"""GDPR Article 17 erasure of one user (email or id); see compliance.gdpr.erasure."""

import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit import AuditContext
from compliance.gdpr.erasure import erase_leftovers, erase_user, plan_erasure
from compliance.gdpr.subjects import resolve_user


class Command(BaseCommand):
    help = "Erase everything about a user (email or id), keeping trades the law keeps, detached."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's email address or id")
        parser.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, user: str, dry_run: bool, yes: bool, **options: Any) -> None:
        try:
            subject = resolve_user(user)
        except ObjectDoesNotExist:
            self._already_erased(user)
            return
        plan = plan_erasure(subject)
        self.stdout.write(f"Erasure of user {subject.pk}:")
        for line in plan.describe():
            self.stdout.write(f"  {line}")
        if dry_run:
            self.stdout.write("Dry run: nothing changed.")
            return
        if not yes and input("Type 'yes' to erase this user: ").strip().lower() != "yes":
            raise CommandError("Not confirmed; nothing changed.")
        done = erase_user(
            user=subject, actor=None, context=AuditContext.system("command:gdpr_delete")
        )
        self.stdout.write(
            f"Erased. Rows kept by law now belong to the anonymous placeholder "
            f"{done.placeholder_id}."
        )

    def _already_erased(self, identifier: str) -> None:
        try:
            user_id = uuid.UUID(identifier.strip())
        except ValueError:
            self.stdout.write(f"No user {identifier!r}: nothing to erase.")
            return
        removed = erase_leftovers(user_id=user_id)
        self.stdout.write(
            f"No user {user_id}: already erased"
            + (f"; removed {removed} leftover Redis key(s)." if removed else ".")
        )
