"""Which exchange rate applies to an event, and converting amounts at it.

Guarantees:

* The rate for an event on ``day`` is the latest recorded effective date on or
  before that day (never a later rate, so never today's rate for a past
  event), and for that date the highest revision (corrections supersede). A
  rate recorded only for the opposite direction is inverted; on the same date
  the direct rate wins. When neither direction is recorded, the amount crosses
  through the tenant's default currency (both legs on or before ``day``; the
  quote's date is the older leg's). No rate → ``RateMissing``, never a guess.
* ``convert`` computes at full precision from the recorded figures and rounds
  once, half up, to the target currency's minor units
  (``prm.money.currency.quantize``). The result carries the rate and its
  effective date, to be shown on every converted line.
* One implementation: ``rate_on`` and ``convert`` are ``RateBook`` lookups.
  Jobs that convert many lines load one ``rate_book`` (one query) and ask it,
  instead of one query per line.

Writes live in ``prm.money.services`` and ``prm.money.imports``.
"""

from __future__ import annotations

import datetime
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from django.db.models import QuerySet
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from prm.errors import DomainError
from prm.money.currency import as_decimal, quantize
from prm.money.models import ExchangeRate
from prm.tenancy.context import require_tenant

RATE_DECIMALS = 10
PRECISION = 40  # working precision for conversions; rounding happens once, at the end
_LAST_REVISION = 2**15  # above any PositiveSmallIntegerField revision


class RateMissing(DomainError):
    code = "rate_missing"
    default_message = gettext_lazy("No exchange rate is recorded for this conversion.")


Step = tuple[Decimal, bool]  # (recorded rate, divide instead of multiply)


def _run(value: Decimal, steps: Iterable[Step]) -> Decimal:
    with localcontext() as context:
        context.prec = PRECISION
        for rate, divide in steps:
            value = value / rate if divide else value * rate
    return value


@dataclass(frozen=True)
class RateQuote:
    """The rate that applies on a day: ``1 base = rate × quote``.

    ``rate`` is exact for a recorded rate and rounded to 10 decimals when it
    was inverted or crossed (for display); ``apply`` always computes from the
    recorded figures. ``rate_ids`` are the ``ExchangeRate`` rows used."""

    base: str
    quote: str
    rate: Decimal
    effective_date: datetime.date | None
    rate_ids: tuple[int, ...] = ()
    inverted: bool = False
    via: str | None = None
    steps: tuple[Step, ...] = field(default=(), repr=False)

    def apply(self, amount: Decimal | int) -> Decimal:
        """``amount`` in the quote currency, unrounded."""
        return _run(as_decimal(amount), self.steps)


@dataclass(frozen=True)
class Converted:
    amount: Decimal
    currency: str
    rate: Decimal
    rate_date: datetime.date | None
    quote: RateQuote


def _display_rate(steps: Iterable[Step]) -> Decimal:
    return _run(Decimal(1), steps).quantize(Decimal(1).scaleb(-RATE_DECIMALS))


def _missing(base: str, quote: str, day: datetime.date) -> RateMissing:
    return RateMissing(
        _("No exchange rate from %(base)s to %(quote)s is recorded on or before %(day)s.")
        % {"base": base, "quote": quote, "day": date_format(day, "SHORT_DATE_FORMAT")}
    )


@dataclass(frozen=True)
class _Recorded:
    effective_date: datetime.date
    rate: Decimal
    pk: int


