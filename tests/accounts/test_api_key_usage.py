"""Broker keys in use: every call the exchange adapter makes with a key counts (last_used_at,
request_count), and a key the exchange refuses is marked invalid with an audit row."""

from decimal import Decimal
from unittest import mock

import pytest

from accounts.models import ApiKey
from compliance.models import AuditLog
from core.errors import StateConflict
from exchanges import errors
from exchanges.connections import client_for_key
from tests.factories import ApiKeyFactory, PortfolioFactory, TradeFactory
from trading.live_orders import submit_live_order
from trading.live_trading import trading_key_for
from trading.models import Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def test_each_call_through_a_keyed_client_counts_as_a_use(fake_binance) -> None:
    key = ApiKeyFactory(permissions=["read", "trade"])
    assert key.last_used_at is None

    with client_for_key(key) as client:
        client.fetch_balance()
        client.fetch_balance()

    key.refresh_from_db()
    assert key.request_count == 2
    assert key.last_used_at is not None
    assert key.is_valid is True


def test_a_key_the_exchange_refuses_is_marked_invalid_once_with_an_audit_row(fake_binance):
    fake_binance.secret = "another-secret"  # the signature no longer matches: Binance's -2015
    key = ApiKeyFactory(permissions=["read", "trade"])

    for _ in range(2):
        with client_for_key(key) as client, pytest.raises(errors.AuthenticationFailed):
            client.fetch_balance()

    key.refresh_from_db()
    assert key.is_valid is False
    assert "Invalid API-key" in key.validation_error
    assert key.last_validated_at is not None and key.request_count == 2
    (row,) = AuditLog.objects.filter(resource_type="api_key", resource_id=key.pk)
    assert row.action == AuditLog.Action.UPDATE
    assert row.new_values["is_valid"] is False
    assert "Invalid API-key" in row.metadata["reason"]
    text = str(row.old_values) + str(row.new_values) + str(row.metadata)
    assert "CLEARTEXT" not in text  # the factory's clear key and secret both end so
    with pytest.raises(StateConflict, match="refused by the exchange"):
        trading_key_for(PortfolioFactory(user=key.user, live=True))


def test_a_live_order_refused_for_its_key_fails_and_marks_the_key(fake_binance) -> None:
    fake_binance.secret = "another-secret"
    portfolio = PortfolioFactory(live=True)
    key = ApiKeyFactory(user=portfolio.user, permissions=["read", "trade"])

    trade = submit_live_order(trade=TradeFactory(portfolio=portfolio, quantity=Decimal("0.02")))

    assert trade.status == Trade.Status.FAILED
    assert "Invalid API-key" in trade.error_message
    key.refresh_from_db()
    assert key.is_valid is False
    assert len(fake_binance.calls("POST", "/order")) == 1  # refused, not placed


def test_bookkeeping_that_fails_does_not_change_what_the_exchange_answered(fake_binance) -> None:
    key = ApiKeyFactory(permissions=["read", "trade"])
    with (
        mock.patch(
            "accounts.api_key_usage.ApiKey.objects.filter", side_effect=RuntimeError("db down")
        ),
        client_for_key(key) as client,
    ):
        assert "USDT" in client.fetch_balance()
    assert ApiKey.objects.get(pk=key.pk).request_count == 0
