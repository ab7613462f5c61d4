from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "Strategies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strategies import compliance

        compliance.declare()