class RateBook:
    """The tenant's recorded rates among some currencies up to a day, in memory.

    Build it with ``rate_book``; every lookup applies the rule in this
    module's docstring without touching the database."""

    def __init__(
        self, rows: Iterable[tuple[str, str, datetime.date, int, Decimal, int]], *, until, pivot
    ):
        self.until = until
        self.pivot = pivot
        keys: dict[tuple[str, str], list[tuple[datetime.date, int]]] = defaultdict(list)
        values: dict[tuple[str, str], list[_Recorded]] = defaultdict(list)
        for base, quote, effective_date, revision, rate, pk in sorted(
            rows, key=lambda row: (row[0], row[1], row[2], row[3])
        ):
            keys[(base, quote)].append((effective_date, revision))
            values[(base, quote)].append(_Recorded(effective_date, rate, pk))
        self._keys = dict(keys)
        self._values = dict(values)

    def _latest(self, base: str, quote: str, day: datetime.date) -> _Recorded | None:
        keys = self._keys.get((base, quote))
        if not keys:
            return None
        index = bisect_right(keys, (day, _LAST_REVISION))
        return self._values[(base, quote)][index - 1] if index else None

    def _recorded_quote(self, base: str, quote: str, day: datetime.date) -> RateQuote | None:
        direct = self._latest(base, quote, day)
        inverse = self._latest(quote, base, day)
        if inverse is not None and (
            direct is None or inverse.effective_date > direct.effective_date
        ):
            steps: tuple[Step, ...] = ((inverse.rate, True),)
            return RateQuote(
                base=base,
                quote=quote,
                rate=_display_rate(steps),
                effective_date=inverse.effective_date,
                rate_ids=(inverse.pk,),
                inverted=True,
                steps=steps,
            )
        if direct is None:
            return None
        return RateQuote(
            base=base,
            quote=quote,
            rate=direct.rate,
            effective_date=direct.effective_date,
            rate_ids=(direct.pk,),
            steps=((direct.rate, False),),
        )

    def rate_on(self, *, base: str, quote: str, day: datetime.date) -> RateQuote:
        """The rate that converts ``base`` into ``quote`` for an event on ``day``."""
        if day > self.until:
            raise ValueError("This rate book was loaded only up to an earlier day.")
        base, quote = base.upper(), quote.upper()
        if base == quote:
            return RateQuote(base=base, quote=quote, rate=Decimal(1), effective_date=None)
        found = self._recorded_quote(base, quote, day)
        if found is not None:
            return found
        if self.pivot in (base, quote):
            raise _missing(base, quote, day)
        first = self._recorded_quote(base, self.pivot, day)
        second = self._recorded_quote(self.pivot, quote, day)
        if first is None or second is None:
            raise _missing(base, quote, day)
        assert first.effective_date is not None and second.effective_date is not None
        steps = first.steps + second.steps
        return RateQuote(
            base=base,
            quote=quote,
            rate=_display_rate(steps),
            effective_date=min(first.effective_date, second.effective_date),
            rate_ids=first.rate_ids + second.rate_ids,
            via=self.pivot,
            steps=steps,
        )

    def convert(
        self, *, amount: Decimal, from_currency: str, to_currency: str, day: datetime.date
    ) -> Converted:
        """``amount`` of ``from_currency`` in ``to_currency`` at the rate of
        ``day``, rounded half up to the target currency's minor units."""
        quote = self.rate_on(base=from_currency, quote=to_currency, day=day)
        return Converted(
            amount=quantize(quote.apply(amount), quote.quote),
            currency=quote.quote,
            rate=quote.rate,
            rate_date=quote.effective_date,
            quote=quote,
        )


def rate_book(*, currencies: Iterable[str], until: datetime.date) -> RateBook:
    """Every rate recorded among ``currencies`` (plus the tenant's own currency,
    for crossing) effective on or before ``until``: one query."""
    pivot = require_tenant().default_currency
    codes = {code.upper() for code in currencies} | {pivot}
    rows = ExchangeRate.objects.filter(
        base_currency__in=codes, quote_currency__in=codes, effective_date__lte=until
    ).values_list("base_currency", "quote_currency", "effective_date", "revision", "rate", "pk")
    return RateBook(rows, until=until, pivot=pivot)


def rate_on(*, base: str, quote: str, day: datetime.date) -> RateQuote:
    """The rate that converts ``base`` into ``quote`` for an event on ``day``."""
    return rate_book(currencies=(base, quote), until=day).rate_on(base=base, quote=quote, day=day)


def convert(
    *, amount: Decimal, from_currency: str, to_currency: str, day: datetime.date
) -> Converted:
    """``amount`` of ``from_currency`` in ``to_currency`` at the rate of ``day``,
    rounded half up to the target currency's minor units."""
    book = rate_book(currencies=(from_currency, to_currency), until=day)
    return book.convert(
        amount=amount, from_currency=from_currency, to_currency=to_currency, day=day
    )


def exchange_rates(*, base: str = "", quote: str = "") -> QuerySet[ExchangeRate]:
    """Recorded rates for the console, newest effective date first."""
    queryset = ExchangeRate.objects.select_related("created_by", "corrects")
    if base:
        queryset = queryset.filter(base_currency=base.upper())
    if quote:
        queryset = queryset.filter(quote_currency=quote.upper())
    return queryset
