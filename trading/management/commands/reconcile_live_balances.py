"""manage.py reconcile_live_balances [--portfolio ID] | --adopt DISCREPANCY_ID --operator EMAIL"""

import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from compliance.audit import AuditContext
from core.errors import StateConflict
from trading.live_balances import (
    adopt_exchange_cash,
    reconcile_live_balance,
    reconcile_live_balances,
)
from trading.models import LiveBalanceDiscrepancy, Portfolio


class Command(BaseCommand):
    help = (
        "Compare live portfolios' cash and positions with their exchange accounts (all active "
        "ones, or --portfolio), or adopt the exchange's cash of an open discrepancy (--adopt, "
        "with the --operator who decides it)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--portfolio", help="the id of one live portfolio")
        parser.add_argument("--adopt", help="the id of an open cash discrepancy to adopt")
        parser.add_argument("--operator", help="the operator's email (with --adopt)")

    def handle(self, *args, portfolio: str | None, adopt: str | None, **options) -> None:
        if adopt:
            self._adopt(adopt, options.get("operator"))
        elif portfolio:
            found = Portfolio.objects.filter(pk=_uuid(portfolio, "--portfolio"), is_paper=False)
            if not found.exists():
                raise CommandError(f"No live portfolio {portfolio}.")
            check = reconcile_live_balance(portfolio=found.get())
            line = f"{check.outcome}: {check.asset or ''} books {check.books_cash} exchange "
            line += f"{check.exchange_cash}" + (f" ({check.reason})" if check.reason else "")
            self.stdout.write(line)
            if check.outcome == "skipped":
                raise CommandError(check.reason or "skipped")
        else:
            counts = reconcile_live_balances()
            self.stdout.write(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none")

    def _adopt(self, discrepancy_id: str, operator_email: str | None) -> None:
        discrepancy_pk = _uuid(discrepancy_id, "--adopt")
        if not operator_email:
            raise CommandError("--adopt needs --operator (the email of who decides it).")
        operator = User.objects.filter(email__iexact=operator_email, is_staff=True).first()
        if operator is None:
            raise CommandError(f"No staff user {operator_email}.")
        discrepancy = LiveBalanceDiscrepancy.objects.filter(pk=discrepancy_pk).first()
        if discrepancy is None:
            raise CommandError(f"No discrepancy {discrepancy_id}.")
        try:
            adopted = adopt_exchange_cash(
                discrepancy=discrepancy,
                actor=operator,
                context=AuditContext.system("command"),
            )
        except StateConflict as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Adopted: {adopted.asset} cash {adopted.books_amount} → {adopted.exchange_amount}."
        )


def _uuid(value: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{option}: not an id ({value!r}).") from None
