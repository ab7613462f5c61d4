import pytest
from django.test import Client

from compliance.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_client_signs_in_with_email_and_password_and_reaches_the_api():
    user = UserFactory()
    user.set_password("a long passphrase 42")
    user.save()
    browser = Client(enforce_csrf_checks=True)
    browser.get("/api/v1/auth/login/")
    token = browser.cookies["csrftoken"].value

    response = browser.post(
        "/api/v1/auth/login/",
        {
            "username": user.email,
            "password": "a long passphrase 42",
            "csrfmiddlewaretoken": token,
            "next": "/api/v1/strategies",
        },
    )

    assert response.status_code == 302
    assert browser.get("/api/v1/strategies").status_code == 200


def test_a_client_signs_in_with_their_address_in_another_case():
    user = UserFactory(email="carol@example.com")
    user.set_password("a long passphrase 42")
    user.save()
    browser = Client()

    response = browser.post(
        "/api/v1/auth/login/",
        {"username": "Carol@EXAMPLE.com", "password": "a long passphrase 42"},
    )

    assert response.status_code == 302
    assert browser.get("/api/v1/strategies").status_code == 200


def test_a_wrong_password_is_refused():
    user = UserFactory()
    browser = Client()
    response = browser.post("/api/v1/auth/login/", {"username": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in browser.session
    assert browser.get("/api/v1/strategies").status_code == 403


def test_signing_in_and_out_is_audited_with_the_clients_address():
    user = UserFactory()
    user.set_password("a long passphrase 42")
    user.save()
    browser = Client(REMOTE_ADDR="198.51.100.23")
    browser.post(
        "/api/v1/auth/login/", {"username": user.email, "password": "a long passphrase 42"}
    )
    browser.post("/api/v1/auth/logout/")

    rows = list(AuditLog.objects.filter(user=user).order_by("id"))
    assert [row.action for row in rows] == ["login", "logout"]
    assert rows[0].ip_address == "198.51.100.23"
    assert rows[0].metadata == {"channel": "session"}
