import pytest
from django.test import Client

from compliance.models import AuditLog
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"


def test_a_client_signs_in_with_a_json_body_and_reaches_the_api():
    user = UserFactory()
    client = Client()

    response = client.post(
        LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["email"] == user.email
    assert client.get("/api/v1/strategies").status_code == 200


def test_a_browser_signs_in_with_the_form_and_its_csrf_token_and_goes_to_next():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.get(LOGIN)
    token = browser.cookies["csrftoken"].value

    response = browser.post(
        f"{LOGIN}?next=/api/v1/strategies",
        {"email": user.email, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    assert response.url == "/api/v1/strategies"
    assert browser.get("/api/v1/strategies").status_code == 200


def test_a_form_sign_in_without_the_csrf_token_is_refused():
    user = UserFactory()
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert browser.get("/api/v1/strategies").status_code == 401


def test_next_pointing_to_another_site_is_not_followed():
    user = UserFactory()
    response = Client().post(
        f"{LOGIN}?next=https://evil.example/",
        {"email": user.email, "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 200


def test_a_client_signs_in_with_their_address_in_another_case():
    UserFactory(email="carol@example.com")
    client = Client()

    response = client.post(
        LOGIN,
        {"email": "Carol@EXAMPLE.com", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert client.get("/api/v1/strategies").status_code == 200


def test_a_wrong_password_is_refused_and_leaves_that_client_signed_out():
    user = UserFactory()
    client = Client()

    response = client.post(
        LOGIN, {"email": user.email, "password": "wrong"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["non_field_errors"] == ["The email address or the password is wrong."]
    assert "sessionid" not in client.cookies
    assert client.get("/api/v1/strategies").status_code == 401


def test_an_unauthenticated_request_is_a_401_with_a_bearer_challenge():
    response = Client().get("/api/v1/strategies")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_signing_in_and_out_is_audited_with_the_clients_address():
    user = UserFactory()
    client = Client(REMOTE_ADDR="198.51.100.23")
    client.post(
        LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json"
    )
    assert client.post("/api/v1/auth/logout/").status_code == 204

    rows = list(AuditLog.objects.filter(user=user).order_by("id"))
    assert [row.action for row in rows] == ["login", "logout"]
    assert rows[0].ip_address == "198.51.100.23"
    assert rows[0].metadata == {"channel": "session"}
    assert client.get("/api/v1/strategies").status_code == 401


def test_a_failed_sign_in_is_audited_about_the_account_without_an_acting_user():
    user = UserFactory()
    Client(REMOTE_ADDR="198.51.100.24").post(
        LOGIN, {"email": user.email, "password": "wrong"}, content_type="application/json"
    )

    row = AuditLog.objects.get(resource_id=user.pk)
    assert (row.action, row.user_id, row.ip_address) == ("login", None, "198.51.100.24")
    assert row.metadata == {"channel": "api", "outcome": "failed", "reason": "invalid_credentials"}


def test_a_failed_sign_in_for_an_unknown_address_is_audited_too():
    Client().post(
        LOGIN,
        {"email": "nobody@example.com", "password": "whatever"},
        content_type="application/json",
    )
    row = AuditLog.objects.get()
    assert row.resource_id is None
    assert row.metadata["reason"] == "invalid_credentials"


def test_the_root_redirects_to_the_api_root_which_links_resources_sign_in_and_docs():
    response = Client().get("/")
    assert response.status_code == 302
    root = Client().get(response.url)
    assert root.status_code == 200
    body = root.json()
    assert body["resources"]["strategies"].endswith("/api/v1/strategies")
    assert body["auth"]["login"].endswith(LOGIN)
    assert body["docs"].endswith("/api/v1/docs/")


def test_the_api_root_links_every_collection_of_the_api():
    """Every list route under /api/v1/ (read from the URLconf, so a later one counts too) is
    linked from the root."""
    from django.urls import get_resolver, reverse

    def list_routes(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from list_routes(pattern.url_patterns, prefix + str(pattern.pattern))
            elif prefix.startswith("api/v1/") and (pattern.name or "").endswith("-list"):
                yield pattern.name

    linked = set(Client().get("/api/v1/").json()["resources"].values())
    for name in set(list_routes(get_resolver().url_patterns)):
        assert any(link.endswith(reverse(name)) for link in linked), name


AUTH_WRITE_ROUTES = [
    "/api/v1/auth/login/",
    "/api/v1/auth/logout/",
    "/api/v1/auth/register/",
    "/api/v1/auth/verify-email/",
    "/api/v1/auth/verify-email/resend/",
    "/api/v1/auth/password/change/",
    "/api/v1/auth/password/reset/",
    "/api/v1/auth/password/reset/confirm/",
    "/api/v1/auth/tokens/",
    "/api/v1/auth/mfa/enroll/",
    "/api/v1/auth/mfa/confirm/",
    "/api/v1/auth/mfa/disable/",
    "/api/v1/auth/mfa/recovery-codes/",
]


@pytest.mark.parametrize("path", AUTH_WRITE_ROUTES)
def test_every_auth_write_route_refuses_an_unknown_field_by_name_and_changes_nothing(path):
    user = UserFactory()
    client = Client()
    client.force_login(user)

    response = client.post(path, {"no_such_field": 1}, content_type="application/json")

    assert response.status_code == 400
    assert "no_such_field" in response.json()
    assert client.get("/api/v1/strategies").status_code == 200  # still signed in
    user.refresh_from_db()
    assert (user.mfa_secret, user.check_password(DEFAULT_PASSWORD)) == (None, True)
