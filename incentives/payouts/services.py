"""Payout actions: open and close periods, hold and release, mark paid.

See the package docstring for the guarantees. Every action but
``ensure_open_period`` (a system step, also run by the console for finance)
checks ``MANAGE_MONEY``, runs in one transaction and writes an audit row.

**Currency settlement.** A statement is in the partner's payout currency P,
its lines converted at the rate of each one's date, while the ledger keeps
each earning's ``partner_payable`` credit in its own currency. So that the
ledger says what the statement says (and ``mark_paid``'s payment in P settles
it), ``close_period`` ends by posting, for each statement and each other
currency C it took money from, two ledger conversions (``Kind.CONVERSION``,
source the statement, effective on the period's last day), each in one
currency and balanced (``settle_currencies``):

* ``fx:<statement id>:<C>:out`` in C: debit ``partner_payable``, credit
  ``fx_clearing``, by what the statement's C lines owe the partner;
* ``fx:<statement id>:<C>:in`` in P: debit ``fx_clearing``, credit
  ``partner_payable``, by those lines' converted amounts.

A balance carried forward in another currency (the payout currency changed
since the last statement) is moved with the lines: its amount out of that
currency, the statement's opening balance into P. A side that sums to zero is
not posted (an entry is never zero). Afterwards the partner's
``partner_payable`` in C nets to zero for what is on its statements and in P
equals their closing balances; held earnings (on no statement) stay in their
own currency until a statement takes them. The keys make it idempotent: a
rerun posts nothing.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError
from django.db import transaction as db
from django.db.models import Count, F, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from incentives.models import Hold, PayoutPeriod, PayoutSettings, Statement, StatementLine
from incentives.payouts.compute import carried_balances, draft_statements
from incentives.period_earnings import post_period_earnings
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.ledger.models import SETTLEMENT_KINDS, Account, Kind, LedgerTransaction, SourceType
from prm.ledger.postings import check_amount
from prm.ledger.services import Line, Posting, post, post_many
from prm.tenancy.context import require_tenant


class PayoutError(DomainError):
    code = "payout_invalid"
    default_message = _("This payout action is not valid.")


def _require_finance(membership) -> None:
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied(_("Only finance can manage payouts."))


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def payout_settings() -> PayoutSettings:
    """The tenant's payout settings (defaults when never saved; unsaved then)."""
    return PayoutSettings.objects.first() or PayoutSettings(tenant=require_tenant())


def set_minimum_payout(*, membership, actor, minimum_payout: Decimal) -> PayoutSettings:
    """Finance sets the minimum payout; smaller balances are carried forward."""
    _require_finance(membership)
    if not isinstance(minimum_payout, Decimal) or minimum_payout < 0:
        raise PayoutError(
            _("The minimum payout is an amount of zero or more."), field="minimum_payout"
        )
    if minimum_payout != minimum_payout.quantize(Decimal("0.01")):
        raise PayoutError(
            _("The minimum payout has at most two decimal places."), field="minimum_payout"
        )
    with db.atomic():
        settings, _created = PayoutSettings.objects.select_for_update().get_or_create(
            tenant=require_tenant()
        )
        previous = settings.minimum_payout
        settings.minimum_payout = minimum_payout
        settings.save(update_fields=["minimum_payout"])
        record(
            actor=actor,
            action="payouts.minimum_payout_set",
            target=settings,
            summary=str(minimum_payout),
            data={"from": str(previous), "to": str(minimum_payout)},
        )
    return settings


def _period_covering(day: date) -> PayoutPeriod | None:
    return PayoutPeriod.objects.filter(start__lte=day, end__gte=day).first()


def ensure_open_period(today: date | None = None) -> PayoutPeriod:
    """The period covering ``today`` (default: the tenant's today), created as
    that calendar month when missing. Idempotent, also under concurrency."""
    today = today or timezone.localdate()
    found = _period_covering(today)
    if found is not None:
        return found
    start, end = month_bounds(today)
    try:
        with db.atomic():
            return PayoutPeriod.objects.create(start=start, end=end)
    except IntegrityError:
        # A concurrent call created it first (unique start or overlap trigger).
        found = _period_covering(today)
        if found is None:
            raise
        return found


