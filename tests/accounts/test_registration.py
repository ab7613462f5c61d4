"""Registration, email verification by a signed, expiring link, and password change and reset,
through the API (emails in django.core.mail.outbox: the test email backend)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail, signing
from django.test import Client

from accounts.models import User
from accounts.security.registration import VERIFICATION_SALT
from compliance.models import AuditLog
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 77"


def post(client: Client, path: str, body: dict):
    return client.post(path, body, content_type="application/json")


def link_in(message: mail.EmailMessage) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def test_registration_sends_a_link_that_verifies_the_address_and_then_sign_in_works(settings):
    settings.PUBLIC_BASE_URL = "https://apextrade.example"
    client = Client()

    registered = post(
        client,
        "/api/v1/auth/register/",
        {"email": "Dana@Example.com", "password": "a long passphrase 42", "first_name": "Dana"},
    )
    refused = post(
        client,
        "/api/v1/auth/login/",
        {"email": "dana@example.com", "password": "a long passphrase 42"},
    )

    assert registered.status_code == 201
    assert registered.json()["is_verified"] is False
    assert refused.status_code == 403
    assert "Verify your email address first" in refused.json()["detail"]
    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    link = link_in(message)
    assert link.startswith("https://apextrade.example/api/v1/auth/verify-email/?token=")

    verified = client.get(link.removeprefix("https://apextrade.example"))
    signed_in = post(
        client,
        "/api/v1/auth/login/",
        {"email": "dana@example.com", "password": "a long passphrase 42"},
    )

    assert verified.status_code == 200
    assert verified.json()["is_verified"] is True
    user = User.objects.get(email="dana@example.com")
    assert user.is_verified and user.verified_at is not None
    assert signed_in.status_code == 200
    assert client.get("/api/v1/strategies").status_code == 200
    actions = list(
        AuditLog.objects.filter(resource_id=user.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["register", "login", "update", "login"]


def test_registration_refuses_a_weak_password_and_a_taken_address_with_field_errors():
    UserFactory(email="taken@example.com")
    weak = post(
        Client(), "/api/v1/auth/register/", {"email": "new@example.com", "password": "12345678"}
    )
    taken = post(
        Client(),
        "/api/v1/auth/register/",
        {"email": "TAKEN@example.com", "password": "a long passphrase 42"},
    )
    assert weak.status_code == 400
    assert "This password is too common." in weak.json()["password"]
    assert taken.status_code == 400
    assert "email" in taken.json()
    assert not mail.outbox


def test_a_verification_link_that_expired_or_was_tampered_with_is_refused(settings):
    user = UserFactory(is_verified=False)
    expired = signing.dumps({"user": str(user.pk), "email": user.email}, salt=VERIFICATION_SALT)
    settings.EMAIL_VERIFICATION_MAX_AGE = -1

    answer = Client().get("/api/v1/auth/verify-email/", {"token": expired})
    tampered = Client().get("/api/v1/auth/verify-email/", {"token": expired[:-2] + "xx"})

    assert answer.status_code == 400
    assert answer.json()["token"] == ["The link has expired; ask for a new one."]
    assert tampered.status_code == 400
    user.refresh_from_db()
    assert user.is_verified is False


def test_a_link_for_an_address_the_account_no_longer_has_is_refused():
    user = UserFactory(is_verified=False)
    token = signing.dumps(
        {"user": str(user.pk), "email": "old@example.com"}, salt=VERIFICATION_SALT
    )
    assert Client().post("/api/v1/auth/verify-email/", {"token": token}).status_code == 400


def test_a_new_link_is_sent_only_to_an_unverified_account_and_the_answer_says_nothing():
    unverified = UserFactory(is_verified=False)
    verified = UserFactory()
    answers = [
        post(Client(), "/api/v1/auth/verify-email/resend/", {"email": email}).status_code
        for email in (unverified.email, verified.email, "nobody@example.com")
    ]
    assert answers == [202, 202, 202]
    assert [message.to for message in mail.outbox] == [[unverified.email]]


def test_account_requests_from_one_address_are_limited(settings):
    settings.ACCOUNT_REQUESTS_PER_ADDRESS = 2
    answers = [
        post(Client(), "/api/v1/auth/password/reset/", {"email": "x@example.com"}) for _ in range(3)
    ]
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert int(answers[2]["Retry-After"]) > 0


def test_a_signed_in_user_changes_their_password_and_stays_signed_in():
    user = UserFactory()
    client = Client()
    client.force_login(user)

    wrong = post(
        client,
        "/api/v1/auth/password/change/",
        {"current_password": "not it", "new_password": NEW_PASSWORD},
    )
    weak = post(
        client,
        "/api/v1/auth/password/change/",
        {"current_password": DEFAULT_PASSWORD, "new_password": "short"},
    )
    changed = post(
        client,
        "/api/v1/auth/password/change/",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert wrong.status_code == 400 and "current_password" in wrong.json()
    assert weak.status_code == 400 and "new_password" in weak.json()
    assert changed.status_code == 204
    assert client.get("/api/v1/strategies").status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    row = AuditLog.objects.filter(resource_id=user.pk, action="settings_changed").get()
    # That it changed and how, never the hash.
    assert (row.old_values, row.new_values) == (
        {"password": "[redacted]"},
        {"password": "[redacted]"},
    )
    assert row.metadata["password_set"] == "changed"
    assert user.password not in str(row.old_values) + str(row.new_values)


def test_a_password_reset_link_sets_a_new_password_once():
    user = UserFactory()
    assert (
        post(Client(), "/api/v1/auth/password/reset/", {"email": user.email.upper()}).status_code
        == 202
    )
    [message] = mail.outbox
    query = parse_qs(urlsplit(link_in(message)).query)
    body = {"uid": query["uid"][0], "token": query["token"][0], "new_password": NEW_PASSWORD}

    first = post(Client(), "/api/v1/auth/password/reset/confirm/", body)
    again = post(
        Client(),
        "/api/v1/auth/password/reset/confirm/",
        {**body, "new_password": "another passphrase 99"},
    )
    signed_in = post(
        Client(), "/api/v1/auth/login/", {"email": user.email, "password": NEW_PASSWORD}
    )

    assert first.status_code == 204
    assert again.status_code == 400
    assert again.json()["token"] == [
        "The reset link is not valid or has expired; ask for a new one."
    ]
    assert signed_in.status_code == 200


def test_a_reset_token_expires(settings):
    user = UserFactory()
    post(Client(), "/api/v1/auth/password/reset/", {"email": user.email})
    query = parse_qs(urlsplit(link_in(mail.outbox[0])).query)
    settings.PASSWORD_RESET_TIMEOUT = -1
    answer = post(
        Client(),
        "/api/v1/auth/password/reset/confirm/",
        {"uid": query["uid"][0], "token": query["token"][0], "new_password": NEW_PASSWORD},
    )
    assert answer.status_code == 400
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_no_reset_email_for_an_unknown_address_and_the_same_answer():
    answer = post(Client(), "/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    assert answer.status_code == 202
    assert not mail.outbox


def test_a_mail_server_that_is_down_does_not_fail_the_registration(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2

    answer = post(
        Client(),
        "/api/v1/auth/register/",
        {"email": "gus@example.com", "password": "a long passphrase 42"},
    )

    assert answer.status_code == 201
    assert User.objects.filter(email="gus@example.com", is_verified=False).exists()
