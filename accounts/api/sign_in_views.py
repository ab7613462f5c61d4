"""/api/v1/auth/: registration, email verification, sign-in and sign-out (a session, with CSRF,
for the browsable API and the docs page), and passwords. The rules are in accounts.security."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth import login, logout, update_session_auth_hash
from django.http import HttpResponseRedirect
from django.middleware.csrf import get_token
from django.utils.http import url_has_allowed_host_and_scheme
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_serializers import (
    THROTTLED,
    UNAVAILABLE,
    AccountSerializer,
    EmailSerializer,
    PasswordChangeSerializer,
    PasswordResetSerializer,
    RegistrationSerializer,
    SignInSerializer,
    VerificationSerializer,
)
from accounts.api.permissions import SessionOnly
from accounts.security import passwords, registration
from accounts.security.login_throttle import reserve_email_request
from accounts.security.sign_in import (
    EmailNotVerified,
    InvalidCredentials,
    SignInRefused,
    sign_in,
)
from compliance.audit import AuditContext
from core.api_serializers import refuse_body_fields

ACCEPTED = {"detail": "Accepted: if the address has an account, an email is on its way."}


def api_context(request: Request) -> AuditContext:
    return AuditContext.from_request(request, channel="api")


def check_password_and_code(
    request: Request, serializer_class: type[serializers.Serializer], check: Callable, **who: Any
) -> Any:
    """Validate a body of a password and a code (TOTP or recovery; with the email when signing
    in) and pass it to `check` (sign_in, or confirm_identity with user=), throttled and audited
    there; a refusal as the API answers it."""
    serializer = serializer_class(data=body_of(request))
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    if "email" in data:
        who["email"] = data["email"]
    try:
        return check(
            **who,
            password=data["password"],
            otp_code=data.get("otp_code") or None,
            recovery_code=data.get("recovery_code") or None,
            context=api_context(request),
        )
    except SignInRefused as refusal:
        raise refusal_as_api_error(refusal) from refusal


def refusal_as_api_error(refusal: SignInRefused) -> exceptions.APIException:
    """A refused sign-in as the API answers it: wrong credentials and codes are 400s naming the
    field to fix, an unverified address a 403."""
    message = str(refusal)
    if isinstance(refusal, InvalidCredentials):
        return exceptions.ValidationError({"non_field_errors": [message]}, code=refusal.reason)
    if isinstance(refusal, EmailNotVerified):
        return exceptions.PermissionDenied(message, code=refusal.reason)
    return exceptions.ValidationError({"otp_code": [message]}, code=refusal.reason)


# Sent by the browsable API's HTML forms besides the fields: not part of any body.
FORM_ONLY_FIELDS = ("csrfmiddlewaretoken", "next")


def body_of(request: Request) -> object:
    """The request's body without what an HTML form adds to every post."""
    data = request.data.copy() if hasattr(request.data, "copy") else request.data
    for name in FORM_ONLY_FIELDS:
        if hasattr(data, "pop"):
            data.pop(name, None)
    return data


def _redirect_target(request: Request) -> str | None:
    target = request.query_params.get("next") or (
        request.data.get("next") if hasattr(request.data, "get") else None
    )
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