def _open_next(period: PayoutPeriod) -> PayoutPeriod:
    following = period.end + timedelta(days=1)
    return _period_covering(following) or PayoutPeriod.objects.create(
        start=following, end=month_bounds(following)[1]
    )


def close_period(
    *, period: PayoutPeriod, membership, actor, today: date | None = None
) -> PayoutPeriod:
    """Close ``period``: post its period-based earnings (stepped rebates,
    renewal-rate and usage-growth bonuses, ``incentives.period_earnings``),
    write its statements, post their currency conversions
    (``settle_currencies``) and open the period after it, in one transaction.

    Refused when the period is already closed, has not ended yet, an earlier
    period is still open, or a conversion has no recorded rate (``RateMissing``).
    """
    _require_finance(membership)
    today = today or timezone.localdate()
    with db.atomic():
        period = PayoutPeriod.objects.select_for_update().get(pk=period.pk)
        if not period.is_open:
            raise Conflict(
                _("This period is already closed; a closed period never changes."),
                code="period_closed",
            )
        if period.end >= today:
            raise Conflict(
                _("This period ends on %(end)s: close it after that day.")
                % {"end": date_format(period.end, "SHORT_DATE_FORMAT")},
                code="period_not_ended",
            )
        if PayoutPeriod.objects.filter(
            status=PayoutPeriod.Status.OPEN, start__lt=period.start
        ).exists():
            raise Conflict(
                _("An earlier period is still open: close it first."), code="earlier_period_open"
            )
        # Effective on the period's last day: they land on these statements.
        period_earnings = post_period_earnings(period=period, today=today)
        tenant = require_tenant()
        counts = {"statements": 0, "lines": 0, "payable": 0, "period_earnings": period_earnings}
        totals: dict[str, Decimal] = {}
        for drafts in draft_statements(period):
            statements = Statement.objects.bulk_create(
                [
                    Statement(
                        tenant=tenant,
                        period=period,
                        partner=draft.partner,
                        currency=draft.currency,
                        opening_balance=draft.opening_balance,
                        earned_total=draft.earned_total,
                        clawed_back_total=draft.clawed_back_total,
                        adjustments_total=draft.adjustments_total,
                        closing_amount=draft.closing_amount,
                        payable_amount=draft.payable_amount,
                        carried_forward=draft.carried_forward,
                        status=draft.status,
                        hold_reason=draft.hold_reason,
                        blockers=draft.blockers,
                    )
                    for draft in drafts
                ]
            )
            lines = [
                StatementLine(
                    tenant=tenant,
                    statement=statement,
                    transaction_id=line.transaction_id,
                    kind=line.kind,
                    effective_date=line.effective_date,
                    original_amount=line.original_amount,
                    original_currency=line.original_currency,
                    rate=line.rate,
                    rate_date=line.rate_date,
                    amount=line.amount,
                    explanation=line.explanation,
                )
                for statement, draft in zip(statements, drafts, strict=True)
                for line in draft.lines
            ]
            StatementLine.objects.bulk_create(lines, batch_size=5_000)
            counts["statements"] += len(statements)
            counts["lines"] += len(lines)
            for draft in drafts:
                if draft.payable_amount:
                    counts["payable"] += 1
                    totals[draft.currency] = (
                        totals.get(draft.currency, Decimal(0)) + draft.payable_amount
                    )
        counts["conversions"] = settle_currencies(period=period)
        period.status = PayoutPeriod.Status.CLOSED
        period.closed_at = timezone.now()
        period.closed_by = actor if getattr(actor, "pk", None) else None
        period.save(update_fields=["status", "closed_at", "closed_by"])
        _open_next(period)
        record(
            actor=actor,
            action="payouts.period_closed",
            target=period,
            summary=str(period),
            data={**counts, "payable_by_currency": {k: str(v) for k, v in totals.items()}},
        )
    return period


