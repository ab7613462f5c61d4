from django.core.management.base import BaseCommand

from apextrade.demo_data import seed_demo


class Command(BaseCommand):
    help = "Create the operator and demo accounts, example strategies, a paper portfolio, candles."

    def handle(self, *args, **options) -> None:
        operator, demo = seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(
            f"  Operator (admin console /admin/): {operator.email} / {operator.password}"
        )
        self.stdout.write(f"  Demo client:                      {demo.email} / {demo.password}")
