"""Partner organisations, their types and tiers, and the tier history."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class PartnerType(TenantModel):
    """Tenant-configurable kinds of partner (reseller, referral, …)."""

    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("partner type")
        verbose_name_plural = _("partner types")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="partners_type_key_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Tier(TenantModel):
    """One rung of the tenant's tier ladder; ``rank`` orders it (1 = entry tier)."""

    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"))
    commission_rate_modifier = models.DecimalField(
        _("commission rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT,
        help_text=_("Commission percentage partners in this tier earn."),
    )
    mdf_percentage = models.DecimalField(
        # xgettext:no-python-format
        _("MDF (% of partner-sourced revenue)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT,
    )
    benefits = models.TextField(_("benefits"), blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="partners_tier_key_unique"),
            models.UniqueConstraint(fields=["tenant", "rank"], name="partners_tier_rank_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class PartnerOrganization(TenantModel):
    class Status(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ONBOARDING = "onboarding", _("Onboarding")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        EXITED = "exited", _("Exited")

    legal_name = models.CharField(_("legal name"), max_length=200)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    country = models.CharField(
        _("country"), max_length=2, help_text=_("Two-letter ISO country code, e.g. MY or CN.")
    )
    region = models.CharField(_("region"), max_length=100, blank=True)
    industries = ArrayField(
        models.CharField(max_length=60), verbose_name=_("industries"), default=list, blank=True
    )
    partner_type = models.ForeignKey(
        PartnerType, on_delete=models.PROTECT, related_name="partners", verbose_name=_("type")
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="partners",
        verbose_name=_("tier"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ONBOARDING
    )
    default_currency = models.CharField(
        _("default currency"),
        max_length=3,
        choices=[(c, c) for c in settings.CURRENCIES],
        default="USD",
    )
    website = models.URLField(_("website"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner organisation")
        verbose_name_plural = _("partner organisations")
        ordering = ["legal_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "legal_name"], name="partners_org_legal_name_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["tenant", "tier"]),
            models.Index(fields=["tenant", "country"]),
        ]

    def __str__(self) -> str:
        return self.display_name or self.legal_name

    @property
    def name(self) -> str:
        return str(self)


class TierChange(TenantModel):
    """Append-only history: who moved a partner between tiers, when and why."""

    partner = models.ForeignKey(
        PartnerOrganization, on_delete=models.CASCADE, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.TextField(_("reason"))
    changed_at = models.DateTimeField(_("changed"), auto_now_add=True)

    append_only = True

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["tenant", "partner", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.partner}: {self.from_tier or '—'} → {self.to_tier}"


class PartnerPayee(TenantModel):
    """Where and how a partner organisation is paid, and its tax details.

    One per partner. The bank account number and tax id are stored sealed
    (``prm.money.sealed``: encrypted at rest) with only their last four
    characters in clear, so lists and forms show "•••• 1234" without
    decrypting anything. Reads and writes go through ``partners.payee``,
    which allows finance and the partner's own admins only.
    """

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        OTHER = "other", _("Other (arranged with finance)")

    class TaxForm(models.TextChoices):
        MISSING = "missing", _("Not received")
        W9 = "w9", _("W-9 received")
        W8BEN = "w8ben", _("W-8BEN received")
        W8BENE = "w8bene", _("W-8BEN-E received")
        LOCAL = "local", _("Local tax registration received")
        NOT_REQUIRED = "not_required", _("Not required")

    partner = models.OneToOneField(
        PartnerOrganization,
        on_delete=models.CASCADE,
        related_name="payee",
        verbose_name=_("partner"),
    )
    legal_name = models.CharField(_("payee legal name"), max_length=200, blank=True)
    payout_currency = models.CharField(
        _("payout currency"),
        max_length=3,
        choices=[(c, c) for c in settings.CURRENCIES],
        blank=True,
    )
    payment_method = models.CharField(
        _("payment method"), max_length=20, choices=Method.choices, default=Method.BANK_TRANSFER
    )
    bank_name = models.CharField(_("bank name"), max_length=200, blank=True)
    account_number_sealed = models.TextField(_("bank account number (encrypted)"), blank=True)
    account_number_tail = models.CharField(max_length=4, blank=True, editable=False)
    swift_bic = models.CharField(_("SWIFT/BIC"), max_length=11, blank=True)
    bank_country = models.CharField(_("bank country"), max_length=2, blank=True)
    tax_id_sealed = models.TextField(_("tax id (encrypted)"), blank=True)
    tax_id_tail = models.CharField(max_length=4, blank=True, editable=False)
    tax_country = models.CharField(_("tax country"), max_length=2, blank=True)
    tax_form_status = models.CharField(
        _("tax form"), max_length=20, choices=TaxForm.choices, default=TaxForm.MISSING
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("payee details")
        verbose_name_plural = _("payee details")
        ordering = ["partner__legal_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner"], name="partners_payee_one_per_partner"
            )
        ]

    def __str__(self) -> str:
        return self.legal_name or str(self.partner)

    @property
    def masked_account_number(self) -> str:
        """ "•••• 1234", or "" when no account number is on file."""
        return _masked(self.account_number_sealed, self.account_number_tail)

    @property
    def masked_tax_id(self) -> str:
        return _masked(self.tax_id_sealed, self.tax_id_tail)


def _masked(sealed: str, tail: str) -> str:
    if not sealed:
        return ""
    return f"•••• {tail}" if tail else "••••"
