"""Deal registration: the program's rules, the vendor's own accounts, partners'
registrations with their timeline, detected matches and staff decisions.

Matching fields (``normalized_name``, ``website_domain``, ``email_domain``) are
filled by ``deals.services`` from ``deals.normalize``; a ``pg_trgm`` index on
``normalized_name`` serves fuzzy matching.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]


class CompanySize(models.TextChoices):
    MICRO = "micro", _("1–9 employees")
    SMALL = "small", _("10–49 employees")
    MEDIUM = "medium", _("50–249 employees")
    LARGE = "large", _("250–999 employees")
    ENTERPRISE = "enterprise", _("1,000+ employees")


class DealProgram(TenantModel):
    """The tenant's deal-registration rules (one row per tenant)."""

    protection_days = models.PositiveSmallIntegerField(
        _("protection window (days)"),
        default=90,
        validators=[MinValueValidator(30), MaxValueValidator(180)],
    )
    auto_approve = models.BooleanField(
        _("approve registrations without conflicts automatically"), default=True
    )
    match_threshold = models.DecimalField(
        _("fuzzy name match threshold"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.60"),
        validators=[MinValueValidator(Decimal("0.10")), MaxValueValidator(Decimal("1.00"))],
        help_text=_("Trigram similarity (0–1) above which two company names are a match."),
    )
    partner_sourced_partner_share = models.DecimalField(
        _("co-sell: partner share when partner-sourced (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("70"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    direct_sourced_partner_share = models.DecimalField(
        _("co-sell: partner share when direct-sourced (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("30"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    first_reminder_days = models.PositiveSmallIntegerField(
        _("first expiry reminder (days before)"), default=14
    )
    last_reminder_days = models.PositiveSmallIntegerField(
        _("last expiry reminder (days before)"), default=3
    )

    class Meta:
        verbose_name = _("deal registration program")
        verbose_name_plural = _("deal registration programs")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="deals_one_program_per_tenant")
        ]

    def __str__(self) -> str:
        return str(_("Deal registration program"))


class DomainAlias(TenantModel):
    """Another domain the same customer uses (e.g. acme.com.my → acme.com)."""

    alias = models.CharField(_("alias domain"), max_length=253)
    canonical = models.CharField(_("canonical domain"), max_length=253)

    class Meta:
        verbose_name = _("domain alias")
        verbose_name_plural = _("domain aliases")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "alias"], name="deals_alias_unique")
        ]

    def __str__(self) -> str:
        return f"{self.alias} → {self.canonical}"


