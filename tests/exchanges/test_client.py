"""The adapter against fake exchanges: ccxt's real binance and kraken classes, real HTTP on
127.0.0.1. Tests taking `fake_exchange` run against each (tests/exchanges/conftest.py); those
taking `fake_binance` check Binance's own shapes."""

import base64
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from exchanges import errors
from exchanges.client import ExchangeClient, client_order_id
from exchanges.connections import client_for_key, public_client
from exchanges.credentials import BrokerCredentials
from exchanges.records import OrderRequest
from tests.exchanges import fake_kraken as kraken
from tests.exchanges.fake_binance import API_KEY, API_SECRET
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC


def key_for(fake, permissions=("read", "trade")):
    """A stored key the fake accepts (Kraken's secret is base64)."""
    if fake.exchange == "kraken":
        return ApiKeyFactory(
            exchange="kraken",
            is_testnet=False,  # Kraken has no spot testnet
            permissions=list(permissions),
            clear_api_secret=kraken.API_SECRET,
        )
    return ApiKeyFactory(permissions=list(permissions))


@pytest.fixture
def trading_client(fake_exchange):
    with client_for_key(key_for(fake_exchange)) as client:
        yield client


@pytest.fixture
def binance_client(fake_binance):
    with client_for_key(key_for(fake_binance)) as client:
        yield client


def sent_order(fake) -> tuple:
    """The one order request the fake received, in our terms: (client order id, side, type,
    quantity, limit price)."""
    (sent,) = fake.placed()
    if fake.exchange == "kraken":
        return (
            sent.get("cl_ord_id"),
            sent["type"].upper(),
            sent["ordertype"].upper(),
            sent["volume"],
            sent.get("price"),
        )
    return (
        sent.get("newClientOrderId"),
        sent["side"],
        sent["type"],
        sent["quantity"],
        sent.get("price"),
    )


def unknown_order_id(fake) -> str:
    return "OUNKWN-XXXXX-XXXXXX" if fake.exchange == "kraken" else "999999"


def market_buy(quantity: str = "0.01", client_order_id: str = "apx-test-1") -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="MARKET",
        quantity=Decimal(quantity),
        client_order_id=client_order_id,
    )


# --- orders, on each exchange --------------------------------------------------------------------


def test_a_filled_market_order_reports_quantity_price_cost_and_commission_in_decimal(
    fake_exchange, trading_client
) -> None:
    order = trading_client.place_order(market_buy("0.01"))

    assert order.state == "closed"
    assert order.filled == order.amount == Decimal("0.01")
    assert order.average_price == Decimal("40000")
    assert order.cost == Decimal("400")  # 0.01 × 40,000
    # the taker fee, in USDT: Binance 0.1 % = 0.4, Kraken 0.26 % = 1.04
    assert (
        order.commission
        == {"binance": Decimal("0.4"), "kraken": Decimal("1.04")}[fake_exchange.exchange]
    )
    assert order.client_order_id == "apx-test-1"
    assert sent_order(fake_exchange) == ("apx-test-1", "BUY", "MARKET", "0.01", None)


def test_a_partly_filled_limit_order_stays_open_with_its_filled_part(
    fake_exchange, trading_client
) -> None:
    fake_exchange.order_plan.append("partial")
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
    fake_exchange.fill(order.order_id)
    later = trading_client.fetch_order(symbol="BTC/USDT", order_id=order.order_id)
    assert (later.state, later.filled, later.cost) == ("closed", Decimal("0.02"), Decimal("780.01"))
    assert sent_order(fake_exchange) == ("apx-partial", "BUY", "LIMIT", "0.02", "39000.5")


def test_binance_reports_an_orders_fees_with_its_trades_only(fake_binance, binance_client) -> None:
    fake_binance.order_plan.append("partial")
    request = OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.02"),
        price=Decimal("39000.5"),
        client_order_id="apx-partial",
    )
    order = binance_client.place_order(request)
    fake_binance.fill(order.order_id)

    later = binance_client.fetch_order(symbol="BTC/USDT", order_id=order.order_id)

    assert later.commission == 0  # Binance's order lookup reports no fees ...
    fees = binance_client.order_commission(symbol="BTC/USDT", order_id=order.order_id)
    assert fees == Decimal("0.78001")  # ... its trades do: 0.1% of 2 × 390.005 USDT
    (sent,) = fake_binance.placed()
    assert sent["timeInForce"] == "GTC"