@dataclass
class _Moved:
    """What one statement takes from one other currency: its lines' amounts
    there and converted, how many lines, and a carried balance moved with them."""

    original: Decimal = Decimal(0)
    converted: Decimal = Decimal(0)
    lines: int = 0
    carried_in: Decimal = Decimal(0)


def _conversion(
    *,
    key: str,
    currency: str,
    debit: str,
    credit: str,
    amount: Decimal,
    statement: dict[str, Any],
    period: PayoutPeriod,
    explanation: dict[str, Any],
) -> Posting:
    return Posting(
        key=key,
        kind=Kind.CONVERSION,
        source_type=SourceType.PAYOUT,
        source_id=statement["id"],
        partner_id=statement["partner_id"],
        currency=currency,
        effective_date=period.end,
        period_key=period.key,
        lines=(Line(account=debit, amount=amount), Line(account=credit, amount=-amount)),
        explanation=explanation,
    )


def conversion_postings(*, period: PayoutPeriod) -> list[Posting]:
    """The currency conversions that settle ``period``'s statements in their
    payout currency (see the module docstring), built from the stored
    statements and lines; three queries."""
    statements = {
        row["id"]: row
        for row in Statement.objects.filter(period=period).values(
            "id", "partner_id", "currency", "opening_balance"
        )
    }
    moved: dict[tuple[int, str], _Moved] = {}
    rows = (
        StatementLine.objects.filter(statement__period=period)
        .exclude(original_currency=F("statement__currency"))
        .values("statement_id", "original_currency")
        .annotate(original=Sum("original_amount"), converted=Sum("amount"), lines=Count("id"))
        .order_by()
    )
    for row in rows:
        found = moved.setdefault((row["statement_id"], row["original_currency"]), _Moved())
        found.original += row["original"]
        found.converted += row["converted"]
        found.lines += row["lines"]
    carried = carried_balances(period)
    for statement in statements.values():
        previous = carried.get(statement["partner_id"])
        if previous is not None and previous.currency != statement["currency"]:
            found = moved.setdefault((statement["id"], previous.currency), _Moved())
            found.original += previous.amount
            found.converted += statement["opening_balance"]
            found.carried_in += previous.amount
    postings = []
    for (statement_id, source), found in sorted(moved.items()):
        statement = statements[statement_id]
        target = statement["currency"]
        explanation: dict[str, Any] = {
            "statement": statement_id,
            "period": period.key,
            "from_currency": source,
            "to_currency": target,
            "original_amount": found.original,
            "converted_amount": found.converted,
            "lines": found.lines,
        }
        if found.carried_in:
            explanation["carried_in"] = found.carried_in
        common: dict[str, Any] = {
            "statement": statement,
            "period": period,
            "explanation": explanation,
        }
        if found.original:  # out of the earning currency
            postings.append(
                _conversion(
                    key=f"fx:{statement_id}:{source}:out",
                    currency=source,
                    debit=Account.PARTNER_PAYABLE,
                    credit=Account.FX_CLEARING,
                    amount=found.original,
                    **common,
                )
            )
        if found.converted:  # into the payout currency
            postings.append(
                _conversion(
                    key=f"fx:{statement_id}:{source}:in",
                    currency=target,
                    debit=Account.FX_CLEARING,
                    credit=Account.PARTNER_PAYABLE,
                    amount=found.converted,
                    **common,
                )
            )
    return postings


def settle_currencies(*, period: PayoutPeriod) -> int:
    """Post the currency conversions of ``period``'s statements (one
    ``post_many``); returns how many transactions it created, 0 on a rerun.
    A step of ``close_period``, which checks the permission and audits."""
    return post_many(postings=conversion_postings(period=period))


