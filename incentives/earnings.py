"""Reading a partner's earnings from the ledger: totals, months, deals, lines.

The earnings page, its home panel and the earnings API read the ledger through
these selectors only (payout status, statements and payout periods through
``incentives.payout_reads``). Guarantees:

* **Derived from entries.** Every amount is a sum of ``partner_payable``
  entries (``prm.ledger``'s sign convention: what the vendor owes is minus
  their sum), never a stored total, so the page always agrees with the ledger
  and with finance's balances.
* **Scoped by partner.** Every selector takes the partner whose money it reads
  (``None`` only for finance's tenant-wide view, which callers must check);
  the fail-closed tenant manager and row-level security keep other tenants
  out. A deal or revenue event is named only when it belongs to that same
  partner.
* **Constant queries.** Each selector is one grouped query, or a queryset
  whose related rows (entries, the deal's reference) come in a fixed number
  of queries however many transactions there are.
* **Identity.** Per currency, ``balance = earned + clawed_back + adjustments +
  reimbursed + converted - paid`` (clawbacks are negative), because every
  transaction kind falls in exactly one of those columns. ``converted`` is
  what the currency conversions posted when a period closes moved into the
  currency (positive: the payout currency) or out of it (negative: a
  currency earned in but paid in another); payments and conversions
  (``prm.ledger.models.SETTLEMENT_KINDS``) are never earnings.
* **Periods.** The ``period`` filter narrows lines to one payout period's
  transactions, as ``incentives.payout_reads.in_period`` defines them.
* ``explain`` turns a transaction's stored explanation (rule, base, rate,
  split, formula…) into translated label/value pairs for people to read.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from deals.models import DealRegistration
from incentives.models import (
    CommissionRule,
    PayoutPeriod,
    RevenueEvent,
    RuleKind,
)
from incentives.payout_reads import in_period
from partners.models import PartnerOrganization
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.selectors import transactions_for_partner, with_amounts

ZERO = Decimal("0.00")
MONTHS_IN_CHART = 12
EARNING_KINDS = (Kind.COMMISSION, Kind.REFERRAL_FEE, Kind.REVENUE_SHARE, Kind.REBATE, Kind.BONUS)
# What "net earnings" of a month counts: earnings, clawbacks and adjustments;
# reimbursements (MDF), payments and conversions are not earnings.
NET_KINDS = (*EARNING_KINDS, Kind.CLAWBACK, Kind.ADJUSTMENT)


# --- filters --------------------------------------------------------------------------


@dataclass(frozen=True)
class EarningsFilters:
    """Narrow the lines: a calendar month (its first day), a ledger kind, a
    currency, a deal (by id; kept only when it is the partner's), a payout
    period and, for finance, a partner."""

    month: date | None = None
    kind: str | None = None
    currency: str | None = None
    deal_id: int | None = None
    partner_id: int | None = None
    period: PayoutPeriod | None = None

    @property
    def month_range(self) -> tuple[date, date] | None:
        if self.month is None:
            return None
        last = calendar.monthrange(self.month.year, self.month.month)[1]
        return self.month.replace(day=1), self.month.replace(day=last)


def parse_month(value: str) -> date | None:
    """``"2026-03"`` → 1 March 2026; ``None`` for anything else."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except (TypeError, ValueError):
        return None


def _filtered(queryset: QuerySet, filters: EarningsFilters | None, prefix: str = "") -> QuerySet:
    if filters is None:
        return queryset
    conditions: dict[str, Any] = {}
    if filters.kind:
        conditions[f"{prefix}kind"] = filters.kind
    if filters.currency:
        conditions[f"{prefix}currency"] = filters.currency
    if filters.partner_id is not None:
        conditions[f"{prefix}partner_id"] = filters.partner_id
    if filters.deal_id is not None:
        conditions[f"{prefix}source_type"] = SourceType.DEAL
        conditions[f"{prefix}source_id"] = filters.deal_id
    month = filters.month_range
    if month is not None:
        conditions[f"{prefix}effective_date__range"] = month
    queryset = queryset.filter(**conditions)
    if filters.period is not None:
        queryset = queryset.filter(in_period(filters.period, prefix))
    return queryset


# --- totals -----------------------------------------------------------------------------


@dataclass
class CurrencyTotals:
    """A partner's money in one currency (amounts as the partner reads them)."""

    currency: str
    earned: Decimal = ZERO
    clawed_back: Decimal = ZERO  # negative or zero
    adjustments: Decimal = ZERO
    reimbursed: Decimal = ZERO
    converted: Decimal = ZERO  # moved into (+) or out of (-) this currency at closes
    paid: Decimal = ZERO  # positive: what was paid out
    balance: Decimal = ZERO  # what the vendor owes now
    by_kind: dict[str, Decimal] = field(default_factory=dict)


def _payable_entries(partner: PartnerOrganization | None) -> QuerySet:
    entries = LedgerEntry.objects.filter(account=Account.PARTNER_PAYABLE)
    if partner is not None:
        entries = entries.filter(partner=partner)
    return entries


def earnings_totals(
    *, partner: PartnerOrganization | None, filters: EarningsFilters | None = None
) -> list[CurrencyTotals]:
    """Earned, clawed back, adjusted, reimbursed, converted, paid and owed per
    currency (one query). ``partner=None`` is finance's tenant-wide view."""
    entries = _filtered(_payable_entries(partner), filters, prefix="transaction__")
    rows = (
        entries.values("currency", "transaction__kind")
        .annotate(total=Sum("amount"))
        .order_by("currency", "transaction__kind")
    )
    totals: dict[str, CurrencyTotals] = {}
    for row in rows:
        currency, kind = row["currency"], row["transaction__kind"]
        owed = -row["total"]
        found = totals.setdefault(currency, CurrencyTotals(currency=currency))
        found.by_kind[kind] = owed
        found.balance += owed
        if kind in EARNING_KINDS:
            found.earned += owed
        elif kind == Kind.CLAWBACK:
            found.clawed_back += owed
        elif kind == Kind.ADJUSTMENT:
            found.adjustments += owed
        elif kind == Kind.REIMBURSEMENT:
            found.reimbursed += owed
        elif kind == Kind.CONVERSION:
            found.converted += owed
        elif kind == Kind.PAYMENT:
            found.paid -= owed
        else:  # pragma: no cover - every Kind is handled above
            raise ValueError(kind)
    return list(totals.values())


# --- months -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthAmount:
    month: date
    amount: Decimal


@dataclass(frozen=True)
class MonthlySeries:
    """One currency's net earnings for each of the last months, oldest first."""

    currency: str
    months: list[MonthAmount]

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.months), ZERO)


