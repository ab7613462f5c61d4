"""A fake Binance spot API on 127.0.0.1, for ccxt's real binance class to talk to.

It answers the endpoints ccxt calls for our adapter (exchangeInfo on load_markets, klines, order
POST/GET/DELETE, openOrders, account, time) in Binance's own JSON shapes, checks the API key
header and the HMAC-SHA256 signature of private requests as Binance does, and can be told how to
treat the next orders: fill, partly fill, leave open, reject, refuse for funds, answer 429, or
place the order and answer too late (a client timeout with the order on the book).
"""

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The clear texts ApiKeyFactory encrypts (its Params): the fake accepts that key.
API_KEY = "factory-api-key-CLEARTEXT"
API_SECRET = "factory-api-secret-CLEARTEXT"
# The client timeout in tests: short, so that an order answered too late does not wait long.
TIMEOUT_SECONDS = 0.5
MARKETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
STEP_SIZE = "0.00001000"
TICK_SIZE = "0.01000000"
ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}


def _market(symbol: str, base: str, quote: str) -> dict:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": TICK_SIZE,
                "maxPrice": "1000000.00000000",
                "tickSize": TICK_SIZE,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": STEP_SIZE,
                "maxQty": "9000.00000000",
                "stepSize": STEP_SIZE,
            },
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
    }


