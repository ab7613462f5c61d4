"""`manage.py load_example_strategies --user EMAIL`: give a user the example strategies of
strategies.rules.examples, through create_strategy (validated, audited). Idempotent: a strategy
the user already has by that name is left alone.

A command rather than a JSON fixture: strategies belong to a user, whose id differs per
database, and loaddata would bypass the rule validation and the audit rows."""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from compliance.audit import AuditContext
from strategies.rules.examples import EXAMPLE_STRATEGIES
from strategies.selectors import strategies_for
from strategies.services.strategies import create_strategy

DECIMAL_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "max_position_size_pct",
    "max_drawdown_pct",
    "trailing_stop_pct",
)


class Command(BaseCommand):
    help = "Create the example strategies for a user (skipping names they already have)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="The user's email address.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['user']!r}.")
        existing = set(strategies_for(user).values_list("name", flat=True))
        context = AuditContext.system("manage.py load_example_strategies")
        for example in EXAMPLE_STRATEGIES:
            if example["name"] in existing:
                self.stdout.write(f"exists:  {example['name']}")
                continue
            values = {key: value for key, value in example.items() if key not in DECIMAL_FIELDS}
            for name in DECIMAL_FIELDS:
                if example.get(name) is not None:
                    values[name] = Decimal(str(example[name]))
            strategy = create_strategy(user=user, context=context, **values)
            self.stdout.write(f"created: {strategy.name} ({strategy.pk})")
