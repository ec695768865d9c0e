"""Reading the ledger: balances and totals derived from entries, never stored.

Every selector is one set-based query (or a queryset whose related rows are
fetched with a constant number of queries), scoped to the active tenant by
the fail-closed manager and row-level security. Sign convention: entries are
debit-positive; what the vendor owes a partner is *minus* the sum of its
``partner_payable`` entries, so earnings show positive and clawbacks negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, DecimalField, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from partners.models import PartnerOrganization
from prm.ledger.models import Account, LedgerEntry, LedgerTransaction

ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=18, decimal_places=2))


@dataclass(frozen=True)
class Balance:
    partner_id: int | None
    account: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class KindTotal:
    kind: str
    currency: str
    amount: Decimal
    transactions: int


@dataclass(frozen=True)
class TransactionFilters:
    partner_id: int | None = None
    kind: str | None = None
    currency: str | None = None
    period_key: str | None = None
    source_type: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _filter_transactions(queryset: QuerySet, filters: TransactionFilters | None) -> QuerySet:
    if filters is None:
        return queryset
    conditions = {
        "partner_id": filters.partner_id,
        "kind": filters.kind,
        "currency": filters.currency,
        "period_key": filters.period_key,
        "source_type": filters.source_type,
        "effective_date__gte": filters.date_from,
        "effective_date__lte": filters.date_to,
    }
    return queryset.filter(
        **{name: value for name, value in conditions.items() if value is not None}
    )


def balances(
    *,
    partner_ids: Iterable[int] | None = None,
    accounts: Iterable[str] | None = None,
    currency: str | None = None,
    as_of: date | None = None,
) -> list[Balance]:
    """Balances per partner, account and currency (one grouped query over entries).

    ``as_of`` counts only transactions effective on or before that date.
    Accounts that net to zero are still listed (they had movements).
    """
    entries = LedgerEntry.objects.all()
    if partner_ids is not None:
        entries = entries.filter(partner_id__in=list(partner_ids))
    if accounts is not None:
        entries = entries.filter(account__in=list(accounts))
    if currency is not None:
        entries = entries.filter(currency=currency)
    if as_of is not None:
        entries = entries.filter(transaction__effective_date__lte=as_of)
    rows = (
        entries.values("partner_id", "account", "currency")
        .annotate(total=Sum("amount"))
        .order_by("partner_id", "account", "currency")
    )
    return [
        Balance(
            partner_id=row["partner_id"],
            account=row["account"],
            currency=row["currency"],
            amount=row["total"],
        )
        for row in rows
    ]


def payable_balances(
    *, partner_ids: Iterable[int] | None = None, as_of: date | None = None
) -> dict[tuple[int, str], Decimal]:
    """What the vendor owes each partner, per currency: ``{(partner_id, currency): amount}``.

    Negative when clawbacks exceed what is left to pay (carried forward).
    """
    return {
        (balance.partner_id, balance.currency): -balance.amount
        for balance in balances(
            partner_ids=partner_ids, accounts=[Account.PARTNER_PAYABLE], as_of=as_of
        )
        if balance.partner_id is not None
    }


def with_amounts(queryset: QuerySet) -> QuerySet:
    """Annotate ``total`` (the sum of the debits: the transaction's size) and
    ``partner_amount`` (what it credits the partner; negative for a clawback)."""
    return queryset.annotate(
        total=Coalesce(Sum("entries__amount", filter=Q(entries__amount__gt=0)), ZERO),
        partner_amount=Coalesce(
            -Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE)), ZERO
        ),
    )


def transactions(*, filters: TransactionFilters | None = None) -> QuerySet:
    """Every transaction of the tenant (finance's view), amounts annotated."""
    queryset = LedgerTransaction.objects.select_related("partner", "created_by", "reverses")
    return with_amounts(_filter_transactions(queryset, filters)).order_by("-effective_date", "-id")


def transactions_for_partner(
    *, partner: PartnerOrganization, filters: TransactionFilters | None = None
) -> QuerySet:
    """A partner's transactions, newest first, with their entries prefetched."""
    queryset = (
        LedgerTransaction.objects.filter(partner=partner)
        .select_related("reverses")
        .prefetch_related(
            Prefetch("entries", queryset=LedgerEntry.objects.order_by("amount", "id"))
        )
    )
    return with_amounts(_filter_transactions(queryset, filters)).order_by("-effective_date", "-id")


def transaction_with_entries(*, pk: int) -> LedgerTransaction:
    """One transaction and its entries (``DoesNotExist`` when not in this tenant)."""
    return (
        LedgerTransaction.objects.select_related("partner", "created_by", "reverses")
        .prefetch_related(
            Prefetch("entries", queryset=LedgerEntry.objects.order_by("amount", "id")),
            "reversals",
        )
        .get(pk=pk)
    )


def totals_by_kind(
    *,
    partner: PartnerOrganization | None = None,
    filters: TransactionFilters | None = None,
) -> list[KindTotal]:
    """Per kind and currency: what was credited to partners, and how many transactions."""
    entries = LedgerEntry.objects.filter(account=Account.PARTNER_PAYABLE)
    if partner is not None:
        entries = entries.filter(partner=partner)
    if filters is not None:
        conditions = {
            "partner_id": filters.partner_id,
            "transaction__kind": filters.kind,
            "currency": filters.currency,
            "transaction__period_key": filters.period_key,
            "transaction__source_type": filters.source_type,
            "transaction__effective_date__gte": filters.date_from,
            "transaction__effective_date__lte": filters.date_to,
        }
        entries = entries.filter(
            **{name: value for name, value in conditions.items() if value is not None}
        )
    rows = (
        entries.values("transaction__kind", "currency")
        .annotate(total=Sum("amount"), count=Count("transaction_id", distinct=True))
        .order_by("transaction__kind", "currency")
    )
    return [
        KindTotal(
            kind=row["transaction__kind"],
            currency=row["currency"],
            amount=-row["total"],
            transactions=row["count"],
        )
        for row in rows
    ]
