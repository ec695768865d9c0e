"""Period-based earnings: stepped rebates, the renewal-rate bonus and the
usage-growth bonus of a payout period, posted to the ledger.

The engine computes them (``engine.earnings_for_period`` /
``earnings_for_usage``) from a period's results (``selectors.period_facts`` /
``usage_facts``); this module turns them into ledger postings. Rules:

* **Which plan versions.** The versions in force on the period's **last
  day** (``selectors.PlansInForce``), the day the engine also matches rule
  dates against: the period's results are only known once it has ended.
* **What counts.** Rebates and the renewal bonus: the partner's deals closed
  in the period (both days included) and not reversed, per currency. Rules
  match the tier the partner held on the period's last day. Usage growth: each
  customer's usage charges in the period against the previous period — the
  stored payout period ending the day before, else the calendar month before.
* **When and where.** Postings are effective on the period's last day, so
  they fall on that period's statements. They are posted once the period has
  ended (``post_due_period_earnings``, nightly) and again, in the same
  transaction, when finance closes it (``payouts.close_period``), so a close
  never misses them; a period that is closed is never posted to again.
* **Keys.** One computation = one key per (source, partner, rule, kind,
  period, currency[, customer])::

      period:<partner>:<rule>:<rule kind>:<start>~<end>/<currency>
      usage:<partner>:<rule>:<rule kind>:<start>~<end>/<currency>/<customer digest>

  The prefix is fixed (not the ledger source type) so keys stay the same if
  the ledger gains a dedicated source type.
* **Late changes.** Until the period closes its results can still move (a
  deal closed in the period is recorded late, or reversed): each posting
  compares what the period earns now with what its key's family (the key and
  its corrections ``<key>:fix<n>``) already posted, and posts only the
  difference, as a correction under the next ``:fix<n>`` key (its
  explanation names the key it corrects, ``corrects_key``, and the
  transactions, ``corrects``). Posting twice
  therefore posts nothing the second time, and the sum of a family is always
  what the period earned at the last posting. ``posted_period_amounts``
  gives those sums (a replay compares them with ``expected_period_postings``
  as of the period's close: a deal reversed after the close still counts,
  the period keeps the results it was closed with).
* **No marker.** Unlike the commission job, nothing records "this period
  is done": until it closes, a period is recomputed on every run (a fixed
  handful of set queries, whatever the number of deals and partners),
  because its results can still change; the keys make that safe.
* **Concurrency.** A posting locks the period row (as a close does), so the
  nightly job and a close never post the same correction twice; the unique
  idempotency key backs this up.

Ledger kinds mirror the commission job (``commissions.LEDGER_KIND``): a
stepped rebate is a rebate, the bonuses are bonuses. Their source is
``SourceType.PERIOD`` with no source id (the key names the period); the
partner is on the transaction.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from incentives.commissions import Progress, earning_posting
from incentives.engine import earnings_for_period, earnings_for_usage, under_plans
from incentives.engine.compute import money
from incentives.models import PayoutPeriod
from incentives.selectors import PlansInForce, period_facts, usage_facts
from prm.errors import Conflict
from prm.ledger.models import Account, LedgerTransaction, SourceType
from prm.ledger.postings import Posting, idempotency_key
from prm.ledger.services import Line, post_many

# Until the ledger has a "period" source type (see the module docstring).
SOURCE_TYPE = SourceType.PERIOD
PERIOD_PREFIX = "period"
USAGE_PREFIX = "usage"
_FIX = re.compile(r"^(?P<base>.+?)(?::fix\d+)?$")
ZERO = Decimal("0.00")


def period_token(start: date, end: date) -> str:
    return f"{start.isoformat()}~{end.isoformat()}"


def _customer_digest(name: str) -> str:
    """Customer names can be long and hold any character; keys hold a digest
    (the name itself is in the explanation)."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def previous_period(start: date) -> tuple[date, date]:
    """The period before the one starting on ``start``: the stored payout
    period ending the day before, else that day's calendar month."""
    before = start - timedelta(days=1)
    stored = PayoutPeriod.objects.filter(end=before).values_list("start", "end").first()
    if stored is not None:
        return stored
    return before.replace(day=1), before.replace(
        day=calendar.monthrange(before.year, before.month)[1]
    )


def _key(prefix: str, *, partner_id: int, rule_id: int, kind: str, period: str) -> str:
    return idempotency_key(
        source_type=prefix, source_id=partner_id, rule_id=rule_id, kind=kind, period_key=period
    )


