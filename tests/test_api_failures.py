"""Every API error is JSON in the one error shape ({"detail": ...} or field errors): unknown URLs,
405, 413, parse errors, unexpected errors; Redis or PostgreSQL out of reach is a 503 with a clear
message on API routes and an error page in the admin, and never signs a client out."""

import copy
import json
import socket
from unittest import mock

import pytest
from django.conf import settings
from django.db import connections
from django.http import HttpResponseNotAllowed
from django.test import Client, RequestFactory, override_settings

from core.api_failures import ApiErrorMiddleware
from tests.factories import OperatorFactory, StrategyFactory, UserFactory
from tests.redis_server import running_redis_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client_of(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _is_error_shape(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


def test_an_unknown_api_url_is_a_json_404(client_of):
    detail = _is_error_shape(client_of.get("/api/v1/no-such-thing"), 404)
    assert "/api/v1/schema/" in detail
    _is_error_shape(Client().get("/api/nothing/here"), 404)


def test_outside_the_api_a_404_stays_a_page(client_of):
    response = client_of.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_method_the_route_does_not_take_is_a_json_405(client_of):
    response = client_of.put("/api/v1/trades", "{}", content_type="application/json")
    _is_error_shape(response, 405)


def test_a_plain_django_error_page_under_the_api_is_given_the_error_shape():
    middleware = ApiErrorMiddleware(lambda request: HttpResponseNotAllowed(["POST"]))

    response = middleware(RequestFactory().get("/api/v1/auth/logout/"))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert json.loads(response.content) == {"detail": "Method Not Allowed."}


def test_a_body_over_the_limit_is_a_json_413_before_it_is_read(client_of):
    body = '{"name": "' + "x" * settings.API_MAX_BODY_BYTES + '"}'

    response = client_of.post("/api/v1/strategies", body, content_type="application/json")

    assert "at most" in _is_error_shape(response, 413)


def test_a_body_that_is_not_json_is_a_json_400(client_of):
    response = client_of.post("/api/v1/strategies", "{not json", content_type="application/json")
    assert "JSON parse error" in _is_error_shape(response, 400)


def test_an_unexpected_error_is_a_json_500_without_internals(client_of):
    with mock.patch("strategies.api.views.strategies_for", side_effect=RuntimeError("secret")):
        response = client_of.get("/api/v1/strategies")

    detail = _is_error_shape(response, 500)
    assert "secret" not in detail


def test_an_anonymous_client_gets_the_error_shape_too():
    response = Client().get("/api/v1/portfolios")
    _is_error_shape(response, response.status_code)
    assert response.status_code in (401, 403)  # 401 once bearer tokens answer anonymous clients


# --- Redis out of reach -------------------------------------------------------------------------


@pytest.fixture
def own_redis():
    """settings point the cache (and with it sessions and limits) at a Redis of this test's."""
    with running_redis_server() as server:
        caches = copy.deepcopy(settings.CACHES)
        caches["default"]["LOCATION"] = server.url
        caches["default"]["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] = 0.5
        caches["default"]["OPTIONS"]["SOCKET_TIMEOUT"] = 0.5
        with override_settings(CACHES=caches):
            yield server


def test_with_redis_down_a_signed_in_client_gets_a_503_not_a_sign_out(own_redis, user):
    StrategyFactory(user=user)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    assert client.get("/api/v1/strategies").status_code == 200

    own_redis.stop()
    response = client.get("/api/v1/strategies")

    detail = _is_error_shape(response, 503)
    assert "Redis cannot be reached" in detail
    assert int(response["Retry-After"]) > 0


def test_with_redis_down_a_write_is_a_503_and_nothing_is_written(own_redis, user):
    from strategies.models import Strategy

    client = Client(raise_request_exception=False, enforce_csrf_checks=False)
    client.force_login(user)
    own_redis.stop()

    response = client.patch("/api/v1/me", {"first_name": "X"}, content_type="application/json")

    _is_error_shape(response, 503)
    user.refresh_from_db()
    assert user.first_name != "X"
    assert not Strategy.objects.exists()


def test_with_redis_down_the_admin_shows_an_error_page(own_redis):
    operator = OperatorFactory()
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    assert client.get("/admin/").status_code == 200

    own_redis.stop()
    response = client.get("/admin/")

    assert response.status_code == 503
    assert not response["Content-Type"].startswith("application/json")  # a page, not the API's
    assert b"Redis cannot be reached" in response.content
    assert int(response["Retry-After"]) > 0


# --- PostgreSQL out of reach --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_with_postgresql_down_an_api_request_is_a_json_503():
    user = UserFactory()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    connection = connections["default"]
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_closed_port())
    try:
        response = client.get("/api/v1/strategies")
        admin = client.get("/admin/")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port

    assert "PostgreSQL cannot be reached" in _is_error_shape(response, 503)
    assert admin.status_code == 503
    assert b"PostgreSQL cannot be reached" in admin.content
