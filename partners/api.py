"""REST endpoints for partner organisations, tiers and partner types.

Reads go through ``partners.selectors`` (a partner user only ever sees their
own organisation; anything else is a 404), writes through
``partners.services`` (which check the role again and write the audit row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from partners import selectors, services
from partners.filters import PartnerFilter
from partners.models import PartnerOrganization, PartnerType, Tier
from partners.serializers import (
    AssignTierSerializer,
    PartnerSerializer,
    PartnerTypeSerializer,
    PartnerUpdateSerializer,
    PartnerWriteSerializer,
    TierChangeSerializer,
    TierSerializer,
)
from prm.accounts.roles import Capability
from prm.api.permissions import ActionCapabilities, actor_of, membership_of
from prm.api.schema import ErrorSerializer

_ERRORS = {
    400: OpenApiResponse(description=_("Invalid input.")),
    403: OpenApiResponse(ErrorSerializer, description=_("Your role may not do this.")),
    404: OpenApiResponse(ErrorSerializer, description=_("Not found in your scope.")),
    409: OpenApiResponse(ErrorSerializer, description=_("Conflicts with existing data.")),
}


@extend_schema_view(
    list=extend_schema(summary=_("List partner organisations")),
    retrieve=extend_schema(summary=_("Show a partner organisation")),
    create=extend_schema(
        summary=_("Add a partner organisation"),
        request=PartnerWriteSerializer,
        responses={201: PartnerSerializer, **_ERRORS},
    ),
    update=extend_schema(
        summary=_("Edit a partner organisation"),
        request=PartnerUpdateSerializer,
        responses={200: PartnerSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary=_("Edit some fields of a partner organisation"),
        request=PartnerUpdateSerializer,
        responses={200: PartnerSerializer, **_ERRORS},
    ),
)
@extend_schema(tags=["partners"])
class PartnerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Partner organisations: staff see all of them, partner users their own."""

    # The model, for routing and the schema; rows always come from get_queryset.
    queryset = PartnerOrganization.objects
    serializer_class = PartnerSerializer
    permission_classes = [ActionCapabilities]
    required_capabilities = {
        "create": [Capability.MANAGE_PARTNERS],
        "update": [Capability.MANAGE_PARTNERS],
        "partial_update": [Capability.MANAGE_PARTNERS],
        "assign_tier": [Capability.ASSIGN_TIERS],
    }
    filterset_class = PartnerFilter
    search_fields = ["legal_name", "display_name"]
    ordering_fields = ["legal_name", "country", "status", "tier__rank", "created_at"]
    ordering = ["legal_name"]

    def get_queryset(self):
        return selectors.partners_visible_to(membership=membership_of(self.request))

    def _show(self, partner: PartnerOrganization, http_status=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=partner.pk)
        return Response(PartnerSerializer(fresh).data, status=http_status)

    def create(self, request):
        serializer = PartnerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = services.create_partner(
            data=serializer.validated_data,
            actor=actor_of(request),
            membership=membership_of(request),
        )
        return self._show(partner, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        partner = self.get_object()
        serializer = PartnerUpdateSerializer(partner, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        partner = services.update_partner(
            partner=partner,
            data=serializer.validated_data,
            actor=actor_of(request),
            membership=membership_of(request),
        )
        return self._show(partner)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    @extend_schema(
        summary=_("Move a partner to another tier"),
        request=AssignTierSerializer,
        responses={201: TierChangeSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="assign-tier")
    def assign_tier(self, request, pk=None):
        partner = self.get_object()
        serializer = AssignTierSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = services.assign_tier(
            partner=partner,
            tier=serializer.validated_data["tier"],
            reason=serializer.validated_data["reason"],
            actor=actor_of(request),
            membership=membership_of(request),
        )
        return Response(TierChangeSerializer(change).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary=_("A partner's tier history"), responses=TierChangeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="tier-history", filter_backends=[])
    def tier_history(self, request, pk=None):
        partner = self.get_object()
        page = self.paginate_queryset(selectors.tier_history(partner=partner))
        return self.get_paginated_response(TierChangeSerializer(page, many=True).data)


class _CatalogueViewSet(viewsets.ModelViewSet):
    """Read by every member; changed by roles that manage the program."""

    permission_classes = [ActionCapabilities]
    required_capabilities = {
        name: [Capability.MANAGE_PROGRAM]
        for name in ("create", "update", "partial_update", "destroy")
    }
    filter_backends: list = []

    if TYPE_CHECKING:
        # Each concrete catalogue calls its services here.
        def create_entry(self, **kwargs: Any) -> Any: ...
        def update_entry(self, instance: Any, **kwargs: Any) -> Any: ...
        def delete_entry(self, instance: Any, **kwargs: Any) -> None: ...

    def perform_create(self, serializer):
        serializer.instance = self.create_entry(
            data=serializer.validated_data,
            actor=actor_of(self.request),
            membership=membership_of(self.request),
        )

    def perform_update(self, serializer):
        serializer.instance = self.update_entry(
            serializer.instance,
            data=serializer.validated_data,
            actor=actor_of(self.request),
            membership=membership_of(self.request),
        )

    def perform_destroy(self, instance):
        self.delete_entry(
            instance, actor=actor_of(self.request), membership=membership_of(self.request)
        )


@extend_schema_view(
    create=extend_schema(responses={201: TierSerializer, **_ERRORS}),
    update=extend_schema(responses={200: TierSerializer, **_ERRORS}),
    partial_update=extend_schema(responses={200: TierSerializer, **_ERRORS}),
    destroy=extend_schema(responses={204: None, **_ERRORS}),
)
@extend_schema(tags=["tiers"])
class TierViewSet(_CatalogueViewSet):
    """The tenant's tier ladder, entry tier first."""

    queryset = Tier.objects
    serializer_class = TierSerializer

    def get_queryset(self):
        return selectors.tier_ladder()

    def create_entry(self, **kwargs):
        return services.create_tier(**kwargs)

    def update_entry(self, instance, **kwargs):
        return services.update_tier(tier=instance, **kwargs)

    def delete_entry(self, instance, **kwargs):
        services.delete_tier(tier=instance, **kwargs)


@extend_schema_view(
    create=extend_schema(responses={201: PartnerTypeSerializer, **_ERRORS}),
    update=extend_schema(responses={200: PartnerTypeSerializer, **_ERRORS}),
    partial_update=extend_schema(responses={200: PartnerTypeSerializer, **_ERRORS}),
    destroy=extend_schema(responses={204: None, **_ERRORS}),
)
@extend_schema(tags=["partner types"])
class PartnerTypeViewSet(_CatalogueViewSet):
    """The kinds of partner the tenant works with."""

    queryset = PartnerType.objects
    serializer_class = PartnerTypeSerializer

    def get_queryset(self):
        return selectors.partner_type_catalogue()

    def create_entry(self, **kwargs):
        return services.create_partner_type(**kwargs)

    def update_entry(self, instance, **kwargs):
        return services.update_partner_type(partner_type=instance, **kwargs)

    def delete_entry(self, instance, **kwargs):
        services.delete_partner_type(partner_type=instance, **kwargs)