def expected_period_postings(
    *, start: date, end: date, as_of: datetime | None = None
) -> list[Posting]:
    """The postings the period-based rules earn for the period ``start`` –
    ``end`` under the plan versions in force on ``end``, each under its key
    (see the module docstring), effective on ``end``. A deal counts as
    reversed only if it was reversed by ``as_of`` (default: now; a replay of
    a closed period passes its ``closed_at``, so a reversal after the close
    changes nothing). Reads only; what is already posted is not looked at
    (``post_period_earnings`` posts the difference)."""
    plans = PlansInForce().on(end)
    if not plans:
        return []
    token = period_token(start, end)
    label = start.strftime("%Y-%m")
    postings: list[Posting] = []

    def add(line, *, prefix: str, period: str, extra: dict[str, Any]) -> None:
        if line.amount == 0:
            return
        posting = earning_posting(line, source_type=SOURCE_TYPE, effective_date=end)
        postings.append(
            replace(
                posting,
                key=_key(
                    prefix,
                    partner_id=line.partner_id,
                    rule_id=line.rule_id,
                    kind=line.kind,
                    period=period,
                ),
                period_key=label,
                explanation={**posting.explanation, **extra},
            )
        )

    for facts in period_facts(start=start, end=end, as_of=as_of):
        extra: dict[str, Any] = {"currency": facts.currency, "volume": str(money(facts.volume))}
        for line in under_plans(plans, earnings_for_period, facts):
            add(line, prefix=PERIOD_PREFIX, period=f"{token}/{facts.currency}", extra=extra)
    for usage in usage_facts(previous=previous_period(start), current=(start, end)):
        period = f"{token}/{usage.currency}/{_customer_digest(usage.customer_name)}"
        for line in under_plans(plans, earnings_for_usage, usage):
            add(line, prefix=USAGE_PREFIX, period=period, extra={"currency": usage.currency})
    return postings


# --- what is posted -------------------------------------------------------------------


@dataclass
class PostedFamily:
    """What one computation's key and its corrections posted so far."""

    key: str
    amount: Decimal  # credited to the partner (signed)
    transaction_ids: list[int]
    kind: str
    partner_id: int | None
    currency: str
    rule_id: int | None
    plan_version_id: int | None
    explanation: dict[str, Any]


def family_key(key: str) -> str:
    """The computation key a transaction belongs to: ``<key>:fix<n>`` → ``<key>``."""
    match = _FIX.match(key)
    assert match is not None
    return match["base"]


def posted_period_amounts(*, start: date, end: date) -> dict[str, PostedFamily]:
    """Per computation key of the period, what the ledger holds (the key plus
    its ``:fix<n>`` corrections), in one query."""
    token = period_token(start, end)
    rows = (
        LedgerTransaction.objects.filter(
            Q(idempotency_key__startswith=f"{PERIOD_PREFIX}:")
            | Q(idempotency_key__startswith=f"{USAGE_PREFIX}:"),
            idempotency_key__contains=f":{token}/",
            effective_date=end,
        )
        .annotate(
            payable=Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE))
        )
        .order_by("id")
        .values_list(
            "id",
            "idempotency_key",
            "payable",
            "kind",
            "partner_id",
            "currency",
            "rule_id",
            "plan_version_id",
            "explanation",
        )
    )
    families: dict[str, PostedFamily] = {}
    for tx_id, key, payable, kind, partner_id, currency, rule_id, version_id, explained in rows:
        base = family_key(key)
        credited = -(payable or ZERO)
        family = families.get(base)
        if family is None:
            families[base] = PostedFamily(
                key=base,
                amount=credited,
                transaction_ids=[tx_id],
                kind=kind,
                partner_id=partner_id,
                currency=currency,
                rule_id=rule_id,
                plan_version_id=version_id,
                explanation=explained or {},
            )
        else:
            family.amount += credited
            family.transaction_ids.append(tx_id)
    return families


# --- posting ------------------------------------------------------------------------------


def _amount_of(posting: Posting) -> Decimal:
    """What a posting credits the partner."""
    return -sum(
        (line.amount for line in posting.lines if line.account == Account.PARTNER_PAYABLE),
        ZERO,
    )


def _lines(amount: Decimal) -> list[Line]:
    return [
        Line(account=Account.COMMISSION_EXPENSE, amount=amount),
        Line(account=Account.PARTNER_PAYABLE, amount=-amount),
    ]


