"""Broker API keys, alerts and the profile over HTTP."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credential_encryption import decrypt_credential
from accounts.models import Alert, ApiKey
from compliance.models import AuditLog
from tests.factories import AlertFactory, ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY = {
    "name": "Main",
    "exchange": "binance",
    "api_key": "AKIA-PUBLIC-KEY-WXYZ",
    "api_secret": "s3cret-never-shown",
    "permissions": ["read", "trade"],
}
ALERT = {"symbol": "BTC/USDT", "alert_type": "price", "condition": "above", "threshold": "70000"}


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_login(user)
    return client


# --- Broker API keys ----------------------------------------------------------------------------


def test_a_broker_key_is_stored_encrypted_and_shown_by_its_last_four_only(api, user):
    response = api.post("/api/v1/api_keys", KEY, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "exchange",
        "is_testnet",
        "permissions",
        "key_last_four",
        "created_at",
    }
    assert (body["key_last_four"], body["permissions"]) == ("WXYZ", ["read", "trade"])
    stored = ApiKey.objects.get(pk=body["id"])
    assert decrypt_credential(stored.api_secret_encrypted) == KEY["api_secret"]
    listing = api.get("/api/v1/api_keys").content.decode()
    assert KEY["api_secret"] not in listing and KEY["api_key"] not in listing
    assert AuditLog.objects.filter(resource_id=stored.pk, action="api_key_created").exists()


def test_a_second_key_for_the_same_exchange_and_network_is_a_400(api):
    assert api.post("/api/v1/api_keys", KEY, format="json").status_code == 201

    response = api.post("/api/v1/api_keys", KEY, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"exchange": "mtgox"}, "exchange"),
        ({"permissions": ["read", "admin"]}, "permissions"),
        ({"permissions": ["read", "read"]}, "permissions"),
        ({"is_valid": False}, "is_valid"),
        ({"request_count": 0}, "request_count"),
        ({"user": "someone"}, "user"),
        ({"key_last_four": "ABCD"}, "key_last_four"),
    ],
)
def test_bad_or_forbidden_key_fields_are_refused_by_name(api, change, field):
    response = api.post("/api/v1/api_keys", KEY | change, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not ApiKey.objects.exists()


def test_a_key_is_deleted_by_its_owner_and_the_deletion_audited(api, user):
    key = ApiKeyFactory(user=user)

    assert api.delete(f"/api/v1/api_keys/{key.pk}").status_code == 204
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert AuditLog.objects.filter(resource_id=key.pk, action="api_key_deleted").exists()


def test_keys_filter_by_exchange(api, user):
    ApiKeyFactory(user=user, exchange="kraken")
    binance = ApiKeyFactory(user=user)

    results = api.get("/api/v1/api_keys?exchange=binance").json()["results"]

    assert [k["id"] for k in results] == [str(binance.pk)]
    assert results[0]["key_last_four"] == "TEXT"  # factory-api-key-CLEARTEXT


# --- Alerts -------------------------------------------------------------------------------------


def test_an_alert_is_created_changed_and_deleted_with_audit_rows(api, user):
    created = api.post("/api/v1/alerts", ALERT, format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/v1/alerts/{created.json()['id']}"

    changed = api.patch(url, {"threshold": "65000", "is_active": False}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["threshold"], changed.json()["is_active"]) == ("65000.00000000", False)

    assert api.delete(url).status_code == 204
    actions = list(
        AuditLog.objects.filter(resource_type="alert")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update", "delete"]
    assert not Alert.objects.exists()


def test_an_indicator_alert_needs_a_known_indicator_with_valid_parameters(api):
    body = ALERT | {"alert_type": "indicator", "condition": "crosses_above", "threshold": "70"}

    missing = api.post("/api/v1/alerts", body, format="json")
    unknown = api.post("/api/v1/alerts", body | {"indicator": "magic"}, format="json")
    bad_period = api.post(
        "/api/v1/alerts",
        body | {"indicator": "rsi", "indicator_params": {"period": 0}},
        format="json",
    )
    good = api.post(
        "/api/v1/alerts",
        body | {"indicator": "rsi", "indicator_params": {"period": 14}},
        format="json",
    )

    assert (missing.status_code, list(missing.json())) == (400, ["indicator"])
    assert (unknown.status_code, list(unknown.json())) == (400, ["indicator"])
    assert (bad_period.status_code, list(bad_period.json())) == (400, ["indicator_params"])
    assert "indicator_params.period" in bad_period.json()["indicator_params"][0]
    assert good.status_code == 201, good.json()
    hourly = api.post(
        "/api/v1/alerts",
        body | {"indicator": "rsi", "indicator_params": {"period": 14, "timeframe": "1h"}},
        format="json",
    )
    bad_timeframe = api.post(
        "/api/v1/alerts",
        body | {"indicator": "rsi", "indicator_params": {"period": 14, "timeframe": "hourly"}},
        format="json",
    )
    assert hourly.status_code == 201, hourly.json()
    assert (bad_timeframe.status_code, list(bad_timeframe.json())) == (400, ["indicator_params"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"alert_type": "sentiment"}, "alert_type"),
        ({"condition": "near"}, "condition"),
        ({"threshold": "-5"}, "threshold"),
        ({"symbol": "btc"}, "symbol"),
        ({"indicator": "sma"}, "indicator"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"is_triggered": True}, "is_triggered"),
        ({"triggered_at": "2030-01-01T00:00:00Z"}, "triggered_at"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_or_forbidden_alert_fields_are_refused_by_name(api, change, field):
    response = api.post("/api/v1/alerts", ALERT | change, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_patch_cannot_mark_an_alert_triggered(api, user):
    alert = AlertFactory(user=user)

    response = api.patch(f"/api/v1/alerts/{alert.pk}", {"is_triggered": True}, format="json")

    assert response.status_code == 400
    alert.refresh_from_db()
    assert alert.is_triggered is False


def test_alerts_filter_by_symbol_and_state(api, user):
    eth = AlertFactory(user=user, symbol="ETH/USDT")
    AlertFactory(user=user, is_active=False, symbol="ETH/USDT")
    AlertFactory(user=user)

    results = api.get("/api/v1/alerts?symbol=ETH/USDT&is_active=true").json()["results"]

    assert [a["id"] for a in results] == [str(eth.pk)]


def test_an_expiry_in_the_future_is_kept(api):
    later = (timezone.now() + dt.timedelta(days=3)).isoformat()

    response = api.post("/api/v1/alerts", ALERT | {"expires_at": later}, format="json")

    assert response.status_code == 201, response.json()


# --- Profile ------------------------------------------------------------------------------------


def test_the_profile_shows_the_signed_in_user(api, user):
    body = api.get("/api/v1/me").json()

    assert (body["id"], body["email"], body["timezone"]) == (
        str(user.pk),
        user.email,
        "Europe/Paris",
    )
    assert "password" not in body and "mfa_secret" not in body


def test_the_profile_takes_any_iana_zone_an_iso_currency_and_merges_preferences(api, user):
    response = api.patch(
        "/api/v1/me",
        {
            "timezone": "America/Argentina/Buenos_Aires",
            "preferred_currency": "USD",
            "notification_preferences": {"email_daily_summary": False},
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert (user.timezone, user.preferred_currency) == ("America/Argentina/Buenos_Aires", "USD")
    assert user.notification_preferences == {
        "email_trade_executed": True,
        "email_daily_summary": False,
        "push_price_alerts": True,
    }
    assert api.patch("/api/v1/me", {"timezone": "UTC"}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Europe/Pari"}, "timezone"),
        ({"preferred_currency": "XYZ"}, "preferred_currency"),
        ({"preferred_currency": "usd"}, "preferred_currency"),
        ({"notification_preferences": {"sms_everything": True}}, "notification_preferences"),
        ({"notification_preferences": {"email_daily_summary": "no"}}, "notification_preferences"),
        ({"notification_preferences": ["email_daily_summary"]}, "notification_preferences"),
        ({"email": "new@example.com"}, "email"),
        ({"is_verified": True}, "is_verified"),
        ({"mfa_enabled": True}, "mfa_enabled"),
        ({"is_staff": True}, "is_staff"),
        ({"password": "x"}, "password"),
    ],
)
def test_bad_or_forbidden_profile_changes_are_refused_by_name(api, user, change, field):
    response = api.patch("/api/v1/me", change, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    user.refresh_from_db()
    assert (user.timezone, user.preferred_currency, user.is_staff) == ("Europe/Paris", "EUR", False)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_of_the_same_key_store_one_and_refuse_the_other():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    user = UserFactory()
    barrier = threading.Barrier(4)

    def create(_):
        client = APIClient()
        client.force_login(user)
        barrier.wait()
        try:
            return client.post("/api/v1/api_keys", KEY, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = sorted(pool.map(create, range(4)))

    assert codes == [201, 400, 400, 400]
    assert ApiKey.objects.filter(user=user).count() == 1
