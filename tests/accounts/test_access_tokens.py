"""Personal access tokens: made, listed and revoked by their owner, shown once, stored hashed,
with optional expiry and the scopes read / trade, sent as `Authorization: Bearer`."""

import datetime as dt
import hashlib

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AccessToken
from compliance.models import AuditLog
from tests.factories import StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/auth/tokens/"
STRATEGY = {
    "name": "Token strategy",
    "asset_symbol": "BTC/USDT",
    "timeframe": "1h",
    "entry_rules": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 20},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 50},
            }
        ]
    },
    "exit_rules": {},
}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_token(user, **body) -> dict:
    response = signed_in(user).post(
        TOKENS, {"name": "script", **body}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_token_is_shown_once_stored_hashed_and_works_as_bearer():
    user = UserFactory()
    StrategyFactory(user=user)
    made = make_token(user, scopes=["read"])

    secret = made["token"]
    stored = AccessToken.objects.get(pk=made["id"])
    listed = signed_in(user).get(TOKENS).json()["results"]

    assert secret.startswith("apx_") and len(secret) > 40
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(AccessToken.objects.filter(pk=stored.pk).values().get())
    assert made["prefix"] == secret[:12]
    assert [(row["id"], row["prefix"]) for row in listed] == [(made["id"], made["prefix"])]
    assert "token" not in listed[0]
    answer = bearer(secret).get("/api/v1/strategies")
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 1
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    assert AuditLog.objects.get(resource_id=stored.pk).new_values["scopes"] == ["read"]


def test_a_read_token_reads_but_cannot_write_and_a_trade_token_can():
    user = UserFactory()
    reader = bearer(make_token(user, scopes=["read"])["token"])
    trader = bearer(make_token(user, scopes=["trade"])["token"])

    refused = reader.post("/api/v1/strategies", STRATEGY, content_type="application/json")
    made = trader.post("/api/v1/strategies", STRATEGY, content_type="application/json")

    assert refused.status_code == 403
    assert "scopes" in refused.json()["detail"]
    assert made.status_code == 201
    assert trader.get("/api/v1/strategies").status_code == 200


def test_a_revoked_token_stops_working_at_once():
    user = UserFactory()
    made = make_token(user)
    assert signed_in(user).delete(f"{TOKENS}{made['id']}/").status_code == 204

    answer = bearer(made["token"]).get("/api/v1/strategies")

    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not AccessToken.objects.exists()
    assert AuditLog.objects.filter(action="delete", resource_type="access_token").exists()


def test_an_expired_token_is_refused():
    user = UserFactory()
    made = make_token(user, expires_at=(timezone.now() + dt.timedelta(hours=1)).isoformat())
    assert bearer(made["token"]).get("/api/v1/strategies").status_code == 200
    AccessToken.objects.filter(pk=made["id"]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert bearer(made["token"]).get("/api/v1/strategies").status_code == 401


def test_a_token_cannot_expire_in_the_past_or_have_unknown_or_no_scopes():
    user = UserFactory()
    client = signed_in(user)
    past = client.post(
        TOKENS,
        {"name": "x", "expires_at": "2020-01-01T00:00:00Z"},
        content_type="application/json",
    )
    unknown = client.post(
        TOKENS, {"name": "x", "scopes": ["withdraw"]}, content_type="application/json"
    )
    empty = client.post(TOKENS, {"name": "x", "scopes": []}, content_type="application/json")
    assert (past.status_code, unknown.status_code, empty.status_code) == (400, 400, 400)
    assert "expires_at" in past.json() and "scopes" in unknown.json() and "scopes" in empty.json()
    assert not AccessToken.objects.exists()


def test_a_token_of_an_inactive_user_or_a_garbled_header_is_refused():
    user = UserFactory()
    secret = make_token(user)["token"]
    assert Client(HTTP_AUTHORIZATION="Bearer").get("/api/v1/strategies").status_code == 401
    assert bearer("apx_not-a-real-token").get("/api/v1/strategies").status_code == 401
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert bearer(secret).get("/api/v1/strategies").status_code == 401


def test_a_token_cannot_manage_tokens_or_two_factor_even_with_trade_scope():
    user = UserFactory()
    trader = bearer(make_token(user, scopes=["read", "trade"])["token"])
    assert trader.get(TOKENS).status_code == 403
    assert trader.post(TOKENS, {"name": "more"}, content_type="application/json").status_code == 403
    assert trader.post("/api/v1/auth/mfa/enroll/").status_code == 403
    assert AccessToken.objects.count() == 1


def test_another_users_token_is_neither_listed_nor_revocable():
    owner, other = UserFactory(), UserFactory()
    made = make_token(owner)
    client = signed_in(other)
    assert client.get(TOKENS).json()["results"] == []
    assert client.delete(f"{TOKENS}{made['id']}/").status_code == 404
    assert AccessToken.objects.filter(pk=made["id"]).exists()


def test_tokens_need_a_signed_in_user():
    answer = Client().get(TOKENS)
    assert answer.status_code == 401
