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