@dataclass
class FakeBinance:
    api_key: str
    secret: str
    market_price: Decimal = Decimal("40000.00")
    commission_rate: Decimal = Decimal("0.001")
    max_klines: int = 1000
    # What to do with the next orders posted: fill, partial, open, reject, insufficient,
    # rate_limit, unavailable (503, nothing booked), timeout_open, timeout_filled (booked, then
    # answered after the client gave up). Default: fill.
    order_plan: deque = field(default_factory=deque)
    # How many of the next klines requests get a 429.
    klines_rate_limited: int = 0
    # How many of the next balance (account) requests are answered after the client's timeout.
    balance_timeouts: int = 0
    late_answer_seconds: float = 1.5
    candles: dict = field(default_factory=dict)  # (symbol id, interval) -> [[ms, o, h, l, c, v]]
    orders: dict = field(default_factory=dict)  # orderId -> order
    balances: dict = field(
        default_factory=lambda: {"USDT": ("10000.00", "0.00"), "BTC": ("0.50000000", "0.1")}
    )
    requests: list = field(default_factory=list)  # (method, path, params)
    markets: dict = field(default_factory=lambda: dict(MARKETS))  # id -> (base, quote)
    _next_order_id: int = 1000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- test-facing -----------------------------------------------------------------------

    def start(self) -> "FakeBinance":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_urls(self) -> dict[str, str]:
        host, port = self.server.server_address[:2]
        base = f"http://{host}:{port}/api/v3"
        return {"public": base, "private": base, "v1": f"http://{host}:{port}/api/v1"}

    def calls(self, method: str, path: str) -> list[dict]:
        return [params for m, p, params in self.requests if m == method and p == path]

    # The side every fake exchange shares (tests/exchanges/fake_kraken.py), for tests that run
    # against each.
    exchange = "binance"

    def placed(self) -> list[dict]:
        """The order requests received (POST /order), as sent."""
        return self.calls("POST", "/order")

    @staticmethod
    def market_id(symbol: str) -> str:
        return symbol.replace("/", "")

    @property
    def max_candles(self) -> int:
        return self.max_klines

    @max_candles.setter
    def max_candles(self, value: int) -> None:
        self.max_klines = value

    @property
    def candles_rate_limited(self) -> int:
        return self.klines_rate_limited

    @candles_rate_limited.setter
    def candles_rate_limited(self, value: int) -> None:
        self.klines_rate_limited = value

    def add_market(self, symbol: str) -> str:
        """List a unified symbol (BASE/QUOTE) as a market; its Binance id."""
        base, quote = symbol.split("/")
        self.markets[base + quote] = (base, quote)
        return base + quote

    def add_candles(
        self, symbol: str, interval: str, start_ms: int, count: int, *, first_open: int = 100
    ) -> None:
        """`count` consecutive candles from `start_ms`: candle i opens at first_open+i, closes
        0.5 higher, high close+1, low open-1, volume i+1 (with 8 decimals, as Binance writes)."""
        symbol = self.market_id(symbol) if "/" in symbol else symbol  # BTC/USDT or BTCUSDT
        rows = self.candles.setdefault((symbol, interval), [])
        width = INTERVAL_MS[interval]
        for i in range(count):
            opened = Decimal(first_open + i)
            rows.append(
                [
                    start_ms + i * width,
                    f"{opened:.8f}",
                    f"{opened + Decimal('1.5'):.8f}",
                    f"{opened - 1:.8f}",
                    f"{opened + Decimal('0.5'):.8f}",
                    f"{Decimal(i + 1):.8f}",
                ]
            )
        rows.sort(key=lambda row: row[0])

    def fill(self, order_id: int | str, quantity: Decimal | None = None) -> None:
        """Fill an open order further (to `quantity` in all, or completely) at the market."""
        with self._lock:
            order = self.orders[int(order_id)]
            target = Decimal(order["origQty"]) if quantity is None else quantity
            self._execute(order, target - Decimal(order["executedQty"]))

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        query = url.query
        if method == "POST":
            length = int(request.headers.get("Content-Length") or 0)
            query = request.rfile.read(length).decode()
        params = dict(parse_qsl(query, keep_blank_values=True))
        path = url.path.removeprefix("/api/v3")
        with self._lock:
            self.requests.append((method, path, params))
        route = {
            ("GET", "/time"): self._time,
            ("GET", "/exchangeInfo"): self._exchange_info,
            ("GET", "/klines"): self._klines,
            ("POST", "/order"): self._new_order,
            ("GET", "/order"): self._get_order,
            ("DELETE", "/order"): self._cancel_order,
            ("GET", "/openOrders"): self._open_orders,
            ("GET", "/account"): self._account,
            ("GET", "/myTrades"): self._my_trades,
        }.get((method, path))
        if route is None:
            self._send(request, 404, {"code": -1, "msg": f"no route {method} {path}"})
            return
        if path in ("/order", "/openOrders", "/account", "/myTrades") and not self._signed(
            request, query
        ):
            self._send(
                request,
                401,
                {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
            )
            return
        status, body, headers = route(params)
        self._send(request, status, body, headers)

    def _signed(self, request: BaseHTTPRequestHandler, query: str) -> bool:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return False
        payload, _, signature = query.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, expected)

    @staticmethod
    def _send(request, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json;charset=UTF-8")
            request.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    # --- endpoints -----------------------------------------------------------------------------

    def _time(self, params):
        return 200, {"serverTime": int(time.time() * 1000)}, None

    def _exchange_info(self, params):
        symbols = [_market(symbol, *assets) for symbol, assets in self.markets.items()]
        body = {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }
        return 200, body, None

    def _klines(self, params):
        with self._lock:
            if self.klines_rate_limited:
                self.klines_rate_limited -= 1
                return 429, {"code": -1003, "msg": "Too many requests."}, {"Retry-After": "1"}
        rows = self.candles.get((params.get("symbol"), params.get("interval")), [])
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = min(int(params.get("limit", 500)), self.max_klines)
        width = INTERVAL_MS[params["interval"]]
        page = [row for row in rows if start <= row[0] <= end][:limit]
        body = [
            [*row, row[0] + width - 1, "0.0", 10, "0.0", "0.0", "0"]  # Binance's 12 fields
            for row in page
        ]
        return 200, body, None

    def _new_order(self, params):
        with self._lock:
            plan = self.order_plan.popleft() if self.order_plan else "fill"
            client_id = params.get("newClientOrderId")
            if any(o["clientOrderId"] == client_id for o in self.orders.values()):
                return 400, {"code": -2010, "msg": "Duplicate order sent."}, None
            if plan == "reject":
                return 400, {"code": -2010, "msg": "Filter failure: MAX_NUM_ORDERS"}, None
            if plan == "insufficient":
                msg = "Account has insufficient balance for requested action."
                return 400, {"code": -2010, "msg": msg}, None
            if plan == "unavailable":  # refused by a gateway: nothing booked
                return 503, "Service Unavailable", None
            if plan == "rate_limit":
                return 429, {"code": -1015, "msg": "Too many new orders."}, {"Retry-After": "3"}
            order = self._book(params)
            quantity = Decimal(order["origQty"])
            if plan in ("fill", "timeout_filled"):
                self._execute(order, quantity)
            elif plan == "partial":
                self._execute(order, (quantity / 2).quantize(Decimal(STEP_SIZE)))
            response = dict(order)
        if plan.startswith("timeout"):
            time.sleep(self.late_answer_seconds)
        return 200, response, None

    def _book(self, params) -> dict:
        self._next_order_id += 1
        now = int(time.time() * 1000)
        order = {
            "symbol": params["symbol"],
            "orderId": self._next_order_id,
            "orderListId": -1,
            "clientOrderId": params.get("newClientOrderId"),
            "transactTime": now,
            "time": now,
            "updateTime": now,
            "price": params.get("price", "0.00000000"),
            "origQty": params["quantity"],
            "executedQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000",
            "status": "NEW",
            "timeInForce": params.get("timeInForce", "GTC"),
            "type": params["type"],
            "side": params["side"],
            "stopPrice": params.get("stopPrice", "0.00000000"),
            "workingTime": now,
            "isWorking": True,
            "fills": [],
            "selfTradePreventionMode": "NONE",
        }
        self.orders[order["orderId"]] = order
        return order

    def _execute(self, order: dict, quantity: Decimal) -> None:
        if quantity <= 0:
            return
        price = self.market_price
        if order["type"] == "LIMIT":
            price = Decimal(order["price"])
        commission = (price * quantity * self.commission_rate).quantize(Decimal("0.00000001"))
        order["fills"].append(
            {
                "price": f"{price:.8f}",
                "qty": f"{quantity:.8f}",
                "commission": f"{commission:.8f}",
                "commissionAsset": "USDT",
                "tradeId": len(order["fills"]) + 1,
            }
        )
        executed = Decimal(order["executedQty"]) + quantity
        quote = Decimal(order["cummulativeQuoteQty"]) + price * quantity
        order["executedQty"] = f"{executed:.8f}"
        order["cummulativeQuoteQty"] = f"{quote:.8f}"
        order["status"] = "FILLED" if executed >= Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        order["updateTime"] = int(time.time() * 1000)

    def _find(self, params) -> dict | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        client_id = params.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == client_id), None)

    @staticmethod
    def _public(order: dict) -> dict:
        """GET /order's shape: the order without the fills of the POST answer."""
        return {key: value for key, value in order.items() if key not in ("fills", "transactTime")}

    def _get_order(self, params):
        with self._lock:
            order = self._find(params)
            if order is None or order["symbol"] != params.get("symbol"):
                return 400, {"code": -2013, "msg": "Order does not exist."}, None
            return 200, self._public(order), None

    def _cancel_order(self, params):
        with self._lock:
            order = self._find(params)
            if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                return 400, {"code": -2011, "msg": "Unknown order sent."}, None
            order["status"] = "CANCELED"
            return 200, self._public(order), None

    def _open_orders(self, params):
        with self._lock:
            symbol = params.get("symbol")
            return (
                200,
                [
                    self._public(o)
                    for o in self.orders.values()
                    if o["status"] in ("NEW", "PARTIALLY_FILLED") and o["symbol"] == symbol
                ],
                None,
            )

    def _my_trades(self, params):
        with self._lock:
            order = self.orders.get(int(params.get("orderId", 0)))
            if order is None or order["symbol"] != params.get("symbol"):
                return 200, [], None
            trades = [
                {
                    "symbol": order["symbol"],
                    "id": order["orderId"] * 100 + fill["tradeId"],
                    "orderId": order["orderId"],
                    "orderListId": -1,
                    "price": fill["price"],
                    "qty": fill["qty"],
                    "quoteQty": f"{Decimal(fill['price']) * Decimal(fill['qty']):.8f}",
                    "commission": fill["commission"],
                    "commissionAsset": fill["commissionAsset"],
                    "time": order["updateTime"],
                    "isBuyer": order["side"] == "BUY",
                    "isMaker": False,
                    "isBestMatch": True,
                }
                for fill in order["fills"]
            ]
            return 200, trades, None

    def _account(self, params):
        with self._lock:
            late = self.balance_timeouts > 0
            self.balance_timeouts -= late
        if late:
            time.sleep(self.late_answer_seconds)
        balances = [
            {"asset": asset, "free": free, "locked": locked}
            for asset, (free, locked) in self.balances.items()
        ]
        body = {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": True,
            "updateTime": int(time.time() * 1000),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
        }
        return 200, body, None