class LoginView(APIView):
    """Sign in with email, password and, when two-factor is on, a code; starts a session."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    serializer_class = SignInSerializer

    @extend_schema(
        summary="How to sign in (sets the CSRF cookie)",
        responses={200: OpenApiResponse(description="Instructions.")},
    )
    def get(self, request: Request) -> Response:
        get_token(request._request)  # the csrftoken cookie, for form posts
        return Response(
            {
                "detail": "POST email and password (and otp_code or recovery_code when two-factor "
                "is on) to sign in. Programs use personal access tokens: see /api/v1/auth/tokens/."
            }
        )

    @extend_schema(
        summary="Sign in (a session cookie)",
        request=SignInSerializer,
        responses={
            200: AccountSerializer,
            302: OpenApiResponse(description="To `next`."),
            429: THROTTLED,
            503: UNAVAILABLE,
        },
    )
    def post(self, request: Request) -> Response:
        # A form post could come from another site (login CSRF): forms need the CSRF token. A
        # JSON body cannot be sent across sites without a CORS preflight, which we never allow.
        if request.content_type.split(";")[0].strip() != "application/json":
            SessionAuthentication().enforce_csrf(request)
        user = check_password_and_code(request, SignInSerializer, sign_in)
        login(request._request, user, backend="accounts.backends.EmailSignInBackend")
        target = _redirect_target(request)
        if target:
            return HttpResponseRedirect(target)
        return Response(AccountSerializer(user).data)


class LogoutView(APIView):
    """End the session (a no-op without one)."""

    permission_classes = [AllowAny]

    @extend_schema(summary="Sign out", request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        refuse_body_fields(body_of(request))
        logout(request._request)
        target = _redirect_target(request)
        if target:
            return HttpResponseRedirect(target)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterView(APIView):
    """A new account; the email with its verification link is sent at once."""

    permission_classes = [AllowAny]
    serializer_class = RegistrationSerializer

    @extend_schema(
        summary="Register",
        request=RegistrationSerializer,
        responses={201: AccountSerializer, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        serializer = RegistrationSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        reserve_email_request(address=api_context(request).ip_address)
        user = registration.register_account(
            **serializer.validated_data, context=api_context(request)
        )
        return Response(AccountSerializer(user).data, status=status.HTTP_201_CREATED)


class VerifyEmailView(APIView):
    """The link in the verification email (GET), or its token posted."""

    permission_classes = [AllowAny]
    serializer_class = VerificationSerializer

    def _verify(self, request: Request, data: object) -> Response:
        serializer = VerificationSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        user = registration.verify_email(
            token=serializer.validated_data["token"], context=api_context(request)
        )
        return Response(AccountSerializer(user).data)

    @extend_schema(
        summary="Verify an email address (the emailed link)",
        request=None,
        # Documented so that the 400 for a missing or bad token is (core.openapi_errors).
        parameters=[OpenApiParameter("token", str, required=True, description="The link's token.")],
        responses={200: AccountSerializer},
    )
    def get(self, request: Request) -> Response:
        return self._verify(request, request.query_params)

    @extend_schema(
        summary="Verify an email address",
        request=VerificationSerializer,
        responses={200: AccountSerializer},
    )
    def post(self, request: Request) -> Response:
        return self._verify(request, body_of(request))


class EmailRequestView(APIView):
    """A request that sends an email to an address if it has an account; limited per client
    address, and answered alike whether or not it has one."""

    permission_classes = [AllowAny]
    serializer_class = EmailSerializer

    def send(self, email: str) -> None:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        serializer = EmailSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        reserve_email_request(address=api_context(request).ip_address)
        self.send(serializer.validated_data["email"])
        return Response(ACCEPTED, status=status.HTTP_202_ACCEPTED)


EMAIL_REQUEST_RESPONSES = {202: OpenApiResponse(description="Accepted."), 429: THROTTLED}


@extend_schema_view(
    post=extend_schema(
        summary="Send a new verification link",
        request=EmailSerializer,
        responses=EMAIL_REQUEST_RESPONSES,
    )
)
class ResendVerificationView(EmailRequestView):
    def send(self, email: str) -> None:
        registration.resend_verification(email=email)


class PasswordChangeView(APIView):
    permission_classes = [SessionOnly]
    serializer_class = PasswordChangeSerializer

    @extend_schema(
        summary="Change your password",
        request=PasswordChangeSerializer,
        responses={204: None, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = passwords.change_password(
                user=request.user,
                current_password=data["current_password"],
                new_password=data["new_password"],
                otp_code=data.get("otp_code") or None,
                context=api_context(request),
            )
        except InvalidCredentials as refusal:
            raise exceptions.ValidationError(
                {"current_password": ["The current password is wrong."]}, code=refusal.reason
            ) from refusal
        except SignInRefused as refusal:
            raise refusal_as_api_error(refusal) from refusal
        # The session stays signed in; the user's other sessions end.
        update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    post=extend_schema(
        summary="Email a password reset link",
        request=EmailSerializer,
        responses=EMAIL_REQUEST_RESPONSES,
    )
)
class PasswordResetView(EmailRequestView):
    def send(self, email: str) -> None:
        passwords.request_password_reset(email=email)


class PasswordResetConfirmView(APIView):
    """Where the reset link leads: POST uid and token (from the link) and the new password."""

    permission_classes = [AllowAny]
    serializer_class = PasswordResetSerializer

    @extend_schema(
        summary="What to do with a reset link",
        responses={200: OpenApiResponse(description="Instructions.")},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "detail": "POST uid and token (as in this link) with new_password.",
                "uid": request.query_params.get("uid", ""),
                "token": request.query_params.get("token", ""),
            }
        )

    @extend_schema(
        summary="Set a new password with a reset link's uid and token",
        request=PasswordResetSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        passwords.reset_password(**serializer.validated_data, context=api_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
