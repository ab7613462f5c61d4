"""/api/v1/auth/mfa/: TOTP two-factor for the signed-in user (accounts.security.two_factor)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_serializers import (
    THROTTLED,
    CodeSerializer,
    EnrolmentSerializer,
    IdentitySerializer,
    MfaStatusSerializer,
    RecoveryCodesSerializer,
)
from accounts.api.permissions import SessionOnly
from accounts.api.sign_in_views import api_context, body_of, check_password_and_code
from accounts.security import two_factor
from accounts.security.sign_in import confirm_identity
from core.api_serializers import refuse_body_fields


class MfaStatusView(APIView):
    permission_classes = [SessionOnly]

    @extend_schema(summary="Whether two-factor is on", responses={200: MfaStatusSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "enabled": bool(request.user.mfa_enabled),
                "recovery_codes_left": two_factor.recovery_codes_left(request.user),
            }
        )


class MfaEnrolView(APIView):
    permission_classes = [SessionOnly]

    @extend_schema(
        summary="Start two-factor: a new secret and its otpauth:// URI",
        request=None,
        responses={201: EnrolmentSerializer},
    )
    def post(self, request: Request) -> Response:
        refuse_body_fields(body_of(request))
        enrolment = two_factor.start_enrolment(user=request.user, context=api_context(request))
        return Response(
            {"secret": enrolment.secret, "provisioning_uri": enrolment.provisioning_uri},
            status=status.HTTP_201_CREATED,
        )


class MfaConfirmView(APIView):
    permission_classes = [SessionOnly]
    serializer_class = CodeSerializer

    @extend_schema(
        summary="Turn two-factor on with a first code; returns ten recovery codes, once",
        request=CodeSerializer,
        responses={200: RecoveryCodesSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = CodeSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        codes = two_factor.confirm_enrolment(
            user=request.user, code=serializer.validated_data["code"], context=api_context(request)
        )
        return Response({"recovery_codes": codes})


class MfaDisableView(APIView):
    permission_classes = [SessionOnly]
    serializer_class = IdentitySerializer

    @extend_schema(
        summary="Turn two-factor off (password and a code)",
        request=IdentitySerializer,
        responses={204: None, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        check_password_and_code(request, IdentitySerializer, confirm_identity, user=request.user)
        two_factor.turn_off(user=request.user, context=api_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MfaRecoveryCodesView(APIView):
    permission_classes = [SessionOnly]
    serializer_class = IdentitySerializer

    @extend_schema(
        summary="Ten new recovery codes replace the old ones (password and a code)",
        request=IdentitySerializer,
        responses={200: RecoveryCodesSerializer, 429: THROTTLED},
    )
    def post(self, request: Request) -> Response:
        check_password_and_code(request, IdentitySerializer, confirm_identity, user=request.user)
        codes = two_factor.renew_recovery_codes(user=request.user, context=api_context(request))
        return Response({"recovery_codes": codes})
