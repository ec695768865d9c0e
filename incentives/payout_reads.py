"""Reading a partner's payouts: payout status, statements and payout periods.

The earnings page and the earnings and statements API read a partner's way to
the bank through these selectors; ``incentives.earnings`` reads the ledger
lines and totals, and narrows its lines to one payout period with
``in_period``. Guarantees, the same as ``incentives.earnings``'s: amounts are
sums of ``partner_payable`` entries and of statements, never a stored total;
every selector takes the partner whose money it reads (``None`` only for
finance's tenant-wide view, which callers must check); each costs a fixed
number of queries however many rows there are.

* **Payout status.** ``payout_status_totals`` splits what a partner earned by
  where it is on its way to the bank, per currency (two queries, set-based):

  - *pending*: the sum owed by the partner's ledger transactions that are on
    no statement yet (payments and currency conversions aside,
    ``prm.ledger.models.SETTLEMENT_KINDS``), in each transaction's own currency:
    earnings, clawbacks, adjustments and reimbursements posted since the last
    close, effective after it, or held. A closed period's statement is the
    only thing that moves a transaction out of *pending*.
  - *approved*: on a closed period's statement and not paid yet, in the
    statement's payout currency: the payable amount of statements still
    "closed" (not marked paid), plus the carried-forward balance of the
    partner's latest statement (below the minimum payout, negative, held or
    blocked). An earlier statement's carried balance is not counted again: it
    is the opening balance of the statement after it.
  - *paid*: what the ledger's payment transactions paid out, in their
    currency. Finance records a payment only by marking a statement paid
    (``incentives.payouts.services.mark_paid``, one payment of exactly the
    statement's payable amount), so this is also the sum of the statements
    marked paid.

  Per currency, ``pending + approved`` is the balance owed
  (``incentives.earnings.CurrencyTotals.balance``) and ``paid`` is
  ``CurrencyTotals.paid``: closing a period posts currency conversions that
  move what its statements took into the payout currency
  (``incentives.payouts.services``), and conversions are neither pending,
  approved nor paid themselves.
* **Statements and periods.** ``statements_of`` lists a partner's statements
  and ``statement_lines`` prefetches their lines. ``in_period`` is what a
  payout period's lines are: for a closed period, the transactions on its
  statement and the payment that settled it (the currency conversions its
  close posted are bookkeeping between the partner's currencies, listed
  with all lines but not as the period's); for an open period, the
  transactions its close would put on a statement (on no statement yet,
  effective by its last day, payments and conversions aside). ``periods_for_filter`` lists the
  periods to choose from.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    DecimalField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce

from deals.models import DealRegistration
from incentives.models import PayoutPeriod, RevenueEvent, Statement, StatementLine
from partners.models import PartnerOrganization
from prm.ledger.models import SETTLEMENT_KINDS, Account, Kind, LedgerEntry, SourceType

ZERO = Decimal("0.00")


# --- payout periods ---------------------------------------------------------------------


def _not_a_settlement(prefix: str = "") -> Q:
    """Neither a payment nor a currency conversion: something a statement lists."""
    return ~Q(**{f"{prefix}kind__in": SETTLEMENT_KINDS}) & ~Q(
        **{f"{prefix}source_type": SourceType.PAYOUT}
    )


def _on_a_statement(prefix: str = "") -> Exists:
    return Exists(StatementLine.objects.filter(transaction_id=OuterRef(f"{prefix}pk")))


def in_period(period: PayoutPeriod, prefix: str = "") -> Q:
    """The transactions of ``period`` (see the module docstring)."""
    outer = OuterRef(f"{prefix}pk")
    if not period.is_open:
        on_its_statement = StatementLine.objects.filter(
            transaction_id=outer, statement__period_id=period.pk
        )
        settles_it = Statement.objects.filter(period_id=period.pk, payment_transaction_id=outer)
        return Q(Exists(on_its_statement)) | Q(Exists(settles_it))
    return (
        ~Q(_on_a_statement(prefix))
        & _not_a_settlement(prefix)
        & Q(**{f"{prefix}effective_date__lte": period.end})
    )


# --- payout status ----------------------------------------------------------------------


@dataclass
class PayoutStatusTotals:
    """A partner's money in one currency by payout status (see the module docstring)."""

    currency: str
    pending: Decimal = ZERO
    approved: Decimal = ZERO
    paid: Decimal = ZERO