def test_kraken_reports_an_orders_fees_in_the_quote_currency_with_the_order(
    fake_kraken,
) -> None:
    """Kraken would charge a sale's fee in the base asset (fcib by default); the adapter asks
    for the quote currency (oflags=fciq) on every order, and its lookup reports the fee."""
    with client_for_key(key_for(fake_kraken)) as client:
        placed = client.place_order(
            OrderRequest(
                symbol="BTC/USDT",
                side="SELL",
                order_type="MARKET",
                quantity=Decimal("0.01"),
                client_order_id="apx-sell",
            )
        )
        assert client.order_commission(symbol="BTC/USDT", order_id=placed.order_id) is None

    assert (placed.state, placed.commission) == ("closed", Decimal("1.04"))
    (sent,) = fake_kraken.placed()
    assert sent["oflags"] == "fciq"
    # AddOrder answers the txid only: the adapter asked for the order's state at once.
    (lookup,) = fake_kraken.calls("POST", "/0/private/QueryOrders")
    assert lookup["txid"] == placed.order_id


def test_kraken_takes_a_uuid_or_18_characters_as_client_order_id(fake_kraken) -> None:
    key = uuid.uuid4()
    with client_for_key(key_for(fake_kraken)) as client:
        with pytest.raises(errors.OrderRejected, match="does not accept the client order id"):
            client.place_order(market_buy(client_order_id=f"apx{key.hex}"))  # 35 characters
        assert fake_kraken.placed() == []
        order = client.place_order(market_buy(client_order_id=client_order_id("kraken", key)))

    assert order.client_order_id == key.hex
    assert client_order_id("binance", key) == f"apx{key.hex}"


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "binance_type"),
    [
        ("STOP_LOSS", None, "35000", "STOP_LOSS"),
        ("TAKE_PROFIT", None, "45000", "TAKE_PROFIT"),
        ("STOP_LIMIT", "34900", "35000", "STOP_LOSS_LIMIT"),
    ],
)
def test_stop_and_target_orders_go_out_as_binance_trigger_orders(
    fake_binance, binance_client, order_type, price, trigger, binance_type
) -> None:
    fake_binance.order_plan.append("open")
    binance_client.place_order(
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

    (sent,) = fake_binance.placed()
    assert (sent["type"], sent["stopPrice"], sent.get("price")) == (binance_type, trigger, price)


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "kraken_type"),
    [
        ("STOP_LOSS", None, "35000", "stop-loss"),
        ("TAKE_PROFIT", None, "45000", "take-profit"),
        ("STOP_LIMIT", "34900", "35000", "stop-loss-limit"),
    ],
)
def test_stop_and_target_orders_go_out_as_kraken_trigger_orders(
    fake_kraken, order_type, price, trigger, kraken_type
) -> None:
    """Kraken: the trigger in `price`, a stop-limit's limit in `price2`."""
    fake_kraken.order_plan.append("open")
    with client_for_key(key_for(fake_kraken)) as client:
        order = client.place_order(
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

    (sent,) = fake_kraken.placed()
    assert (sent["ordertype"], sent["price"], sent.get("price2")) == (kraken_type, trigger, price)
    assert (order.state, order.filled) == ("open", 0)


def test_an_order_without_its_trigger_price_is_refused_before_anything_is_sent(
    fake_exchange, trading_client
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
    assert fake_exchange.placed() == []


def test_a_quantity_off_the_lot_size_is_refused_before_anything_is_sent(
    fake_exchange, trading_client
) -> None:
    # Binance's step here is 0.00001; Kraken's lot_decimals for XBTUSDT are 8.
    off_lot = {"binance": "0.000015", "kraken": "0.000050015"}[fake_exchange.exchange]
    with pytest.raises(errors.OrderRejected, match="lot size"):
        trading_client.place_order(market_buy(off_lot))
    assert fake_exchange.placed() == []


def test_a_price_off_the_tick_size_is_refused_before_anything_is_sent(
    fake_exchange, trading_client
) -> None:
    request = OrderRequest(
        symbol="BTC/USDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.01"),
        price=Decimal("39000.555"),  # Binance's tick 0.01, Kraken's 0.1
        client_order_id="apx-tick",
    )
    with pytest.raises(errors.OrderRejected, match="tick size"):
        trading_client.place_order(request)
    assert fake_exchange.placed() == []


def test_market_rules_come_from_each_exchanges_listing(fake_exchange, trading_client) -> None:
    rules = trading_client.market_rules("BTC/USDT")

    expected = {
        # exchangeInfo: LOT_SIZE stepSize/minQty, NOTIONAL minNotional; ccxt's taker fee
        "binance": (Decimal("0.00001"), Decimal("0.00001"), Decimal("5"), Decimal("0.001")),
        # AssetPairs: lot_decimals 8, ordermin, costmin, the first taker fee tier (0.26 %)
        "kraken": (Decimal("0.00000001"), Decimal("0.00005"), Decimal("0.5"), Decimal("0.0026")),
    }[fake_exchange.exchange]
    assert (rules.base, rules.quote) == ("BTC", "USDT")
    assert (rules.quantity_step, rules.min_quantity, rules.min_notional, rules.taker_fee) == (
        expected
    )
    with pytest.raises(errors.RequestRejected):
        trading_client.market_rules("XRP/EUR")


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ("reject", errors.OrderRejected),
        ("insufficient", errors.InsufficientFunds),
        ("rate_limit", errors.RateLimited),
    ],
)
def test_refusals_come_out_as_clear_exception_types(
    fake_exchange, trading_client, plan, error
) -> None:
    fake_exchange.order_plan.append(plan)
    with pytest.raises(error) as raised:
        trading_client.place_order(market_buy())
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert fake_exchange.orders == {}


