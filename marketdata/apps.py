from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
    verbose_name = "Marketdata"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from marketdata import compliance

        compliance.declare()
