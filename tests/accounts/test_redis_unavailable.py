"""With Redis unreachable, signing in is a JSON 503, not an HTML 500, and a signed-in client is
told the service is unavailable, not that it is signed out. (A Redis on a port nothing listens
on: the shared Redis is never stopped.)"""

import copy

import pytest
from django.test import Client

from tests.factories import DEFAULT_PASSWORD, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    def stop() -> None:
        caches = copy.deepcopy(settings.CACHES)
        caches["default"]["LOCATION"] = UNREACHABLE_REDIS
        settings.CACHES = caches

    return stop


def test_signing_in_is_a_json_503(redis_down):
    user = UserFactory()
    redis_down()

    response = Client().post(
        "/api/v1/auth/login/",
        {"email": user.email, "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "Redis cannot be reached" in response.json()["detail"]


def test_a_signed_in_client_is_told_the_service_is_unavailable_not_signed_out(redis_down, settings):
    original = settings.CACHES
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/api/v1/strategies").status_code == 200
    redis_down()

    response = client.get("/api/v1/strategies")

    assert response.status_code == 503
    assert "Redis cannot be reached" in response.json()["detail"]
    settings.CACHES = original  # Redis is back: the session was kept
    assert client.get("/api/v1/strategies").status_code == 200


def test_the_admin_login_answers_503_not_a_server_error(redis_down):
    operator = OperatorFactory()
    redis_down()

    page = Client().post("/admin/login/", {"username": operator.email, "password": "x"})

    assert page.status_code == 503
    assert "Redis cannot be reached" in page.content.decode()
