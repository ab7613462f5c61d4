"""The adapter against the fake Binance: ccxt's real binance class, real HTTP on 127.0.0.1."""

import datetime as dt
from decimal import Decimal

import pytest

from exchanges import errors
from exchanges.client import ExchangeClient
from exchanges.connections import client_for_key, public_client
from exchanges.credentials import BrokerCredentials
from exchanges.records import OrderRequest
from tests.exchanges.fake_binance import API_KEY, API_SECRET
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC


@pytest.fixture
def trading_client(fake_binance):
    key = ApiKeyFactory(permissions=["read", "trade"])
    with client_for_key(key) as client:
        yield client


def market_buy(quantity: str = "0.01", client_order_id: str = "apx-test-1") -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="MARKET",
        quantity=Decimal(quantity),
        client_order_id=client_order_id,
    )


def test_a_filled_market_order_reports_quantity_price_cost_and_commission_in_decimal(
    fake_binance, trading_client
) -> None:
    order = trading_client.place_order(market_buy("0.01"))

    assert order.state == "closed"
    assert order.filled == order.amount == Decimal("0.01")
    assert order.average_price == Decimal("40000")
    assert order.cost == Decimal("400")  # 0.01 × 40,000
    assert order.commission == Decimal("0.4")  # 0.1% of the cost, in USDT
    assert order.client_order_id == "apx-test-1"
    (sent,) = fake_binance.calls("POST", "/order")
    assert sent["newClientOrderId"] == "apx-test-1"
    assert (sent["type"], sent["side"], sent["quantity"]) == ("MARKET", "BUY", "0.01")
    assert "price" not in sent and "quoteOrderQty" not in sent


def test_a_partly_filled_limit_order_stays_open_with_its_filled_part(
    fake_binance, trading_client
) -> None:
    fake_binance.order_plan.append("partial")
    request = OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.02"),
        price=Decimal("39000.5"),
        client_order_id="apx-partial",
    )

    order = trading_client.place_order(request)

    assert (order.state, order.filled, order.average_price) == (
        "open", Decimal("0.01"), Decimal("39000.5"),
    )  # fmt: skip
    fake_binance.fill(int(order.order_id))
    later = trading_client.fetch_order(symbol="BTC/USDT", order_id=order.order_id)
    assert (later.state, later.filled) == ("closed", Decimal("0.02"))
    assert later.commission == 0  # Binance's order lookup reports no fees ...
    fees = trading_client.order_commission(symbol="BTC/USDT", order_id=order.order_id)
    assert fees == Decimal("0.78001")  # ... its trades do: 0.1% of 2 × 390.005 USDT
    (sent,) = fake_binance.calls("POST", "/order")
    assert (sent["type"], sent["price"], sent["timeInForce"]) == ("LIMIT", "39000.5", "GTC")


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "binance_type"),
    [
        ("STOP_LOSS", None, "35000", "STOP_LOSS"),
        ("TAKE_PROFIT", None, "45000", "TAKE_PROFIT"),
        ("STOP_LIMIT", "34900", "35000", "STOP_LOSS_LIMIT"),
    ],
)
def test_stop_and_target_orders_go_out_as_binance_trigger_orders(
    fake_binance, trading_client, order_type, price, trigger, binance_type
) -> None:
    fake_binance.order_plan.append("open")
    trading_client.place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="SELL",
            order_type=order_type,
            quantity=Decimal("0.1"),
            price=None if price is None else Decimal(price),
            trigger_price=Decimal(trigger),
            client_order_id=f"apx-{order_type}",
        )
    )

    (sent,) = fake_binance.calls("POST", "/order")
    assert (sent["type"], sent["stopPrice"], sent.get("price")) == (binance_type, trigger, price)


def test_an_order_without_its_trigger_price_is_refused_before_anything_is_sent(
    fake_binance, trading_client
) -> None:
    request = OrderRequest(
        symbol="BTC/USDT",
        side="SELL",
        order_type="STOP_LOSS",
        quantity=Decimal("0.1"),
        client_order_id="apx-x",
    )
    with pytest.raises(errors.OrderRejected, match="trigger price"):
        trading_client.place_order(request)
    assert fake_binance.calls("POST", "/order") == []


def test_a_quantity_off_the_lot_size_is_refused_before_anything_is_sent(
    fake_binance, trading_client
) -> None:
    with pytest.raises(errors.OrderRejected, match="lot size"):
        trading_client.place_order(market_buy("0.000015"))  # step 0.00001
    assert fake_binance.calls("POST", "/order") == []


