"""manage.py create_operator EMAIL: an operator of the console (staff and superuser) made through
accounts.services.create_operator, so that the password passes the validators and the account's
audit row is written, which Django's `createsuperuser` (UserManager.create_superuser) does not
do. The password is read from APEXTRADE_OPERATOR_PASSWORD when set (for scripts), otherwise
asked twice."""

import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import create_operator
from compliance.audit import AuditContext

PASSWORD_VARIABLE = "APEXTRADE_OPERATOR_PASSWORD"


class Command(BaseCommand):
    help = "Make an operator of the console (use instead of createsuperuser: audited, validated)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        password = os.environ.get(PASSWORD_VARIABLE)
        if password is None:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("The passwords differ; nothing was made.")
        try:
            operator = create_operator(
                email=email,
                password=password,
                context=AuditContext.system("command:create_operator"),
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(f"Not made: {problems}") from error
        self.stdout.write(f"Operator {operator.email} made.")
