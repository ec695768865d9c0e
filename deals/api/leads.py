"""Leads: staff bring them in and route them; partner users accept, reject and convert."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deals import leads as lead_services
from deals.api.permissions import (
    ERRORS,
    READ_ERRORS,
    C,
    DealPermissions,
    ListFiltersOnly,
    deal_scope,
    is_partner_user,
)
from deals.api_filters import (
    LeadFilter,
)
from deals.lead_selectors import assignments_of, leads_for_partner, leads_for_staff
from deals.models import (
    Lead,
)
from deals.selectors import deal_page
from deals.serializers import (
    MAX_LEADS_PER_REQUEST,
    ConvertLeadSerializer,
    DealDetailSerializer,
    LeadAssignmentSerializer,
    LeadInputSerializer,
    LeadSerializer,
    PartnerLeadSerializer,
    ReasonSerializer,
    RouteResultSerializer,
    lead_service_data,
)
from prm.accounts.roles import can
from prm.api.permissions import actor_of, membership_of
from prm.errors import DomainError

# --- leads ------------------------------------------------------------------------------

LEAD_SHAPES = [LeadSerializer, PartnerLeadSerializer]


def _lead_shape(many: bool = False) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name="LeadForCaller",
        serializers=LEAD_SHAPES,
        resource_type_field_name=None,
        many=many,
    )


def _many_or_one(serializer_class):
    return PolymorphicProxySerializer(
        component_name=f"{serializer_class.__name__.removesuffix('Serializer')}OneOrMany",
        serializers=[serializer_class, serializer_class(many=True)],
        resource_type_field_name=None,
        many=False,
    )


@extend_schema_view(
    list=extend_schema(
        summary=_("List leads"),
        description=_(
            "Staff see every lead with the partner holding it. Partner users see the leads "
            "offered to their organisation, each as it stands for them (waiting, accepted, "
            "converted, declined, expired or withdrawn); contact details only while the "
            "lead is theirs, and nothing about other partners."
        ),
        responses={200: _lead_shape(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary=_("Show a lead"), responses={200: _lead_shape(), **READ_ERRORS}),
    create=extend_schema(
        summary=_("Bring in leads"),
        description=ngettext_lazy(
            "Staff and API keys. One lead as an object, or up to %(count)d as a list: a "
            "list is created entirely or not at all, and its errors are reported per item "
            "and per field, in the list's order.",
            "Staff and API keys. One lead as an object, or up to %(count)d as a list: a "
            "list is created entirely or not at all, and its errors are reported per item "
            "and per field, in the list's order.",
            "count",
        )
        % {"count": MAX_LEADS_PER_REQUEST},
        request=_many_or_one(LeadInputSerializer),
        responses={201: _many_or_one(LeadSerializer), **ERRORS},
    ),
)
@extend_schema(tags=["leads"])
class LeadViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Vendor leads: staff bring them in and follow their routing; partners answer."""

    queryset = Lead.objects
    serializer_class = LeadSerializer
    permission_classes = [DealPermissions]
    required_capabilities = {
        "create": [C.MANAGE_PARTNERS],
        "withdraw": [C.MANAGE_PARTNERS],
        "route_now": [C.MANAGE_PARTNERS],
        "assignments": [C.VIEW_ALL_PARTNERS],
        "accept": [C.USE_PORTAL],
        "reject": [C.USE_PORTAL],
        "convert": [C.USE_PORTAL],
    }
    partner_user_actions = frozenset({"accept", "reject", "convert"})
    filterset_class = LeadFilter
    # Search is one of LeadFilter's filters (it depends on the caller); the
    # selectors order the lists (waiting offers first for a partner).
    filter_backends = [DjangoFilterBackend]

    def _staff(self) -> bool:
        return can(membership_of(self.request), C.VIEW_ALL_PARTNERS)

    def get_queryset(self):
        membership = membership_of(self.request)
        if self._staff():
            return leads_for_staff().select_related("created_by")
        if is_partner_user(membership):
            return leads_for_partner(partner=membership.partner)
        return Lead.objects.none()

    def get_serializer_class(self):
        return LeadSerializer if self._staff() else PartnerLeadSerializer

    def _show(self, lead: Lead, http_status=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=lead.pk)
        return Response(self.get_serializer(fresh).data, status=http_status)

    def _context(self) -> dict[str, Any]:
        return {"membership": membership_of(self.request), "actor": actor_of(self.request)}

    def create(self, request):
        many = isinstance(request.data, list)
        serializer = (
            # A list is created entirely or not at all.
            serializers.ListSerializer(
                child=LeadInputSerializer(),
                data=request.data,
                allow_empty=False,
                max_length=MAX_LEADS_PER_REQUEST,
            )
            if many
            else LeadInputSerializer(data=request.data)
        )
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        created: list[Lead] = []
        # Like DRF's own list errors: {index: {field: [messages]}} for the items in error.
        errors: dict[str, dict[str, list[str]]] = {}
        for index, attrs in enumerate(items):
            try:
                created.append(
                    lead_services.create_lead(**self._context(), **lead_service_data(attrs))
                )
            except DomainError as error:
                if not many or (error.field is None and error.status != 400):
                    raise
                errors[str(index)] = {error.field or "non_field_errors": [str(error.message)]}
        if errors:
            # All or nothing: the error rolls the request's transaction back.
            raise serializers.ValidationError(errors)
        leads = leads_for_staff().select_related("created_by").in_bulk([x.pk for x in created])
        body = LeadSerializer([leads[x.pk] for x in created], many=True).data
        return Response(body if many else body[0], status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Withdraw a lead"),
        description=_("Staff: the lead leaves routing; an open offer is withdrawn."),
        request=ReasonSerializer,
        responses={200: LeadSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        lead = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = lead_services.withdraw_lead(
            lead=lead, reason=serializer.validated_data["reason"], **self._context()
        )
        return self._show(lead)

    @extend_schema(
        summary=_("Route a lead now"),
        description=_(
            "Staff: route a lead waiting for routing (new, or with no partner available "
            "last time) at once instead of at the next sweep."
        ),
        request=None,
        responses={200: RouteResultSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="route-now")
    def route_now(self, request, pk=None):
        lead = self.get_object()
        counts = lead_services.route_lead_now(
            lead=lead, membership=membership_of(request), actor=actor_of(request)
        )
        fresh = self.get_queryset().get(pk=lead.pk)
        return Response(RouteResultSerializer({**counts, "lead": fresh}).data)

    @extend_schema(
        summary=_("A lead's routing decisions"),
        description=_(
            "Staff: every offer and routing finding for the lead, oldest first, each with "
            "its decision trace."
        ),
        responses={200: LeadAssignmentSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def assignments(self, request, pk=None):
        lead = self.get_object()
        return Response(LeadAssignmentSerializer(assignments_of(lead=lead), many=True).data)

    @extend_schema(
        summary=_("Accept a lead"),
        description=_("Partner users, while the offer waits for their answer."),
        request=None,
        responses={200: PartnerLeadSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        lead = lead_services.accept_lead(lead=self.get_object(), **self._context())
        return self._show(lead)

    @extend_schema(
        summary=_("Decline a lead"),
        description=_(
            "Partner users, with the reason; the lead is offered to another partner, never "
            "to one that already declined it."
        ),
        request=ReasonSerializer,
        responses={200: PartnerLeadSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        lead = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = lead_services.reject_lead(
            lead=lead, reason=serializer.validated_data["reason"], **self._context()
        )
        return self._show(lead)

    @extend_schema(
        summary=_("Convert an accepted lead into a deal registration"),
        description=_(
            "Partner users: registers a deal from the lead in one step; the response is the "
            "new registration (approved, or waiting for review)."
        ),
        request=ConvertLeadSerializer,
        responses={201: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        lead = self.get_object()
        serializer = ConvertLeadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = lead_services.convert_lead(
            lead=lead,
            estimated_close_date=serializer.validated_data.get("estimated_close_date"),
            **self._context(),
        )
        fresh = deal_page(deal_scope(membership_of(request))).get(pk=deal.pk)
        return Response(DealDetailSerializer(fresh).data, status=status.HTTP_201_CREATED)
