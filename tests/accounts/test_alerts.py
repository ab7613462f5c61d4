"""Alert evaluation: every condition (crossings need the previous value), each alert type,
recurring alerts re-arming, expiry, and notifications by email and webhook."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from accounts import alert_feed
from accounts.alert_notifications import notify_alert
from accounts.alerts import MarketUpdate, Reading, evaluate_alerts
from marketdata.services import CandleInput, upsert_candles
from tests.factories import AlertFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

D = Decimal
SYMBOL = "BTC/USDT"
T0 = timezone.now()


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def price(current: str, previous: str | None = None, seconds: int = 1):
    update = MarketUpdate(
        symbol=SYMBOL,
        at=at(seconds),
        price=Reading(D(current), None if previous is None else D(previous)),
    )
    return {t.id for t in evaluate_alerts(update)}


@pytest.mark.parametrize(
    ("condition", "previous", "current", "fires"),
    [
        ("above", None, "101", True),
        ("above", None, "100", False),
        ("below", None, "99", True),
        ("below", None, "100", False),
        ("crosses_above", "99", "101", True),
        ("crosses_above", "100", "100.5", True),
        ("crosses_above", "101", "102", False),  # already above: no crossing
        ("crosses_above", None, "101", False),  # no previous price: cannot say
        ("crosses_above", "101", "99", False),
        ("crosses_below", "101", "99", True),
        ("crosses_below", "99", "98", False),
        ("crosses_below", None, "99", False),
        ("equals", None, "100", True),
        ("equals", None, "100.00000001", False),
        ("equals", "99", "101", True),  # moved through it
        ("equals", "101", "99.5", True),
        ("equals", "101", "102", False),
    ],
)
def test_each_price_condition(condition, previous, current, fires):
    alert = AlertFactory(condition=condition, threshold=D("100"))
    assert (alert.pk in price(current, previous)) is fires
    alert.refresh_from_db()
    assert alert.is_triggered is fires
    assert (alert.triggered_at is not None) is fires


def test_only_the_updated_symbols_alerts_are_evaluated():
    other = AlertFactory(symbol="ETH/USDT", condition="above", threshold=D("1"))
    assert price("500") == set()
    other.refresh_from_db()
    assert other.is_triggered is False


def test_a_one_shot_alert_fires_once():
    alert = AlertFactory(condition="above", threshold=D("100"))
    assert price("101", seconds=1) == {alert.pk}
    assert price("102", "101", seconds=2) == set()
    assert price("99", "102", seconds=3) == set()
    assert price("103", "99", seconds=4) == set()


def test_a_recurring_level_alert_re_arms_when_its_condition_stops_holding():
    alert = AlertFactory(condition="above", threshold=D("100"), is_recurring=True)
    assert price("101", seconds=1) == {alert.pk}
    assert price("102", "101", seconds=2) == set()  # still above: not again
    assert price("99", "102", seconds=3) == set()  # re-armed
    alert.refresh_from_db()
    assert alert.is_triggered is False
    assert price("105", "99", seconds=4) == {alert.pk}
    alert.refresh_from_db()
    assert alert.triggered_at == at(4)


def test_a_recurring_crossing_alert_fires_at_each_crossing():
    alert = AlertFactory(condition="crosses_below", threshold=D("100"), is_recurring=True)
    assert price("99", "101", seconds=1) == {alert.pk}
    assert price("98", "99", seconds=2) == set()
    assert price("101", "98", seconds=3) == set()
    assert price("97", "101", seconds=4) == {alert.pk}


def test_a_redelivered_update_does_not_fire_a_recurring_alert_twice():
    alert = AlertFactory(condition="crosses_below", threshold=D("100"), is_recurring=True)
    assert price("99", "101", seconds=1) == {alert.pk}
    assert price("99", "101", seconds=1) == set()


def test_an_expired_alert_stops():
    alert = AlertFactory(condition="above", threshold=D("100"), expires_at=at(5))
    assert price("99", seconds=1) == set()
    assert price("150", "99", seconds=6) == set()
    alert.refresh_from_db()
    assert alert.is_active is False and alert.is_triggered is False


@pytest.mark.parametrize(
    ("alert_type", "reading", "fires"),
    [
        ("volume", Reading(D("5000"), D("1")), True),
        ("volume", Reading(D("10"), D("5000")), False),
        ("change_pct", Reading(D("6.5"), D("1")), True),
        ("change_pct", Reading(D("4"), D("1")), False),
    ],
)
def test_volume_and_change_alerts_compare_their_own_metric(alert_type, reading, fires):
    alert = AlertFactory(alert_type=alert_type, condition="crosses_above", threshold=D("5"))
    AlertFactory(alert_type="price", condition="above", threshold=D("1000000"))
    update = MarketUpdate(symbol=SYMBOL, at=at(1), **{alert_type: reading})
    fired = {t.id: t.value for t in evaluate_alerts(update)}
    assert (alert.pk in fired) is fires
    if fires:
        assert fired[alert.pk] == reading.current


def _minute_candles(closes, volumes=None, start=None):
    start = start or dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    volumes = volumes or [D("1")] * len(closes)
    return [
        CandleInput(
            time=start + dt.timedelta(minutes=i),
            open=D(c),
            high=D(c),
            low=D(c),
            close=D(c),
            volume=v,
        )
        for i, (c, v) in enumerate(zip(closes, volumes, strict=True))
    ]


def test_indicator_and_volume_alerts_fire_on_a_closed_candle():
    closes = ["100"] * 10 + ["110"]  # sma(5): 100 on the 10th bar, 102 on the 11th
    upsert_candles(
        symbol=SYMBOL,
        timeframe="1m",
        candles=_minute_candles(closes, [D("1")] * 10 + [D("50")]),
    )
    sma_alert = AlertFactory(
        alert_type="indicator",
        indicator="sma",
        indicator_params={"period": 5},
        condition="crosses_above",
        threshold=D("101"),
    )
    other_period = AlertFactory(
        alert_type="indicator",
        indicator="sma",
        indicator_params={"period": 10},
        condition="crosses_above",
        threshold=D("101.5"),
    )
    volume_alert = AlertFactory(alert_type="volume", condition="above", threshold=D("20"))
    start = dt.datetime(2026, 11, 30, 0, 10, tzinfo=dt.UTC)
    fired = alert_feed.on_candle_closed(
        symbol=SYMBOL, timeframe="1m", time=start, close_at=start + dt.timedelta(minutes=1)
    )
    values = {t.id: t.value for t in fired}
    assert values[sma_alert.pk] == D("102")
    assert values[volume_alert.pk] == D("50")
    assert other_period.pk not in values  # sma(10) is 101


def test_indicator_alerts_follow_their_own_timeframe():
    upsert_candles(
        symbol=SYMBOL,
        timeframe="1m",
        candles=_minute_candles(["100"] * 10 + ["110"], [D("1")] * 10 + [D("50")]),
    )
    hourly = AlertFactory(
        alert_type="indicator",
        indicator="sma",
        indicator_params={"period": 5, "timeframe": "1h"},
        condition="above",
        threshold=D("1"),
    )
    start = dt.datetime(2026, 11, 30, 0, 10, tzinfo=dt.UTC)
    fired = alert_feed.on_candle_closed(
        symbol=SYMBOL, timeframe="1m", time=start, close_at=start + dt.timedelta(minutes=1)
    )
    assert hourly.pk not in {t.id for t in fired}


def test_the_previous_price_is_remembered_between_updates_for_crossings():
    alert = AlertFactory(condition="crosses_above", threshold=D("100"))
    assert alert_feed.on_price(symbol=SYMBOL, price=D("99"), at=at(1)) == []
    fired = alert_feed.on_price(symbol=SYMBOL, price=D("101"), at=at(2))
    assert [t.id for t in fired] == [alert.pk]


def test_change_pct_is_taken_against_the_price_a_day_before():
    day_before = (at(0) - dt.timedelta(days=1, minutes=2)).replace(second=0, microsecond=0)
    upsert_candles(
        symbol=SYMBOL, timeframe="1m", candles=_minute_candles(["100"], start=day_before)
    )
    alert = AlertFactory(alert_type="change_pct", condition="above", threshold=D("10"))
    assert alert_feed.on_price(symbol=SYMBOL, price=D("109"), at=at(1)) == []
    fired = alert_feed.on_price(symbol=SYMBOL, price=D("111"), at=at(2))
    assert [(t.id, t.value) for t in fired] == [(alert.pk, D("11"))]


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_url():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_a_fired_alert_notifies_by_email_and_webhook_once(webhook_url):
    user = UserFactory(
        notification_preferences={"push_price_alerts": True, "alert_webhook_url": webhook_url}
    )
    alert = AlertFactory(user=user, condition="above", threshold=D("100"), message="BTC up")
    price("101")
    alert.refresh_from_db()
    stamp = alert.triggered_at.isoformat()
    assert notify_alert(alert_id=alert.pk, triggered_at=stamp) == ["email", "webhook"]
    assert notify_alert(alert_id=alert.pk, triggered_at=stamp) == []  # redelivered
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    assert mail.outbox[0].body == "BTC up"
    assert len(_Hook.received) == 1
    assert _Hook.received[0]["alert_id"] == str(alert.pk)
    assert _Hook.received[0]["threshold"] == "100.00000000"


def test_preferences_and_the_alerts_switches_choose_the_channels(webhook_url):
    user = UserFactory(
        notification_preferences={"email_price_alerts": False, "alert_webhook_url": webhook_url}
    )
    muted = AlertFactory(user=user, condition="above", threshold=D("1"), notify_push=False)
    price("101")
    muted.refresh_from_db()
    assert notify_alert(alert_id=muted.pk, triggered_at=muted.triggered_at.isoformat()) == []
    assert mail.outbox == [] and _Hook.received == []
