from django.core.management.base import BaseCommand

from apextrade.databases import create_missing_databases


class Command(BaseCommand):
    help = "Create the `default` and `timeseries` databases if they do not exist."

    def handle(self, *args, **options) -> None:
        created = create_missing_databases()
        for line in created:
            self.stdout.write(f"Created database {line}")
        if not created:
            self.stdout.write("Both databases exist.")
