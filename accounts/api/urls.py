"""/api/v1/auth/: accounts and signing in, personal access tokens, two-factor. The login and
logout routes are also named `rest_framework:login` / `rest_framework:logout`, so the browsable
API links to them."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from accounts.api import mfa_views, sign_in_views
from accounts.api.token_views import AccessTokenViewSet

router = SimpleRouter()
router.register("tokens", AccessTokenViewSet, basename="access-token")

session_routes = [
    path("login/", sign_in_views.LoginView.as_view(), name="login"),
    path("logout/", sign_in_views.LogoutView.as_view(), name="logout"),
]

urlpatterns = [
    path("", include((session_routes, "rest_framework"))),
    path("register/", sign_in_views.RegisterView.as_view(), name="auth-register"),
    path("verify-email/", sign_in_views.VerifyEmailView.as_view(), name="auth-verify-email"),
    path(
        "verify-email/resend/",
        sign_in_views.ResendVerificationView.as_view(),
        name="auth-verify-email-resend",
    ),
    path(
        "password/change/",
        sign_in_views.PasswordChangeView.as_view(),
        name="auth-password-change",
    ),
    path("password/reset/", sign_in_views.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "password/reset/confirm/",
        sign_in_views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("mfa/", mfa_views.MfaStatusView.as_view(), name="auth-mfa"),
    path("mfa/enroll/", mfa_views.MfaEnrolView.as_view(), name="auth-mfa-enroll"),
    path("mfa/confirm/", mfa_views.MfaConfirmView.as_view(), name="auth-mfa-confirm"),
    path("mfa/disable/", mfa_views.MfaDisableView.as_view(), name="auth-mfa-disable"),
    path(
        "mfa/recovery-codes/",
        mfa_views.MfaRecoveryCodesView.as_view(),
        name="auth-mfa-recovery-codes",
    ),
    *router.urls,
]
