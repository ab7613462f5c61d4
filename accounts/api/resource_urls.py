"""/api/v1/api_keys (broker keys), /api/v1/alerts and /api/v1/me (no trailing slashes, as the
API spec writes them). Signing in and tokens have URL modules of their own."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.resource_views import AlertViewSet, ApiKeyViewSet, ProfileView

router = SimpleRouter(trailing_slash=False)
router.register("api_keys", ApiKeyViewSet, basename="api-key")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = [
    path("me", ProfileView.as_view(), name="profile"),
    *router.urls,
]
