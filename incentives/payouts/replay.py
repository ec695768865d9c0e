"""Replaying a closed payout period: recompute what its sources earned and
compare it with what the ledger holds for them; correct a difference in the
open period.

``replay_period`` reads only. The sources are the deals and revenue events
with a transaction on one of the period's statements, the closed-won deals
closed in the period and the revenue events that occurred in it (so an
earning that was never posted shows as *missing*). Each source is computed
again with ``incentives.commissions.earning_postings`` under ``PlansInForce``
(the plan versions in force on its close or event date, so a version
published after the close changes nothing; the engine matches the tier the
partner held on that date, so a later tier change changes nothing either):
exactly the postings the nightly job makes, with the same idempotency keys.
A source the job has not computed yet (no ``Computation`` earn marker) is
expected to hold nothing yet: the job will post exactly its earnings under
those keys, so a correction now would pay them twice (``ReplayResult.pending``
counts such sources). The expectation is compared, per original key, partner
and currency, with the net amount the ledger credits the partner for that key
today (``partner_payable``), wherever it was posted (an earning posted late,
on a later period's statement, is not missing): the earning itself, its
clawback mirror (``clawback:<key>``, or any transaction that ``reverses`` it)
and the corrections of earlier replays of any period (which say in their
explanation which key they correct). A deal reversed inside the tenant's
clawback window whose clawback the job has processed is expected to net to
zero: earning plus mirror. A deal reversed but not yet processed is expected
to keep its earnings: the job's mirror will take everything posted for it
back, replay corrections included. The period-based rules (stepped rebates,
renewal-rate and usage-growth bonuses) are compared too: ``period_earnings``
computes them again for the period under the versions in force on its last
day and as of the period's close (``closed_at``: a deal reversed after the
close still counts, the period keeps the results it was closed with), against
each key's family (the key, its ``:fix<n>`` corrections and replay
corrections). Each difference is a ``DiffRow``: *missing* (expected, nothing
posted), *unexpected* (posted, nothing expected) or *different*.

``correct_period`` (finance) posts one correction per difference into the
open period, effective today: a new ``adjustment`` transaction for the same
source moving the difference between the expense account and the partner's
payable, keyed ``correction:<period id>:<original key>:<n>`` — the closed
period and its statements are never touched, and a second run finds no
difference and posts nothing. Concurrency: a correction first takes the
tenant's transaction advisory lock (``CORRECTION_LOCK``, tenant id), so
corrections of any two periods (which may share a source) run one after the
other and the second sees what the first posted; it then locks the rows of
the differing deals ``FOR UPDATE`` and computes again, so the nightly
clawback (which takes reversed deals ``SKIP LOCKED``) either committed before
(the replay sees its mirrors) or picks the deals up on its next run, once the
correction is committed, and mirrors the correction too.

Cost: three queries for the sources, three for the plans and settings, then
per chunk of ``CHUNK_SIZE`` sources a fixed number (the earn markers, the
facts, the clawback markers, the ledger transactions), and a fixed number for
the period rules, whatever the number of sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db import transaction as db
from django.db.models import Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from deals.models import DealRegistration
from incentives.commissions import earning_postings
from incentives.models import (
    Computation,
    IncentiveSettings,
    PayoutPeriod,
    RevenueEvent,
    StatementLine,
)
from incentives.payouts.services import ensure_open_period
from incentives.period_earnings import (
    PERIOD_PREFIX,
    USAGE_PREFIX,
    expected_period_postings,
    posted_period_amounts,
)
from incentives.period_earnings import SOURCE_TYPE as PERIOD_SOURCE_TYPE
from incentives.selectors import PlansInForce
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.postings import KEY_MAX_LENGTH, Line, Posting
from prm.ledger.services import post_many
from prm.tenancy.context import require_tenant

CHUNK_SIZE = 500
# pg_advisory_xact_lock(CORRECTION_LOCK, tenant id): one replay correction per tenant at a time.
CORRECTION_LOCK = 0x5245504C  # "REPL"
ZERO = Decimal("0.00")
CLAWBACK_PREFIX = "clawback:"
CORRECTION_PREFIX = "correction:"
# Explanation fields of a correction (also copied onto its clawback mirror).
CORRECTS = "replay_corrects"
CORRECTS_PERIOD = "replay_period"
_PERIOD_PREFIXES = (f"{PERIOD_PREFIX}:", f"{USAGE_PREFIX}:")
SOURCE_MODELS: dict[str, type] = {
    SourceType.DEAL: DealRegistration,
    SourceType.REVENUE_EVENT: RevenueEvent,
}


class ReplayError(DomainError):
    code = "replay_invalid"
    default_message = _("This period cannot be replayed.")


class Status:
    MISSING = "missing"
    UNEXPECTED = "unexpected"
    DIFFERENT = "different"

    LABELS = {
        MISSING: _("Missing"),
        UNEXPECTED: _("Unexpected"),
        DIFFERENT: _("Amount differs"),
    }


@dataclass(frozen=True)
class DiffRow:
    """One original key whose ledger amount is not what the plans compute.

    Amounts are what the partner is credited, net (earning, clawback and
    earlier corrections together), in ``currency``; ``difference`` =
    ``expected - posted`` is what a correction credits the partner."""

    status: str
    key: str
    source_type: str
    source_id: int | None
    partner_id: int | None
    currency: str
    kind: str
    expected: Decimal
    posted: Decimal
    explanation: dict[str, Any]
    expense_account: str
    rule_id: int | None = None
    plan_version_id: int | None = None
    partner_name: str = ""

    @property
    def difference(self) -> Decimal:
        return self.expected - self.posted

    @property
    def status_label(self) -> str:
        return str(Status.LABELS[self.status])

    @property
    def source_label(self) -> str:
        if self.source_type == PERIOD_SOURCE_TYPE:
            return str(_("Period rule"))
        return str(SourceType(self.source_type).label)

    @property
    def kind_label(self) -> str:
        return str(Kind(self.kind).label) if self.kind in Kind.values else self.kind


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    expected: Decimal
    posted: Decimal
    differences: int

    @property
    def difference(self) -> Decimal:
        return self.expected - self.posted


@dataclass
class ReplayResult:
    period: PayoutPeriod
    deals: int
    revenue_events: int
    compared: int  # original keys compared (per partner and currency)
    rows: list[DiffRow]
    totals: list[CurrencyTotal]
    pending: int = 0  # sources the nightly job has not computed yet (nothing expected yet)

    @property
    def has_differences(self) -> bool:
        return bool(self.rows)


@dataclass
class _Group:
    """Everything known about one (original key, partner, currency)."""

    source_type: str
    source_id: int | None
    expected: Decimal = ZERO
    posted: Decimal = ZERO
    has_expected: bool = False
    has_posted: bool = False
    kind: str = Kind.ADJUSTMENT
    expense_account: str = Account.ADJUSTMENT_EXPENSE
    rule_id: int | None = None
    plan_version_id: int | None = None
    explanation: dict[str, Any] = field(default_factory=dict)
    described_by_posting: bool = False  # the expected posting (or root) set the fields


GroupKey = tuple[str, int | None, str]  # original key, partner id, currency


def _require(membership, capability: Capability, message) -> None:
    if not can(membership, capability):
        raise PermissionDenied(message)


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def period_sources(period: PayoutPeriod) -> dict[str, list[int]]:
    """The period's deals and revenue events, in three queries: those with a
    transaction on its statements, the closed-won deals closed in it and the
    revenue events that occurred in it (both days included)."""
    found: dict[str, set[int]] = {source_type: set() for source_type in SOURCE_MODELS}
    rows = (
        StatementLine.objects.filter(
            statement__period=period,
            transaction__source_type__in=list(SOURCE_MODELS),
            transaction__source_id__isnull=False,
        )
        .values_list("transaction__source_type", "transaction__source_id")
        .distinct()
        .order_by()
    )
    for source_type, source_id in rows:
        if source_id is not None:
            found[source_type].add(source_id)
    days = (period.start, period.end)
    found[SourceType.DEAL].update(
        DealRegistration.objects.filter(
            stage=DealRegistration.Stage.CLOSED_WON, closed_on__range=days
        )
        .values_list("pk", flat=True)
        .order_by()
    )
    found[SourceType.REVENUE_EVENT].update(
        RevenueEvent.objects.filter(occurred_on__range=days).values_list("pk", flat=True).order_by()
    )
    return {source_type: sorted(ids) for source_type, ids in found.items()}


def _payable(lines: Iterable[Line]) -> Decimal:
    """What the lines credit the partner (minus the partner payable debit)."""
    return -sum(
        (line.amount for line in lines if line.account == Account.PARTNER_PAYABLE), Decimal("0")
    )


def _expense(lines: Iterable[Line]) -> str:
    return next(
        (line.account for line in lines if line.account != Account.PARTNER_PAYABLE),
        Account.ADJUSTMENT_EXPENSE,
    )


def _clawed_back(ids: Sequence[int], window_days: int) -> set[int]:
    """Deals among ``ids`` the job has clawed back: reversed within the window
    counted from the close date, and processed by the clawback phase (one query)."""
    processed = Computation.objects.filter(
        source_type=SourceType.DEAL, source_id=OuterRef("pk"), phase=Computation.Phase.CLAWBACK
    )
    rows = (
        DealRegistration.objects.filter(
            pk__in=list(ids), reversed_at__isnull=False, closed_on__isnull=False
        )
        .filter(Exists(processed))
        .values_list("pk", "closed_on", "reversed_at")
    )
    return {
        pk
        for pk, closed_on, reversed_at in rows
        if closed_on is not None
        and reversed_at is not None
        and reversed_at.date() <= closed_on + timedelta(days=window_days)
    }


def _computed(source_type: str, ids: Sequence[int]) -> set[int]:
    """The sources among ``ids`` the nightly job has computed (one query)."""
    return set(
        Computation.objects.filter(
            source_type=source_type, phase=Computation.Phase.EARN, source_id__in=list(ids)
        ).values_list("source_id", flat=True)
    )


def _sources_queryset(source_type: str, ids: Sequence[int]):
    if source_type == SourceType.DEAL:
        # As the nightly job: only closed-won deals earn.
        return DealRegistration.objects.filter(
            pk__in=list(ids), stage=DealRegistration.Stage.CLOSED_WON
        )
    return RevenueEvent.objects.filter(pk__in=list(ids))


def _posted_rows(source_type: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The chunk's ledger transactions with what each credits the partner (one query)."""
    expense = (
        LedgerEntry.objects.filter(transaction_id=OuterRef("pk"))
        .exclude(account=Account.PARTNER_PAYABLE)
        .order_by("id")
        .values("account")[:1]
    )
    # Typed loosely: the rows are read by name below.
    queryset: Any = (
        LedgerTransaction.objects.filter(source_type=source_type, source_id__in=list(ids))
        .exclude(kind=Kind.PAYMENT)
        .annotate(
            payable=Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE)),
            expense_account=Subquery(expense),
        )
        .order_by("pk")
        .values(
            "pk",
            "idempotency_key",
            "reverses_id",
            "partner_id",
            "currency",
            "kind",
            "rule_id",
            "plan_version_id",
            "source_id",
            "explanation",
            "payable",
            "expense_account",
        )
    )
    return list(queryset)