def test_a_price_off_the_tick_size_is_refused_before_anything_is_sent(
    fake_binance, trading_client
) -> None:
    request = OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.01"),
        price=Decimal("39000.555"),  # tick 0.01
        client_order_id="apx-tick",
    )
    with pytest.raises(errors.OrderRejected, match="tick size"):
        trading_client.place_order(request)
    assert fake_binance.calls("POST", "/order") == []


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ("reject", errors.OrderRejected),
        ("insufficient", errors.InsufficientFunds),
        ("rate_limit", errors.RateLimited),
    ],
)
def test_refusals_come_out_as_clear_exception_types(
    fake_binance, trading_client, plan, error
) -> None:
    fake_binance.order_plan.append(plan)
    with pytest.raises(error) as raised:
        trading_client.place_order(market_buy())
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert fake_binance.orders == {}


def test_a_rate_limit_carries_the_exchanges_retry_after(fake_binance, trading_client) -> None:
    fake_binance.order_plan.append("rate_limit")
    with pytest.raises(errors.RateLimited) as raised:
        trading_client.place_order(market_buy())
    assert raised.value.retry_after == 3.0


def test_an_order_answered_too_late_times_out_and_is_found_by_its_client_order_id(
    fake_binance, trading_client
) -> None:
    fake_binance.order_plan.append("timeout_filled")

    with pytest.raises(errors.ExchangeTimeout):
        trading_client.place_order(market_buy(client_order_id="apx-late"))

    found = trading_client.find_order(symbol="BTC/USDT", client_order_id="apx-late")
    assert found is not None
    assert (found.state, found.filled) == ("closed", Decimal("0.01"))
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_find_order_says_none_for_an_order_the_exchange_never_received(
    fake_binance, trading_client
) -> None:
    assert trading_client.find_order(symbol="BTC/USDT", client_order_id="apx-never") is None
    assert fake_binance.calls("GET", "/openOrders")  # looked there too


def test_cancel_by_client_order_id(fake_binance, trading_client) -> None:
    fake_binance.order_plan.append("open")
    trading_client.place_order(market_buy(client_order_id="apx-cancel"))

    cancelled = trading_client.cancel_order(symbol="BTC/USDT", client_order_id="apx-cancel")

    assert cancelled.state == "canceled"
    assert trading_client.fetch_open_orders(symbol="BTC/USDT") == []
    with pytest.raises(errors.OrderNotFound):  # Binance: -2011 "Unknown order sent."
        trading_client.cancel_order(symbol="BTC/USDT", client_order_id="apx-cancel")


def test_an_unknown_order_is_order_not_found(fake_binance, trading_client) -> None:
    with pytest.raises(errors.OrderNotFound):
        trading_client.fetch_order(symbol="BTC/USDT", order_id="999999")


def test_balance_per_asset_in_decimal(fake_binance, trading_client) -> None:
    fake_binance.balances = {"USDT": ("1234.56780000", "10.00"), "ETH": ("0.00", "0.00")}

    balance = trading_client.fetch_balance()

    assert set(balance) == {"USDT"}  # nothing held in ETH
    usdt = balance["USDT"]
    assert (usdt.free, usdt.used, usdt.total) == (
        Decimal("1234.5678"), Decimal("10"), Decimal("1244.5678"),
    )  # fmt: skip


def test_a_key_without_the_trade_permission_cannot_trade_but_can_read(fake_binance) -> None:
    key = ApiKeyFactory(permissions=["read"])
    with client_for_key(key) as client:
        with pytest.raises(errors.PermissionMissing, match="'trade'"):
            client.place_order(market_buy())
        with pytest.raises(errors.PermissionMissing):
            client.cancel_order(symbol="BTC/USDT", order_id="1")
        assert "USDT" in client.fetch_balance()
    assert fake_binance.calls("POST", "/order") == []
    assert fake_binance.calls("DELETE", "/order") == []


def test_a_public_client_cannot_trade(fake_binance) -> None:
    with public_client("binance") as client, pytest.raises(errors.PermissionMissing):
        client.place_order(market_buy())


def test_a_key_the_exchange_refuses_is_an_authentication_failure(fake_binance) -> None:
    fake_binance.secret = "another-secret"
    key = ApiKeyFactory(permissions=["read", "trade"])
    with client_for_key(key) as client, pytest.raises(errors.AuthenticationFailed):
        client.fetch_balance()


