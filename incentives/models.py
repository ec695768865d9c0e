"""Commission plans, their versions and rules, and imported revenue events.

Guarantees:

* A plan has numbered versions; at most one draft at a time. A published (or
  retired) version is immutable: ``incentives.services`` refuses every change,
  and the database refuses it too — a trigger (migration 0002) rejects any
  INSERT, UPDATE or DELETE of a rule whose version is not a draft, and any
  change to a published version other than retiring it.
* A rule snapshots everything it pays (the tier rate included), so a published
  version pays the same tomorrow whatever the tier table says then.
* A revenue event is unique per tenant by ``external_id`` (imports are safe to
  repeat) and its amount is always positive: the kind says whether it earns
  (invoice paid, usage charge) or takes back (refund).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel

CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]


class CommissionPlan(TenantModel):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    # The plan ``services.ensure_default_plan`` seeded (one per tenant).
    is_default = models.BooleanField(_("default plan"), default=False, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("commission plan")
        verbose_name_plural = _("commission plans")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="incentives_plan_name_unique"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="incentives_one_default_plan"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlanVersion(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    plan = models.ForeignKey(
        CommissionPlan, on_delete=models.CASCADE, related_name="versions", verbose_name=_("plan")
    )
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )
    # The first day the retired version no longer applies.
    retired_on = models.DateField(_("retired from"), null=True, blank=True)
    based_on = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("copied from"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("plan version")
        verbose_name_plural = _("plan versions")
        ordering = ["plan__name", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "plan", "number"], name="incentives_version_number_unique"
            ),
            models.UniqueConstraint(
                fields=["tenant", "plan"],
                condition=Q(status="draft"),
                name="incentives_one_draft_per_plan",
            ),
            models.CheckConstraint(
                condition=Q(status="draft")
                | (Q(published_at__isnull=False) & Q(effective_from__isnull=False)),
                name="incentives_published_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="retired") | Q(retired_on__isnull=False),
                name="incentives_retired_has_date",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "effective_from"])]

    def __str__(self) -> str:
        return _("%(plan)s v%(number)s") % {"plan": self.plan.name, "number": self.number}

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class RuleKind(models.TextChoices):
    TIER_COMMISSION = "tier_commission", _("Tier-based commission")
    REFERRAL_FEE = "referral_fee", _("Referral fee")
    REVENUE_SHARE = "revenue_share", _("Recurring revenue share")
    STEPPED_REBATE = "stepped_rebate", _("Stepped volume rebate")
    NEW_CUSTOMER_BONUS = "new_customer_bonus", _("New-customer bonus")
    SPIFF = "spiff", _("Product push (SPIFF)")
    TIER_PROMOTION_BONUS = "tier_promotion_bonus", _("Tier-promotion bonus")
    RENEWAL_RATE_BONUS = "renewal_rate_bonus", _("Renewal-rate bonus")
    USAGE_GROWTH_BONUS = "usage_growth_bonus", _("Usage-growth bonus")


class CommissionRule(TenantModel):
    """One rule of a plan version: what it matches and what it pays.

    Empty match lists mean "any". ``parameters`` holds the kind-specific
    settings (rebate bands and mode, thresholds, the promotion's tier and
    date), validated by ``incentives.engine.parse_parameters``.
    """

    class Registered(models.TextChoices):
        ANY = "any", _("Registered or not")
        YES = "yes", _("Registered deals only")
        NO = "no", _("Unregistered deals only")

    class CoSellRole(models.TextChoices):
        ANY = "any", _("Any")
        SOLE = "sole", _("Sole partner (no co-sell)")
        PARTNER_SOURCED = "partner_sourced", _("Co-sell, partner-sourced")
        DIRECT_SOURCED = "direct_sourced", _("Co-sell, direct-sourced")

    class Payout(models.TextChoices):
        PERCENTAGE = "percentage", _("Percentage of a base")
        FIXED = "fixed", _("Fixed amount")

    class Base(models.TextChoices):
        FIRST_YEAR_VALUE = "first_year_value", _("First-year contract value")
        DEAL_AMOUNT = "deal_amount", _("Deal amount")

    version = models.ForeignKey(
        PlanVersion, on_delete=models.CASCADE, related_name="rules", verbose_name=_("version")
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=30, choices=RuleKind.choices)
    priority = models.IntegerField(
        _("priority"),
        default=0,
        help_text=_("Among matching rules of the same kind, the highest priority pays."),
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    # --- what it matches (empty = any) ---
    partner_type_keys = ArrayField(
        models.CharField(max_length=40), verbose_name=_("partner types"), default=list, blank=True
    )
    tier_keys = ArrayField(
        models.CharField(max_length=40), verbose_name=_("tiers"), default=list, blank=True
    )
    product_ids = ArrayField(
        models.BigIntegerField(), verbose_name=_("products"), default=list, blank=True
    )
    product_lines = ArrayField(
        models.CharField(max_length=120), verbose_name=_("product lines"), default=list, blank=True
    )
    countries = ArrayField(
        models.CharField(max_length=2), verbose_name=_("countries"), default=list, blank=True
    )
    regions = ArrayField(
        models.CharField(max_length=100), verbose_name=_("regions"), default=list, blank=True
    )
    deal_types = ArrayField(
        models.CharField(max_length=10), verbose_name=_("deal types"), default=list, blank=True
    )
    registered = models.CharField(
        _("registration"), max_length=3, choices=Registered.choices, default=Registered.ANY
    )
    co_sell_role = models.CharField(
        _("co-sell role"), max_length=20, choices=CoSellRole.choices, default=CoSellRole.ANY
    )
    # --- what it pays ---
    payout = models.CharField(
        _("payout"), max_length=10, choices=Payout.choices, default=Payout.PERCENTAGE
    )
    rate = models.DecimalField(_("rate (%)"), max_digits=7, decimal_places=4, null=True, blank=True)
    base = models.CharField(
        _("base"), max_length=20, choices=Base.choices, default=Base.FIRST_YEAR_VALUE
    )
    fixed_amount = models.DecimalField(
        _("fixed amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(
        _("currency of the fixed amount"), max_length=3, choices=CURRENCY_CHOICES, blank=True
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)

    class Meta:
        verbose_name = _("commission rule")
        verbose_name_plural = _("commission rules")
        ordering = ["kind", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(payout="fixed", fixed_amount__isnull=False, fixed_amount__gte=0)
                | (
                    Q(payout="percentage")
                    & (Q(rate__isnull=True) | (Q(rate__gte=0) & Q(rate__lte=100)))
                ),
                name="incentives_rule_pays_something",
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="incentives_rule_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "version", "kind"])]

    def __str__(self) -> str:
        return self.name


# The fields of a rule that people set (console, API, services).
RULE_FIELDS = (
    "name",
    "kind",
    "priority",
    "starts_on",
    "ends_on",
    "partner_type_keys",
    "tier_keys",
    "product_ids",
    "product_lines",
    "countries",
    "regions",
    "deal_types",
    "registered",
    "co_sell_role",
    "payout",
    "rate",
    "base",
    "fixed_amount",
    "currency",
    "parameters",
)


class RevenueEvent(TenantModel):
    """A customer payment the vendor imports (CSV or API): what recurring
    revenue shares and usage-growth bonuses are computed from."""

    class Kind(models.TextChoices):
        INVOICE_PAID = "invoice_paid", _("Invoice paid")
        REFUND = "refund", _("Refund")
        USAGE_CHARGE = "usage_charge", _("Usage charge")

    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        related_name="revenue_events",
        verbose_name=_("partner"),
    )
    deal = models.ForeignKey(
        "deals.DealRegistration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="revenue_events",
        verbose_name=_("deal"),
    )
    customer_name = models.CharField(_("customer"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    occurred_on = models.DateField(_("date"))
    external_id = models.CharField(_("external id"), max_length=100)
    usage_quantity = models.DecimalField(
        _("usage quantity"), max_digits=18, decimal_places=4, null=True, blank=True
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("revenue event")
        verbose_name_plural = _("revenue events")
        ordering = ["-occurred_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="incentives_revenue_external_id_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="incentives_revenue_positive"),
        ]
        indexes = [
            models.Index(fields=["tenant", "partner", "occurred_on"]),
            models.Index(fields=["tenant", "occurred_on", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.get_kind_display()} {self.amount} {self.currency}"


class IncentiveSettings(TenantModel):
    """The tenant's incentive rules that are not part of a plan (one row per tenant)."""

    clawback_days = models.PositiveSmallIntegerField(
        _("clawback window (days)"),
        default=365,
        validators=[MinValueValidator(0), MaxValueValidator(3650)],
        help_text=_(
            "A closed-won deal reversed within this many days of closing gives back what "
            "it earned; later reversals keep their earnings."
        ),
    )

    class Meta:
        verbose_name = _("incentive settings")
        verbose_name_plural = _("incentive settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="incentives_one_settings_per_tenant")
        ]

    def __str__(self) -> str:
        return str(_("Incentive settings"))


