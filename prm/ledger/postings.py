"""What a ledger posting is, and the checks it passes before it is written.

``Line`` and ``Posting`` are the value types every money flow builds; ``validate``
refuses, with a ``LedgerError`` (a ``DomainError`` with a machine-readable
code), anything the database would refuse or that is not money: amounts that
are not ``Decimal`` (floats, ints), have more than two decimal places, are
zero or too large; a float anywhere in an explanation; unknown kinds,
sources, accounts or currencies; fewer than two lines; lines that do not sum
to zero. ``idempotency_key`` builds the documented key convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from prm.errors import DomainError
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e16")  # numeric(18, 2)
KEY_MAX_LENGTH = LedgerTransaction._meta.get_field("idempotency_key").max_length or 200
PERIOD_MAX_LENGTH = LedgerTransaction._meta.get_field("period_key").max_length or 16


class LedgerError(DomainError):
    code = "ledger_invalid"
    default_message = _("This ledger posting is not valid.")


def check_amount(amount: object, *, field_name: str = "amount") -> Decimal:
    """The amount itself if it is a usable money ``Decimal``; ``LedgerError`` otherwise."""
    if not isinstance(amount, Decimal):
        raise LedgerError(
            _("Amounts must be decimals, not %(type)s.") % {"type": type(amount).__name__},
            code="not_decimal",
            field=field_name,
        )
    if not amount.is_finite():
        raise LedgerError(_("Amounts must be finite."), code="not_finite", field=field_name)
    if amount == 0:
        raise LedgerError(_("Amounts cannot be zero."), code="zero_amount", field=field_name)
    if abs(amount) >= MAX_AMOUNT:
        raise LedgerError(_("The amount is too large."), code="too_large", field=field_name)
    if amount != amount.quantize(CENT):
        raise LedgerError(
            _("Amounts have at most two decimal places; round before posting."),
            code="too_precise",
            field=field_name,
        )
    return amount


# The choices' values, computed once (``TextChoices.values`` builds a new list
# on every access, which a job validating millions of postings notices).
ACCOUNTS = frozenset(Account.values)
KINDS = frozenset(Kind.values)
SOURCE_TYPES = frozenset(SourceType.values)


@dataclass(frozen=True)
class Line:
    """One side of a posting: debit positive, credit negative."""

    account: str
    amount: Decimal

    def __post_init__(self) -> None:
        if self.account not in ACCOUNTS:
            raise LedgerError(
                _("%(account)s is not a ledger account.") % {"account": self.account},
                code="unknown_account",
            )
        check_amount(self.amount)


@dataclass(frozen=True)
class Posting:
    """Everything ``post_many`` needs for one transaction, by ids (jobs work in sets)."""

    key: str
    kind: str
    source_type: str
    source_id: int | None
    currency: str
    effective_date: date
    lines: Sequence[Line]
    partner_id: int | None = None
    explanation: dict[str, Any] = field(default_factory=dict)
    rule_id: int | None = None
    plan_version_id: int | None = None
    period_key: str = ""
    reverses_id: int | None = None
    memo: str = ""
    created_by_id: int | None = None


def idempotency_key(
    *,
    source_type: str,
    source_id: int | None,
    rule_id: int | None,
    kind: str,
    period_key: str = "",
) -> str:
    """The documented key convention: ``source_type:source_id:rule_id:kind:period``."""

    def part(value: object) -> str:
        return "-" if value is None or value == "" else str(value)

    return ":".join(part(value) for value in (source_type, source_id, rule_id, kind, period_key))


def _reject_floats(value: object, path: str = "explanation") -> None:
    if isinstance(value, float):
        raise LedgerError(
            _("%(path)s holds a float; use Decimal or text.") % {"path": path},
            code="not_decimal",
        )
    if isinstance(value, dict):
        for name, item in value.items():
            _reject_floats(item, f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reject_floats(item, f"{path}[{index}]")


def _optional_id(value: object, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise LedgerError(_("%(name)s must be an integer id.") % {"name": name}, code="invalid_id")


def validate(posting: Posting) -> None:
    """Refuse a posting the database would refuse, with a readable reason."""
    if not isinstance(posting.key, str) or not posting.key.strip():
        raise LedgerError(_("A posting needs an idempotency key."), code="missing_key")
    if len(posting.key) > KEY_MAX_LENGTH:
        raise LedgerError(_("The idempotency key is too long."), code="key_too_long")
    if posting.kind not in KINDS:
        raise LedgerError(
            _("%(kind)s is not a ledger transaction kind.") % {"kind": posting.kind},
            code="unknown_kind",
        )
    if posting.source_type not in SOURCE_TYPES:
        raise LedgerError(
            _("%(source)s is not a ledger source.") % {"source": posting.source_type},
            code="unknown_source",
        )
    if posting.currency not in settings.CURRENCIES:
        raise LedgerError(
            _("%(currency)s is not a supported currency.") % {"currency": posting.currency},
            code="unknown_currency",
            field="currency",
        )
    if isinstance(posting.effective_date, datetime) or not isinstance(posting.effective_date, date):
        raise LedgerError(_("The effective date must be a date."), code="invalid_date")
    if len(posting.period_key) > PERIOD_MAX_LENGTH:
        raise LedgerError(_("The period key is too long."), code="invalid_period")
    for name in ("source_id", "partner_id", "rule_id", "plan_version_id", "reverses_id"):
        _optional_id(getattr(posting, name), name)
    if not isinstance(posting.explanation, dict):
        raise LedgerError(_("The explanation must be a mapping."), code="invalid_explanation")
    _reject_floats(posting.explanation)
    lines = list(posting.lines)
    if len(lines) < 2:
        raise LedgerError(
            _("A ledger transaction needs at least two entries."), code="too_few_entries"
        )
    for line in lines:
        if not isinstance(line, Line):
            raise LedgerError(_("Postings are made of Line objects."), code="invalid_line")
    total = sum((line.amount for line in lines), Decimal(0))
    if total != 0:
        raise LedgerError(
            _("The entries do not balance: debits and credits differ by %(total)s %(currency)s.")
            % {"total": total, "currency": posting.currency},
            code="unbalanced",
        )