def _original_keys(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Each transaction's original key: a mirror belongs to what it mirrors, a
    replay correction to the key it corrects, ``clawback:<key>`` to ``<key>``."""
    by_pk = {row["pk"]: row for row in rows}
    resolved: dict[int, str] = {}

    def resolve(pk: int, depth: int = 0) -> str:
        if pk in resolved:
            return resolved[pk]
        row = by_pk[pk]
        explanation = row["explanation"] if isinstance(row["explanation"], dict) else {}
        reverses = row["reverses_id"]
        key: str = row["idempotency_key"]
        if reverses in by_pk and depth < len(by_pk):
            found = resolve(reverses, depth + 1)
        elif isinstance(explanation.get(CORRECTS), str):
            found = explanation[CORRECTS]
        elif key.startswith(CLAWBACK_PREFIX):
            found = key[len(CLAWBACK_PREFIX) :]
        else:
            found = key
        resolved[pk] = found
        return found

    return {pk: resolve(pk) for pk in by_pk}


def _compare_chunk(
    *,
    source_type: str,
    ids: Sequence[int],
    plans: PlansInForce,
    window_days: int,
    groups: dict[GroupKey, _Group],
) -> int:
    """Add the chunk's expected and posted amounts to ``groups``; returns how
    many of its sources the job has not computed yet (nothing expected yet)."""
    computed = _computed(source_type, ids)
    clawed = _clawed_back(ids, window_days) if source_type == SourceType.DEAL else set()
    for posting in earning_postings(
        _sources_queryset(source_type, sorted(computed)), source_type=source_type, plans=plans
    ):
        assert posting.source_id is not None
        group = groups.setdefault(
            (posting.key, posting.partner_id, posting.currency),
            _Group(source_type=source_type, source_id=posting.source_id),
        )
        amount = _payable(posting.lines)
        # A clawed-back deal's earning comes with its mirror: net zero.
        group.expected += ZERO if posting.source_id in clawed else amount
        group.has_expected = True
        group.kind = posting.kind
        group.expense_account = _expense(posting.lines)
        group.rule_id = posting.rule_id
        group.plan_version_id = posting.plan_version_id
        group.explanation = posting.explanation
        group.described_by_posting = True
    rows = _posted_rows(source_type, ids)
    originals = _original_keys(rows)
    for row in rows:
        payable = row["payable"]
        if payable is None:
            continue  # moves no partner money
        original = originals[row["pk"]]
        group = groups.setdefault(
            (original, row["partner_id"], row["currency"]),
            _Group(source_type=source_type, source_id=row["source_id"]),
        )
        group.posted += -payable
        group.has_posted = True
        if not group.described_by_posting and (
            row["idempotency_key"] == original or group.explanation == {}
        ):
            group.kind = row["kind"]
            group.expense_account = row["expense_account"] or Account.ADJUSTMENT_EXPENSE
            group.rule_id = row["rule_id"]
            group.plan_version_id = row["plan_version_id"]
            group.explanation = row["explanation"] if isinstance(row["explanation"], dict) else {}
            group.described_by_posting = row["idempotency_key"] == original
    return len(ids) - len(computed)


def _compare_period_rules(*, period: PayoutPeriod, groups: dict[GroupKey, _Group]) -> None:
    """The period-based rules (stepped rebates, renewal-rate and usage-growth
    bonuses) of ``period``: what ``period_earnings`` computes now against what
    each key's family holds (the key, its ``:fix<n>`` corrections made before
    the close, and replay corrections). The period's results are taken as of
    its close: a deal reversed later still counts. A fixed number of queries."""
    for posting in expected_period_postings(
        start=period.start, end=period.end, as_of=period.closed_at
    ):
        group = groups.setdefault(
            (posting.key, posting.partner_id, posting.currency),
            _Group(source_type=PERIOD_SOURCE_TYPE, source_id=None),
        )
        group.expected += _payable(posting.lines)
        group.has_expected = True
        group.kind = posting.kind
        group.expense_account = _expense(posting.lines)
        group.rule_id = posting.rule_id
        group.plan_version_id = posting.plan_version_id
        group.explanation = posting.explanation
        group.described_by_posting = True
    families = posted_period_amounts(start=period.start, end=period.end)
    for family in families.values():
        group = groups.setdefault(
            (family.key, family.partner_id, family.currency),
            _Group(source_type=PERIOD_SOURCE_TYPE, source_id=None),
        )
        group.posted += family.amount
        group.has_posted = True
        if not group.described_by_posting:
            group.kind = family.kind
            group.expense_account = Account.COMMISSION_EXPENSE
            group.rule_id = family.rule_id
            group.plan_version_id = family.plan_version_id
            group.explanation = family.explanation
            group.described_by_posting = True
    keys = {key for key, _partner, _currency in groups if key.startswith(_PERIOD_PREFIXES)}
    if not keys:
        return
    corrections = (
        LedgerTransaction.objects.filter(
            source_type=PERIOD_SOURCE_TYPE,
            idempotency_key__startswith=CORRECTION_PREFIX,
            **{f"explanation__{CORRECTS}__in": sorted(keys)},
        )
        .annotate(
            payable=Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE))
        )
        .values_list(f"explanation__{CORRECTS}", "partner_id", "currency", "payable")
        .order_by()
    )
    for original, partner_id, currency, payable in corrections:
        if payable is None:
            continue
        group = groups.setdefault(
            (original, partner_id, currency),
            _Group(source_type=PERIOD_SOURCE_TYPE, source_id=None),
        )
        group.posted += -payable
        group.has_posted = True


def _status(group: _Group) -> str:
    if not group.has_posted:
        return Status.MISSING
    if not group.has_expected:
        return Status.UNEXPECTED
    return Status.DIFFERENT


def replay_period(
    *, period: PayoutPeriod, membership, chunk_size: int = CHUNK_SIZE
) -> ReplayResult:
    """Recompute a closed period's deals, revenue events and period rules and
    compare with the ledger; reads only (``VIEW_MONEY``)."""
    _require(
        membership,
        Capability.VIEW_MONEY,
        _("Only finance and tenant admins can replay payout periods."),
    )
    if period.is_open:
        raise ReplayError(
            _("Only a closed period can be replayed: this one has no statements yet."),
            code="period_open",
        )
    sources = period_sources(period)
    plans = PlansInForce()
    window_days = IncentiveSettings.objects.values_list("clawback_days", flat=True).first()
    if window_days is None:
        window_days = IncentiveSettings._meta.get_field("clawback_days").get_default()
    groups: dict[GroupKey, _Group] = {}
    pending = 0
    for source_type, ids in sources.items():
        for chunk in _chunks(ids, chunk_size):
            pending += _compare_chunk(
                source_type=source_type,
                ids=chunk,
                plans=plans,
                window_days=window_days,
                groups=groups,
            )
    _compare_period_rules(period=period, groups=groups)
    differing = [(key, group) for key, group in groups.items() if group.expected != group.posted]
    names: dict[int, str] = {}
    partner_ids = {partner_id for (_key, partner_id, _cur), _g in differing if partner_id}
    if partner_ids:
        names = dict(
            PartnerOrganization.objects.filter(pk__in=partner_ids).values_list("pk", "legal_name")
        )
    rows = sorted(
        (
            DiffRow(
                status=_status(group),
                key=key,
                source_type=group.source_type,
                source_id=group.source_id,
                partner_id=partner_id,
                partner_name=names.get(partner_id, "") if partner_id else "",
                currency=currency,
                kind=group.kind,
                expected=group.expected,
                posted=group.posted,
                explanation=group.explanation,
                expense_account=group.expense_account,
                rule_id=group.rule_id,
                plan_version_id=group.plan_version_id,
            )
            for (key, partner_id, currency), group in differing
        ),
        key=lambda row: (
            row.source_type,
            row.source_id or 0,
            row.key,
            row.partner_id or 0,
            row.currency,
        ),
    )
    totals: dict[str, list[Any]] = {}
    for (_key, _partner, currency), group in groups.items():
        total = totals.setdefault(currency, [ZERO, ZERO, 0])
        total[0] += group.expected
        total[1] += group.posted
        total[2] += 1 if group.expected != group.posted else 0
    return ReplayResult(
        period=period,
        deals=len(sources[SourceType.DEAL]),
        revenue_events=len(sources[SourceType.REVENUE_EVENT]),
        compared=len(groups),
        rows=rows,
        totals=[
            CurrencyTotal(
                currency=currency, expected=values[0], posted=values[1], differences=values[2]
            )
            for currency, values in sorted(totals.items())
        ],
        pending=pending,
    )


def correction_key(*, period: PayoutPeriod, original: str, number: int) -> str:
    """``correction:<period id>:<original key>:<n>``; an original key too long to
    fit is replaced by its SHA-256 (the explanation keeps it in full)."""
    key = f"{CORRECTION_PREFIX}{period.pk}:{original}:{number}"
    if len(key) <= KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha256(original.encode()).hexdigest()
    return f"{CORRECTION_PREFIX}{period.pk}:sha256-{digest}:{number}"


def _corrections_so_far(period: PayoutPeriod, originals: set[str]) -> dict[str, int]:
    """How many corrections this period's replays already posted per original key (one query)."""
    counts: dict[str, int] = {}
    rows = LedgerTransaction.objects.filter(
        kind=Kind.ADJUSTMENT,
        reverses__isnull=True,
        idempotency_key__startswith=f"{CORRECTION_PREFIX}{period.pk}:",
        **{f"explanation__{CORRECTS}__in": sorted(originals)},
    ).values_list(f"explanation__{CORRECTS}", flat=True)
    for original in rows:
        counts[original] = counts.get(original, 0) + 1
    return counts