def hold(
    *,
    partner: PartnerOrganization,
    reason: str,
    membership,
    actor,
    transaction: LedgerTransaction | None = None,
) -> Hold:
    """Hold a partner's payout, or one of its earnings, until released."""
    _require_finance(membership)
    reason = (reason or "").strip()
    if not reason:
        raise PayoutError(_("Say why the payout is held."), code="reason_required", field="reason")
    with db.atomic():
        # Wait for a close in progress (it locks its period row): otherwise an
        # earning held while the close runs could still land on its statement.
        list(
            PayoutPeriod.objects.select_for_update()
            .filter(status=PayoutPeriod.Status.OPEN)
            .order_by("start")
            .values_list("pk", flat=True)
        )
        if transaction is not None:
            if transaction.partner_id != partner.pk:
                raise PayoutError(
                    _("That ledger transaction belongs to another partner."),
                    code="wrong_partner",
                    field="transaction",
                )
            if transaction.kind in SETTLEMENT_KINDS:
                raise PayoutError(
                    _("A payment or currency conversion is not an earning: it cannot be held."),
                    code="not_an_earning",
                    field="transaction",
                )
            if StatementLine.objects.filter(transaction=transaction).exists():
                raise Conflict(
                    _("That earning is already on a statement; it can no longer be held."),
                    code="already_on_statement",
                )
        try:
            with db.atomic():
                created = Hold.objects.create(
                    partner=partner,
                    transaction=transaction,
                    reason=reason,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError as exc:
            raise Conflict(_("This is already held."), code="already_held") from exc
        record(
            actor=actor,
            action="payouts.held",
            target=created,
            summary=reason,
            data={"partner": partner.pk, "transaction": transaction.pk if transaction else None},
        )
    return created


def release(*, hold: Hold, membership, actor) -> Hold:
    """Release a hold: the partner's next statement pays (or includes) it again."""
    _require_finance(membership)
    with db.atomic():
        locked = Hold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is not None:
            raise Conflict(_("This hold was already released."), code="already_released")
        locked.released_at = timezone.now()
        locked.released_by = actor if getattr(actor, "pk", None) else None
        locked.save(update_fields=["released_at", "released_by"])
        record(
            actor=actor,
            action="payouts.released",
            target=locked,
            summary=locked.reason,
            data={"partner": locked.partner_id, "transaction": locked.transaction_id},
        )
    return locked


def mark_paid(
    *, statement: Statement, reference: str, paid_on: date, membership, actor
) -> Statement:
    """Record that a statement's payable amount was paid: one ledger payment
    (debit partner payable, credit cash, key ``payout:<statement id>``)."""
    _require_finance(membership)
    reference = (reference or "").strip()
    if not reference:
        raise PayoutError(
            _("Enter the payment reference."), code="reference_required", field="reference"
        )
    with db.atomic():
        locked = (
            Statement.objects.select_for_update().select_related("partner").get(pk=statement.pk)
        )
        if locked.status == Statement.Status.PAID:
            raise Conflict(_("This statement is already paid."), code="already_paid")
        if locked.status != Statement.Status.CLOSED or locked.payable_amount <= 0:
            raise Conflict(
                _("Nothing on this statement is payable: it is held, blocked or carried forward."),
                code="nothing_payable",
            )
        amount = check_amount(locked.payable_amount)
        payment, _created = post(
            key=f"{SourceType.PAYOUT.value}:{locked.pk}",
            kind=Kind.PAYMENT,
            source_type=SourceType.PAYOUT,
            source_id=locked.pk,
            currency=locked.currency,
            effective_date=paid_on,
            lines=[
                Line(account=Account.PARTNER_PAYABLE, amount=amount),
                Line(account=Account.CASH, amount=-amount),
            ],
            partner=locked.partner,
            explanation={"statement": locked.pk, "reference": reference},
            memo=reference,
            actor=actor,
        )
        locked.status = Statement.Status.PAID
        locked.paid_on = paid_on
        locked.payment_reference = reference
        locked.paid_by = actor if getattr(actor, "pk", None) else None
        locked.payment_transaction = payment
        locked.save(
            update_fields=[
                "status",
                "paid_on",
                "payment_reference",
                "paid_by",
                "payment_transaction",
            ]
        )
        record(
            actor=actor,
            action="payouts.statement_paid",
            target=locked,
            summary=reference,
            data={
                "amount": str(amount),
                "currency": locked.currency,
                "paid_on": paid_on.isoformat(),
                "transaction": payment.pk,
            },
        )
    return locked