def last_months(*, today: date, count: int = MONTHS_IN_CHART) -> list[date]:
    """The first days of the ``count`` months ending with ``today``'s, oldest first."""
    months = []
    year, month = today.year, today.month
    for _step in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(months))


def monthly_net_earnings(
    *, partner: PartnerOrganization | None, today: date, count: int = MONTHS_IN_CHART
) -> list[MonthlySeries]:
    """Net earnings (earnings + clawbacks + adjustments) per month and currency
    over the last ``count`` months, zero-filled (one query)."""
    months = last_months(today=today, count=count)
    last_day = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    rows = (
        _payable_entries(partner)
        .filter(
            transaction__kind__in=NET_KINDS,
            transaction__effective_date__range=(months[0], last_day),
        )
        .annotate(month=TruncMonth("transaction__effective_date"))
        .values("currency", "month")
        .annotate(total=Sum("amount"))
        .order_by("currency", "month")
    )
    found: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        month = row["month"]
        month = month.date() if hasattr(month, "date") else month
        found.setdefault(row["currency"], {})[month] = -row["total"]
    return [
        MonthlySeries(
            currency=currency,
            months=[MonthAmount(month, amounts.get(month, ZERO)) for month in months],
        )
        for currency, amounts in sorted(found.items())
    ]


# --- deals and lines --------------------------------------------------------------------


def _of_source(source_type: str, subquery: Subquery) -> Case:
    """The subquery's value only when the transaction comes from that kind of
    source (a deal and a revenue event may share an id)."""
    return Case(When(source_type=source_type, then=subquery), default=None)


def _deal_of() -> dict[str, Case]:
    """The reference and customer of the transaction's deal, only when the deal
    belongs to the transaction's own partner."""
    deals = DealRegistration.objects.filter(
        pk=OuterRef("source_id"), partner_id=OuterRef("partner_id")
    )
    return {
        "deal_reference": _of_source(
            SourceType.DEAL,
            Subquery(deals.values("reference")[:1], output_field=CharField(max_length=40)),
        ),
        "deal_customer": _of_source(
            SourceType.DEAL,
            Subquery(deals.values("customer_company")[:1], output_field=CharField(max_length=200)),
        ),
    }


def _event_customer() -> Case:
    events = RevenueEvent.objects.filter(
        pk=OuterRef("source_id"), partner_id=OuterRef("partner_id")
    )
    return _of_source(
        SourceType.REVENUE_EVENT,
        Subquery(events.values("customer_name")[:1], output_field=CharField(max_length=200)),
    )


def _rule_name() -> Subquery:
    return Subquery(
        CommissionRule.objects.filter(pk=OuterRef("rule_id")).values("name")[:1],
        output_field=CharField(max_length=120),
    )