def _correction(
    family: PostedFamily, expected: Posting | None, *, end: date, label: str
) -> Posting | None:
    """The posting that brings ``family`` to ``expected`` (None: nothing to do)."""
    target = _amount_of(expected) if expected is not None else ZERO
    delta = target - family.amount
    if delta == 0:
        return None
    key = f"{family.key}:fix{len(family.transaction_ids)}"
    if expected is not None:
        formula = expected.explanation.get("formula", str(target))
        explanation = {
            **expected.explanation,
            "formula": f"{formula}; {target} − {family.amount} = {delta}",
        }
        return replace(
            expected,
            key=key,
            lines=_lines(delta),
            explanation={
                **explanation,
                "amount": str(delta),
                "earned": str(target),
                "previously_posted": str(family.amount),
                "corrects": family.transaction_ids,
                "corrects_key": family.key,
            },
        )
    # The period no longer earns this at all (a deal was reversed, the
    # partner no longer matches): take back what was posted.
    kept: dict[str, Any] = {
        name: family.explanation[name]
        for name in ("rule", "kind", "rule_kind", "period_start", "period_end", "tier", "customer")
        if name in family.explanation
    }
    return Posting(
        key=key,
        kind=family.kind,
        source_type=SOURCE_TYPE,
        source_id=None,
        currency=family.currency,
        effective_date=end,
        lines=_lines(delta),
        partner_id=family.partner_id,
        explanation={
            **kept,
            "amount": str(delta),
            "earned": str(ZERO),
            "previously_posted": str(family.amount),
            "corrects": family.transaction_ids,
            "corrects_key": family.key,
            "formula": f"{ZERO} − {family.amount} = {delta}",
        },
        rule_id=family.rule_id,
        plan_version_id=family.plan_version_id,
        period_key=label,
    )


def postings_due(*, start: date, end: date) -> list[Posting]:
    """What posting the period now would write: new computations in full,
    changed ones as corrections. Reads only."""
    expected = {posting.key: posting for posting in expected_period_postings(start=start, end=end)}
    posted = posted_period_amounts(start=start, end=end)
    label = start.strftime("%Y-%m")
    due = [posting for key, posting in expected.items() if key not in posted]
    for key, family in posted.items():
        correction = _correction(family, expected.get(key), end=end, label=label)
        if correction is not None:
            due.append(correction)
    return due


def _require_postable(period: PayoutPeriod, today: date) -> None:
    if not period.is_open:
        raise Conflict(
            _("This period is already closed; a closed period never changes."),
            code="period_closed",
        )
    if period.end >= today:
        raise Conflict(
            _("This period ends on %(end)s: its period earnings are posted after that day.")
            % {"end": date_format(period.end, "SHORT_DATE_FORMAT")},
            code="period_not_ended",
        )


def post_period_earnings(*, period: PayoutPeriod, today: date | None = None) -> int:
    """Post ``period``'s period-based earnings (or their corrections) in one
    transaction; returns the number of ledger transactions written. Refused
    (``Conflict``) for a closed period or one that has not ended by ``today``
    (default: the tenant's today). A system step: the nightly job and
    ``payouts.close_period`` call it; the close audits it."""
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = PayoutPeriod.objects.select_for_update().get(pk=period.pk)
        _require_postable(locked, today)
        return post_many(postings=postings_due(start=locked.start, end=locked.end))


def post_due_period_earnings(*, today: date, progress: Progress | None = None) -> dict[str, int]:
    """For every payout period that ended before ``today`` and is still open,
    post its period earnings (one transaction per period). A period closed
    meanwhile is skipped. Returns the counts, also added to ``progress`` (the
    nightly job's ``JobRun``) when given."""
    counts = {"periods": 0, "period_earnings_posted": 0}
    for period in PayoutPeriod.objects.filter(
        status=PayoutPeriod.Status.OPEN, end__lt=today
    ).order_by("start"):
        with transaction.atomic():
            locked = PayoutPeriod.objects.select_for_update().get(pk=period.pk)
            if not locked.is_open:
                continue
            posted = post_many(postings=postings_due(start=locked.start, end=locked.end))
        counts["periods"] += 1
        counts["period_earnings_posted"] += posted
        if progress is not None:
            progress.add("periods", 1)
            progress.add("period_earnings_posted", posted)
    return counts
