"""A fake Kraken spot REST API on 127.0.0.1, for ccxt's real kraken class to talk to.

It answers what ccxt calls for our adapter, in Kraken's own shapes (https://docs.kraken.com/api/,
and the parse code of ccxt/kraken.py): public `GET /0/public/Time`, `Assets`, `AssetPairs`
(load_markets), `OHLC` (at most 720 candles after `since`, with `last`); private `POST
/0/private/AddOrder`, `QueryOrders`, `OpenOrders`, `ClosedOrders`, `CancelOrder`, `BalanceEx`.
Every answer is HTTP 200 with `{"error": [...], "result": ...}`, as Kraken answers. Private
requests carry `API-Key` and `API-Sign` = base64(HMAC-SHA512(base64-decoded secret, URI path +
SHA256(nonce + POST body))), checked as Kraken checks them ("EAPI:Invalid key", "EAPI:Invalid
signature"). Kraken's quirks that matter to the adapter are kept: AddOrder answers only the
order's description and txid (no status, no fill), CancelOrder only a count; QueryOrders needs a
txid (a client order id is found through OpenOrders/ClosedOrders' `cl_ord_id` filter); an
unknown txid is "EOrder:Invalid order" to QueryOrders and "EOrder:Unknown order" to CancelOrder.

The test-facing side matches tests/exchanges/fake_binance.py (order_plan, market_price,
commission_rate, balances, fill, add_candles, max_candles, candles_rate_limited, placed).
"""

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

API_KEY = "factory-api-key-CLEARTEXT"
# Kraken's secrets are base64 (the signature's HMAC key is the decoded bytes).
API_SECRET = base64.b64encode(
    b"factory-kraken-private-key-CLEARTEXT-64-bytes-long-padding-0123"
).decode()
# Kraken's asset codes and our (ccxt's) names for them.
ASSETS = {
    "XXBT": ("BTC", "XBT", 10),
    "XETH": ("ETH", "ETH", 10),
    "ZUSD": ("USD", "USD", 4),
    "USDT": ("USDT", "USDT", 8),
}
KRAKEN_ASSET = {ours: code for code, (ours, _, _) in ASSETS.items()}
# pair id -> (base code, quote code, pair_decimals, lot_decimals, ordermin, costmin)
PAIRS = {
    "XBTUSDT": ("XXBT", "USDT", 1, 8, "0.00005", "0.5"),
    "ETHUSDT": ("XETH", "USDT", 2, 8, "0.002", "0.5"),
}
# cl_ord_id: a UUID (with hyphens, or 32 hex digits) or free text of at most 18 characters.
CLIENT_ORDER_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "1d": 1440}


def _altname(pair_id: str) -> str:
    return pair_id