def test_a_rate_limit_carries_the_exchanges_retry_after(fake_binance, binance_client) -> None:
    fake_binance.order_plan.append("rate_limit")
    with pytest.raises(errors.RateLimited) as raised:
        binance_client.place_order(market_buy())
    assert raised.value.retry_after == 3.0


def test_an_outage_when_placing_leaves_the_order_unknown(fake_exchange, trading_client) -> None:
    fake_exchange.order_plan.append("unavailable")
    with pytest.raises(errors.ExchangeUnavailable):
        trading_client.place_order(market_buy())


def test_an_order_answered_too_late_times_out_and_is_found_by_its_client_order_id(
    fake_exchange, trading_client
) -> None:
    fake_exchange.order_plan.append("timeout_filled")

    with pytest.raises(errors.ExchangeTimeout):
        trading_client.place_order(market_buy(client_order_id="apx-late"))

    found = trading_client.find_order(symbol="BTC/USDT", client_order_id="apx-late")
    assert found is not None
    assert (found.state, found.filled) == ("closed", Decimal("0.01"))
    assert found.client_order_id == "apx-late"
    assert len(fake_exchange.placed()) == 1


def test_an_order_answered_too_late_and_resting_is_found_open(
    fake_exchange, trading_client
) -> None:
    fake_exchange.order_plan.append("timeout_open")

    with pytest.raises(errors.ExchangeTimeout):
        trading_client.place_order(market_buy(client_order_id="apx-late-open"))

    found = trading_client.find_order(symbol="BTC/USDT", client_order_id="apx-late-open")
    assert (found.state, found.filled, found.client_order_id) == ("open", 0, "apx-late-open")


def test_find_order_says_none_for_an_order_the_exchange_never_received(
    fake_exchange, trading_client
) -> None:
    assert trading_client.find_order(symbol="BTC/USDT", client_order_id="apx-never") is None


def test_binance_finds_an_order_by_client_order_id_in_the_open_orders_too(
    fake_binance, binance_client
) -> None:
    assert binance_client.find_order(symbol="BTC/USDT", client_order_id="apx-never") is None
    assert fake_binance.calls("GET", "/openOrders")  # looked there too


@pytest.mark.parametrize("by", ["client_order_id", "order_id"])
def test_cancel_an_open_order(fake_exchange, trading_client, by) -> None:
    fake_exchange.order_plan.append("open")
    placed = trading_client.place_order(market_buy(client_order_id="apx-cancel"))
    which = {"client_order_id": "apx-cancel"} if by == "client_order_id" else {}
    which = which or {"order_id": placed.order_id}

    cancelled = trading_client.cancel_order(symbol="BTC/USDT", **which)

    assert (cancelled.state, cancelled.order_id) == ("canceled", placed.order_id)
    assert trading_client.fetch_open_orders(symbol="BTC/USDT") == []
    with pytest.raises(errors.OrderNotFound):  # Binance -2011, Kraken "EOrder:Unknown order"
        trading_client.cancel_order(symbol="BTC/USDT", **which)


