"""Recording and correcting exchange rates (finance only).

Guarantees: every write needs ``Capability.MANAGE_MONEY``, runs in one
transaction and writes an audit row. A recorded rate is never edited (the
table is append-only in the database): a pair and date already on file is a
``Conflict``, and a wrong rate is fixed by ``correct_rate``, which adds the
next revision for the same pair and date, naming the row it corrects and why.
Lookups use the highest revision (``prm.money.rates``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.money.currency import as_decimal
from prm.money.models import ExchangeRate
from prm.money.rates import RATE_DECIMALS
from prm.tenancy.context import require_tenant

RATE_LIMIT = Decimal(10) ** (20 - RATE_DECIMALS)  # max_digits 20, 10 of them decimals


def require_money_manager(membership) -> None:
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied()


def _currency(value: str, field_name: str) -> str:
    code = (value or "").strip().upper()
    if code not in settings.CURRENCIES:
        raise DomainError(
            _("%(code)s is not one of the currencies this program uses.") % {"code": code or "—"},
            code="unknown_currency",
            field=field_name,
        )
    return code


def _rate(value) -> Decimal:
    if isinstance(value, str):
        try:
            value = Decimal(value.strip().replace(" ", ""))
        except InvalidOperation:
            raise DomainError(
                _("Enter the rate as a number, like 4.7321."), code="invalid_rate", field="rate"
            ) from None
    try:
        rate = as_decimal(value)
    except (TypeError, ValueError):
        raise DomainError(
            _("Enter the rate as a number, like 4.7321."), code="invalid_rate", field="rate"
        ) from None
    if rate <= 0:
        raise DomainError(_("A rate must be more than zero."), code="invalid_rate", field="rate")
    if rate >= RATE_LIMIT:
        raise DomainError(
            _("A rate must be less than %(limit)s.") % {"limit": number_format(RATE_LIMIT)},
            code="invalid_rate",
            field="rate",
        )
    exponent = rate.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked by as_decimal
    if -exponent > RATE_DECIMALS:
        raise DomainError(
            _("A rate has at most %(count)s decimals.") % {"count": RATE_DECIMALS},
            code="invalid_rate",
            field="rate",
        )
    return rate


@dataclass(frozen=True)
class RateInput:
    base: str
    quote: str
    rate: Decimal
    effective_date: datetime.date
    source: str


def validated_rate(
    *, base: str, quote: str, rate, effective_date: datetime.date, source: str
) -> RateInput:
    base_code = _currency(base or require_tenant().default_currency, "base_currency")
    quote_code = _currency(quote, "quote_currency")
    if base_code == quote_code:
        raise DomainError(
            _("Choose two different currencies."), code="same_currency", field="quote_currency"
        )
    return RateInput(
        base=base_code,
        quote=quote_code,
        rate=_rate(rate),
        effective_date=effective_date,
        source=(source or "").strip()[:200],
    )


def duplicate_rate(value: RateInput) -> Conflict:
    return Conflict(
        _(
            "A rate from %(base)s to %(quote)s effective %(day)s is already recorded. "
            "Correct that rate instead."
        )
        % {
            "base": value.base,
            "quote": value.quote,
            "day": date_format(value.effective_date, "SHORT_DATE_FORMAT"),
        },
        code="rate_exists",
        field="effective_date",
    )


def violates(exc: IntegrityError, name: str) -> bool:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) == name


def record_rate(
    *,
    membership,
    actor,
    base: str,
    quote: str,
    rate: Decimal | str,
    effective_date: datetime.date,
    source: str = "",
) -> ExchangeRate:
    """Record ``1 base = rate × quote`` from ``effective_date`` on.

    A pair and date already recorded is a ``Conflict``: fix a wrong rate with
    ``correct_rate``, which keeps the original row and says why."""
    require_money_manager(membership)
    value = validated_rate(
        base=base, quote=quote, rate=rate, effective_date=effective_date, source=source
    )
    try:
        with transaction.atomic():
            created = ExchangeRate.objects.create(
                base_currency=value.base,
                quote_currency=value.quote,
                rate=value.rate,
                effective_date=value.effective_date,
                source=value.source,
                created_by=actor,
            )
            record(
                actor=actor,
                action="exchange_rate.recorded",
                target=created,
                summary=str(created),
                data={
                    "base": value.base,
                    "quote": value.quote,
                    "rate": str(value.rate),
                    "effective_date": value.effective_date.isoformat(),
                    "source": value.source,
                },
            )
    except IntegrityError as exc:
        if violates(exc, "money_rate_pair_date_revision_unique"):
            raise duplicate_rate(value) from exc
        raise
    return created


def correct_rate(
    *, membership, actor, rate: ExchangeRate, new_rate: Decimal | str, reason: str
) -> ExchangeRate:
    """Supersede a recorded rate for its pair and date with a new revision.

    The original row stays (it may already appear on a closed statement);
    conversions from now on use the correction."""
    require_money_manager(membership)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            _("Say why the rate is corrected."), code="reason_required", field="reason"
        )
    value = _rate(new_rate)
    try:
        with transaction.atomic():
            latest = (
                ExchangeRate.objects.filter(
                    base_currency=rate.base_currency,
                    quote_currency=rate.quote_currency,
                    effective_date=rate.effective_date,
                )
                .order_by("-revision")
                .first()
            )
            if latest is None or latest.pk != rate.pk:
                raise Conflict(
                    _("This rate was already corrected. Correct its latest revision."),
                    code="already_corrected",
                )
            if value == rate.rate:
                raise DomainError(
                    _("The corrected rate is the same as the recorded one."),
                    code="same_rate",
                    field="new_rate",
                )
            created = ExchangeRate.objects.create(
                base_currency=rate.base_currency,
                quote_currency=rate.quote_currency,
                rate=value,
                effective_date=rate.effective_date,
                revision=rate.revision + 1,
                corrects=rate,
                source=rate.source,
                correction_reason=reason,
                created_by=actor,
            )
            record(
                actor=actor,
                action="exchange_rate.corrected",
                target=created,
                summary=str(created),
                data={
                    "corrects": rate.pk,
                    "from": str(rate.rate),
                    "to": str(value),
                    "reason": reason,
                },
            )
    except IntegrityError as exc:
        # A concurrent correction of the same row won the race.
        raise Conflict(
            _("This rate was already corrected. Correct its latest revision."),
            code="already_corrected",
        ) from exc
    return created