@dataclass
class FakeKraken:
    api_key: str
    secret: str
    exchange: str = "kraken"
    market_price: Decimal = Decimal("40000.00")
    # Kraken's first fee tier for takers (0.26 %); AssetPairs lists it, so ccxt's taker agrees.
    commission_rate: Decimal = Decimal("0.0026")
    max_candles: int = 720
    # As FakeBinance: fill, partial, open, reject, insufficient, rate_limit, unavailable,
    # timeout_open, timeout_filled. Default: fill.
    order_plan: deque = field(default_factory=deque)
    candles_rate_limited: int = 0
    balance_timeouts: int = 0
    late_answer_seconds: float = 1.5
    candles: dict = field(
        default_factory=dict
    )  # (pair id, minutes) -> [[s, o, h, l, c, vwap, v, n]]
    orders: dict = field(default_factory=dict)  # txid -> order info
    balances: dict = field(
        default_factory=lambda: {"USDT": ("10000.00", "0.00"), "BTC": ("0.50000000", "0.1")}
    )
    requests: list = field(default_factory=list)  # (method, path, params)
    _next_order: int = 1000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- test-facing -----------------------------------------------------------------------

    def start(self) -> "FakeKraken":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_urls(self) -> dict[str, str]:
        host, port = self.server.server_address[:2]
        base = f"http://{host}:{port}"
        return {"public": base, "private": base}

    def calls(self, method: str, path: str) -> list[dict]:
        return [params for m, p, params in self.requests if m == method and p == path]

    def placed(self) -> list[dict]:
        """The order requests received (AddOrder), as sent."""
        return self.calls("POST", "/0/private/AddOrder")

    @staticmethod
    def market_id(symbol: str) -> str:
        base, quote = symbol.split("/")
        return f"{'XBT' if base == 'BTC' else base}{quote}"

    def add_candles(
        self, symbol: str, interval: str, start_ms: int, count: int, *, first_open: int = 100
    ) -> None:
        """As FakeBinance.add_candles (same prices and volumes), in Kraken's OHLC rows: time in
        seconds, open, high, low, close, vwap, volume, count."""
        rows = self.candles.setdefault((self.market_id(symbol), MINUTES[interval]), [])
        width = MINUTES[interval] * 60
        for i in range(count):
            opened = Decimal(first_open + i)
            close = opened + Decimal("0.5")
            rows.append(
                [
                    start_ms // 1000 + i * width,
                    f"{opened:.1f}",
                    f"{opened + Decimal('1.5'):.1f}",
                    f"{opened - 1:.1f}",
                    f"{close:.1f}",
                    f"{(opened + close) / 2:.1f}",
                    f"{Decimal(i + 1):.8f}",
                    i + 1,
                ]
            )
        rows.sort(key=lambda row: row[0])

    def fill(self, order_id: str, quantity: Decimal | None = None) -> None:
        """Fill an open order further (to `quantity` in all, or completely) at the market."""
        with self._lock:
            order = self.orders[str(order_id)]
            target = Decimal(order["vol"]) if quantity is None else quantity
            self._execute(order, target - Decimal(order["vol_exec"]))

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        body = ""
        if method == "POST":
            length = int(request.headers.get("Content-Length") or 0)
            body = request.rfile.read(length).decode()
        params = dict(parse_qsl(url.query if method == "GET" else body, keep_blank_values=True))
        with self._lock:
            self.requests.append((method, url.path, params))
        public = {
            "/0/public/Time": self._time,
            "/0/public/Assets": self._assets,
            "/0/public/AssetPairs": self._asset_pairs,
            "/0/public/OHLC": self._ohlc,
        }
        private = {
            "/0/private/AddOrder": self._add_order,
            "/0/private/QueryOrders": self._query_orders,
            "/0/private/OpenOrders": self._open_orders,
            "/0/private/ClosedOrders": self._closed_orders,
            "/0/private/CancelOrder": self._cancel_order,
            "/0/private/BalanceEx": self._balance,
        }
        if method == "GET" and url.path in public:
            errors, result = public[url.path](params)
        elif method == "POST" and url.path in private:
            failure = self._authenticate(request, url.path, body, params)
            errors, result = (failure, None) if failure else private[url.path](params)
        else:
            errors, result = ["EGeneral:Unknown method"], None
        self._send(request, {"error": errors, **({"result": result} if not errors else {})})

    def _authenticate(self, request, path: str, body: str, params: dict) -> list[str] | None:
        if request.headers.get("API-Key") != self.api_key:
            return ["EAPI:Invalid key"]
        digest = hashlib.sha256((params.get("nonce", "") + body).encode()).digest()
        try:
            key = base64.b64decode(self.secret)
        except ValueError:
            return ["EAPI:Invalid key"]
        expected = base64.b64encode(
            hmac.new(key, path.encode() + digest, hashlib.sha512).digest()
        ).decode()
        if not hmac.compare_digest(request.headers.get("API-Sign", ""), expected):
            return ["EAPI:Invalid signature"]
        return None

    @staticmethod
    def _send(request, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(200)
            request.send_header("Content-Type", "application/json; charset=utf-8")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    # --- public --------------------------------------------------------------------------------

    def _time(self, params):
        now = int(time.time())
        return [], {"unixtime": now, "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000")}

    def _assets(self, params):
        return [], {
            code: {
                "aclass": "currency",
                "altname": altname,
                "decimals": decimals,
                "display_decimals": min(decimals, 5),
                "status": "enabled",
            }
            for code, (_, altname, decimals) in ASSETS.items()
        }

    def _asset_pairs(self, params):
        taker = float(self.commission_rate * 100)
        result = {}
        for pair_id, (base, quote, pair_decimals, lot_decimals, ordermin, costmin) in PAIRS.items():
            result[pair_id] = {
                "altname": _altname(pair_id),
                "wsname": f"{ASSETS[base][1]}/{ASSETS[quote][1]}",
                "aclass_base": "currency",
                "base": base,
                "aclass_quote": "currency",
                "quote": quote,
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": pair_decimals,
                "lot_decimals": lot_decimals,
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, taker], [50000, 0.24], [100000, 0.22]],
                "fees_maker": [[0, 0.16], [50000, 0.14], [100000, 0.12]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": ordermin,
                "costmin": costmin,
                "tick_size": str(Decimal(1).scaleb(-pair_decimals)),
                "status": "online",
            }
        return [], result

    def _ohlc(self, params):
        with self._lock:
            if self.candles_rate_limited:
                self.candles_rate_limited -= 1
                return ["EGeneral:Too many requests"], None
        pair = params.get("pair")
        if pair not in PAIRS:
            return ["EQuery:Unknown asset pair"], None
        interval = int(params.get("interval", 1))
        rows = self.candles.get((pair, interval), [])
        since = int(params.get("since", 0))
        page = [row for row in rows if row[0] > since][: self.max_candles]
        last = page[-1][0] if page else since
        return [], {pair: page, "last": last}

    # --- private -------------------------------------------------------------------------------

    def _add_order(self, params):
        with self._lock:
            plan = self.order_plan.popleft() if self.order_plan else "fill"
            client_id = params.get("cl_ord_id")
            if client_id and not (len(client_id) <= 18 or CLIENT_ORDER_ID.fullmatch(client_id)):
                return ["EGeneral:Invalid arguments:cl_ord_id"], None
            if client_id and any(
                o["cl_ord_id"] == client_id and o["status"] == "open" for o in self.orders.values()
            ):  # unique among the open orders only
                return ["EOrder:Duplicate order"], None
            if params.get("pair") not in PAIRS:
                return ["EQuery:Unknown asset pair"], None
            refusal = {
                "reject": "EOrder:Orders limit exceeded",
                "insufficient": "EOrder:Insufficient funds",
                "rate_limit": "EOrder:Rate limit exceeded",
                "unavailable": "EService:Unavailable",
            }.get(plan)
            if refusal:
                return [refusal], None
            order = self._book(params)
            volume = Decimal(order["vol"])
            if plan in ("fill", "timeout_filled"):
                self._execute(order, volume)
            elif plan == "partial":
                self._execute(order, (volume / 2).quantize(Decimal("0.00000001")))
            answer = {"descr": {"order": order["descr"]["order"]}, "txid": [order["txid"]]}
        if plan.startswith("timeout"):
            time.sleep(self.late_answer_seconds)
        return [], answer

    def _book(self, params) -> dict:
        self._next_order += 1
        txid = f"O{self._next_order:05d}-FAKEK-RAKEN{self._next_order % 10}"
        kind = params["ordertype"]
        price = params.get("price", "0")
        price2 = params.get("price2", "0")
        volume = Decimal(params["volume"])
        described = {
            "market": "market",
            "limit": f"limit {price}",
            "stop-loss": f"stop loss {price}",
            "take-profit": f"take profit {price}",
            "stop-loss-limit": f"stop loss {price} -> limit {price2}",
        }[kind]
        order = {
            "txid": txid,
            "refid": None,
            "userref": 0,
            "cl_ord_id": params.get("cl_ord_id"),
            "status": "open",
            "reason": None,
            "opentm": round(time.time(), 4),
            "closetm": 0,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": _altname(params["pair"]),
                "type": params["type"],
                "ordertype": kind,
                "price": price,
                "price2": price2,
                "leverage": "none",
                "order": f"{params['type']} {volume:.8f} {params['pair']} @ {described}",
                "close": "",
            },
            "vol": f"{volume:.8f}",
            "vol_exec": "0.00000000",
            "cost": "0.00000",
            "fee": "0.00000",
            "price": "0.00000",
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": params.get("oflags") or ("fciq" if params["type"] == "buy" else "fcib"),
            "trades": [],
        }
        self.orders[txid] = order
        return order

    def _execute(self, order: dict, quantity: Decimal) -> None:
        if quantity <= 0:
            return
        price = self.market_price
        if order["descr"]["ordertype"] == "limit":
            price = Decimal(order["descr"]["price"])
        executed = Decimal(order["vol_exec"]) + quantity
        cost = Decimal(order["cost"]) + price * quantity
        fee = Decimal(order["fee"]) + (price * quantity * self.commission_rate).quantize(
            Decimal("0.00000001")
        )
        order["vol_exec"] = f"{executed:.8f}"
        order["cost"] = f"{cost:.5f}"
        order["fee"] = f"{fee:.8f}"
        order["price"] = f"{(cost / executed).quantize(Decimal('0.00001'))}"
        order["trades"].append(f"T{len(order['trades']) + 1:05d}-{order['txid'][:5]}")
        if executed >= Decimal(order["vol"]):
            order["status"] = "closed"
            order["closetm"] = round(time.time(), 4)

    @staticmethod
    def _info(order: dict, trades: bool) -> dict:
        info = {key: value for key, value in order.items() if key != "txid"}
        if not trades:
            info.pop("trades")
        return info

    def _query_orders(self, params):
        if not params.get("txid"):
            return ["EGeneral:Invalid arguments"], None
        with self._lock:
            found = {}
            for txid in params["txid"].split(","):
                if txid not in self.orders:
                    return ["EOrder:Invalid order"], None
                found[txid] = self._info(
                    self.orders[txid], str(params.get("trades")).lower() == "true"
                )
            return [], found

    def _matching(self, params, statuses: tuple[str, ...]) -> dict:
        client_id = params.get("cl_ord_id")
        return {
            txid: self._info(order, str(params.get("trades")).lower() == "true")
            for txid, order in self.orders.items()
            if order["status"] in statuses and (not client_id or order["cl_ord_id"] == client_id)
        }

    def _open_orders(self, params):
        with self._lock:
            return [], {"open": self._matching(params, ("pending", "open"))}

    def _closed_orders(self, params):
        with self._lock:
            closed = self._matching(params, ("closed", "canceled", "expired"))
            return [], {"closed": closed, "count": len(closed)}

    def _cancel_order(self, params):
        with self._lock:
            client_id = params.get("cl_ord_id")
            order = (
                next((o for o in self.orders.values() if o["cl_ord_id"] == client_id), None)
                if client_id
                else self.orders.get(params.get("txid", ""))
            )
            if order is None or order["status"] != "open":
                return ["EOrder:Unknown order"], None
            order["status"] = "canceled"
            order["closetm"] = round(time.time(), 4)
            return [], {"count": 1}

    def _balance(self, params):
        with self._lock:
            late = self.balance_timeouts > 0
            self.balance_timeouts -= late
        if late:
            time.sleep(self.late_answer_seconds)
        return [], {
            KRAKEN_ASSET.get(asset, asset): {
                "balance": f"{Decimal(free) + Decimal(held):.10f}",
                "hold_trade": f"{Decimal(held):.10f}",
            }
            for asset, (free, held) in self.balances.items()
        }
