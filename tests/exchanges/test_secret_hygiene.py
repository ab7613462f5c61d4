"""A broker key's clear text never shows in logs, exception text, tracebacks or reprs, even with
every logger at DEBUG (where ccxt logs each request with its headers)."""

import base64
import logging
import pickle
import traceback
from decimal import Decimal

import pytest

from exchanges import errors
from exchanges.connections import client_for_key
from exchanges.credentials import BrokerCredentials, decrypt_api_key
from exchanges.records import OrderRequest
from exchanges.redaction import scrub
from tests.exchanges import fake_kraken as kraken
from tests.exchanges.fake_binance import API_KEY, API_SECRET
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

SECRETS = (API_KEY, API_SECRET)


def assert_clean(text: str, secrets: tuple[str, ...] = SECRETS) -> None:
    for secret in secrets:
        assert secret not in text


def order(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="MARKET",
        quantity=Decimal("0.01"),
        client_order_id=client_order_id,
    )


def test_no_secret_in_debug_logs_exceptions_or_reprs(fake_binance, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    key = ApiKeyFactory(permissions=["read", "trade"])
    raised: list[BaseException] = []
    with client_for_key(key) as client:
        client.place_order(order("apx-ok"))
        client.fetch_balance()
        for plan in ("reject", "insufficient", "rate_limit", "timeout_open"):
            fake_binance.order_plan.append(plan)
            with pytest.raises(errors.ExchangeError) as failure:
                client.place_order(order(f"apx-{plan}"))
            raised.append(failure.value)
        assert_clean(repr(client) + str(client))
    # A key the exchange refuses from the start. (ccxt reads a refusal after a success as a
    # temporary ban: RateLimited.)
    fake_binance.secret = "not-the-key-s-secret"
    with client_for_key(key) as client, pytest.raises(errors.AuthenticationFailed) as failure:
        client.fetch_balance()
    raised.append(failure.value)

    # ccxt did log the requests (with the key's header, scrubbed) and the errors were raised.
    assert "X-MBX-APIKEY" in caplog.text and "***" in caplog.text
    assert_clean(caplog.text)
    for error in raised:
        assert_clean(str(error) + repr(error))
        assert_clean("".join(traceback.format_exception(error)))


def test_no_kraken_secret_in_debug_logs_exceptions_or_reprs(fake_kraken, caplog) -> None:
    """Kraken sends the key in an API-Key header and signs with the base64 secret."""
    caplog.set_level(logging.DEBUG)
    key = ApiKeyFactory(
        exchange="kraken",
        is_testnet=False,
        permissions=["read", "trade"],
        clear_api_secret=kraken.API_SECRET,
    )
    raised: list[BaseException] = []
    with client_for_key(key) as client:
        client.place_order(order("apx-ok"))
        client.fetch_balance()
        for plan in ("reject", "insufficient", "rate_limit", "timeout_open"):
            fake_kraken.order_plan.append(plan)
            with pytest.raises(errors.ExchangeError) as failure:
                client.place_order(order(f"apx-{plan}"))
            raised.append(failure.value)
        assert_clean(repr(client) + str(client), (API_KEY, kraken.API_SECRET))
    fake_kraken.secret = base64.b64encode(b"not-the-key-s-secret").decode()
    with client_for_key(key) as client, pytest.raises(errors.AuthenticationFailed) as failure:
        client.fetch_balance()
    raised.append(failure.value)

    assert "API-Key" in caplog.text and "***" in caplog.text
    assert_clean(caplog.text, (API_KEY, kraken.API_SECRET))
    for error in raised:
        assert_clean(str(error) + repr(error), (API_KEY, kraken.API_SECRET))
        assert_clean("".join(traceback.format_exception(error)), (API_KEY, kraken.API_SECRET))


def test_credentials_hide_their_values_and_refuse_to_be_pickled() -> None:
    key = ApiKeyFactory(passphrase_encrypted=None)
    credentials = decrypt_api_key(key)

    assert (credentials.api_key, credentials.secret) == SECRETS  # decrypted in memory
    assert_clean(repr(credentials) + str(credentials) + f"{credentials}")
    with pytest.raises(TypeError, match="not serialisable"):
        pickle.dumps(credentials)


def test_a_missing_permission_names_the_permission_not_the_key() -> None:
    credentials = BrokerCredentials("binance", API_KEY, API_SECRET, permissions=frozenset())
    with pytest.raises(errors.PermissionMissing) as missing:
        credentials.require("trade")
    assert_clean(str(missing.value))


def test_scrub_removes_secrets_and_credential_query_parameters() -> None:
    text = f"GET /x?apiKey={API_KEY}&signature=abc123 headers={{'X-KEY': '{API_SECRET}'}}"
    assert scrub(text, SECRETS) == "GET /x?apiKey=***&signature=*** headers={'X-KEY': '***'}"
