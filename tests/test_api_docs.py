import uuid

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "ApexTrade API"


def test_swagger_ui_uses_local_assets_not_a_cdn(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "cdn.jsdelivr.net" not in body
    assert "/static/drf_spectacular_sidecar/" in body


def test_the_trades_of_a_backtest_are_documented_as_a_page(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    trades = schema["paths"]["/api/v1/backtests/{id}/trades"]["get"]

    assert {"cursor", "page_size"} <= {parameter["name"] for parameter in trades["parameters"]}
    page = trades["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][page.rsplit("/", 1)[1]]["properties"]
    assert properties["results"]["items"]["$ref"].endswith("/BacktestTrade")
    assert {"next", "previous"} <= set(properties)


@pytest.mark.parametrize("path", ["/api/v1/strategies", "/api/v1/backtests"])
def test_strategies_and_backtests_take_json_bodies_only(client, path):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert set(schema["paths"][path]["post"]["requestBody"]["content"]) == {"application/json"}


def test_error_answers_are_documented_where_they_can_happen(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path not in ("/api/v1/schema/", "/api/v1/strategies/rules-schema")
        for method, operation in methods.items()
    ]

    assert len(operations) >= 13
    for path, method, operation in operations:
        codes = operation["responses"]
        assert {"401", "403"} <= set(codes), (method, path)
        if "requestBody" in operation:
            assert "400" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"]
    post = schema["paths"]["/api/v1/strategies"]["post"]["responses"]["400"]
    assert post["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrors")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/strategies",
        "/api/v1/backtests",
        f"/api/v1/backtests/{uuid.UUID(int=0)}/trades",
        "/api/v1/marketdata/candles?symbol=BTC/USDT&timeframe=1h",
    ],
)
def test_every_documented_operation_refuses_an_anonymous_client_with_401(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "detail" in response.json()


def test_bearer_tokens_are_documented_as_a_security_scheme(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"bearerAuth": []} in schema["paths"]["/api/v1/strategies"]["get"]["security"]


def test_the_rule_language_schema_is_an_open_document(client):
    assert client.get("/api/v1/strategies/rules-schema").status_code == 200
