from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apextrade.api_root import ApiRootView
from compliance.api.views import MeExportView

api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("strategies.api.urls")),
    path("", include("trading.api.urls")),
    path("", include("accounts.api.resource_urls")),
    path("marketdata/", include("marketdata.api.urls")),
    path("", include("trading.api.order_urls")),
    path("me/export", MeExportView.as_view(), name="me-export"),
    # Accounts and signing in, personal access tokens, two-factor (accounts/api/urls.py).
    path("auth/", include("accounts.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api-root"), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]

# Answers in the API's error shape under /api/, Django's pages elsewhere (core/api_failures.py).
handler400 = "core.api_failures.bad_request"
handler403 = "core.api_failures.permission_denied"
handler404 = "core.api_failures.not_found"
handler500 = "core.api_failures.server_error"