def _correction(
    *, row: DiffRow, period: PayoutPeriod, number: int, day: date, reason: str, actor
) -> Posting:
    difference = row.difference
    return Posting(
        key=correction_key(period=period, original=row.key, number=number),
        kind=Kind.ADJUSTMENT,
        source_type=row.source_type,
        source_id=row.source_id,
        currency=row.currency,
        effective_date=day,
        # In the partner's favour: debit the expense, credit the payable (and
        # the other way round for a negative difference).
        lines=[
            Line(account=row.expense_account, amount=difference),
            Line(account=Account.PARTNER_PAYABLE, amount=-difference),
        ],
        partner_id=row.partner_id,
        explanation={
            CORRECTS: row.key,
            CORRECTS_PERIOD: period.pk,
            "replayed_period": period.key,
            "diff": row.status,
            "expected": str(row.expected),
            "posted": str(row.posted),
            "difference": str(difference),
            "reason": reason,
            "original": row.explanation,
        },
        rule_id=row.rule_id,
        plan_version_id=row.plan_version_id,
        memo=reason,
        created_by_id=actor.pk if getattr(actor, "pk", None) else None,
    )


def _lock_corrections() -> None:
    """Wait for the tenant's correction lock; it is held until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [CORRECTION_LOCK, require_tenant().pk]
        )


def _deal_ids(rows: Iterable[DiffRow]) -> set[int]:
    return {
        row.source_id
        for row in rows
        if row.source_type == SourceType.DEAL and row.source_id is not None
    }


def _lock_deals(ids: set[int]) -> None:
    """Lock the deal rows ``FOR UPDATE``, in id order, a chunk per query."""
    for chunk in _chunks(sorted(ids), CHUNK_SIZE):
        list(
            DealRegistration.objects.filter(pk__in=list(chunk))
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )


def _replay_locked(period: PayoutPeriod, membership) -> ReplayResult:
    """The replay of ``period`` with the deals of its differences locked: lock
    them, then compute again (the nightly clawback may have committed
    meanwhile), until no difference concerns a deal not locked yet."""
    result = replay_period(period=period, membership=membership)
    locked: set[int] = set()
    while unlocked := _deal_ids(result.rows) - locked:
        _lock_deals(unlocked)
        locked |= unlocked
        result = replay_period(period=period, membership=membership)
    return result


def correct_period(
    *, period: PayoutPeriod, membership, actor, reason: str, today: date | None = None
) -> int:
    """Post a correction for every difference the replay of ``period`` finds,
    effective ``today`` in the open period; returns how many were posted.
    Finance only (``MANAGE_MONEY``); one transaction, under the tenant's
    correction lock and with the differing deals locked (see the module
    docstring); audited."""
    _require(membership, Capability.MANAGE_MONEY, _("Only finance can post replay corrections."))
    reason = (reason or "").strip()
    if not reason:
        raise ReplayError(
            _("Say why these corrections are posted."), code="reason_required", field="reason"
        )
    today = today or timezone.localdate()
    with db.atomic():
        # The tenant's corrections (of any period) queue here; each then sees
        # what the one before it posted and finds no difference left there.
        _lock_corrections()
        locked = PayoutPeriod.objects.select_for_update().get(pk=period.pk)
        open_period = ensure_open_period(today)
        if not open_period.is_open:
            raise Conflict(
                _("The period covering today is closed: corrections need an open period."),
                code="no_open_period",
            )
        result = _replay_locked(locked, membership)
        if not result.rows:
            return 0
        numbers = _corrections_so_far(locked, {row.key for row in result.rows})
        postings = []
        for row in result.rows:
            numbers[row.key] = numbers.get(row.key, 0) + 1
            postings.append(
                _correction(
                    row=row,
                    period=locked,
                    number=numbers[row.key],
                    day=today,
                    reason=reason,
                    actor=actor,
                )
            )
        created = post_many(postings=postings)
        totals: dict[str, Decimal] = {}
        for row in result.rows:
            totals[row.currency] = totals.get(row.currency, ZERO) + row.difference
        record(
            actor=actor,
            action="payouts.period_replay_corrected",
            target=locked,
            summary=reason,
            data={
                "corrections": created,
                "open_period": open_period.pk,
                "effective_date": today.isoformat(),
                "difference_by_currency": {k: str(v) for k, v in sorted(totals.items())},
                "keys": [posting.key for posting in postings],
            },
        )
    return created
