from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("strategies.api.urls")),
    path("", include("trading.api.urls")),
    path("", include("accounts.api.resource_urls")),
    path("marketdata/", include("marketdata.api.urls")),
    # Session sign-in for clients (the browsable API and the docs page) until API keys arrive.
    path("auth/", include("rest_framework.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]
