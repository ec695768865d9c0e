"""Posting to the ledger: the only way money moves.

Guarantees (balance, append-only and key uniqueness are enforced by the
database too, see ``models`` and migration 0002):

* Every posting is validated before it reaches the database
  (``prm.ledger.postings``): amounts are ``Decimal`` with at most two decimal
  places (floats and ints are refused, so is a float anywhere in an
  explanation), never zero, and the lines sum to zero; a refusal is a
  ``LedgerError`` (a ``DomainError``) saying why.
* Posting is idempotent on ``key``: the transaction row is written with
  ``INSERT … ON CONFLICT DO NOTHING``, so a repeat — sequential or concurrent
  (the second writer waits on the unique index, then finds the first one's
  row) — records nothing and returns the existing transaction. The first
  posting under a key wins.
* ``post_many`` is the set-based path for jobs: two statements per chunk of
  ``CHUNK_SIZE`` postings whatever its size, entries written only for the
  transactions this call created.
* ``reverse`` writes the exact mirror of a transaction, at most once per
  transaction (a unique index), and never of a reversal unless asked to.

``post``, ``post_many`` and ``reverse`` are primitives for other services
(commissions, clawbacks, MDF, payouts), which check permissions and audit the
user's action; ``post_adjustment`` is a user action and does both itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db import transaction as db
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, PermissionDenied
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType
from prm.ledger.postings import (
    LedgerError,
    Line,
    Posting,
    check_amount,
    idempotency_key,
    validate,
)
from prm.tenancy.context import require_tenant

__all__ = [
    "CHUNK_SIZE",
    "LedgerError",
    "Line",
    "Posting",
    "idempotency_key",
    "post",
    "post_adjustment",
    "post_many",
    "reverse",
]

CHUNK_SIZE = 10_000
_INSERT_TRANSACTIONS = """
INSERT INTO ledger_transaction (
    tenant_id, partner_id, source_type, source_id, kind, currency, effective_date,
    period_key, rule_id, plan_version_id, explanation, idempotency_key, reverses_id,
    memo, created_by_id, created_at
)
SELECT %s, u.partner_id, u.source_type, u.source_id, u.kind, u.currency, u.effective_date,
       u.period_key, u.rule_id, u.plan_version_id, u.explanation::jsonb, u.idempotency_key,
       u.reverses_id, u.memo, u.created_by_id, now()
FROM unnest(
    %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::date[],
    %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[],
    %s::text[], %s::bigint[]
) AS u(
    partner_id, source_type, source_id, kind, currency, effective_date,
    period_key, rule_id, plan_version_id, explanation, idempotency_key, reverses_id,
    memo, created_by_id
)
ORDER BY u.idempotency_key COLLATE "C"
ON CONFLICT DO NOTHING
RETURNING id, idempotency_key, created_at
"""

_INSERT_ENTRIES = """
INSERT INTO ledger_entry (tenant_id, transaction_id, account, partner_id, currency, amount,
                          created_at)
SELECT %s, u.transaction_id, u.account, u.partner_id, u.currency, u.amount, now()
FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::numeric[])
    AS u(transaction_id, account, partner_id, currency, amount)