def test_an_unreachable_exchange_is_exchange_unavailable() -> None:
    credentials = BrokerCredentials(
        "binance", API_KEY, API_SECRET, permissions=frozenset({"read", "trade"})
    )
    # Port 9 on 127.0.0.1 is closed: the connection is refused at once.
    urls = {"public": "http://127.0.0.1:9/api/v3", "private": "http://127.0.0.1:9/api/v3"}
    client = ExchangeClient("binance", credentials=credentials, api_urls=urls, timeout=0.5)
    with client, pytest.raises(errors.ExchangeUnavailable):
        client.fetch_balance()


def test_exchanges_outside_the_adapter_are_refused() -> None:
    with pytest.raises(errors.UnsupportedExchange, match="degiro"):
        ExchangeClient("degiro")


def test_a_key_for_another_exchange_is_refused() -> None:
    credentials = BrokerCredentials("kraken", "k", "s")
    with pytest.raises(errors.UnsupportedExchange):
        ExchangeClient("binance", credentials=credentials)


# --- candles -----------------------------------------------------------------------------------


def minutes_ago(count: int) -> dt.datetime:
    now = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=count)


def test_candles_come_page_by_page_oldest_first_and_exactly_as_the_exchange_wrote_them(
    fake_binance,
) -> None:
    start = minutes_ago(25)
    fake_binance.add_candles("BTCUSDT", "1m", int(start.timestamp() * 1000), 25)
    fake_binance.max_klines = 10

    with public_client("binance") as client:
        pages = list(
            client.candle_pages(
                symbol="BTC/USDT", timeframe="1m", since=start - dt.timedelta(hours=1)
            )
        )

    assert [len(page) for page in pages] == [10, 10, 5]
    candles = [candle for page in pages for candle in page]
    assert [c.time for c in candles] == [start + dt.timedelta(minutes=i) for i in range(25)]
    assert candles[3].open == Decimal("103.00000000")
    assert candles[3].volume == Decimal("4")
    starts = [int(call["startTime"]) for call in fake_binance.calls("GET", "/klines")]
    assert starts[1:] == [
        int((start + dt.timedelta(minutes=m)).timestamp() * 1000) for m in (10, 20)
    ]


def test_the_candle_still_forming_is_left_out(fake_binance) -> None:
    start = minutes_ago(3)
    fake_binance.add_candles("BTCUSDT", "1m", int(start.timestamp() * 1000), 4)  # 4th: now

    with public_client("binance") as client:
        pages = list(client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start))

    assert [c.time for page in pages for c in page] == [
        start + dt.timedelta(minutes=i) for i in range(3)
    ]


def test_candle_pages_stop_at_until(fake_binance) -> None:
    start = minutes_ago(30)
    fake_binance.add_candles("BTCUSDT", "1m", int(start.timestamp() * 1000), 30)

    with public_client("binance") as client:
        pages = list(
            client.candle_pages(
                symbol="BTC/USDT",
                timeframe="1m",
                since=start,
                until=start + dt.timedelta(minutes=5),
            )
        )

    assert [c.time for page in pages for c in page] == [
        start + dt.timedelta(minutes=i) for i in range(5)
    ]


def test_a_429_on_candles_is_retried_after_the_exchanges_retry_after(fake_binance) -> None:
    start = minutes_ago(10)
    fake_binance.add_candles("BTCUSDT", "1m", int(start.timestamp() * 1000), 10)
    fake_binance.klines_rate_limited = 2
    slept: list[float] = []

    with public_client("binance") as client:
        pages = list(
            client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start, sleep=slept.append)
        )

    assert slept == [1.0, 1.0]
    assert sum(len(page) for page in pages) == 10


def test_candle_retries_give_up_after_the_allowed_number(fake_binance) -> None:
    start = minutes_ago(10)
    fake_binance.add_candles("BTCUSDT", "1m", int(start.timestamp() * 1000), 10)
    fake_binance.klines_rate_limited = 10
    slept: list[float] = []

    with public_client("binance") as client, pytest.raises(errors.RateLimited):
        list(
            client.candle_pages(
                symbol="BTC/USDT", timeframe="1m", since=start, retries=3, sleep=slept.append
            )
        )
    assert len(slept) == 3


def test_an_unknown_timeframe_or_market_is_a_rejected_request(fake_binance) -> None:
    with public_client("binance") as client:
        with pytest.raises(errors.RequestRejected, match="no 7m candles"):
            client.fetch_candles(symbol="BTC/USDT", timeframe="7m", since=minutes_ago(5))
        with pytest.raises(errors.RequestRejected):
            client.fetch_candles(symbol="XRP/EUR", timeframe="1m", since=minutes_ago(5))