def _annotated(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(**_deal_of(), event_customer=_event_customer(), rule_name=_rule_name())


def earning_lines(
    *, partner: PartnerOrganization, filters: EarningsFilters | None = None
) -> QuerySet[LedgerTransaction]:
    """The partner's transactions, newest first: entries prefetched, amounts
    (``partner_amount``: what it credits the partner), the deal's reference and
    customer, the revenue event's customer and the rule's name annotated."""
    return _annotated(_filtered(transactions_for_partner(partner=partner), filters))


def all_earning_lines(*, filters: EarningsFilters | None = None) -> QuerySet[LedgerTransaction]:
    """Finance's view: every partner's transactions, annotated like ``earning_lines``."""
    queryset: QuerySet = (
        LedgerTransaction.objects.filter(partner__isnull=False)
        .select_related("partner", "reverses")
        .prefetch_related(
            Prefetch("entries", queryset=LedgerEntry.objects.order_by("amount", "id"))
        )
    )
    return _annotated(with_amounts(_filtered(queryset, filters)).order_by("-effective_date", "-id"))


def earnings_by_deal(
    *, partner: PartnerOrganization, filters: EarningsFilters | None = None
) -> QuerySet:
    """Per deal and currency: earned, clawed back, net and number of lines, the
    largest net first (a values queryset, paginated by the caller)."""
    entries = _filtered(
        _payable_entries(partner).filter(transaction__source_type=SourceType.DEAL),
        filters,
        prefix="transaction__",
    )
    money = DecimalField(max_digits=18, decimal_places=2)
    deals = DealRegistration.objects.filter(
        pk=OuterRef("transaction__source_id"), partner_id=OuterRef("partner_id")
    )
    return (
        entries.values("transaction__source_id", "currency")
        .annotate(
            net=-Sum("amount"),
            earned=Coalesce(
                -Sum("amount", filter=Q(transaction__kind__in=EARNING_KINDS)),
                ZERO,
                output_field=money,
            ),
            clawed_back=Coalesce(
                -Sum("amount", filter=Q(transaction__kind=Kind.CLAWBACK)), ZERO, output_field=money
            ),
            lines=Count("transaction_id", distinct=True),
            reference=Subquery(deals.values("reference")[:1]),
            customer=Subquery(deals.values("customer_company")[:1]),
        )
        .order_by("-net", "transaction__source_id", "currency")
    )


# --- this month, for the home panel -------------------------------------------------------


def month_net_earnings(*, partner: PartnerOrganization, today: date) -> dict[str, Decimal]:
    """Net earnings per currency in ``today``'s month (one query)."""
    first = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    rows = (
        _payable_entries(partner)
        .filter(transaction__kind__in=NET_KINDS, transaction__effective_date__range=(first, last))
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: -row["total"] for row in rows}


# --- explanations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplanationItem:
    label: str
    value: str


BASE_KINDS: dict[str, Promise] = {
    "first_year_value": _("First-year contract value"),
    "deal_amount": _("Deal amount"),
    "event_amount": _("Customer payment"),
    "period_volume": _("Volume in the period"),
    "renewal_volume": _("Renewal volume in the period"),
    "usage_growth": _("Growth of the customer's usage"),
}
CO_SELL_ROLES = dict(CommissionRule.CoSellRole.choices)
RULE_KINDS = dict(RuleKind.choices)
EVENT_KINDS = dict(RevenueEvent.Kind.choices)
REBATE_MODES: dict[str, Promise] = {
    "marginal": _("Marginal: each band at its own rate"),
    "retroactive": _("Retroactive: the band reached applies to the whole volume"),
}


def _decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _money(value: object, currency: str) -> str:
    number = _decimal(value)
    if number is None:
        return str(value)
    return _("%(amount)s %(currency)s") % {
        "amount": formats.number_format(number, 2, use_l10n=True, force_grouping=True),
        "currency": currency,
    }


def _percent(value: object) -> str:
    number = _decimal(value)
    shown = formats.number_format(number, use_l10n=True) if number is not None else str(value)
    return _("%(rate)s%%") % {"rate": shown}


def _day(value: object) -> str:
    try:
        return formats.date_format(date.fromisoformat(str(value)), "DATE_FORMAT")
    except ValueError:
        return str(value)


def explain(
    explanation: dict[str, Any], *, currency: str, kind: str = "", memo: str = ""
) -> list[ExplanationItem]:
    """A transaction's explanation as translated label/value pairs, in a fixed
    order; internal bookkeeping keys are left out."""
    data = explanation or {}
    items: list[tuple[Promise, str]] = []

    def add(label: Promise, value: str) -> None:
        items.append((label, value))

    if data.get("clawback_of"):
        add(
            _("Takes back"),
            _("Earning no. %(number)s, because the deal was reversed")
            % {"number": data["clawback_of"]},
        )
    if data.get("rule"):
        add(_("Rule"), str(data["rule"]))
    rule_kind = data.get("rule_kind") or data.get("kind")
    if rule_kind in RULE_KINDS:
        add(_("Type"), str(RULE_KINDS[rule_kind]))
    if data.get("event_kind") in EVENT_KINDS:
        add(_("Customer event"), str(EVENT_KINDS[data["event_kind"]]))
    if data.get("customer"):
        add(_("Customer"), str(data["customer"]))
    if data.get("period_start") and data.get("period_end"):
        add(
            _("Period"),
            _("%(start)s to %(end)s")
            % {"start": _day(data["period_start"]), "end": _day(data["period_end"])},
        )
    if data.get("tier"):
        # The tier's name when the amount was computed; older lines have its key.
        add(_("Your tier"), str(data.get("tier_name") or data["tier"]))
    if data.get("deal_amount"):
        add(_("Deal amount"), _money(data["deal_amount"], currency))
    if data.get("term_months"):
        add(
            _("Contract term"),
            _("%(months)s months, of which the first %(first)s count")
            % {"months": data["term_months"], "first": data.get("first_year_months", 12)},
        )
    if data.get("matching_lines_amount"):
        add(
            _("Matching products"),
            _("%(matching)s of %(all)s")
            % {
                "matching": _money(data["matching_lines_amount"], currency),
                "all": _money(data.get("all_lines_amount", ""), currency),
            },
        )
    if "base" in data:
        base_kind = BASE_KINDS.get(str(data.get("base_kind", "")))
        value = _money(data["base"], currency)
        if base_kind is not None:
            value = _("%(what)s: %(amount)s") % {"what": base_kind, "amount": value}
        add(_("Base"), value)
    if data.get("previous_usage") and data.get("current_usage"):
        add(
            _("Usage"),
            _("%(previous)s before, %(current)s now (growth %(growth)s)")
            % {
                "previous": _money(data["previous_usage"], currency),
                "current": _money(data["current_usage"], currency),
                "growth": _percent(data.get("growth_percent", "0")),
            },
        )
    if data.get("renewal_rate"):
        add(
            _("Renewals"),
            _("%(won)s won, %(lost)s lost: renewal rate %(rate)s")
            % {
                "won": data.get("renewals_won", 0),
                "lost": data.get("renewals_lost", 0),
                "rate": _percent(data["renewal_rate"]),
            },
        )
    if data.get("threshold"):
        add(_("Threshold"), _percent(data["threshold"]))
    if data.get("mode") in REBATE_MODES:
        add(_("Rebate"), str(REBATE_MODES[data["mode"]]))
    if "rate" in data:
        add(_("Rate"), _percent(data["rate"]))
    if data.get("fixed_amount"):
        add(_("Fixed amount"), _money(data["fixed_amount"], currency))
    if data.get("split"):
        role = CO_SELL_ROLES.get(str(data.get("co_sell_role", "")))
        value = _percent(data["split"])
        if role is not None:
            value = _("%(share)s (%(role)s)") % {"share": value, "role": role}
        add(_("Your co-sell share"), value)
    if data.get("promotion_tier"):
        add(
            _("Tier promotion"),
            _("Reached %(tier)s by %(date)s")
            % {"tier": data["promotion_tier"], "date": _day(data.get("reached_by", ""))},
        )
    if data.get("formula"):
        add(_("Calculation"), str(data["formula"]))
    if data.get("reference"):
        add(_("Reference"), str(data["reference"]))
    reason = data.get("reason") or memo
    if reason:
        add(_("Reason"), str(reason))
    if kind == Kind.CONVERSION or (data.get("from_currency") and data.get("to_currency")):
        items.extend(_conversion_items(data))
    if not items and kind == Kind.PAYMENT:
        add(_("Payment"), str(_("Paid out to you")))
    return [ExplanationItem(label=str(label), value=str(value)) for label, value in items]


def _conversion_items(data: dict[str, Any]) -> list[tuple[Promise, str]]:
    """A currency conversion's explanation (``incentives.payouts.services``)."""
    source, target = str(data.get("from_currency", "")), str(data.get("to_currency", ""))
    items: list[tuple[Promise, str]] = [
        (
            _("Currency conversion"),
            _("%(original)s converted into %(converted)s")
            % {
                "original": _money(data.get("original_amount", ""), source),
                "converted": _money(data.get("converted_amount", ""), target),
            },
        ),
        (
            _("Statement"),
            _("Statement no. %(number)s, period %(period)s")
            % {"number": data.get("statement", ""), "period": data.get("period", "")},
        ),
    ]
    if data.get("lines"):
        items.append((_("Statement lines converted"), str(data["lines"])))
        items.append(
            (
                _("Exchange rates"),
                str(_("Each line at the rate of its own date, as on the statement")),
            )
        )
    if data.get("carried_in"):
        items.append(
            (
                _("Balance carried in"),
                _("%(amount)s carried forward from your previous statement")
                % {"amount": _money(data["carried_in"], source)},
            )
        )
    return items
