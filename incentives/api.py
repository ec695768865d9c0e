"""REST endpoints for commission plans, earnings and revenue events.

Guarantees, the same as the portal's because the same selectors
(``incentives.earnings``) scope every read and the same service
(``incentives.services.record_revenue_event``) makes every write:

* ``plans/``: read only, for finance and tenant admins (``VIEW_MONEY`` or
  ``MANAGE_PROGRAM``); partner users and channel managers get 403.
* ``earnings/`` and ``earnings/summary/``: a partner user reads their own
  organisation's ledger transactions only — another partner's transaction
  answers 404 and never appears in a list, whatever the filters say; staff with
  ``VIEW_MONEY`` (and finance API keys) read every partner's, with a
  ``partner`` filter. Anyone else gets 403.
* ``revenue-events/``: listed for ``VIEW_MONEY``; recorded by ``MANAGE_MONEY``
  (finance, and tenant API keys with the finance role). One event as an
  object or up to ``MAX_EVENTS_PER_REQUEST`` as a list; a list is recorded
  entirely or not at all, its errors reported per item in the list's order.
* Money is a decimal string; every list's queries stay constant as rows grow.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.response import Response

from deals.api.permissions import is_partner_user
from deals.models import DealRegistration
from incentives.earnings import (
    EarningsFilters,
    all_earning_lines,
    earning_lines,
    earnings_totals,
)
from incentives.models import CommissionPlan, CommissionRule, PlanVersion, RevenueEvent
from incentives.serializers import (
    MAX_EVENTS_PER_REQUEST,
    EarningQuerySerializer,
    EarningSerializer,
    PlanSerializer,
    RevenueEventInputSerializer,
    RevenueEventSerializer,
    SummaryQuerySerializer,
    SummarySerializer,
)
from incentives.services import record_revenue_event
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.api.permissions import ActionCapabilities, IsTenantMember, actor_of, membership_of
from prm.api.schema import ErrorSerializer
from prm.errors import DomainError
from prm.ledger.models import LedgerTransaction

C = Capability
_INVALID = OpenApiResponse(description=_("Invalid input: {field: [messages]} or {code, detail}."))
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description=_("Your role may not do this."))
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=_("Not found in your scope."))
_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("An event with this id was recorded with other details.")
)
READ_ERRORS = {403: _FORBIDDEN, 404: _NOT_FOUND}
LIST_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND}
WRITE_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT}


# --- plans ------------------------------------------------------------------------------


class PlanPermission(IsTenantMember):
    """Finance (``VIEW_MONEY``) and tenant admins (``MANAGE_PROGRAM``)."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            can(membership, C.VIEW_MONEY) or can(membership, C.MANAGE_PROGRAM)
        )


@extend_schema_view(
    list=extend_schema(
        summary=_("List commission plans"),
        description=_(
            "Every plan with its versions (draft, published, retired) and each version's "
            "rules. Finance and tenant admins."
        ),
        responses={200: PlanSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a commission plan"), responses={200: PlanSerializer, **READ_ERRORS}
    ),
)
@extend_schema(tags=["incentives"])
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Commission plans, read only."""

    queryset = CommissionPlan.objects
    serializer_class = PlanSerializer
    permission_classes = [PlanPermission]
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[CommissionPlan]:
        rules = CommissionRule.objects.order_by("kind", "-priority", "id")
        versions = PlanVersion.objects.order_by("-number").prefetch_related(
            Prefetch("rules", queryset=rules)
        )
        return CommissionPlan.objects.order_by("name", "id").prefetch_related(
            Prefetch("versions", queryset=versions)
        )


# --- earnings ---------------------------------------------------------------------------


class EarningsPermission(IsTenantMember):
    """A partner's own users, or staff who read money (``VIEW_MONEY``)."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            is_partner_user(membership) or can(membership, C.VIEW_MONEY)
        )


def _reads_all(membership) -> bool:
    return not is_partner_user(membership) and can(membership, C.VIEW_MONEY)


@extend_schema_view(
    list=extend_schema(
        summary=_("List earnings"),
        description=_(
            "Ledger transactions with their entries and explanation, newest first. Partner "
            "users see their own organisation's only; finance sees every partner's and may "
            "filter by partner."
        ),
        parameters=[EarningQuerySerializer],
        responses={200: EarningSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show an earning"),
        description=_("One ledger transaction with its entries and explanation."),
        responses={200: EarningSerializer, **READ_ERRORS},
    ),
)
@extend_schema(tags=["incentives"])
class EarningViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Earnings, clawbacks, adjustments and payments from the ledger."""

    queryset = LedgerTransaction.objects
    serializer_class = EarningSerializer
    permission_classes = [EarningsPermission]
    filter_backends: list = []

    def _filters(self) -> EarningsFilters | None:
        """The validated list filters; ``None`` when they can match nothing."""
        query = EarningQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        membership = membership_of(self.request)
        deal_id = None
        if data.get("deal"):
            deals = DealRegistration.objects.filter(reference__iexact=data["deal"])
            if not _reads_all(membership):
                deals = deals.filter(partner_id=membership.partner_id)
            deal_id = deals.values_list("pk", flat=True).first()
            if deal_id is None:
                return None
        return EarningsFilters(
            month=data.get("month"),
            kind=data.get("kind"),
            currency=data.get("currency"),
            deal_id=deal_id,
            partner_id=data.get("partner") if _reads_all(membership) else None,
        )

    def get_queryset(self):
        membership = membership_of(self.request)
        filters = self._filters() if self.action == "list" else None
        if self.action == "list" and filters is None:
            return all_earning_lines().none()
        if _reads_all(membership):
            return all_earning_lines(filters=filters)
        return earning_lines(partner=membership.partner, filters=filters).select_related("partner")

    @extend_schema(
        summary=_("Earnings totals"),
        description=_(
            "Per currency: earned, clawed back, adjustments, reimbursed, paid and the "
            "balance owed. Partner users get their own organisation's; finance gets the "
            "whole tenant's, or one partner's with the partner filter."
        ),
        parameters=[SummaryQuerySerializer],
        responses={200: SummarySerializer(many=True), **LIST_ERRORS},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request):
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        membership = membership_of(request)
        if _reads_all(membership):
            partner_id = query.validated_data.get("partner")
            totals = earnings_totals(partner=None, filters=EarningsFilters(partner_id=partner_id))
        else:
            totals = earnings_totals(partner=membership.partner)
        return Response(SummarySerializer(totals, many=True).data)


# --- revenue events ---------------------------------------------------------------------


def _one_or_many(serializer_class) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=f"{serializer_class.__name__.removesuffix('Serializer')}OneOrMany",
        serializers=[serializer_class, serializer_class(many=True)],
        resource_type_field_name=None,
        many=False,
    )


class RevenueEventPermission(ActionCapabilities):
    """Reading needs ``VIEW_MONEY``; recording ``MANAGE_MONEY``."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and can(membership_of(request), C.VIEW_MONEY)


@extend_schema_view(
    list=extend_schema(
        summary=_("List revenue events"),
        description=_("Imported customer payments, refunds and usage charges, newest first."),
        responses={200: RevenueEventSerializer(many=True), **READ_ERRORS},
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
        return RevenueEvent.objects.select_related("partner", "deal").order_by(
            "-occurred_on", "-id"
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
