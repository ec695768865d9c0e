"""Partner portal earnings page (/earnings/) and its home panel.

Only partner users (partner admins and reps) open the page, and only for their
own organisation's money: every read goes through ``incentives.earnings`` or
``incentives.payout_reads`` starting from ``request.membership.partner``, so
another partner's or another tenant's transactions never appear, and a deal
reference that is not the partner's own filters nothing but shows an error.
Staff get 403 (finance reads the ledger in the console). The page costs a
fixed number of queries however many transactions there are: totals, months,
the deals page and the lines page (with their entries) are each one or two
queries.

Besides the ledger totals the page shows the payout status (pending, approved,
paid: defined in ``incentives.payout_reads``), the partner's statements with
their PDF downloads (paginated; ``?period=<id>`` narrows the lines to one
payout period), and, for partner admins, a notice naming what payee details
are missing while payouts are blocked (``partners.payee.payout_blockers``).

The monthly chart is an SVG drawn here on the server from the same numbers as
the table that follows it (the table is the accessible fallback and the
per-month breakdown), so no script is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from deals.models import DealRegistration
from incentives.earnings import (
    EarningsFilters,
    MonthlySeries,
    earning_lines,
    earnings_by_deal,
    earnings_totals,
    explain,
    month_net_earnings,
    monthly_net_earnings,
    parse_month,
)
from incentives.models import PayoutPeriod
from incentives.payout_reads import payout_status_totals, periods_for_filter, statements_of
from partners.payee import payout_blockers
from prm.accounts.roles import Capability, can
from prm.ledger.models import Kind
from prm.portal.context import render_page

LINES_PER_PAGE = 25
DEALS_PER_PAGE = 10
STATEMENTS_PER_PAGE = 12
# The chart's drawing box (SVG user units, not money).
CHART_WIDTH = Decimal(480)
CHART_HEIGHT = Decimal(160)
BAR_GAP = Decimal(8)


def _partner_user(request):
    """The acting partner user's membership; staff and everyone else get 403."""
    membership = request.membership
    if not can(membership, Capability.USE_PORTAL) or not membership.partner_id:
        raise PermissionDenied
    return membership


