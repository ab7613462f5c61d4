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
