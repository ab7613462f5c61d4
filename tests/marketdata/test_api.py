"""GET /api/v1/marketdata/candles and /ticker/{symbol}: validation, paging by time, the ticker
served from Redis."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client

from marketdata.services import TickInput, record_ticks
from tests.factories import UserFactory
from tests.marketdata.helpers import minute_candles, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
START = dt.datetime(2024, 3, 4, tzinfo=UTC)
CANDLES = "/api/v1/marketdata/candles"
D11 = Decimal("11")


@pytest.fixture
def client() -> Client:
    client = Client()
    client.force_login(UserFactory())
    return client


def test_market_data_needs_a_signed_in_user(symbol: str) -> None:
    response = Client().get(CANDLES, {"symbol": symbol, "timeframe": "1m"})

    assert response.status_code == 401


def test_one_minute_candles_are_served_as_decimal_strings(client: Client, symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 3))

    response = client.get(
        CANDLES,
        {"symbol": symbol, "timeframe": "1m", "start": "2024-03-04T00:00:00Z",
         "end": "2024-03-05T00:00:00Z"},
    )  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None
    assert body["candles"][0] == {
        "time": "2024-03-04T00:00:00Z",
        "open": "100.00000000",
        "high": "101.50000000",
        "low": "99.00000000",
        "close": "100.50000000",
        "volume": "1.00000000",
        "candle_count": 1,
    }


def test_pages_follow_each_other_by_time(client: Client, symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 10))
    params = {"symbol": symbol, "timeframe": "1m", "start": "2024-03-04T00:00:00Z",
              "end": "2024-03-04T01:00:00Z", "limit": 4}  # fmt: skip

    times = []
    url, query = CANDLES, params
    while url:
        body = client.get(url, query).json()
        times += [candle["time"] for candle in body["candles"]]
        url, query = body["next"], None

    assert times == [f"2024-03-04T00:0{m}:00Z" for m in range(10)]


def test_without_start_the_latest_candles_before_end_are_served(
    client: Client, symbol: str
) -> None:
    write_minutes(symbol, minute_candles(START, 10))

    body = client.get(
        CANDLES, {"symbol": symbol, "timeframe": "5m", "end": "2024-03-04T00:10:00Z", "limit": 1}
    ).json()

    assert [candle["time"] for candle in body["candles"]] == ["2024-03-04T00:05:00Z"]
    assert body["candles"][0]["candle_count"] == 5


def test_without_start_an_end_inside_a_bucket_includes_that_bucket(
    client: Client, symbol: str
) -> None:
    # As with the default end (now), which is never on a boundary: the current candle is served.
    write_minutes(symbol, minute_candles(START - dt.timedelta(minutes=10), 20))

    body = client.get(
        CANDLES, {"symbol": symbol, "timeframe": "5m", "end": "2024-03-04T00:07:30Z", "limit": 2}
    ).json()

    assert [candle["time"] for candle in body["candles"]] == [
        "2024-03-04T00:00:00Z",
        "2024-03-04T00:05:00Z",
    ]
    assert body["candles"][1]["candle_count"] == 5  # a bucket is served whole once it starts
    assert body["next"] is None


@pytest.mark.parametrize(("timeframe", "limit"), [("99M", 500), ("50M", 5000), ("1w", 5000)])
def test_without_start_a_long_reach_back_stops_at_1970(
    client: Client, symbol: str, timeframe: str, limit: int
) -> None:
    write_minutes(symbol, minute_candles(START, 3))

    response = client.get(CANDLES, {"symbol": symbol, "timeframe": timeframe, "limit": limit})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["start"].startswith("1970-01-01")
    assert body["count"] == 1


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"symbol": "btc-usdt", "timeframe": "1m"}, "symbol", "BASE/QUOTE"),
        ({"timeframe": "1m"}, "symbol", "required"),
        ({"symbol": "BTC/USDT", "timeframe": "7x"}, "timeframe", "timeframe such as"),
        ({"symbol": "BTC/USDT", "timeframe": "1m", "start": "soon"}, "start", "format"),
        (
            {"symbol": "BTC/USDT", "timeframe": "1m", "start": "2024-03-05", "end": "2024-03-04"},
            "end",
            "later than start",
        ),
        ({"symbol": "BTC/USDT", "timeframe": "1m", "limit": "0"}, "limit", "greater than"),
        ({"symbol": "BTC/USDT", "timeframe": "1m", "limit": "100000"}, "limit", "less than"),
        ({"symbol": "BTC/USDT", "timeframe": "1h", "end": "9999-12-31T23:30:00Z"}, "end", "1970"),
        ({"symbol": "BTC/USDT", "timeframe": "1h", "start": "1969-12-31"}, "start", "1970"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(
    client: Client, params: dict, field: str, message: str
) -> None:
    response = client.get(CANDLES, params)

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


@pytest.mark.parametrize("path_symbol", ["BTC/USDT", "%20BTC/USDT"])  # the check trims
def test_the_ticker_is_served_from_redis(client: Client, path_symbol: str) -> None:
    cache.set(
        "cache:ticker:BTC/USDT",
        {"symbol": "BTC/USDT", "price": "42000.5", "time": "2024-03-04T00:00:00+00:00",
         "origin": "tick", "bid": None, "ask": None},
    )  # fmt: skip

    response = client.get(f"/api/v1/marketdata/ticker/{path_symbol}")

    assert response.status_code == 200
    assert response.json()["price"] == "42000.5"


def test_ticks_and_candles_keep_the_ticker_fresh(
    client: Client, symbol: str, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(using="timeseries", execute=True):
        record_ticks(
            ticks=[
                TickInput(time=START, symbol=symbol, last_price=Decimal("10")),
                TickInput(time=START + dt.timedelta(seconds=1), symbol=symbol, last_price=D11),
            ]
        )
    ticker = client.get(f"/api/v1/marketdata/ticker/{symbol}").json()
    assert ticker["price"] == "11.00000000"
    assert ticker["origin"] == "tick"

    with django_capture_on_commit_callbacks(using="timeseries", execute=True):
        write_minutes(symbol, minute_candles(START + dt.timedelta(minutes=5), 1))

    ticker = client.get(f"/api/v1/marketdata/ticker/{symbol}").json()
    assert (ticker["price"], ticker["origin"]) == ("100.50000000", "candle")


def test_without_a_cached_price_the_ticker_falls_back_to_the_latest_candle(
    client: Client, symbol: str
) -> None:
    write_minutes(symbol, minute_candles(START, 2))
    cache.delete(f"cache:ticker:{symbol}")  # (cache.clear() would end the session too)

    response = client.get(f"/api/v1/marketdata/ticker/{symbol}")

    assert response.json()["price"] == "101.50000000"
    assert cache.get(f"cache:ticker:{symbol}")["price"] == "101.50000000"


def test_the_ticker_of_an_unknown_symbol_is_404_and_of_a_bad_one_400(client: Client) -> None:
    assert client.get("/api/v1/marketdata/ticker/NOPE/USDT").status_code == 404
    response = client.get("/api/v1/marketdata/ticker/nope")
    assert response.status_code == 400
    assert "symbol" in response.json()