class EarningsFilterForm(forms.Form):
    """The page's filters; input validation only."""

    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-03"}),
        help_text=_("Year and month, like 2026-03."),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *Kind.choices]
    )
    deal = forms.CharField(label=_("Deal reference"), required=False, max_length=40)
    period = forms.ChoiceField(label=_("Payout period"), required=False)

    def __init__(self, *args, partner, periods: list[PayoutPeriod], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner
        self.periods = {str(period.pk): period for period in periods}
        period_field = self.fields["period"]
        assert isinstance(period_field, forms.ChoiceField)
        period_field.choices = [
            ("", _("All periods")),
            *((str(period.pk), period_label(period)) for period in periods),
        ]

    def clean_period(self) -> PayoutPeriod | None:
        return self.periods.get(self.cleaned_data.get("period") or "")

    def clean_month(self) -> date | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        month = parse_month(value)
        if month is None:
            raise forms.ValidationError(_("Enter a month as year and month, like 2026-03."))
        return month

    def clean_deal(self) -> int | None:
        reference = (self.cleaned_data.get("deal") or "").strip()
        if not reference:
            return None
        found = (
            DealRegistration.objects.filter(partner=self.partner, reference__iexact=reference)
            .values_list("pk", flat=True)
            .first()
        )
        if found is None:
            raise forms.ValidationError(_("None of your deals has this reference."))
        return found


def period_label(period: PayoutPeriod) -> str:
    """``1 Oct 2026 – 31 Oct 2026 (closed)``, in the active language."""
    return pgettext("payout period: dates and status", "%(start)s – %(end)s (%(status)s)") % {
        "start": date_format(period.start, "SHORT_DATE_FORMAT"),
        "end": date_format(period.end, "SHORT_DATE_FORMAT"),
        "status": period.get_status_display(),
    }


@dataclass(frozen=True)
class Bar:
    month: date
    label: str
    amount: Decimal
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    negative: bool


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list[Bar]
    zero_y: Decimal
    total: Decimal
    width: Decimal = CHART_WIDTH
    height: Decimal = CHART_HEIGHT


def _geometry(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"))


def chart_of(series: MonthlySeries) -> Chart:
    """Bars for one currency's months: positive months rise from the zero line,
    negative ones (clawbacks larger than earnings) hang below it."""
    amounts = [item.amount for item in series.months]
    highest = max([*amounts, Decimal(0)])
    lowest = min([*amounts, Decimal(0)])
    span = (highest - lowest) or Decimal(1)
    zero_y = CHART_HEIGHT * highest / span
    slot = CHART_WIDTH / len(amounts)
    bars = []
    for index, item in enumerate(series.months):
        height = CHART_HEIGHT * abs(item.amount) / span
        bars.append(
            Bar(
                month=item.month,
                label=date_format(item.month, "YEAR_MONTH_FORMAT"),
                amount=item.amount,
                x=_geometry(slot * index + BAR_GAP / 2),
                y=_geometry(zero_y - height if item.amount >= 0 else zero_y),
                width=_geometry(slot - BAR_GAP),
                height=_geometry(height),
                negative=item.amount < 0,
            )
        )
    return Chart(series.currency, bars, _geometry(zero_y), series.total)


def _explained(lines) -> list:
    for line in lines:
        line.explained = explain(
            line.explanation, currency=line.currency, kind=line.kind, memo=line.memo
        )
    return lines


@login_required
@require_GET
def earnings(request):
    membership = _partner_user(request)
    partner = membership.partner
    form = EarningsFilterForm(request.GET or None, partner=partner, periods=periods_for_filter())
    form.is_valid()
    # Apply whatever filters are valid; an invalid one shows its error and filters nothing.
    data = getattr(form, "cleaned_data", {})
    filters = EarningsFilters(
        month=data.get("month"),
        kind=data.get("kind") or None,
        deal_id=data.get("deal"),
        period=data.get("period"),
    )
    today = timezone.localdate()
    lines_page = Paginator(
        earning_lines(partner=partner, filters=filters), LINES_PER_PAGE
    ).get_page(request.GET.get("page"))
    _explained(lines_page.object_list)
    deals_page = Paginator(
        earnings_by_deal(partner=partner, filters=filters), DEALS_PER_PAGE
    ).get_page(request.GET.get("deals_page"))
    statements_page = Paginator(statements_of(partner=partner), STATEMENTS_PER_PAGE).get_page(
        request.GET.get("statements_page")
    )
    charts = [chart_of(series) for series in monthly_net_earnings(partner=partner, today=today)]
    query = request.GET.copy()
    query.pop("page", None)
    deals_query = request.GET.copy()
    deals_query.pop("deals_page", None)
    statements_query = request.GET.copy()
    statements_query.pop("statements_page", None)
    is_partner_admin = can(membership, Capability.MANAGE_OWN_ORG_USERS)
    return render_page(
        request,
        "incentives/earnings.html",
        {
            "form": form,
            "totals": earnings_totals(partner=partner),
            "payout_status": payout_status_totals(partner=partner),
            "charts": charts,
            "lines_page": lines_page,
            "deals_page": deals_page,
            "statements_page": statements_page,
            "period": filters.period,
            "payout_blockers": payout_blockers(partner) if is_partner_admin else [],
            "filtered": filters != EarningsFilters(),
            "query": query.urlencode(),
            "deals_query": deals_query.urlencode(),
            "statements_query": statements_query.urlencode(),
        },
    )


def home_panel(request) -> dict | None:
    """The partner's balance owed and this month's net earnings, per currency
    (two queries); ``None`` for anyone but a partner user."""
    membership = getattr(request, "membership", None)
    if membership is None or not can(membership, Capability.USE_PORTAL):
        return None
    if not membership.partner_id:
        return None
    today = timezone.localdate()
    this_month = month_net_earnings(partner=membership.partner, today=today)
    totals = earnings_totals(partner=membership.partner)
    currencies = sorted({*this_month, *(total.currency for total in totals)})
    balances = {total.currency: total.balance for total in totals}
    return {
        "month": today,
        "rows": [
            {
                "currency": currency,
                "balance": balances.get(currency, Decimal("0.00")),
                "this_month": this_month.get(currency, Decimal("0.00")),
            }
            for currency in currencies
        ],
    }
