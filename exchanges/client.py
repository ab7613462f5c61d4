"""One exchange account (or its public market data) through ccxt: orders, balances, candles.

Amounts go in and come out as Decimal (exchanges.records): ccxt is told to parse numbers as
strings (`number = str`), so prices and quantities never pass through a float. Every ccxt error is
translated into `exchanges.errors` (errors.from_ccxt), with the client's credentials scrubbed
from the message and ccxt's exception dropped from the chain (its text holds URLs and bodies, its
frames the credentials).
"""

import decimal
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

from exchanges import errors
from exchanges.credentials import TRADE, BrokerCredentials
from exchanges.records import (
    AssetBalance,
    Candle,
    ExchangeOrder,
    MarketRules,
    OrderRequest,
    to_decimal,
)
from exchanges.redaction import ScrubbingLogger

logger = logging.getLogger(__name__)

ORDER_TYPES = ("MARKET", "LIMIT", "STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT")
SIDES = ("BUY", "SELL")
# Exchanges of the api_keys table (spec §3.8) and the ccxt class that speaks to each; DEGIRO has no
# public trading API and no ccxt class.
CCXT_IDS = {"binance": "binance", "kraken": "kraken", "coinbase": "coinbase", "alpaca": "alpaca"}
# Only spot markets: without these Binance's load_markets also asks the futures and options APIs,
# and its fetchCurrencies calls a wallet endpoint (sapi) that trading keys often may not use.
CCXT_OPTIONS = {
    "binance": {
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
    },
}
# Kraken answers some errors ccxt leaves unclassified (a plain ExchangeError): a bad signature
# is the key's fault, an order over the open-orders limit is a refusal (nothing placed).
# (ccxt's exception classes by name: ccxt is imported on first use, see ccxt_module.)
CCXT_EXACT_ERRORS = {
    "kraken": {
        "EAPI:Invalid signature": "AuthenticationError",
        "EOrder:Orders limit exceeded": "InvalidOrder",
    },
}
# Extra parameters of every order: Kraken charges a sale's fee in the base asset unless asked
# for the quote currency (fciq), and commissions are booked in the quote currency.
ORDER_PARAMS = {"kraken": {"oflags": "fciq"}}
# Exchanges whose order lookup takes only the exchange's id (Kraken's QueryOrders needs a txid);
# an order is found by its client order id among the open, then the closed orders.
LOOKUP_BY_ID_ONLY = frozenset({"kraken"})
# Client order ids: ours are "apx" + a UUID in hex (35 characters, inside Binance's 36). Kraken
# takes a UUID (36 characters with hyphens, or 32 hex digits) or free text of at most 18
# characters (docs.kraken.com, "Spot Client Order Identifiers"): there, the UUID's 32 hex digits.
CLIENT_ORDER_ID_PREFIX = "apx"
UUID_CLIENT_ORDER_IDS = frozenset({"kraken"})
_KRAKEN_CLIENT_ORDER_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0


def client_order_id(exchange: str, key: uuid.UUID) -> str:
    """The client order id under which an order keyed by `key` (a trade's id) is sent to
    `exchange`, in a form the exchange accepts, so it can always be found again by it."""
    if exchange in UUID_CLIENT_ORDER_IDS:
        return key.hex
    return f"{CLIENT_ORDER_ID_PREFIX}{key.hex}"


def _client_order_id_accepted(exchange: str, value: str) -> bool:
    if exchange == "kraken":
        return len(value) <= 18 or _KRAKEN_CLIENT_ORDER_ID.fullmatch(value) is not None
    return True


def _moment(milliseconds: object) -> datetime | None:
    if milliseconds is None:
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


def _milliseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def ccxt_module() -> ModuleType:
    """ccxt, imported on first use: it costs about 64 MB and a second of CPU, which every
    process that loads the admin (and so this module) would otherwise pay without trading."""
    import ccxt

    return ccxt