def test_cancelling_a_partly_filled_order_keeps_what_filled(fake_exchange, trading_client) -> None:
    fake_exchange.order_plan.append("partial")
    placed = trading_client.place_order(market_buy("0.02", client_order_id="apx-half"))

    cancelled = trading_client.cancel_order(symbol="BTC/USDT", order_id=placed.order_id)

    assert (cancelled.state, cancelled.filled) == ("canceled", Decimal("0.01"))


def test_an_unknown_order_is_order_not_found(fake_exchange, trading_client) -> None:
    with pytest.raises(errors.OrderNotFound):
        trading_client.fetch_order(symbol="BTC/USDT", order_id=unknown_order_id(fake_exchange))
    with pytest.raises(errors.OrderNotFound):
        trading_client.fetch_order(symbol="BTC/USDT", client_order_id="apx-unknown")


def test_balance_per_asset_in_decimal(fake_exchange, trading_client) -> None:
    fake_exchange.balances = {"USDT": ("1234.56780000", "10.00"), "ETH": ("0.00", "0.00")}

    balance = trading_client.fetch_balance()

    assert set(balance) == {"USDT"}  # nothing held in ETH
    usdt = balance["USDT"]
    assert (usdt.free, usdt.used, usdt.total) == (
        Decimal("1234.5678"), Decimal("10"), Decimal("1244.5678"),
    )  # fmt: skip


def test_kraken_asset_codes_come_back_as_ours(fake_kraken) -> None:
    fake_kraken.balances = {"BTC": ("0.25", "0.05"), "USD": ("100", "0")}
    with client_for_key(key_for(fake_kraken)) as client:
        balance = client.fetch_balance()
    assert {asset: b.total for asset, b in balance.items()} == {
        "BTC": Decimal("0.3"),  # XXBT
        "USD": Decimal("100"),  # ZUSD
    }


def test_a_key_without_the_trade_permission_cannot_trade_but_can_read(fake_exchange) -> None:
    key = key_for(fake_exchange, permissions=["read"])
    with client_for_key(key) as client:
        with pytest.raises(errors.PermissionMissing, match="'trade'"):
            client.place_order(market_buy())
        with pytest.raises(errors.PermissionMissing):
            client.cancel_order(symbol="BTC/USDT", order_id="1")
        assert "USDT" in client.fetch_balance()
    assert fake_exchange.placed() == []


def test_a_public_client_cannot_trade(fake_exchange) -> None:
    with public_client(fake_exchange.exchange) as client, pytest.raises(errors.PermissionMissing):
        client.place_order(market_buy())


def test_a_key_the_exchange_refuses_is_an_authentication_failure(fake_exchange) -> None:
    key = key_for(fake_exchange)
    # Another secret (base64, as Kraken's are): Binance -2015, Kraken "EAPI:Invalid signature".
    fake_exchange.secret = base64.b64encode(b"another-secret-" * 4).decode()
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


def test_a_testnet_key_for_an_exchange_without_a_testnet_is_refused_clearly() -> None:
    credentials = BrokerCredentials("kraken", "k", "s", is_testnet=True)
    with pytest.raises(errors.UnsupportedExchange, match="kraken has no testnet"):
        ExchangeClient("kraken", credentials=credentials, testnet=True)


def test_a_key_for_another_exchange_is_refused() -> None:
    credentials = BrokerCredentials("kraken", "k", "s")
    with pytest.raises(errors.UnsupportedExchange):
        ExchangeClient("binance", credentials=credentials)


# --- candles, on each exchange -------------------------------------------------------------------


def minutes_ago(count: int) -> dt.datetime:
    now = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=count)


def test_candles_come_page_by_page_oldest_first_and_exactly_as_the_exchange_wrote_them(
    fake_exchange,
) -> None:
    start = minutes_ago(25)
    fake_exchange.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 25)
    fake_exchange.max_candles = 10

    with public_client(fake_exchange.exchange) as client:
        pages = list(
            client.candle_pages(
                symbol="BTC/USDT", timeframe="1m", since=start - dt.timedelta(hours=1)
            )
        )

    assert [len(page) for page in pages] == [10, 10, 5]
    candles = [candle for page in pages for candle in page]
    assert [c.time for c in candles] == [start + dt.timedelta(minutes=i) for i in range(25)]
    assert (candles[3].open, candles[3].close) == (Decimal("103"), Decimal("103.5"))
    assert candles[3].volume == Decimal("4")


