"""Leads: vendor-generated prospects routed to partners, and every routing decision.

A lead is offered to one partner at a time. Each offer is a ``LeadAssignment``
that keeps its decision trace (the rule that fired, the candidates considered,
why each excluded candidate was excluded) and its outcome. A partner is never
offered the same lead twice — the database refuses a second assignment of one
lead to one partner — so a lead that was declined or let lapse is re-routed to
someone else.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from deals.models.registration import CURRENCY_CHOICES, CompanySize, DealRegistration
from prm.tenancy.models import TenantModel


def _weight(verbose_name, default: str, **options) -> models.DecimalField:
    """A weight or width between 0 and 1."""
    return models.DecimalField(
        verbose_name,
        max_digits=3,
        decimal_places=2,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        **options,
    )


class LeadRouting(TenantModel):
    """The tenant's lead-routing settings (one row per tenant)."""

    sla_hours = models.PositiveSmallIntegerField(
        _("time to accept or reject (hours)"),
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
    )
    default_capacity = models.PositiveSmallIntegerField(
        _("maximum open leads per partner"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text=_("A partner's own capacity, when set, overrides this."),
    )
    route_on_arrival = models.BooleanField(_("route leads as soon as they arrive"), default=True)
    weight_acceptance = _weight(_("weight of the acceptance rate"), "0.40")
    weight_conversion = _weight(_("weight of the conversion rate"), "0.40")
    weight_response = _weight(_("weight of the response time"), "0.20")
    score_band = _weight(
        _("equal-score band"),
        "0.05",
        help_text=_(
            "Partners whose performance scores fall in the same band of this width are "
            "equals; leads rotate among equals (round-robin)."
        ),
    )

    class Meta:
        verbose_name = _("lead routing settings")
        verbose_name_plural = _("lead routing settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="deals_one_lead_routing_per_tenant")
        ]

    def __str__(self) -> str:
        return str(_("Lead routing settings"))


class RoutingRule(TenantModel):
    """Which partners may receive which leads, tried in priority order.

    A rule applies to a lead when every non-empty condition matches it (an
    empty list matches anything). The first applicable rule either reserves the
    lead for direct sales or names the requirements a partner must meet.
    """

    class Action(models.TextChoices):
        ROUTE = "route", _("route to partners")
        RESERVE_DIRECT = "reserve_direct", _("keep for direct sales")

    name = models.CharField(_("name"), max_length=120)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are tried first.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    # Conditions on the lead.
    countries = ArrayField(
        models.CharField(max_length=2), verbose_name=_("lead countries"), default=list, blank=True
    )
    regions = ArrayField(
        models.CharField(max_length=100), verbose_name=_("lead regions"), default=list, blank=True
    )
    industries = ArrayField(
        models.CharField(max_length=60), verbose_name=_("lead industries"), default=list, blank=True
    )
    company_sizes = ArrayField(
        models.CharField(max_length=20, choices=CompanySize.choices),
        verbose_name=_("lead company sizes"),
        default=list,
        blank=True,
    )
    # Requirements on the partner (for "route").
    require_territory = models.BooleanField(
        _("partner must cover the lead's country"), default=True
    )
    require_industry = models.BooleanField(
        _("partner must list the lead's industry"), default=False
    )
    partner_type_keys = ArrayField(
        models.SlugField(max_length=40),
        verbose_name=_("partner types"),
        default=list,
        blank=True,
        help_text=_("Keys of the partner types allowed; empty allows every type."),
    )
    tier_keys = ArrayField(
        models.SlugField(max_length=40),
        verbose_name=_("tiers"),
        default=list,
        blank=True,
        help_text=_("Keys of the tiers allowed; empty allows every tier."),
    )

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class PartnerLeadProfile(TenantModel):
    """What routing knows about one partner beyond its organisation record.

    A partner without a profile accepts leads in its home country up to the
    tenant's default capacity. ``last_offered_at`` is the round-robin cursor.
    """

    partner = models.OneToOneField(
        "partners.PartnerOrganization",
        on_delete=models.CASCADE,
        related_name="lead_profile",
        verbose_name=_("partner"),
    )
    accepts_leads = models.BooleanField(_("accepts leads"), default=True)
    territories = ArrayField(
        models.CharField(max_length=2),
        verbose_name=_("territories"),
        default=list,
        blank=True,
        help_text=_("Countries covered besides the partner's home country."),
    )
    capacity = models.PositiveSmallIntegerField(
        _("maximum open leads"),
        null=True,
        blank=True,
        help_text=_("Empty uses the tenant's default."),
    )
    last_offered_at = models.DateTimeField(_("last offered a lead"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner lead profile")
        verbose_name_plural = _("partner lead profiles")

    def __str__(self) -> str:
        return str(self.partner)


class Lead(TenantModel):
    class Status(models.TextChoices):
        NEW = "new", _("Waiting for routing")
        OFFERED = "offered", _("Offered")
        ACCEPTED = "accepted", _("Accepted")
        CONVERTED = "converted", _("Converted to a deal")
        DIRECT = "direct", _("Kept for direct sales")
        UNROUTED = "unrouted", _("No partner available")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # Statuses the routing job picks up.
    ROUTABLE = (Status.NEW, Status.UNROUTED)
    # Statuses that count against a partner's capacity.
    OPEN = (Status.OFFERED, Status.ACCEPTED)

    reference = models.CharField(_("reference"), max_length=20, editable=False)
    company = models.CharField(_("company"), max_length=200)
    normalized_name = models.CharField(max_length=200, editable=False)
    contact_name = models.CharField(_("contact name"), max_length=200)
    contact_email = models.EmailField(_("contact e-mail"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    website = models.CharField(_("website or domain"), max_length=253, blank=True)
    country = models.CharField(_("country"), max_length=2)
    region = models.CharField(_("region"), max_length=100, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    company_size = models.CharField(
        _("company size"), max_length=20, choices=CompanySize.choices, blank=True
    )
    estimated_amount = models.DecimalField(
        _("estimated amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, blank=True)
    source = models.CharField(_("source"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("partner"),
    )
    offered_at = models.DateTimeField(_("offered"), null=True, blank=True)
    due_at = models.DateTimeField(_("answer due"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    deal = models.OneToOneField(
        DealRegistration,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lead",
        verbose_name=_("deal registration"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "reference"], name="deals_lead_reference_unique"
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="deals_lead_external_id_unique",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["offered", "accepted", "converted"])
                | Q(partner__isnull=False),
                name="deals_lead_held_has_partner",
            ),
            models.CheckConstraint(
                condition=~Q(status="offered") | Q(due_at__isnull=False),
                name="deals_lead_offer_has_due_date",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "due_at"]),
            models.Index(fields=["tenant", "partner", "status"]),
            models.Index(fields=["tenant", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} · {self.company}"


class LeadAssignment(TenantModel):
    """One routing decision for a lead: an offer to a partner, or the finding
    that the lead stays with direct sales or has no eligible partner."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for the partner")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Not answered in time")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        DIRECT = "direct", _("Kept for direct sales")
        UNROUTED = "unrouted", _("No partner available")

    class Via(models.TextChoices):
        ARRIVAL = "arrival", _("on arrival")
        SWEEP = "sweep", _("nightly sweep")
        REROUTE = "reroute", _("re-routed")
        MANUAL = "manual", _("by staff")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lead_assignments",
        verbose_name=_("partner"),
    )
    rule = models.ForeignKey(
        RoutingRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assignments",
        verbose_name=_("rule"),
    )
    rule_name = models.CharField(_("rule that fired"), max_length=120, blank=True)
    via = models.CharField(_("routed"), max_length=10, choices=Via.choices)
    score = models.DecimalField(
        _("performance score"), max_digits=5, decimal_places=4, null=True, blank=True
    )
    trace = models.JSONField(_("decision trace"), default=dict)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING
    )
    offered_at = models.DateTimeField(_("offered"), auto_now_add=True)
    due_at = models.DateTimeField(_("answer due"), null=True, blank=True)
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("lead assignment")
        verbose_name_plural = _("lead assignments")
        ordering = ["offered_at", "id"]
        constraints = [
            # Never offer one lead to the same partner twice.
            models.UniqueConstraint(
                fields=["tenant", "lead", "partner"],
                condition=Q(partner__isnull=False),
                name="deals_lead_once_per_partner",
            ),
            models.UniqueConstraint(
                fields=["tenant", "lead"],
                condition=Q(outcome="pending"),
                name="deals_lead_one_pending_offer",
            ),
            models.CheckConstraint(
                condition=~Q(outcome__in=["pending", "accepted", "rejected", "expired"])
                | Q(partner__isnull=False),
                name="deals_assignment_offer_has_partner",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "partner", "outcome"]),
            models.Index(fields=["tenant", "offered_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.partner_id or '-'} ({self.outcome})"


class ImportBatch(TenantModel):
    """One uploaded CSV file between its preview and its import.

    The file is kept as text with every row's validation errors, so the user
    can read the preview, then import all rows (only when none is invalid) or
    the valid rows only. A batch is imported at most once.
    """

    class Kind(models.TextChoices):
        LEADS = "leads", _("Leads")
        DIRECT = "direct", _("Direct-sales accounts")
        OPPORTUNITY = "opportunity", _("Open direct opportunities")
        CUSTOMER = "customer", _("Existing customers")

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("Previewed")
        IMPORTED = "imported", _("Imported")
        DISCARDED = "discarded", _("Discarded")

    kind = models.CharField(_("what"), max_length=20, choices=Kind.choices)
    filename = models.CharField(_("file"), max_length=255)
    content = models.TextField()
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    valid_count = models.PositiveIntegerField(_("valid rows"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PREVIEWED
    )
    valid_only = models.BooleanField(_("valid rows only"), default=False)
    imported_count = models.PositiveIntegerField(_("imported"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="imported") | Q(imported_at__isnull=False),
                name="deals_import_imported_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.filename
