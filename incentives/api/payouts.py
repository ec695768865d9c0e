"""Payout periods and statements: lists, details, PDF, mark paid, close."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from incentives.api.permissions import (
    ACTION_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    C,
    PayoutPeriodPermission,
    StatementPermission,
    reads_all,
)
from incentives.models import PayoutPeriod, Statement
from incentives.payout_reads import statement_lines
from incentives.payouts import selectors as payout_selectors
from incentives.payouts import services as payout_services
from incentives.serializers import (
    MarkPaidSerializer,
    PayoutPeriodSerializer,
    PdfQuerySerializer,
    StatementDetailSerializer,
    StatementQuerySerializer,
    StatementSerializer,
)
from incentives.statement_pdf import statement_for_pdf
from incentives.statement_views import pdf_response
from prm.api.permissions import actor_of, membership_of


class PdfRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; the view answers the PDF."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


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
            partner_id=data.get("partner") if reads_all(membership_of(self.request)) else None,
            status=data.get("status"),
        )

    def get_queryset(self) -> QuerySet[Statement]:
        membership = membership_of(self.request)
        filters = self._filters() if self.action == "list" else None
        queryset = payout_selectors.statements(filters=filters)
        if not reads_all(membership):
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
            partner=None if reads_all(membership_of(request)) else statement.partner,
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