def test_candle_pages_ask_binance_from_where_the_last_page_ended(fake_binance) -> None:
    start = minutes_ago(25)
    fake_binance.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 25)
    fake_binance.max_candles = 10

    with public_client("binance") as client:
        list(client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start))

    starts = [int(call["startTime"]) for call in fake_binance.calls("GET", "/klines")]
    assert starts[:3] == [
        int((start + dt.timedelta(minutes=m)).timestamp() * 1000) for m in (0, 10, 20)
    ]


def test_candle_pages_ask_kraken_since_the_candle_before(fake_kraken) -> None:
    """Kraken's OHLC answers the candles after `since` (seconds); ccxt asks from one period
    before the first candle wanted."""
    start = minutes_ago(25)
    fake_kraken.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 25)
    fake_kraken.max_candles = 10

    with public_client("kraken") as client:
        list(client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start))

    calls = fake_kraken.calls("GET", "/0/public/OHLC")
    assert {(call["pair"], call["interval"]) for call in calls} == {("XBTUSDT", "1")}
    assert [int(call["since"]) for call in calls][:3] == [
        int((start + dt.timedelta(minutes=m - 1)).timestamp()) for m in (0, 10, 20)
    ]


def test_the_candle_still_forming_is_left_out(fake_exchange) -> None:
    start = minutes_ago(3)
    fake_exchange.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 4)  # 4th: now

    with public_client(fake_exchange.exchange) as client:
        pages = list(client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start))

    assert [c.time for page in pages for c in page] == [
        start + dt.timedelta(minutes=i) for i in range(3)
    ]


def test_candle_pages_stop_at_until(fake_exchange) -> None:
    start = minutes_ago(30)
    fake_exchange.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 30)

    with public_client(fake_exchange.exchange) as client:
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


def test_a_rate_limit_on_candles_is_retried_after_retry_after_or_a_backoff(fake_exchange) -> None:
    start = minutes_ago(10)
    fake_exchange.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 10)
    fake_exchange.candles_rate_limited = 2
    slept: list[float] = []

    with public_client(fake_exchange.exchange) as client:
        pages = list(
            client.candle_pages(symbol="BTC/USDT", timeframe="1m", since=start, sleep=slept.append)
        )

    # Binance answers 429 with Retry-After: 1; Kraken "EGeneral:Too many requests", no header:
    # the backoff (1 s, then 2 s).
    assert slept == {"binance": [1.0, 1.0], "kraken": [1.0, 2.0]}[fake_exchange.exchange]
    assert sum(len(page) for page in pages) == 10


def test_candle_retries_give_up_after_the_allowed_number(fake_exchange) -> None:
    start = minutes_ago(10)
    fake_exchange.add_candles("BTC/USDT", "1m", int(start.timestamp() * 1000), 10)
    fake_exchange.candles_rate_limited = 10
    slept: list[float] = []

    with public_client(fake_exchange.exchange) as client, pytest.raises(errors.RateLimited):
        list(
            client.candle_pages(
                symbol="BTC/USDT", timeframe="1m", since=start, retries=3, sleep=slept.append
            )
        )
    assert len(slept) == 3


def test_an_unknown_timeframe_or_market_is_a_rejected_request(fake_exchange) -> None:
    with public_client(fake_exchange.exchange) as client:
        with pytest.raises(errors.RequestRejected, match="no 7m candles"):
            client.fetch_candles(symbol="BTC/USDT", timeframe="7m", since=minutes_ago(5))
        with pytest.raises(errors.RequestRejected):
            client.fetch_candles(symbol="XRP/EUR", timeframe="1m", since=minutes_ago(5))


def test_the_process_decimal_context_is_left_as_it_was_after_an_order(trading_client) -> None:
    """ccxt's precision helpers set the thread's decimal context to ROUND_HALF_UP with Underflow
    trapped; the adapter keeps that inside its calls, so our own quantize() keeps rounding half to
    even in a worker that has traded (it once moved a paper fill by a unit of the 8th decimal)."""
    import decimal

    before = decimal.getcontext().copy()

    trading_client.place_order(market_buy("0.01"))

    after = decimal.getcontext()
    assert after.rounding == before.rounding == decimal.ROUND_HALF_EVEN
    assert after.traps == before.traps
    assert Decimal("0.125").quantize(Decimal("0.01")) == Decimal("0.12")
