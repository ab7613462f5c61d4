"""The base of the API's resource viewsets: ids are UUIDs, lists are newest-first cursor pages
that filter (django-filter, `filterset_class`) and order (`?ordering=`, `ordering_fields`).
Subclasses give get_queryset() from a selector scoped to the user."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets
from rest_framework.filters import OrderingFilter

from core.api_pagination import NewestFirst

UUID_PATTERN = r"[0-9a-fA-F-]{36}"


class UserResourceViewSet(viewsets.GenericViewSet):
    pagination_class = NewestFirst
    lookup_value_regex = UUID_PATTERN
    filter_backends = [DjangoFilterBackend, OrderingFilter]