def payout_status_totals(*, partner: PartnerOrganization | None) -> list[PayoutStatusTotals]:
    """Pending, approved and paid per currency, sorted by currency (two
    queries). ``partner=None`` is finance's tenant-wide view."""
    money = DecimalField(max_digits=18, decimal_places=2)
    entries: QuerySet = LedgerEntry.objects.filter(account=Account.PARTNER_PAYABLE)
    statements = Statement.objects.all()
    if partner is not None:
        entries = entries.filter(partner=partner)
        statements = statements.filter(partner=partner)
    ledger_rows = (
        entries.values("currency")
        .annotate(
            pending=Coalesce(
                -Sum(
                    "amount",
                    filter=_not_a_settlement("transaction__")
                    & ~Q(_on_a_statement("transaction__")),
                ),
                ZERO,
                output_field=money,
            ),
            paid=Coalesce(
                Sum("amount", filter=Q(transaction__kind=Kind.PAYMENT)), ZERO, output_field=money
            ),
        )
        .order_by("currency")
    )
    later = Statement.objects.filter(
        partner_id=OuterRef("partner_id"), period__start__gt=OuterRef("period__start")
    )
    statement_rows = (
        statements.values("currency")
        .annotate(
            unpaid=Coalesce(
                Sum("payable_amount", filter=Q(status=Statement.Status.CLOSED)),
                ZERO,
                output_field=money,
            ),
            carried=Coalesce(
                Sum("carried_forward", filter=~Q(Exists(later))), ZERO, output_field=money
            ),
        )
        .order_by("currency")
    )
    found: dict[str, PayoutStatusTotals] = {}
    for row in ledger_rows:
        totals = found.setdefault(row["currency"], PayoutStatusTotals(currency=row["currency"]))
        totals.pending += row["pending"]
        totals.paid += row["paid"]
    for row in statement_rows:
        totals = found.setdefault(row["currency"], PayoutStatusTotals(currency=row["currency"]))
        totals.approved += row["unpaid"] + row["carried"]
    return [found[currency] for currency in sorted(found)]


# --- statements -------------------------------------------------------------------------


def statements_of(*, partner: PartnerOrganization) -> QuerySet[Statement]:
    """The partner's statements, newest period first, with their period."""
    return (
        Statement.objects.filter(partner=partner)
        .select_related("period")
        .order_by("-period__start", "id")
    )


def statement_lines() -> Prefetch:
    """A statement's lines, oldest first, with their transaction (for its memo)
    and the deal's reference and customer or the revenue event's customer,
    only when that source belongs to the statement's own partner (one query
    however many statements and lines)."""
    deals = DealRegistration.objects.filter(
        pk=OuterRef("transaction__source_id"), partner_id=OuterRef("statement__partner_id")
    )
    events = RevenueEvent.objects.filter(
        pk=OuterRef("transaction__source_id"), partner_id=OuterRef("statement__partner_id")
    )
    lines = (
        StatementLine.objects.select_related("transaction")
        .annotate(
            deal_reference=Case(
                When(
                    transaction__source_type=SourceType.DEAL,
                    then=Subquery(
                        deals.values("reference")[:1], output_field=CharField(max_length=40)
                    ),
                ),
                default=None,
            ),
            customer=Case(
                When(
                    transaction__source_type=SourceType.DEAL,
                    then=Subquery(
                        deals.values("customer_company")[:1],
                        output_field=CharField(max_length=200),
                    ),
                ),
                When(
                    transaction__source_type=SourceType.REVENUE_EVENT,
                    then=Subquery(
                        events.values("customer_name")[:1],
                        output_field=CharField(max_length=200),
                    ),
                ),
                default=None,
            ),
        )
        .order_by("effective_date", "id")
    )
    return Prefetch("lines", queryset=lines)


def periods_for_filter() -> list[PayoutPeriod]:
    """The tenant's payout periods, newest first, for a period filter (one query)."""
    return list(PayoutPeriod.objects.order_by("-start"))
