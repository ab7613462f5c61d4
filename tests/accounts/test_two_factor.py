"""TOTP two-factor: enrolment with a provisioning URI, confirmed by a code; then every password
sign-in (API and admin) needs a code or a single-use recovery code; the secret is encrypted at
rest."""

import importlib
import re
import time

import pyotp
import pytest
from django.apps import apps
from django.core import mail
from django.test import Client

from accounts.credential_encryption import decrypt_text_secret, encrypt_text_secret
from accounts.models import MfaRecoveryCode, User
from accounts.security.two_factor import TOTP_STEP_SECONDS
from compliance.models import AuditLog
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


def code_of(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + steps_from_now * TOTP_STEP_SECONDS)


def enrolled(user: User) -> tuple[str, list[str]]:
    """Turn two-factor on for the user through the API; returns the secret and recovery codes."""
    client = Client()
    client.force_login(user)
    enrolment = post(client, "/api/v1/auth/mfa/enroll/").json()
    # A code of the previous step: the current one stays unused for the test's own sign-in.
    confirmed = post(
        client, "/api/v1/auth/mfa/confirm/", {"code": code_of(enrolment["secret"], -1)}
    )
    assert confirmed.status_code == 200, confirmed.content
    return enrolment["secret"], confirmed.json()["recovery_codes"]


def test_enrolment_gives_a_provisioning_uri_and_a_first_code_turns_two_factor_on():
    user = UserFactory(email="erin@example.com")
    client = Client()
    client.force_login(user)

    enrolment = post(client, "/api/v1/auth/mfa/enroll/")
    secret = enrolment.json()["secret"]
    wrong = post(client, "/api/v1/auth/mfa/confirm/", {"code": "000000"})
    user.refresh_from_db()
    still_off = user.mfa_enabled
    confirmed = post(client, "/api/v1/auth/mfa/confirm/", {"code": code_of(secret)})

    assert enrolment.status_code == 201
    uri = enrolment.json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/ApexTrade:erin%40example.com?secret=")
    assert f"secret={secret}" in uri and "issuer=ApexTrade" in uri
    assert wrong.status_code == 400 and still_off is False
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    user.refresh_from_db()
    assert user.mfa_enabled is True
    assert client.get("/api/v1/auth/mfa/").json() == {"enabled": True, "recovery_codes_left": 10}
    audit = AuditLog.objects.filter(
        resource_id=user.pk, action="settings_changed", resource_type="user"
    ).order_by("chain_seq")
    # Through audited_update: what changed, old and new; the secret only as set, never its value.
    assert [(row.old_values, row.new_values) for row in audit] == [
        ({"mfa_secret": None}, {"mfa_secret": "[redacted]"}),
        ({"mfa_enabled": False}, {"mfa_enabled": True}),
    ]
    assert [row.metadata.get("mfa") for row in audit] == ["enrolment", None]
    user.refresh_from_db()
    assert all(
        secret not in str(row.new_values) and user.mfa_secret not in str(row.new_values)
        for row in audit
    )


def test_the_secret_is_stored_encrypted_and_recovery_codes_hashed():
    user = UserFactory()
    secret, codes = enrolled(user)
    user.refresh_from_db()
    assert user.mfa_secret != secret and secret not in user.mfa_secret
    assert user.mfa_secret.startswith("gAAAAA")
    assert decrypt_text_secret(user.mfa_secret) == secret
    stored = set(MfaRecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not stored & set(codes)


def test_after_enrolment_a_password_sign_in_needs_a_code_that_works_once():
    user = UserFactory()
    secret, _ = enrolled(user)
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}

    without = post(Client(), LOGIN, credentials)
    wrong = post(Client(), LOGIN, {**credentials, "otp_code": "123456"})
    client = Client()
    right = post(client, LOGIN, {**credentials, "otp_code": code_of(secret)})
    replayed = post(Client(), LOGIN, {**credentials, "otp_code": code_of(secret)})

    assert without.status_code == 400
    assert "Two-factor authentication is on" in without.json()["otp_code"][0]
    assert wrong.status_code == 400
    assert right.status_code == 200
    assert client.get("/api/v1/strategies").status_code == 200
    assert replayed.status_code == 400
    reasons = list(
        AuditLog.objects.filter(resource_id=user.pk, metadata__outcome="failed")
        .order_by("id")
        .values_list("metadata__reason", flat=True)
    )
    assert reasons == ["second_factor_required", "invalid_second_factor", "invalid_second_factor"]


def test_a_recovery_code_signs_in_once():
    user = UserFactory()
    _, codes = enrolled(user)
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}

    first = post(Client(), LOGIN, {**credentials, "recovery_code": codes[3].upper()})
    again = post(Client(), LOGIN, {**credentials, "recovery_code": codes[3]})
    other = post(Client(), LOGIN, {**credentials, "recovery_code": codes[4]})

    assert (first.status_code, again.status_code, other.status_code) == (200, 400, 200)
    assert MfaRecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 8


def test_wrong_codes_count_as_failed_attempts_and_a_missing_one_forgives_nothing(settings):
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    user = UserFactory()
    enrolled(user)
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}
    answers = []
    for _ in range(3):
        answers.append(post(Client(), LOGIN, {**credentials, "otp_code": "000000"}).status_code)
        answers.append(post(Client(), LOGIN, credentials).status_code)
    assert answers == [400, 400, 400, 400, 400, 429]


