"""What closing a payout period would write, computed without writing.

``draft_statements`` walks the partners concerned in chunks of ``CHUNK_SIZE``
and yields one ``StatementDraft`` per partner with its ``LineDraft`` lines;
``preview_period`` collects them for the console, ``services.close_period``
writes them. One implementation, so the preview is exactly what a close
would produce at that moment (including the period-based earnings a close
posts first, see ``preview_period``). Queries: three to find the work (partners,
carried balances, settings) plus one rate book, then five per chunk
(partners, payee details, partner holds, transactions), whatever the number
of transactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from incentives.models import Hold, PayoutPeriod, PayoutSettings, Statement, StatementLine
from incentives.period_earnings import post_period_earnings
from partners.models import PartnerOrganization
from partners.payee import blockers_of, payees_by_partner
from prm.ledger.models import SETTLEMENT_KINDS, Account, Kind, LedgerTransaction, SourceType
from prm.money.currency import quantize
from prm.money.rates import RateBook, rate_book

CHUNK_SIZE = 500
ZERO = Decimal("0.00")
CLAWBACK_KINDS = frozenset({Kind.CLAWBACK})
ADJUSTMENT_KINDS = frozenset({Kind.ADJUSTMENT})


@dataclass(frozen=True)
class LineDraft:
    transaction_id: int
    kind: str
    effective_date: date
    original_amount: Decimal
    original_currency: str
    rate: Decimal | None
    rate_date: date | None
    amount: Decimal
    explanation: dict[str, Any]


@dataclass
class StatementDraft:
    partner: PartnerOrganization
    currency: str
    opening_balance: Decimal
    earned_total: Decimal
    clawed_back_total: Decimal
    adjustments_total: Decimal
    closing_amount: Decimal
    payable_amount: Decimal
    carried_forward: Decimal
    status: str
    hold_reason: str
    blockers: list[str]
    lines: list[LineDraft] = field(default_factory=list)


@dataclass(frozen=True)
class Carried:
    amount: Decimal
    currency: str
    as_of: date


def pending_transactions(period: PayoutPeriod) -> QuerySet:
    """Transactions a close of ``period`` would put on statements (see the package
    docstring): never a payment or a currency conversion (``SETTLEMENT_KINDS``),
    which settle statements rather than appear on them."""
    on_a_statement = StatementLine.objects.filter(transaction_id=OuterRef("pk"))
    held = Hold.objects.filter(transaction_id=OuterRef("pk"), released_at__isnull=True)
    return (
        LedgerTransaction.objects.filter(partner__isnull=False, effective_date__lte=period.end)
        .exclude(kind__in=SETTLEMENT_KINDS)
        .exclude(source_type=SourceType.PAYOUT)
        .filter(~Exists(on_a_statement), ~Exists(held))
        .annotate(
            payable=Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE))
        )
        .filter(payable__isnull=False)
        .exclude(payable=0)
    )


def carried_balances(period: PayoutPeriod) -> dict[int, Carried]:
    """Each partner's latest earlier statement's carried balance, in that
    statement's currency, as of its period's end (one query)."""
    rows = (
        Statement.objects.filter(period__start__lt=period.start)
        .order_by("partner_id", "-period__start")
        .distinct("partner_id")
        .values_list("partner_id", "carried_forward", "currency", "period__end")
    )
    return {
        partner_id: Carried(amount, currency, as_of)
        for partner_id, amount, currency, as_of in rows
        if amount != 0
    }


def _payout_currency(partner: PartnerOrganization, payee) -> str:
    if payee is not None and payee.payout_currency:
        return payee.payout_currency
    return partner.default_currency


def _convert(
    book: RateBook, amount: Decimal, source: str, target: str, day: date
) -> tuple[Decimal, Decimal | None, date | None]:
    if source == target:
        return quantize(amount, target), None, None
    converted = book.convert(amount=amount, from_currency=source, to_currency=target, day=day)
    return converted.amount, converted.rate, converted.rate_date


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def minimum_payout() -> Decimal:
    found = PayoutSettings.objects.values_list("minimum_payout", flat=True).first()
    return found if found is not None else ZERO


def draft_statements(
    period: PayoutPeriod, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[list[StatementDraft]]:
    """Per chunk of partners, the statements closing ``period`` would write.

    Raises ``RateMissing`` (a ``DomainError`` naming the pair and the date)
    when a line or a carried balance cannot be converted.
    """
    pending = pending_transactions(period)
    partner_ids = set(pending.order_by().values_list("partner_id", flat=True).distinct())
    carried = carried_balances(period)
    partner_ids |= set(carried)
    if not partner_ids:
        return
    threshold = minimum_payout()
    book = rate_book(currencies=settings.CURRENCIES, until=period.end)
    for chunk in _chunks(sorted(partner_ids), chunk_size):
        yield _draft_chunk(period, chunk, pending, carried, threshold, book)


def _draft_chunk(
    period: PayoutPeriod,
    partner_ids: Sequence[int],
    pending: QuerySet,
    carried: dict[int, Carried],
    threshold: Decimal,
    book: RateBook,
) -> list[StatementDraft]:
    partners = PartnerOrganization.objects.in_bulk(list(partner_ids))
    payees = payees_by_partner(partner_ids=partner_ids)
    holds = dict(
        Hold.objects.filter(
            partner_id__in=partner_ids, transaction__isnull=True, released_at__isnull=True
        ).values_list("partner_id", "reason")
    )
    rows = (
        pending.filter(partner_id__in=partner_ids)
        .order_by("partner_id", "effective_date", "id")
        .values_list(
            "id", "partner_id", "kind", "currency", "effective_date", "explanation", "payable"
        )
    )
    by_partner: dict[int, list[LineDraft]] = defaultdict(list)
    currencies = {pk: _payout_currency(partner, payees.get(pk)) for pk, partner in partners.items()}
    for tx_id, partner_id, kind, currency, effective_date, explanation, payable in rows:
        original = -payable  # what the transaction credits the partner
        amount, rate, rate_date = _convert(
            book, original, currency, currencies[partner_id], effective_date
        )
        by_partner[partner_id].append(
            LineDraft(
                transaction_id=tx_id,
                kind=kind,
                effective_date=effective_date,
                original_amount=original,
                original_currency=currency,
                rate=rate,
                rate_date=rate_date,
                amount=amount,
                explanation=explanation or {},
            )
        )
    drafts = []
    for partner_id in partner_ids:
        partner = partners[partner_id]
        currency = currencies[partner_id]
        lines = by_partner.get(partner_id, [])
        previous = carried.get(partner_id)
        opening = ZERO
        if previous is not None:
            opening, _, _ = _convert(
                book, previous.amount, previous.currency, currency, previous.as_of
            )
        earned = clawed = adjusted = ZERO
        for line in lines:
            if line.kind in CLAWBACK_KINDS:
                clawed += line.amount
            elif line.kind in ADJUSTMENT_KINDS:
                adjusted += line.amount
            else:
                earned += line.amount
        closing = opening + earned + clawed + adjusted
        blockers = blockers_of(payees.get(partner_id))
        hold_reason = holds.get(partner_id, "")
        if hold_reason:
            status = Statement.Status.HELD
        elif blockers:
            status = Statement.Status.BLOCKED
        else:
            status = Statement.Status.CLOSED
        pays = status == Statement.Status.CLOSED and closing > 0 and closing >= threshold
        payable = closing if pays else ZERO
        drafts.append(
            StatementDraft(
                partner=partner,
                currency=currency,
                opening_balance=opening,
                earned_total=earned,
                clawed_back_total=clawed,
                adjustments_total=adjusted,
                closing_amount=closing,
                payable_amount=payable,
                carried_forward=closing - payable,
                status=status,
                hold_reason=hold_reason,
                blockers=[str(reason) for reason in blockers],
                lines=lines,
            )
        )
    return drafts


def preview_period(period: PayoutPeriod, *, today: date | None = None) -> list[StatementDraft]:
    """What closing ``period`` now would write, per partner; writes nothing.

    A close first posts the period's period-based earnings (rebates and
    period bonuses, ``incentives.period_earnings``). So that the preview shows
    them exactly as the close will (same amounts, conversion, carry and
    holds), an open period that has ended is previewed inside a savepoint
    that posts them and is then rolled back. Their lines' ``transaction_id``
    therefore names no stored transaction. Earlier (before the period ends)
    nothing is posted and the preview shows the period without them."""
    today = today or timezone.localdate()
    if not period.is_open or period.end >= today:
        return [draft for chunk in draft_statements(period) for draft in chunk]
    with transaction.atomic():
        post_period_earnings(period=period, today=today)
        drafts = [draft for chunk in draft_statements(period) for draft in chunk]
        transaction.set_rollback(True)
    return drafts
