from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import (
            price_receivers,  # noqa: F401  (alerts follow prices)
            signal_receivers,  # noqa: F401  (connects the audit receivers)
        )
        from accounts.api import openapi  # noqa: F401  (the Bearer token's OpenAPI scheme)
