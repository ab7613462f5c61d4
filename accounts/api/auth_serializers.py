"""Request and response bodies of /api/v1/auth/ (sign-in, registration, passwords, tokens,
two-factor). Input serializers validate and refuse fields they do not know (a 400 naming them);
the services in accounts.security do the work."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from accounts.models import AccessToken, AccessTokenScope, User
from core.api_serializers import StrictFieldsMixin

_DETAIL = inline_serializer("Throttled", {"detail": serializers.CharField()})
# Answers of the routes that check a password or send email, for the OpenAPI document.
THROTTLED = OpenApiResponse(
    response=_DETAIL, description="Too many attempts: wait Retry-After seconds."
)
UNAVAILABLE = OpenApiResponse(
    response=_DETAIL, description="Redis (sign-in attempts, sessions) is unreachable."
)
PASSWORD = {"style": {"input_type": "password"}, "trim_whitespace": False, "max_length": 4096}


class SignInSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.CharField(max_length=255)
    password = serializers.CharField(**PASSWORD)
    otp_code = serializers.CharField(
        required=False, allow_blank=True, max_length=10, help_text="When two-factor is on."
    )
    recovery_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="Instead of otp_code: one of your recovery codes (each works once).",
    )


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "is_verified", "mfa_enabled"]
        read_only_fields = fields


class RegistrationSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.CharField(max_length=255)
    password = serializers.CharField(**PASSWORD)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class EmailSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.CharField(max_length=255)


class VerificationSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=1000)


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    current_password = serializers.CharField(**PASSWORD)
    new_password = serializers.CharField(**PASSWORD)
    otp_code = serializers.CharField(
        required=False, allow_blank=True, max_length=10, help_text="When two-factor is on."
    )


class PasswordResetSerializer(StrictFieldsMixin, serializers.Serializer):
    uid = serializers.CharField(max_length=100)
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(**PASSWORD)


class AccessTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessToken
        fields = ["id", "name", "prefix", "scopes", "expires_at", "last_used_at", "created_at"]
        read_only_fields = fields


class AccessTokenInputSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=AccessTokenScope.choices),
        min_length=1,
        max_length=2,
        default=[AccessTokenScope.READ],
        help_text="`read`: GET, HEAD and OPTIONS; `trade`: every method.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class NewAccessTokenSerializer(AccessTokenSerializer):
    token = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(AccessTokenSerializer.Meta):
        fields = [*AccessTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class CodeSerializer(StrictFieldsMixin, serializers.Serializer):
    code = serializers.CharField(max_length=10, help_text="The current code of your app.")


class MfaStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    recovery_codes_left = serializers.IntegerField()


class EnrolmentSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32, for typing into an authenticator app.")
    provisioning_uri = serializers.CharField(help_text="otpauth:// URI, e.g. for a QR code.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Shown this once; each signs in once."
    )


class IdentitySerializer(StrictFieldsMixin, serializers.Serializer):
    """Proof, while signed in, that it is you: the password and a two-factor code."""

    password = serializers.CharField(**PASSWORD)
    otp_code = serializers.CharField(required=False, allow_blank=True, max_length=10)
    recovery_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
