"""Earnings from the ledger: the transactions, their totals and payout status."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deals.models import DealRegistration
from incentives.api.permissions import LIST_ERRORS, READ_ERRORS, EarningsPermission, reads_all
from incentives.earnings import EarningsFilters, all_earning_lines, earning_lines, earnings_totals
from incentives.models import PayoutPeriod
from incentives.payout_reads import payout_status_totals
from incentives.serializers import (
    EarningQuerySerializer,
    EarningSerializer,
    PayoutStatusSerializer,
    SummaryQuerySerializer,
    SummarySerializer,
)
from partners.models import PartnerOrganization
from prm.api.permissions import membership_of
from prm.ledger.models import LedgerTransaction


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
            if not reads_all(membership):
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
            partner_id=data.get("partner") if reads_all(membership) else None,
            period=period,
        )

    def get_queryset(self):
        membership = membership_of(self.request)
        filters = self._filters() if self.action == "list" else None
        if self.action == "list" and filters is None:
            return all_earning_lines().none()
        if reads_all(membership):
            return all_earning_lines(filters=filters)
        return earning_lines(partner=membership.partner, filters=filters).select_related("partner")

    @extend_schema(
        summary=_("Earnings totals"),
        description=_(
            "Per currency: earned, clawed back, adjustments, reimbursed, converted (by the "
            "currency conversions of closed payout periods), paid and the balance owed. "
            "Partner users get their own organisation's; finance gets the whole tenant's, "
            "or one partner's with the partner filter."
        ),
        parameters=[SummaryQuerySerializer],
        responses={200: SummarySerializer(many=True), **LIST_ERRORS},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request):
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        membership = membership_of(request)
        if reads_all(membership):
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
        if reads_all(membership):
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