class Computation(TenantModel):
    """The nightly commission job has handled this source in this phase.

    Written in the same transaction as the ledger postings, so a source is
    either computed and marked, or neither: a rerun (or a run killed halfway and
    started again) picks up exactly the unmarked ones. A source that earned
    nothing is marked too, so it is not computed again every night.
    """

    class Phase(models.TextChoices):
        EARN = "earn", _("earnings")
        CLAWBACK = "clawback", _("clawback")

    source_type = models.CharField(_("source"), max_length=20)
    source_id = models.BigIntegerField(_("source id"))
    phase = models.CharField(_("phase"), max_length=10, choices=Phase.choices)
    postings = models.PositiveIntegerField(_("ledger transactions"), default=0)
    computed_at = models.DateTimeField(_("computed"), auto_now_add=True)

    append_only = True

    class Meta:
        verbose_name = _("computation")
        verbose_name_plural = _("computations")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_type", "source_id", "phase"],
                name="incentives_one_computation_per_source_and_phase",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id} ({self.phase})"


# --- payout periods and statements -----------------------------------------------------
# Guarantees (``incentives.payouts`` writes these; migration 0005 adds triggers):
#
# * Periods of a tenant never overlap (a trigger) and are unique by start. A
#   closed period never re-opens and never changes.
# * A statement is written once, when its period closes; afterwards only the
#   payment fields may change, once, from "closed" to "paid" (a trigger).
# * Statement lines are append-only (the application role cannot UPDATE or
#   DELETE them, and a trigger refuses it for every role), and a ledger
#   transaction is on at most one line (a unique constraint).