def test_the_admin_login_needs_the_code_too():
    operator = OperatorFactory()
    secret, codes = enrolled(operator)

    without = Client().post(
        "/admin/login/", {"username": operator.email, "password": DEFAULT_PASSWORD}
    )
    browser = Client()
    with_code = browser.post(
        "/admin/login/?next=/admin/",
        {"username": operator.email, "password": DEFAULT_PASSWORD, "otp_code": code_of(secret)},
    )
    recovery = Client().post(
        "/admin/login/",
        {"username": operator.email, "password": DEFAULT_PASSWORD, "otp_code": codes[0]},
    )

    assert without.status_code == 200
    assert "Two-factor authentication is on" in without.content.decode()
    assert 'name="otp_code"' in without.content.decode()
    assert with_code.status_code == 302
    assert browser.get("/admin/").status_code == 200
    assert recovery.status_code == 302


def test_turning_two_factor_off_needs_the_password_and_a_code():
    user = UserFactory()
    secret, _ = enrolled(user)
    client = Client()
    client.force_login(user)

    no_code = post(client, "/api/v1/auth/mfa/disable/", {"password": DEFAULT_PASSWORD})
    off = post(
        client,
        "/api/v1/auth/mfa/disable/",
        {"password": DEFAULT_PASSWORD, "otp_code": code_of(secret)},
    )

    assert no_code.status_code == 400
    assert off.status_code == 204
    user.refresh_from_db()
    assert (user.mfa_enabled, user.mfa_secret) == (False, None)
    assert not MfaRecoveryCode.objects.filter(user=user).exists()
    row = AuditLog.objects.filter(resource_id=user.pk, action="settings_changed").latest(
        "chain_seq"
    )
    assert (row.old_values, row.new_values) == (
        {"mfa_enabled": True, "mfa_secret": "[redacted]"},
        {"mfa_enabled": False, "mfa_secret": None},
    )
    assert (
        post(Client(), LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).status_code
        == 200
    )


def test_new_recovery_codes_replace_the_old_ones():
    user = UserFactory()
    secret, old = enrolled(user)
    client = Client()
    client.force_login(user)
    renewed = post(
        client,
        "/api/v1/auth/mfa/recovery-codes/",
        {"password": DEFAULT_PASSWORD, "otp_code": code_of(secret)},
    )
    assert renewed.status_code == 200
    new = renewed.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}
    assert post(Client(), LOGIN, {**credentials, "recovery_code": old[0]}).status_code == 400
    assert post(Client(), LOGIN, {**credentials, "recovery_code": new[0]}).status_code == 200


def test_enrolling_twice_is_a_conflict_once_two_factor_is_on():
    user = UserFactory()
    enrolled(user)
    client = Client()
    client.force_login(user)
    assert post(client, "/api/v1/auth/mfa/enroll/").status_code == 409


def test_the_data_migration_encrypts_clear_secrets_and_leaves_encrypted_ones():
    clear = UserFactory(mfa_secret="JBSWY3DPEHPK3PXP")
    already = UserFactory(mfa_secret=encrypt_text_secret("KRSXG5CTMVRXEZLU"))
    migration = importlib.import_module("accounts.migrations.0007_encrypt_mfa_secrets")

    migration.encrypt_clear_secrets(apps, None)

    clear.refresh_from_db()
    already.refresh_from_db()
    assert decrypt_text_secret(clear.mfa_secret) == "JBSWY3DPEHPK3PXP"
    assert decrypt_text_secret(already.mfa_secret) == "KRSXG5CTMVRXEZLU"
    migration.decrypt_secrets(apps, None)
    clear.refresh_from_db()
    assert clear.mfa_secret == "JBSWY3DPEHPK3PXP"


def test_registration_to_a_verified_sign_in_with_two_factor_and_recovery_codes():
    credentials = {"email": "frank@example.com", "password": "a long passphrase 42"}
    client = Client()
    assert post(client, "/api/v1/auth/register/", credentials).status_code == 201
    link = re.search(r"http://\S+", mail.outbox[0].body).group(0)
    assert client.get(link.split("8000", 1)[1]).status_code == 200
    assert post(client, LOGIN, credentials).status_code == 200
    secret = post(client, "/api/v1/auth/mfa/enroll/").json()["secret"]
    codes = post(client, "/api/v1/auth/mfa/confirm/", {"code": code_of(secret, -1)}).json()[
        "recovery_codes"
    ]
    assert post(client, "/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/strategies").status_code == 401

    assert post(client, LOGIN, credentials).status_code == 400
    assert post(client, LOGIN, {**credentials, "otp_code": code_of(secret)}).status_code == 200
    post(client, "/api/v1/auth/logout/")
    assert post(client, LOGIN, {**credentials, "recovery_code": codes[0]}).status_code == 200
    assert client.get("/api/v1/strategies").status_code == 200
    assert post(Client(), LOGIN, {**credentials, "recovery_code": codes[0]}).status_code == 400


def test_the_browsable_api_offers_a_sign_in_form():
    page = Client().get(LOGIN, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="email"' in body and 'name="otp_code"' in body