class ExchangeClient:
    """A ccxt exchange object with credentials (or none, for public data), its rate limiter on.

    Use as a context manager, or call close(): the HTTP session and the credentials go with it."""

    def __init__(
        self,
        exchange: str,
        *,
        credentials: BrokerCredentials | None = None,
        testnet: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        api_urls: Mapping[str, str] | None = None,
        on_call: Callable[[errors.ExchangeError | None], None] | None = None,
    ) -> None:
        """`on_call` is told of every call made through this client: None when it succeeded,
        the (scrubbed) error otherwise (connections.client_for_key: the key's usage)."""
        ccxt_id = CCXT_IDS.get(exchange)
        ccxt = ccxt_module()
        if ccxt_id is None or not hasattr(ccxt, ccxt_id):
            raise errors.UnsupportedExchange(
                f"No exchange adapter for {exchange!r}; supported: {', '.join(sorted(CCXT_IDS))}."
            )
        if credentials is not None and credentials.exchange != exchange:
            raise errors.UnsupportedExchange(
                f"A {credentials.exchange} key cannot be used on {exchange}."
            )
        self.exchange = exchange
        self._on_call = on_call
        self._credentials = credentials
        self._secrets: tuple[str, ...] = credentials.secrets if credentials else ()
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": int(timeout * 1000),
            "options": dict(CCXT_OPTIONS.get(ccxt_id, {})),
        }
        if credentials is not None:
            config.update(apiKey=credentials.api_key, secret=credentials.secret)
            if credentials.passphrase:
                config["password"] = credentials.passphrase
        self._ccxt = getattr(ccxt, ccxt_id)(config)
        self._ccxt.logger = ScrubbingLogger(self._secrets)
        self._ccxt.number = str  # unified amounts as exact decimal strings
        if testnet:
            if not self._ccxt.urls.get("test"):
                # ccxt would fail with a TypeError; Kraken has no spot testnet.
                raise errors.UnsupportedExchange(
                    f"{exchange} has no testnet (sandbox) in ccxt; use a live key."
                )
            self._ccxt.set_sandbox_mode(True)
        if api_urls:
            self._ccxt.urls["api"] = {**self._ccxt.urls["api"], **api_urls}
        if ccxt_id in CCXT_EXACT_ERRORS:
            exact = self._ccxt.exceptions.setdefault("exact", {})
            self._ccxt.exceptions["exact"] = {
                **exact,
                **{text: getattr(ccxt, name) for text, name in CCXT_EXACT_ERRORS[ccxt_id].items()},
            }

    def __repr__(self) -> str:
        keyed = "with a key" if self._credentials else "public"
        return f"ExchangeClient({self.exchange}, {keyed})"

    def __enter__(self) -> "ExchangeClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        session = getattr(self._ccxt, "session", None)
        if session is not None:
            session.close()
        self._ccxt.apiKey = self._ccxt.secret = self._ccxt.password = ""
        self._credentials = None

    # --- orders -------------------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> ExchangeOrder:
        """Send one order with its client order id. A quantity or price the market's lot or tick
        size would change is refused first, so what is sent is what was asked.
        OrderRejected/InsufficientFunds: nothing was placed. ExchangeTimeout/ExchangeUnavailable:
        unknown; look it up by client order id."""
        self._require_trade()
        ccxt_type, price, params = self._order_arguments(request)
        if not _client_order_id_accepted(self.exchange, request.client_order_id):
            raise errors.OrderRejected(
                f"{self.exchange} does not accept the client order id "
                f"{request.client_order_id!r} (a UUID, or at most 18 characters)."
            )
        params.update(ORDER_PARAMS.get(self.exchange, {}))
        params["clientOrderId"] = request.client_order_id
        markets = self._call(self._ccxt.load_markets)
        if request.symbol not in markets:
            raise errors.OrderRejected(f"{self.exchange} has no market {request.symbol}.")
        amount = str(request.quantity)
        allowed = self._call(self._ccxt.amount_to_precision, request.symbol, amount)
        if Decimal(allowed) != request.quantity:
            raise errors.OrderRejected(
                f"The quantity {request.quantity} is not a multiple of {request.symbol}'s lot "
                f"size on {self.exchange} (nearest allowed: {allowed})."
            )
        for name, value in (("price", price), ("trigger price", request.trigger_price)):
            if value is not None:
                allowed = self._call(self._ccxt.price_to_precision, request.symbol, str(value))
                if Decimal(allowed) != value:
                    raise errors.OrderRejected(
                        f"The {name} {value} is not a multiple of {request.symbol}'s tick size on "
                        f"{self.exchange} (nearest allowed: {allowed})."
                    )
        order = self._call(
            self._ccxt.create_order,
            request.symbol,
            ccxt_type,
            request.side.lower(),
            amount,
            None if price is None else str(price),
            params,
            placing=True,
        )
        if order.get("status") is None and order.get("id"):
            # Kraken answers a placement with the txid only: ask for the order's state. The
            # order is on the book either way; if the lookup fails it is reported open, and
            # the reconcile job asks again.
            try:
                return self.fetch_order(symbol=request.symbol, order_id=str(order["id"]))
            except errors.ExchangeError as error:
                logger.warning("%s: order %s placed; its state is not known yet (%s)",
                               self.exchange, order["id"], error)  # fmt: skip
        return self._order(order, request.symbol)

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._require_trade()
        params = {"clientOrderId": client_order_id} if order_id is None else {}
        order = self._call(self._ccxt.cancel_order, order_id, symbol, params)
        if order.get("status") is None:
            # Kraken answers a cancel with a count only: the order as it ended up.
            return self.fetch_order(
                symbol=symbol, order_id=order_id, client_order_id=client_order_id
            )
        return self._order(order, symbol)

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        """By the exchange's id, or by our client order id. OrderNotFound if neither is known."""
        if order_id is None and client_order_id is None:
            raise ValueError("Give order_id or client_order_id.")
        if self.exchange in LOOKUP_BY_ID_ONLY:
            if order_id is None:
                return self._order_by_client_order_id(symbol, client_order_id)
            try:
                order = self._call(self._ccxt.fetch_order, order_id, symbol, {})
            except errors.RequestRejected:
                # Kraken: "EOrder:Invalid order" for a txid it does not know.
                raise errors.OrderNotFound(f"{self.exchange}: no order {order_id}.") from None
            return self._order(order, symbol)
        params = {"clientOrderId": client_order_id} if order_id is None else {}
        order = self._call(self._ccxt.fetch_order, order_id, symbol, params)
        return self._order(order, symbol)

    def _order_by_client_order_id(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        """Among the open, then the closed orders, filtered by the exchange on the client order
        id (Kraken's cl_ord_id)."""
        params = {"clientOrderId": client_order_id}
        for method in (self._ccxt.fetch_open_orders, self._ccxt.fetch_closed_orders):
            for order in self._call(method, symbol, None, None, dict(params)):
                if order.get("clientOrderId") == client_order_id:
                    return self._order(order, symbol)
        raise errors.OrderNotFound(
            f"{self.exchange}: no order with client order id {client_order_id}."
        )

    def fetch_open_orders(self, *, symbol: str) -> list[ExchangeOrder]:
        orders = self._call(self._ccxt.fetch_open_orders, symbol)
        return [self._order(order, symbol) for order in orders]

    def find_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder | None:
        """The order, or None when the exchange knows neither id: fetch_order, then the open
        orders (some exchanges cannot fetch by client order id)."""
        try:
            return self.fetch_order(
                symbol=symbol, order_id=order_id, client_order_id=client_order_id
            )
        except errors.OrderNotFound:
            if order_id is None and self.exchange in LOOKUP_BY_ID_ONLY:
                return None  # its open and closed orders were searched by client order id
        for order in self.fetch_open_orders(symbol=symbol):
            if (order_id and order.order_id == order_id) or (
                client_order_id and order.client_order_id == client_order_id
            ):
                return order
        return None

    def order_commission(self, *, symbol: str, order_id: str) -> Decimal | None:
        """The fees an order has paid so far in the quote currency, from its trades (an order
        lookup does not report fees on Binance); None where the exchange cannot list them."""
        if self._ccxt.has.get("fetchOrderTrades") is not True:  # Kraken's is "emulated"
            return None
        trades = self._call(self._ccxt.fetch_order_trades, order_id, symbol)
        return self._quote_fees(symbol, [trade.get("fee") for trade in trades])

    def _quote_fees(self, symbol: str, fees: list) -> Decimal:
        market = self._ccxt.markets.get(symbol) if self._ccxt.markets else None
        quote = market["quote"] if market else symbol.partition("/")[2]
        return sum(
            (
                to_decimal(fee.get("cost")) or Decimal(0)
                for fee in fees
                if fee and fee.get("currency") == quote
            ),
            Decimal(0),
        )

    # --- markets ------------------------------------------------------------------------------

    def market_rules(self, symbol: str) -> MarketRules:
        """The lot size, minimum quantity, minimum order value and taker fee of `symbol`, as the
        exchange lists them (Binance: the LOT_SIZE and NOTIONAL filters of exchangeInfo; Kraken:
        lot_decimals, ordermin and costmin of AssetPairs). RequestRejected for an unknown market."""
        markets = self._call(self._ccxt.load_markets)
        market = markets.get(symbol)
        if market is None:
            raise errors.RequestRejected(f"{self.exchange} has no market {symbol}.")
        limits = market.get("limits") or {}
        return MarketRules(
            symbol=symbol,
            base=market["base"],
            quote=market["quote"],
            quantity_step=to_decimal((market.get("precision") or {}).get("amount")),
            min_quantity=to_decimal((limits.get("amount") or {}).get("min")),
            min_notional=to_decimal((limits.get("cost") or {}).get("min")),
            taker_fee=to_decimal(market.get("taker")),
        )

    # --- account ------------------------------------------------------------------------------

    def fetch_balance(self) -> dict[str, AssetBalance]:
        """Per asset: free, used (in open orders) and total; assets with nothing are left out."""
        balance = self._call(self._ccxt.fetch_balance)
        result = {}
        for asset, amounts in balance.items():
            if asset in ("info", "free", "used", "total", "timestamp", "datetime", "debt"):
                continue
            if not isinstance(amounts, dict):
                continue
            free, used, total = (
                to_decimal(amounts.get(k)) or Decimal(0) for k in ("free", "used", "total")
            )
            if free or used or total:
                result[asset] = AssetBalance(free=free, used=used, total=total)
        return result

    # --- candles ------------------------------------------------------------------------------

    def timeframe_milliseconds(self, timeframe: str) -> int:
        if timeframe not in (self._ccxt.timeframes or {}):
            raise errors.RequestRejected(
                f"{self.exchange} has no {timeframe} candles; it offers "
                f"{', '.join(self._ccxt.timeframes or {})}."
            )
        return int(self._ccxt.parse_timeframe(timeframe) * 1000)

    def fetch_candles(
        self, *, symbol: str, timeframe: str, since: datetime, limit: int = 1000
    ) -> list[Candle]:
        """One page: up to `limit` candles starting at or after `since`, oldest first."""
        self.timeframe_milliseconds(timeframe)
        rows = self._call(self._ccxt.fetch_ohlcv, symbol, timeframe, _milliseconds(since), limit)
        return [
            Candle(
                time=_moment(row[0]),
                open=to_decimal(row[1]),
                high=to_decimal(row[2]),
                low=to_decimal(row[3]),
                close=to_decimal(row[4]),
                volume=to_decimal(row[5]) or Decimal(0),
            )
            for row in rows
        ]

    def candle_pages(
        self,
        *,
        symbol: str,
        timeframe: str,
        since: datetime,
        until: datetime | None = None,
        page_size: int = 1000,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[list[Candle]]:
        """Closed candles from `since` up to `until` (default: now), page by page, oldest first.

        The candle still forming is never returned, so a download that resumes after its newest
        stored candle misses nothing. ccxt's rate limiter spaces the requests; a 429 or a timeout
        is retried after the exchange's Retry-After or an exponential backoff, `retries` times."""
        width = self.timeframe_milliseconds(timeframe)
        cursor = _milliseconds(since)
        end = _milliseconds(until) if until else None
        while True:
            now = self._ccxt.milliseconds()
            horizon = min(end, now) if end is not None else now
            if cursor + width > horizon:
                return
            page = self._with_retries(
                lambda start=cursor: self.fetch_candles(
                    symbol=symbol, timeframe=timeframe, since=_moment(start), limit=page_size
                ),
                retries=retries,
                sleep=sleep,
            )
            closed = [
                candle
                for candle in page
                if _milliseconds(candle.time) >= cursor
                and _milliseconds(candle.time) + width <= horizon
            ]
            if not closed:
                return
            yield closed
            cursor = _milliseconds(closed[-1].time) + width

    @staticmethod
    def _with_retries(call: Callable[[], Any], *, retries: int, sleep: Callable[[float], None]):
        attempt = 0
        while True:
            try:
                return call()
            except (errors.RateLimited, errors.ExchangeUnavailable) as error:
                attempt += 1
                if attempt > retries:
                    raise
                delay = getattr(error, "retry_after", None) or min(
                    MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1)
                )
                sleep(delay)

    # --- plumbing -----------------------------------------------------------------------------

    def _require_trade(self) -> None:
        if self._credentials is None:
            raise errors.PermissionMissing(
                "Trading needs a broker key with the 'trade' permission."
            )
        self._credentials.require(TRADE)

    @staticmethod
    def _order_arguments(request: OrderRequest) -> tuple[str, Decimal | None, dict]:
        if request.side not in SIDES:
            raise errors.OrderRejected(f"Unknown side {request.side!r}.")
        kind = request.order_type
        needs_price = kind in ("LIMIT", "STOP_LIMIT")
        needs_trigger = kind in ("STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT")
        if kind not in ORDER_TYPES:
            raise errors.OrderRejected(f"Unknown order type {kind!r}.")
        if needs_price and request.price is None:
            raise errors.OrderRejected(f"A {kind} order needs a limit price.")
        if needs_trigger and request.trigger_price is None:
            raise errors.OrderRejected(f"A {kind} order needs a trigger price.")
        params: dict[str, Any] = {}
        if kind == "TAKE_PROFIT":
            params["takeProfitPrice"] = str(request.trigger_price)
        elif needs_trigger:
            params["stopLossPrice"] = str(request.trigger_price)
        ccxt_type = "limit" if needs_price else "market"
        return ccxt_type, request.price if needs_price else None, params

    def _order(self, order: Mapping[str, Any], symbol: str) -> ExchangeOrder:
        fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
        commission = self._quote_fees(symbol, fees)
        filled = to_decimal(order.get("filled")) or Decimal(0)
        average = to_decimal(order.get("average"))
        cost = to_decimal(order.get("cost"))
        if cost is None:
            cost = filled * average if average is not None else Decimal(0)
        return ExchangeOrder(
            order_id=str(order["id"]),
            client_order_id=order.get("clientOrderId"),
            symbol=order.get("symbol") or symbol,
            side=(order.get("side") or "").upper(),
            state=order.get("status") or "open",
            amount=to_decimal(order.get("amount")) or Decimal(0),
            filled=filled,
            average_price=average if filled else None,
            cost=cost,
            commission=commission,
            updated_at=_moment(order.get("lastUpdateTimestamp") or order.get("timestamp")),
        )

    def _call(self, method: Callable[..., Any], *args: Any, placing: bool = False) -> Any:
        try:
            # ccxt's precision helpers set the thread's decimal context (ROUND_HALF_UP, Underflow
            # trapped) and leave it so: every later quantize() in the process, our money
            # included, would round differently. A local context keeps the change inside.
            with decimal.localcontext():
                result = method(*args)
        except ccxt_module().BaseError as error:
            failure = errors.from_ccxt(
                error,
                exchange=self.exchange,
                secrets=self._secrets,
                placing=placing,
                retry_after=self._retry_after(),
            )
        else:
            self._report_call(None)
            return result
        self._report_call(failure)
        # Raised outside the except block: no __context__ pointing at ccxt's exception.
        raise failure

    def _report_call(self, failure: errors.ExchangeError | None) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(failure)
        except Exception:  # bookkeeping must never change what the exchange answered
            logger.exception("Recording a call to %s failed", self.exchange)

    def _retry_after(self) -> float | None:
        headers = getattr(self._ccxt, "last_response_headers", None) or {}
        try:
            value = headers.get("Retry-After")
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None