class PayoutSettings(TenantModel):
    """How payouts work for the tenant (one row per tenant)."""

    minimum_payout = models.DecimalField(
        _("minimum payout"),
        max_digits=14,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_(
            "A closing balance below this amount (in the partner's payout currency) is "
            "carried forward to the next period instead of being paid."
        ),
    )

    class Meta:
        verbose_name = _("payout settings")
        verbose_name_plural = _("payout settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="incentives_one_payout_settings"),
            models.CheckConstraint(
                condition=Q(minimum_payout__gte=0), name="incentives_minimum_payout_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Payout settings"))


class PayoutPeriod(TenantModel):
    """A stretch of days (monthly by default) whose ledger entries are paid together."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    start = models.DateField(_("start"))
    end = models.DateField(_("end"), help_text=_("The last day of the period (inclusive)."))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("payout period")
        verbose_name_plural = _("payout periods")
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "start"], name="incentives_period_start"),
            models.CheckConstraint(
                condition=Q(end__gte=models.F("start")), name="incentives_period_dates_ordered"
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="incentives_period_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Statement(TenantModel):
    """What a partner earned in a closed period, in its payout currency.

    Signed totals add up: ``closing = opening + earned + clawed_back +
    adjustments`` (clawbacks are negative). ``payable`` is ``closing`` when it
    may be paid, else 0 and ``carried_forward`` holds it for the next period.
    """

    class Status(models.TextChoices):
        CLOSED = "closed", _("Closed")
        HELD = "held", _("Held")
        BLOCKED = "blocked", _("Blocked")
        PAID = "paid", _("Paid")

    period = models.ForeignKey(
        PayoutPeriod, on_delete=models.PROTECT, related_name="statements", verbose_name=_("period")
    )
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        related_name="statements",
        verbose_name=_("partner"),
    )
    currency = models.CharField(_("payout currency"), max_length=3, choices=CURRENCY_CHOICES)
    opening_balance = models.DecimalField(_("carried in"), max_digits=18, decimal_places=2)
    earned_total = models.DecimalField(_("earned"), max_digits=18, decimal_places=2)
    clawed_back_total = models.DecimalField(_("clawed back"), max_digits=18, decimal_places=2)
    adjustments_total = models.DecimalField(_("adjustments"), max_digits=18, decimal_places=2)
    closing_amount = models.DecimalField(_("closing balance"), max_digits=18, decimal_places=2)
    payable_amount = models.DecimalField(_("payable"), max_digits=18, decimal_places=2)
    carried_forward = models.DecimalField(_("carried forward"), max_digits=18, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    hold_reason = models.TextField(_("hold reason"), blank=True, default="")
    blockers = ArrayField(
        models.TextField(), verbose_name=_("payout blockers"), default=list, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=200, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("marked paid by"),
    )
    payment_transaction = models.ForeignKey(
        "ledger.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment"),
    )

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-period__start", "partner__legal_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "period", "partner"], name="incentives_statement_once"
            ),
            models.CheckConstraint(
                condition=Q(
                    closing_amount=models.F("opening_balance")
                    + models.F("earned_total")
                    + models.F("clawed_back_total")
                    + models.F("adjustments_total")
                ),
                name="incentives_statement_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(
                    closing_amount=models.F("payable_amount") + models.F("carried_forward")
                ),
                name="incentives_statement_payable_or_carried",
            ),
            models.CheckConstraint(
                condition=Q(payable_amount__gte=0), name="incentives_statement_never_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="paid")
                | Q(paid_on__isnull=False, payment_transaction__isnull=False),
                name="incentives_statement_paid_has_payment",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "partner", "period"])]

    def __str__(self) -> str:
        return _("Statement %(period)s — %(partner)s") % {
            "period": self.period.key,
            "partner": self.partner.legal_name,
        }


class StatementLine(TenantModel):
    """One ledger transaction on a statement, converted to the payout currency."""

    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="lines", verbose_name=_("statement")
    )
    transaction = models.ForeignKey(
        "ledger.LedgerTransaction",
        on_delete=models.PROTECT,
        related_name="statement_lines",
        verbose_name=_("ledger transaction"),
    )
    kind = models.CharField(_("kind"), max_length=20)
    effective_date = models.DateField(_("date"))
    original_amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    original_currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    rate = models.DecimalField(_("rate"), max_digits=24, decimal_places=10, null=True, blank=True)
    rate_date = models.DateField(_("rate date"), null=True, blank=True)
    amount = models.DecimalField(_("converted amount"), max_digits=18, decimal_places=2)
    explanation = models.JSONField(_("explanation"), default=dict, blank=True)

    append_only = True

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["effective_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "transaction"], name="incentives_transaction_on_one_statement"
            ),
            models.CheckConstraint(
                condition=Q(rate__isnull=True, rate_date__isnull=True)
                | Q(rate__isnull=False, rate_date__isnull=False),
                name="incentives_line_rate_has_date",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "statement"])]

    def __str__(self) -> str:
        return f"{self.statement_id}: {self.transaction_id}"


class Hold(TenantModel):
    """Finance holds a partner's payout, or one earning, until released."""

    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        related_name="payout_holds",
        verbose_name=_("partner"),
    )
    transaction = models.ForeignKey(
        "ledger.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("earning"),
        help_text=_("Empty: the partner's whole payout is held."),
    )
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("held"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("held by"),
    )
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )

    class Meta:
        verbose_name = _("payout hold")
        verbose_name_plural = _("payout holds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner"],
                condition=Q(transaction__isnull=True, released_at__isnull=True),
                name="incentives_one_active_partner_hold",
            ),
            models.UniqueConstraint(
                fields=["tenant", "transaction"],
                condition=Q(transaction__isnull=False, released_at__isnull=True),
                name="incentives_one_active_earning_hold",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="incentives_hold_has_reason"),
        ]

    def __str__(self) -> str:
        if self.transaction_id:
            return _("Hold on earning #%(id)s") % {"id": self.transaction_id}
        return _("Hold on %(partner)s") % {"partner": self.partner.legal_name}

    @property
    def is_active(self) -> bool:
        return self.released_at is None
