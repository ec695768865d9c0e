"""Exchange rates a tenant's finance team records, per currency pair and day.

Guarantees: a recorded rate is never edited or deleted (``append_only``: the
database withholds UPDATE and DELETE from the application role). One rate per
(pair, effective date) is current; a mistake is fixed by a *correction*, a new
row for the same pair and date with the next ``revision`` that names the row it
corrects and why. Conversions use the highest revision of the latest effective
date on or before the event's day (``prm.money.rates.rate_on``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]


class ExchangeRate(TenantModel):
    """``1 base_currency = rate × quote_currency`` from ``effective_date`` on."""

    base_currency = models.CharField(_("base currency"), max_length=3, choices=CURRENCY_CHOICES)
    quote_currency = models.CharField(_("quote currency"), max_length=3, choices=CURRENCY_CHOICES)
    rate = models.DecimalField(
        _("rate"),
        max_digits=20,
        decimal_places=10,
        validators=[MinValueValidator(Decimal("0.0000000001"))],
        help_text=_("How many units of the quote currency one unit of the base currency buys."),
    )
    effective_date = models.DateField(_("effective date"))
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    corrects = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrected_by",
        verbose_name=_("corrects"),
    )
    source = models.CharField(_("source"), max_length=200, blank=True)
    correction_reason = models.TextField(_("reason for the correction"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    append_only = True

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["-effective_date", "base_currency", "quote_currency", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "base_currency", "quote_currency", "effective_date", "revision"],
                name="money_rate_pair_date_revision_unique",
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="money_rate_positive"),
            models.CheckConstraint(
                condition=~models.Q(base_currency=models.F("quote_currency")),
                name="money_rate_distinct_currencies",
            ),
            models.CheckConstraint(
                condition=models.Q(revision=1, corrects__isnull=True)
                | models.Q(revision__gt=1, corrects__isnull=False),
                name="money_rate_revision_corrects",
            ),
        ]
        indexes = [
            models.Index(
                fields=[
                    "tenant",
                    "base_currency",
                    "quote_currency",
                    "-effective_date",
                    "-revision",
                ],
                name="money_rate_lookup",
            )
        ]

    def __str__(self) -> str:
        return f"1 {self.base_currency} = {self.rate} {self.quote_currency} ({self.effective_date})"