class EngagementRule(TenantModel):
    """A rule of engagement: which deals a partner may register on their own.

    A registration matching a rule is either reserved for direct sales
    (refused) or sent to manual review, per ``action``.
    """

    class Field(models.TextChoices):
        COUNTRY = "country", _("country")
        COMPANY_SIZE = "company_size", _("company size")
        INDUSTRY = "industry", _("industry")

    class Action(models.TextChoices):
        RESERVE_DIRECT = "reserve_direct", _("reserved for direct sales")
        REVIEW = "review", _("needs manual review")

    name = models.CharField(_("name"), max_length=120)
    field = models.CharField(_("applies to"), max_length=20, choices=Field.choices)
    values = models.JSONField(
        _("values"), default=list, help_text=_('e.g. ["enterprise"] or ["SG", "MY"]')
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("rule of engagement")
        verbose_name_plural = _("rules of engagement")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(TenantModel):
    name = models.CharField(_("name"), max_length=200)
    product_line = models.CharField(_("product line"), max_length=120, blank=True)
    sku = models.CharField(_("SKU"), max_length=60)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["product_line", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="deals_product_sku_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Account(TenantModel):
    """The vendor's own book: direct-sales accounts, open opportunities, customers."""

    class Kind(models.TextChoices):
        DIRECT = "direct", _("direct-sales account")
        OPPORTUNITY = "opportunity", _("open direct opportunity")
        CUSTOMER = "customer", _("existing customer")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("company"), max_length=200)
    normalized_name = models.CharField(max_length=200, editable=False)
    domain = models.CharField(_("domain"), max_length=253, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    owner = models.CharField(_("owner"), max_length=200, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["tenant", "domain"]),
            GinIndex(
                name="deals_account_name_trgm",
                fields=["normalized_name"],
                opclasses=["gin_trgm_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DealRegistration(TenantModel):
    class Stage(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        IN_PROGRESS = "in_progress", _("In progress")
        CLOSED_WON = "closed_won", _("Closed won")
        CLOSED_LOST = "closed_lost", _("Closed lost")
        EXPIRED = "expired", _("Expired")

    class DealType(models.TextChoices):
        NEW = "new", _("New business")
        RENEWAL = "renewal", _("Renewal")
        UPSELL = "upsell", _("Upsell")

    # Stages in which a registration claims its customer.
    ACTIVE_STAGES = (Stage.SUBMITTED, Stage.APPROVED, Stage.IN_PROGRESS)
    PROTECTED_STAGES = (Stage.APPROVED, Stage.IN_PROGRESS)

    reference = models.CharField(_("reference"), max_length=20, editable=False)
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        related_name="deals",
        verbose_name=_("partner"),
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("registered by"),
    )
    customer_company = models.CharField(_("customer company"), max_length=200)
    normalized_name = models.CharField(max_length=200, editable=False)
    contact_name = models.CharField(_("contact name"), max_length=200)
    contact_email = models.EmailField(_("contact e-mail"))
    email_domain = models.CharField(max_length=253, editable=False, blank=True)
    website = models.CharField(_("website or domain"), max_length=253, blank=True)
    website_domain = models.CharField(max_length=253, editable=False, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    company_size = models.CharField(
        _("company size"), max_length=20, choices=CompanySize.choices, blank=True
    )
    deal_type = models.CharField(
        _("deal type"), max_length=10, choices=DealType.choices, default=DealType.NEW
    )
    estimated_close_date = models.DateField(_("estimated close date"))
    estimated_amount = models.DecimalField(
        _("estimated amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    notes = models.TextField(_("notes"), blank=True)
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.SUBMITTED
    )
    is_conflict = models.BooleanField(_("conflict"), default=False)
    submitted_at = models.DateTimeField(_("submitted"), auto_now_add=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    protected_until = models.DateField(_("protected until"), null=True, blank=True)
    # Closed-won facts.
    final_amount = models.DecimalField(
        _("final amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    contract_term_months = models.PositiveSmallIntegerField(
        _("contract term (months)"), null=True, blank=True
    )
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reversal_reason = models.TextField(_("reversal reason"), blank=True)
    # Co-sell split decided on review (partner's share in percent).
    partner_share = models.DecimalField(
        _("partner share (%)"), max_digits=5, decimal_places=2, default=Decimal("100")
    )

    class Meta:
        verbose_name = _("deal registration")
        verbose_name_plural = _("deal registrations")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "reference"], name="deals_reference_unique"),
            models.CheckConstraint(
                condition=Q(partner_share__gte=0) & Q(partner_share__lte=100),
                name="deals_share_0_100",
            ),
            models.CheckConstraint(
                condition=~Q(stage="closed_won")
                | (Q(final_amount__isnull=False) & Q(closed_on__isnull=False)),
                name="deals_closed_won_has_amount_and_date",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "partner", "stage"]),
            models.Index(fields=["tenant", "stage", "submitted_at"]),
            models.Index(fields=["tenant", "website_domain"]),
            models.Index(fields=["tenant", "email_domain"]),
            GinIndex(
                name="deals_reg_name_trgm", fields=["normalized_name"], opclasses=["gin_trgm_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} · {self.customer_company}"


class DealLine(TenantModel):
    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("deal line")
        verbose_name_plural = _("deal lines")

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product}"


class DealEvent(TenantModel):
    """The deal's timeline: every state change, who, when and why. Append-only."""

    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("event"), max_length=40)
    from_stage = models.CharField(max_length=20, blank=True)
    to_stage = models.CharField(max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    append_only = True

    class Meta:
        verbose_name = _("deal event")
        verbose_name_plural = _("deal events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "deal", "created_at"])]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.kind}"


class DealComment(TenantModel):
    """A comment shared between the partner and the channel manager."""

    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class DealMatch(TenantModel):
    """Something a registration may conflict with, why, and how sure we are."""

    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="matches")
    other_deal = models.ForeignKey(
        DealRegistration, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    reasons = models.JSONField(_("reasons"), default=list)
    confidence = models.DecimalField(_("confidence"), max_digits=4, decimal_places=3)
    found_at = models.DateTimeField(_("found"), auto_now_add=True)

    class Meta:
        verbose_name = _("match")
        verbose_name_plural = _("matches")
        ordering = ["-confidence", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(other_deal__isnull=False, account__isnull=True)
                | Q(other_deal__isnull=True, account__isnull=False),
                name="deals_match_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} ~ {self.other_deal_id or self.account_id} ({self.confidence})"


class Decision(TenantModel):
    """A channel manager's decision on a registration, readable by the partners it affects."""

    class Outcome(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        AWARDED_FIRST = "awarded_first", _("Awarded to the first registrant")
        CO_SELL = "co_sell", _("Co-sell with a commission split")

    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    policy = models.CharField(_("policy applied"), max_length=200)
    reason = models.TextField(_("reason"))
    matches_considered = models.JSONField(_("matches considered"), default=list)
    partner_share = models.DecimalField(
        _("partner share (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), auto_now_add=True)
    appeal_comment = models.TextField(_("appeal"), blank=True)
    appealed_at = models.DateTimeField(_("appealed"), null=True, blank=True)
    appealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.outcome}"


# One extension request adds this many days to the protection window.
EXTENSION_MIN_DAYS = 1
EXTENSION_MAX_DAYS = 90


class ExtensionRequest(TenantModel):
    """A partner's request to extend a deal's protection window, and staff's answer.

    The rule: one request extends the window by 1 to 90 days, and a deal has at
    most one pending request at a time (enforced by a partial unique constraint).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        DENIED = "denied", _("Denied")

    deal = models.ForeignKey(
        DealRegistration,
        on_delete=models.CASCADE,
        related_name="extension_requests",
        verbose_name=_("deal registration"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_days = models.PositiveSmallIntegerField(
        _("extra days"),
        validators=[
            MinValueValidator(EXTENSION_MIN_DAYS),
            MaxValueValidator(EXTENSION_MAX_DAYS),
        ],
    )
    reason = models.TextField(_("reason"))
    # The window's end when the partner asked, so staff see what they extend.
    protected_until_at_request = models.DateField(_("protected until (when requested)"))
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    class Meta:
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "deal"],
                condition=Q(status="pending"),
                name="deals_one_pending_extension",
            ),
            models.CheckConstraint(
                condition=Q(requested_days__gte=EXTENSION_MIN_DAYS)
                & Q(requested_days__lte=EXTENSION_MAX_DAYS),
                name="deals_extension_1_90_days",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="deals_extension_decided_when_not_pending",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "requested_at"])]

    def __str__(self) -> str:
        return f"{self.deal_id}: +{self.requested_days} ({self.status})"


class ExpiryReminder(TenantModel):
    """One expiry reminder, sent once per deal, window end and lead time.

    The unique key is what makes the nightly job idempotent: a rerun inserts
    nothing for reminders already recorded, and mail goes out only for rows
    actually inserted. An extension moves ``protected_until``, so the new
    window gets its own reminders.
    """

    deal = models.ForeignKey(
        DealRegistration, on_delete=models.CASCADE, related_name="expiry_reminders"
    )
    protected_until = models.DateField(_("protected until"))
    days_before = models.PositiveSmallIntegerField(_("days before expiry"))
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "deal", "protected_until", "days_before"],
                name="deals_one_reminder_per_window_and_lead_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.days_before} d before {self.protected_until}"
