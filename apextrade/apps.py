from django.apps import AppConfig


class ApexTradeConfig(AppConfig):
    """The project itself, as an app for its operational commands (create_databases, seed_demo)."""

    name = "apextrade"
    verbose_name = "ApexTrade"

    def ready(self) -> None:
        from apextrade import compliance

        compliance.declare()
