"""Clients configured from the Django settings: public ones for market data, keyed ones for an
`api_keys` row (decrypted here, in memory, for the life of the client).

Settings: EXCHANGE_TIMEOUT_SECONDS (per HTTP request) and EXCHANGE_API_URLS, which replaces the
base URLs of an exchange's APIs by ccxt name (e.g. a proxy, or the test suite's fake exchange):
`{"binance": {"public": "http://127.0.0.1:8123/api/v3", "private": "..."}}`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings

from exchanges import errors
from exchanges.client import DEFAULT_TIMEOUT_SECONDS, ExchangeClient
from exchanges.credentials import decrypt_api_key

if TYPE_CHECKING:
    from accounts.models import ApiKey


def _options(exchange: str) -> dict:
    return {
        "timeout": float(getattr(settings, "EXCHANGE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)),
        "api_urls": (getattr(settings, "EXCHANGE_API_URLS", None) or {}).get(exchange),
    }


def public_client(exchange: str) -> ExchangeClient:
    """No credentials: candles and markets only."""
    return ExchangeClient(exchange, **_options(exchange))


def client_for_key(api_key: "ApiKey") -> ExchangeClient:
    """The key's exchange, its testnet when the key is a testnet key, its credentials and
    permissions. Every call through it counts as a use of the key (`last_used_at`,
    `request_count`); a refusal of the key by the exchange marks it invalid."""
    credentials = decrypt_api_key(api_key)
    return ExchangeClient(
        api_key.exchange,
        credentials=credentials,
        testnet=credentials.is_testnet,
        on_call=_key_usage(api_key.pk),
        **_options(api_key.exchange),
    )


def _key_usage(api_key_id: object) -> Callable[[errors.ExchangeError | None], None]:
    from accounts.api_key_usage import mark_api_key_refused, record_api_key_use

    def on_call(failure: errors.ExchangeError | None) -> None:
        record_api_key_use(api_key_id=api_key_id)
        if isinstance(failure, errors.AuthenticationFailed):
            mark_api_key_refused(api_key_id=api_key_id, reason=str(failure))

    return on_call
