"""Revenue events: listed by finance, recorded one or many at a time."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.response import Response

from deals.models import DealRegistration
from incentives.api.permissions import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    C,
    RevenueEventPermission,
)
from incentives.models import RevenueEvent
from incentives.serializers import (
    MAX_EVENTS_PER_REQUEST,
    RevenueEventInputSerializer,
    RevenueEventQuerySerializer,
    RevenueEventSerializer,
)
from incentives.services import record_revenue_event
from partners.models import PartnerOrganization
from prm.accounts.roles import can
from prm.api.permissions import actor_of, membership_of
from prm.errors import DomainError


def _one_or_many(serializer_class) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=f"{serializer_class.__name__.removesuffix('Serializer')}OneOrMany",
        serializers=[serializer_class, serializer_class(many=True)],
        resource_type_field_name=None,
        many=False,
    )


@extend_schema_view(
    list=extend_schema(
        summary=_("List revenue events"),
        description=_(
            "Imported customer payments, refunds and usage charges, newest first; filtered "
            "by the day they occurred on, the customer's name, kind and partner."
        ),
        parameters=[RevenueEventQuerySerializer],
        responses={200: RevenueEventSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a revenue event"),
        responses={200: RevenueEventSerializer, **READ_ERRORS},
    ),
    create=extend_schema(
        summary=_("Record revenue events"),
        description=ngettext_lazy(
            "Finance and finance API keys. One event as an object, or up to %(count)d as a "
            "list: a list is recorded entirely or not at all, and its errors are reported per "
            "item and per field, in the list's order. Repeating an external id with the same "
            "details returns the recorded event.",
            "Finance and finance API keys. One event as an object, or up to %(count)d as a "
            "list: a list is recorded entirely or not at all, and its errors are reported per "
            "item and per field, in the list's order. Repeating an external id with the same "
            "details returns the recorded event.",
            "count",
        )
        % {"count": MAX_EVENTS_PER_REQUEST},
        request=_one_or_many(RevenueEventInputSerializer),
        responses={201: _one_or_many(RevenueEventSerializer), **WRITE_ERRORS},
    ),
)
@extend_schema(tags=["incentives"])
class RevenueEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Customer payments the revenue shares are computed from."""

    queryset = RevenueEvent.objects
    serializer_class = RevenueEventSerializer
    permission_classes = [RevenueEventPermission]
    required_capabilities = {"create": [C.MANAGE_MONEY]}
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[RevenueEvent]:
        queryset = RevenueEvent.objects.select_related("partner", "deal").order_by(
            "-occurred_on", "-id"
        )
        if self.action != "list":
            return queryset
        query = RevenueEventQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        conditions = {
            "occurred_on__gte": data.get("occurred_from"),
            "occurred_on__lte": data.get("occurred_to"),
            "customer_name__icontains": data.get("customer"),
            "kind": data.get("kind"),
            "partner_id": data.get("partner"),
        }
        return queryset.filter(
            **{name: value for name, value in conditions.items() if value is not None}
        )

    def _record(self, attrs: dict[str, Any]) -> RevenueEvent:
        partner = PartnerOrganization.objects.filter(pk=attrs["partner"]).first()
        if partner is None:
            raise DomainError(_("No partner has this id."), field="partner")
        deal = None
        if attrs.get("deal"):
            deal = DealRegistration.objects.filter(
                partner=partner, reference__iexact=attrs["deal"]
            ).first()
            if deal is None:
                raise DomainError(_("This partner has no deal with this reference."), field="deal")
        return record_revenue_event(
            membership=membership_of(self.request),
            actor=actor_of(self.request),
            partner=partner,
            deal=deal,
            kind=attrs["kind"],
            amount=attrs["amount"],
            currency=attrs["currency"],
            occurred_on=attrs["occurred_on"],
            external_id=attrs["external_id"],
            customer_name=attrs["customer_name"],
            usage_quantity=attrs.get("usage_quantity"),
        )

    def create(self, request):
        if not can(membership_of(request), C.MANAGE_MONEY):
            raise ApiPermissionDenied()
        many = isinstance(request.data, list)
        serializer = (
            serializers.ListSerializer(
                child=RevenueEventInputSerializer(),
                data=request.data,
                allow_empty=False,
                max_length=MAX_EVENTS_PER_REQUEST,
            )
            if many
            else RevenueEventInputSerializer(data=request.data)
        )
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        recorded: list[RevenueEvent] = []
        errors: dict[str, dict[str, list[str]]] = {}
        for index, attrs in enumerate(items):
            try:
                recorded.append(self._record(attrs))
            except DomainError as error:
                if not many:
                    raise
                errors[str(index)] = {error.field or "non_field_errors": [str(error.message)]}
        if errors:
            # All or nothing: the error rolls the request's transaction back.
            raise serializers.ValidationError(errors)
        found = self.get_queryset().in_bulk([event.pk for event in recorded])
        body = RevenueEventSerializer([found[event.pk] for event in recorded], many=True).data
        return Response(body if many else body[0], status=status.HTTP_201_CREATED)
