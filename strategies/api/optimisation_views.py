"""/api/v1/optimisations: start (202), status with progress, cancel, the variants (paged, sorted
by any metric), and the best variant applied to the strategy in one call. Querysets come from
selectors scoped to the user (another user's optimisation is a 404); writes go through services."""

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.audit import AuditContext
from core.api_parsers import DepthLimitedJSONParser
from core.api_serializers import refuse_body_fields
from strategies.api.optimisation_serializers import (
    ApplyVariantSerializer,
    OptimisationDetailSerializer,
    OptimisationInputSerializer,
    OptimisationSerializer,
    OptimisationVariantSerializer,
)
from strategies.api.serializers import StrategySerializer
from strategies.api.views import UUID_PATTERN, NewestFirst
from strategies.models import Optimisation, OptimisationVariant
from strategies.optimisation_selectors import VARIANT_SORT_FIELDS, optimisations_for, variants_of
from strategies.services import optimisations as optimisation_services


class VariantPages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema_view(
    list=extend_schema(summary="Your optimisations, newest first"),
    retrieve=extend_schema(
        summary="An optimisation: status, progress, best variant, walk-forward report",
        responses={200: OptimisationDetailSerializer},
    ),
)
class OptimisationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Optimisation.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = OptimisationSerializer
    pagination_class = NewestFirst
    parser_classes = [DepthLimitedJSONParser]
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Optimisation]:
        return optimisations_for(self.request.user)

    def get_serializer_class(self):
        if self.action in ("retrieve", "create", "cancel"):
            return OptimisationDetailSerializer
        if self.action == "variants":
            return OptimisationVariantSerializer
        if self.action == "apply":
            return StrategySerializer
        return OptimisationSerializer

    @extend_schema(
        summary="Start an optimisation; its variants run on the workers",
        request=OptimisationInputSerializer,
        responses={
            202: OptimisationDetailSerializer,
            429: OpenApiResponse(
                description="A per-user limit: running optimisations or variants per hour."
            ),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = OptimisationInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        run = optimisation_services.start_optimisation(
            user=request.user,
            context=AuditContext.from_request(request),
            **serializer.validated_data,
        )
        return Response(
            OptimisationDetailSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("optimisation-detail", kwargs={"pk": run.pk})},
        )

    @extend_schema(
        summary="Cancel a pending or running optimisation",
        request=None,
        responses={
            200: OptimisationDetailSerializer,
            409: OpenApiResponse(description="The optimisation has already finished."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        optimisation = self.get_object()
        refuse_body_fields(
            request.data, read_only_names=tuple(OptimisationDetailSerializer.Meta.fields)
        )
        run = optimisation_services.cancel_optimisation(
            optimisation=optimisation,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        return Response(OptimisationDetailSerializer(run).data)

    @extend_schema(
        summary="The variants, paged and sorted by any metric",
        parameters=[
            OpenApiParameter(
                "ordering",
                str,
                description="A field, '-' first for descending (NULLs last): "
                + ", ".join(VARIANT_SORT_FIELDS),
            ),
            OpenApiParameter(
                "fold",
                int,
                description="0 (default): the whole window; 1..K: a fold's in-sample variants.",
            ),
        ],
        responses=OptimisationVariantSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=VariantPages)
    def variants(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        try:
            fold = int(request.query_params.get("fold", 0))
        except ValueError as error:
            raise ValidationError({"fold": ["Must be an integer."]}) from error
        try:
            queryset = variants_of(run, fold=fold, ordering=request.query_params.get("ordering"))
        except ValueError as error:
            raise ValidationError({"ordering": [str(error).removeprefix("ordering: ")]}) from error
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(OptimisationVariantSerializer(page, many=True).data)

    @extend_schema(
        summary="Write the best (or a chosen) variant into the strategy as its next version",
        request=ApplyVariantSerializer,
        responses={
            200: StrategySerializer,
            409: OpenApiResponse(
                description="No variant qualifies, or the strategy has changed since."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        serializer = ApplyVariantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variant = None
        if variant_id := serializer.validated_data.get("variant"):
            variant = OptimisationVariant.objects.filter(optimisation=run, pk=variant_id).first()
            if variant is None:
                raise ValidationError({"variant": ["Not a variant of this optimisation."]})
        strategy = optimisation_services.apply_variant(
            optimisation=run,
            variant=variant,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        return Response(StrategySerializer(strategy).data)
