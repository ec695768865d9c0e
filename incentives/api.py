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
  The list filters by day range (``occurred_from``/``occurred_to``), part of
  the customer's name, kind and partner.
* ``earnings/payout-status/``: pending, approved and paid per currency
  (defined in ``incentives.earnings``), scoped like ``earnings/summary/``.
* ``statements/``: a partner user reads their own organisation's statements
  only (another partner's or another tenant's id answers 404, the partner
  filter is ignored); finance and tenant admins (``VIEW_MONEY``) read every
  partner's, filtered by period, partner and status. Retrieving one lists its
  lines (explanation, rate and rate date); ``pdf/`` downloads it, drawn by
  ``incentives.statement_pdf``. ``mark-paid/`` is finance's
  (``MANAGE_MONEY``) and calls ``incentives.payouts.services.mark_paid``.
* ``payout-periods/``: read by ``VIEW_MONEY``; ``close/`` is finance's
  (``MANAGE_MONEY``) and calls ``incentives.payouts.services.close_period``.
  Their refusals (already closed or paid, not ended, an earlier period open,
  a missing exchange rate) answer 409 or 400 with the service's code through
  ``prm.api.exceptions``.
* Money is a decimal string; every list's queries stay constant as rows grow.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from deals.api.permissions import is_partner_user
from deals.models import DealRegistration
from incentives.earnings import (
    EarningsFilters,
    all_earning_lines,
    earning_lines,
    earnings_totals,
    payout_status_totals,
    statement_lines,
)
from incentives.models import (
    CommissionPlan,
    CommissionRule,
    PayoutPeriod,
    PlanVersion,
    RevenueEvent,
    Statement,
)
from incentives.payouts import selectors as payout_selectors
from incentives.payouts import services as payout_services
from incentives.serializers import (
    MAX_EVENTS_PER_REQUEST,
    EarningQuerySerializer,
    EarningSerializer,
    MarkPaidSerializer,
    PayoutPeriodSerializer,
    PayoutStatusSerializer,
    PdfQuerySerializer,
    PlanSerializer,
    RevenueEventInputSerializer,
    RevenueEventQuerySerializer,
    RevenueEventSerializer,
    StatementDetailSerializer,
    StatementQuerySerializer,
    StatementSerializer,
    SummaryQuerySerializer,
    SummarySerializer,
)
from incentives.services import record_revenue_event
from incentives.statement_pdf import statement_for_pdf
from incentives.statement_views import pdf_response
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
_STATE_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("Not possible in the current state of the object.")
)
READ_ERRORS = {403: _FORBIDDEN, 404: _NOT_FOUND}
LIST_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND}
WRITE_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT}
ACTION_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _STATE_CONFLICT}


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
        period = None
        if data.get("period"):
            period = PayoutPeriod.objects.filter(pk=data["period"]).first()
            if period is None:
                return None
        return EarningsFilters(
            month=data.get("month"),
            kind=data.get("kind"),
            currency=data.get("currency"),
            deal_id=deal_id,
            partner_id=data.get("partner") if _reads_all(membership) else None,
            period=period,
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

    @extend_schema(
        summary=_("Pending, approved and paid"),
        description=_(
            "Per currency. Pending: owed but on no closed period's statement yet, in each "
            "earning's currency. Approved: on a closed period's statement and not paid yet "
            "(payable amounts not marked paid, plus the balance carried forward), in the "
            "payout currency. Paid: the statements marked paid. Partner users get their own "
            "organisation's; finance the whole tenant's, or one partner's with the partner "
            "filter."
        ),
        parameters=[SummaryQuerySerializer],
        responses={200: PayoutStatusSerializer(many=True), **LIST_ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="payout-status", pagination_class=None)
    def payout_status(self, request):
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        membership = membership_of(request)
        if _reads_all(membership):
            partner = None
            partner_id = query.validated_data.get("partner")
            if partner_id is not None:
                partner = PartnerOrganization.objects.filter(pk=partner_id).first()
                if partner is None:
                    return Response([])
            totals = payout_status_totals(partner=partner)
        else:
            totals = payout_status_totals(partner=membership.partner)
        return Response(PayoutStatusSerializer(totals, many=True).data)


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


# --- payout periods and statements ------------------------------------------------------


class PdfRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; the view answers the PDF."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class StatementPermission(ActionCapabilities):
    """A partner's own users, or staff who read money; ``mark-paid`` is finance's."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            is_partner_user(membership) or can(membership, C.VIEW_MONEY)
        )


@extend_schema_view(
    list=extend_schema(
        summary=_("List statements"),
        description=_(
            "Statements of closed payout periods, newest period first. Partner users see "
            "their own organisation's only; finance and tenant admins see every partner's "
            "and may filter by partner. Filter by period and status."
        ),
        parameters=[StatementQuerySerializer],
        responses={200: StatementSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a statement"),
        description=_(
            "One statement with its lines: each line's original amount and currency, the "
            "recorded exchange rate and its date when converted, the converted amount and "
            "how it was computed."
        ),
        responses={200: StatementDetailSerializer, **READ_ERRORS},
    ),
)
@extend_schema(tags=["incentives"])
class StatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What each partner is paid per closed period."""

    queryset = Statement.objects
    serializer_class = StatementSerializer
    permission_classes = [StatementPermission]
    required_capabilities = {"mark_paid": [C.MANAGE_MONEY]}
    filter_backends: list = []

    def get_serializer_class(self):
        return StatementDetailSerializer if self.action == "retrieve" else StatementSerializer

    def _filters(self) -> payout_selectors.StatementFilters:
        query = StatementQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return payout_selectors.StatementFilters(
            period_id=data.get("period"),
            partner_id=data.get("partner") if _reads_all(membership_of(self.request)) else None,
            status=data.get("status"),
        )

    def get_queryset(self) -> QuerySet[Statement]:
        membership = membership_of(self.request)
        filters = self._filters() if self.action == "list" else None
        queryset = payout_selectors.statements(filters=filters)
        if not _reads_all(membership):
            queryset = queryset.filter(partner_id=membership.partner_id)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(statement_lines())
        return queryset

    def handle_exception(self, exc):
        # An error of the PDF download is JSON whatever the client accepted.
        if getattr(self, "action", None) == "pdf":
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(
        summary=_("Download a statement as PDF"),
        description=_(
            "The statement drawn as a PDF, in the caller's language or the one asked for."
        ),
        parameters=[PdfQuerySerializer],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description=_("The statement as a PDF attachment.")
            ),
            # Errors are JSON whatever the client accepted (see handle_exception).
            **{(code, "application/json"): error for code, error in LIST_ERRORS.items()},
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        statement = self.get_object()
        query = PdfQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        language = query.validated_data.get("language") or translation.get_language()
        drawn = statement_for_pdf(
            pk=statement.pk,
            partner=None if _reads_all(membership_of(request)) else statement.partner,
        )
        return pdf_response(drawn, language)

    @extend_schema(
        summary=_("Mark a statement paid"),
        description=_(
            "Finance only. Records that the statement's payable amount was paid, with the "
            "payment's reference and day, as one ledger payment. Refused when the statement "
            "is already paid, or held, blocked or carried forward (nothing payable)."
        ),
        request=MarkPaidSerializer,
        responses={200: StatementSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request, pk=None):
        statement = self.get_object()
        body = MarkPaidSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        payout_services.mark_paid(
            statement=statement,
            reference=body.validated_data["reference"],
            paid_on=body.validated_data.get("paid_on") or timezone.localdate(),
            membership=membership_of(request),
            actor=actor_of(request),
        )
        return Response(StatementSerializer(self.get_queryset().get(pk=statement.pk)).data)


class PayoutPeriodPermission(ActionCapabilities):
    """Staff who read money (``VIEW_MONEY``); ``close`` is finance's."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and can(membership_of(request), C.VIEW_MONEY)


@extend_schema_view(
    list=extend_schema(
        summary=_("List payout periods"),
        description=_("Every payout period, newest first, with its number of statements."),
        responses={200: PayoutPeriodSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a payout period"), responses={200: PayoutPeriodSerializer, **READ_ERRORS}
    ),
)
@extend_schema(tags=["incentives"])
class PayoutPeriodViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The stretches of days whose earnings are paid together."""

    queryset = PayoutPeriod.objects
    serializer_class = PayoutPeriodSerializer
    permission_classes = [PayoutPeriodPermission]
    required_capabilities = {"close": [C.MANAGE_MONEY]}
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[PayoutPeriod]:
        return payout_selectors.periods().order_by("-start")

    @extend_schema(
        summary=_("Close a payout period"),
        description=_(
            "Finance only. Writes one statement per partner and opens the next period. "
            "Refused when the period is already closed, has not ended, an earlier period is "
            "still open, or an amount cannot be converted for lack of a recorded exchange "
            "rate."
        ),
        request=None,
        responses={200: PayoutPeriodSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        period = self.get_object()
        payout_services.close_period(
            period=period, membership=membership_of(request), actor=actor_of(request)
        )
        return Response(PayoutPeriodSerializer(self.get_queryset().get(pk=period.pk)).data)
