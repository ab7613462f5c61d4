from django.core.management.base import BaseCommand, CommandParser

from apextrade.demo_data import credentials_file, remember_credentials, seed_demo


class Command(BaseCommand):
    help = (
        "Create the operator and demo accounts, example strategies, a paper portfolio, candles. "
        "Existing demo accounts keep their passwords unless --reset-demo-passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-demo-passwords",
            action="store_true",
            help="Give the demo accounts new passwords (printed and saved).",
        )

    def handle(self, *args, reset_demo_passwords: bool, **options) -> None:
        operator, demo = seed_demo(reset_passwords=reset_demo_passwords)
        path = credentials_file()
        if operator.password or demo.password:
            remember_credentials([operator, demo], path)
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        for label, account in (
            ("Operator (admin console /admin/)", operator),
            ("Demo client (API /api/v1/)", demo),
        ):
            password = account.password or f"unchanged, see {path}"
            self.stdout.write(f"  {label}: {account.email} / {password}")
        if not (operator.password and demo.password):
            self.stdout.write(
                "  Passwords of existing accounts are kept; scripts/run --reset-demo-passwords "
                "makes new ones."
            )