"""


def _array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal, cast in SQL (``%s::bigint[]``).

    One text parameter per column instead of a list: the driver then quotes
    one string rather than thousands of elements, which is most of the cost
    of a 10,000-row insert. ``str()`` of a choices member is its value.
    """
    return (
        "{"
        + ",".join(
            "NULL"
            if value is None
            else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


def _column(postings: Sequence[Posting], name: str) -> str:
    return _array(getattr(posting, name) for posting in postings)


def _insert(postings: Sequence[Posting]) -> dict[str, tuple[int, datetime]]:
    """Insert one chunk; returns ``key -> (id, created_at)`` of the rows it created."""
    tenant_id = require_tenant().pk
    explanations = _array(
        json.dumps(posting.explanation, cls=DjangoJSONEncoder) for posting in postings
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_TRANSACTIONS,
            [
                tenant_id,
                _column(postings, "partner_id"),
                _column(postings, "source_type"),
                _column(postings, "source_id"),
                _column(postings, "kind"),
                _column(postings, "currency"),
                _column(postings, "effective_date"),
                _column(postings, "period_key"),
                _column(postings, "rule_id"),
                _column(postings, "plan_version_id"),
                explanations,
                _column(postings, "key"),
                _column(postings, "reverses_id"),
                _column(postings, "memo"),
                _column(postings, "created_by_id"),
            ],
        )
        created = {key: (pk, created_at) for pk, key, created_at in cursor.fetchall()}
        if not created:
            return created
        tx_ids: list[int] = []
        accounts: list[str] = []
        partners: list[int | None] = []
        currencies: list[str] = []
        amounts: list[Decimal] = []
        for posting in postings:
            if posting.key not in created:
                continue
            tx_id = created[posting.key][0]
            for line in posting.lines:
                tx_ids.append(tx_id)
                accounts.append(line.account)
                partners.append(posting.partner_id)
                currencies.append(posting.currency)
                amounts.append(line.amount)
        cursor.execute(
            _INSERT_ENTRIES,
            [
                tenant_id,
                _array(tx_ids),
                _array(accounts),
                _array(partners),
                _array(currencies),
                _array(amounts),
            ],
        )
    return created


def _chunks(postings: Sequence[Posting], size: int) -> Iterable[Sequence[Posting]]:
    for start in range(0, len(postings), size):
        yield postings[start : start + size]


def post_many(*, postings: Sequence[Posting]) -> int:
    """Post a batch set-wise; returns how many transactions it created.

    Postings whose key is already in the ledger (or that mirror a transaction
    that already has a mirror) are skipped, so a rerun adds nothing. The
    whole call is one database transaction; a key may appear once per call.
    """
    seen: set[str] = set()
    for posting in postings:
        validate(posting)
        if posting.key in seen:
            raise LedgerError(
                _("The key %(key)s appears twice in one batch.") % {"key": posting.key},
                code="duplicate_key",
            )
        seen.add(posting.key)
    if not postings:
        return 0
    # Rows are inserted in key order (here and in the INSERT), so concurrent
    # batches that share keys wait on each other instead of deadlocking.
    ordered = sorted(postings, key=lambda posting: posting.key.encode())
    created = 0
    with db.atomic():
        for chunk in _chunks(ordered, CHUNK_SIZE):
            created += len(_insert(chunk))
    return created


def post(
    *,
    key: str,
    kind: str,
    source_type: str,
    source_id: int | None,
    currency: str,
    effective_date: date,
    lines: Sequence[Line],
    partner: PartnerOrganization | None = None,
    explanation: dict[str, Any] | None = None,
    rule_id: int | None = None,
    plan_version_id: int | None = None,
    period_key: str = "",
    reverses: LedgerTransaction | None = None,
    memo: str = "",
    actor=None,
) -> tuple[LedgerTransaction, bool]:
    """Post one balanced transaction; ``(transaction, created)``.

    A repeat of ``key`` returns the transaction already posted under it with
    ``created=False`` and writes nothing.
    """
    posting = Posting(
        key=key,
        kind=kind,
        source_type=source_type,
        source_id=source_id,
        currency=currency,
        effective_date=effective_date,
        lines=tuple(lines),
        partner_id=partner.pk if partner is not None else None,
        explanation=explanation if explanation is not None else {},
        rule_id=rule_id,
        plan_version_id=plan_version_id,
        period_key=period_key,
        reverses_id=reverses.pk if reverses is not None else None,
        memo=memo,
        created_by_id=actor.pk if getattr(actor, "pk", None) else None,
    )
    validate(posting)
    with db.atomic():
        created = _insert([posting])
        if posting.key in created:
            pk, created_at = created[posting.key]
            transaction = LedgerTransaction(
                id=pk,
                tenant=require_tenant(),
                partner=partner,
                source_type=source_type,
                source_id=source_id,
                kind=kind,
                currency=currency,
                effective_date=effective_date,
                period_key=period_key,
                rule_id=rule_id,
                plan_version_id=plan_version_id,
                explanation=json.loads(json.dumps(posting.explanation, cls=DjangoJSONEncoder)),
                idempotency_key=key,
                reverses=reverses,
                memo=memo,
                created_by_id=posting.created_by_id,
                created_at=created_at,
            )
            transaction._state.adding = False
            transaction._state.db = connection.alias
            return transaction, True
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is None:
            # The insert hit another unique index: the one allowing a single
            # mirror per transaction.
            raise Conflict(
                _("That transaction has already been reversed."), code="already_reversed"
            )
        return existing, False


def reverse(
    *,
    transaction: LedgerTransaction,
    key: str,
    kind: str = Kind.CLAWBACK,
    effective_date: date,
    memo: str,
    actor=None,
    allow_reversing_a_reversal: bool = False,
) -> tuple[LedgerTransaction, bool]:
    """Post the mirror of ``transaction`` (every entry negated), pointing at it.

    A transaction is mirrored at most once: the same key returns the existing
    mirror (``created=False``); another key is a ``Conflict``. Reversing a
    reversal (re-instating an earning) must be asked for explicitly.
    """
    if transaction.reverses_id is not None and not allow_reversing_a_reversal:
        raise Conflict(
            _("This transaction is itself a reversal; it is not reversed again by default."),
            code="reversing_a_reversal",
        )
    lines = [
        Line(account=entry.account, amount=-entry.amount) for entry in transaction.entries.all()
    ]
    mirror, created = post(
        key=key,
        kind=kind,
        source_type=transaction.source_type,
        source_id=transaction.source_id,
        currency=transaction.currency,
        effective_date=effective_date,
        lines=lines,
        partner=transaction.partner,
        explanation={"reverses": transaction.pk, "original": transaction.explanation},
        rule_id=transaction.rule_id,
        plan_version_id=transaction.plan_version_id,
        reverses=transaction,
        memo=memo,
        actor=actor,
    )
    if not created and mirror.reverses_id != transaction.pk:
        raise Conflict(
            _("The key %(key)s already belongs to another ledger transaction.") % {"key": key},
            code="key_in_use",
        )
    return mirror, created


def post_adjustment(
    *,
    membership,
    actor,
    partner: PartnerOrganization,
    currency: str,
    amount: Decimal,
    reason: str,
    effective_date: date,
    key: str | None = None,
) -> LedgerTransaction:
    """Finance posts a manual adjustment to a partner's payable balance.

    A positive amount is in the partner's favour (debit adjustment expense,
    credit partner payable), a negative one against it. The reason is
    mandatory and the action is audited. ``key`` (optional) makes a repeated
    submission post once.
    """
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied(_("Only finance can post ledger adjustments."))
    reason = (reason or "").strip()
    if not reason:
        raise LedgerError(
            _("Say why this adjustment is made."), code="reason_required", field="reason"
        )
    check_amount(amount)
    with db.atomic():
        transaction, created = post(
            # A manual adjustment has no source row: a fresh token stands in
            # for the source id, so two identical adjustments are both posted.
            key=key or f"{SourceType.ADJUSTMENT.value}:{uuid.uuid4().hex}:-:adjustment:-",
            kind=Kind.ADJUSTMENT,
            source_type=SourceType.ADJUSTMENT,
            source_id=None,
            currency=currency,
            effective_date=effective_date,
            lines=[
                Line(account=Account.ADJUSTMENT_EXPENSE, amount=amount),
                Line(account=Account.PARTNER_PAYABLE, amount=-amount),
            ],
            partner=partner,
            explanation={"reason": reason, "amount": amount},
            memo=reason,
            actor=actor,
        )
        if not created and (
            transaction.partner_id != partner.pk
            or transaction.currency != currency
            or Decimal(str(transaction.explanation.get("amount"))) != amount
        ):
            # The same form submitted again with other figures (back button,
            # edit, resubmit): never drop the second adjustment silently.
            raise Conflict(
                _(
                    "This form was already used to post another adjustment. "
                    "Open the form again to post a new one."
                ),
                code="adjustment_key_reused",
            )
        if created:
            record(
                actor=actor,
                action="ledger.adjustment_posted",
                target=transaction,
                summary=reason,
                data={
                    "partner": partner.pk,
                    "currency": currency,
                    "amount": str(amount),
                    "effective_date": effective_date.isoformat(),
                },
            )
    return transaction
