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

# Answers in the API's error shape under /api/, Django's pages elsewhere (core/api_failures.py).
handler400 = "core.api_failures.bad_request"
handler403 = "core.api_failures.permission_denied"
handler404 = "core.api_failures.not_found"
handler500 = "core.api_failures.server_error"
