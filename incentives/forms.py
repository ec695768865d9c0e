"""Console input for commission plans: parsing only, no side effects.

``RuleForm`` turns the console's fields (comma-separated lists, localised
decimals, rebate bands one per line) into the data ``services.add_rule`` and
``services.update_rule`` take, and maps the services' field names back onto
its own so a refusal shows next to the right input.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from deals.admin.program import ValuesField
from deals.models import DealRegistration, Product
from incentives.models import RULE_FIELDS, CommissionPlan, CommissionRule, RuleKind
from partners.models import Tier
from prm.console.admin_base import TenantModelForm

# Service field → form field, where they differ.
SERVICE_FIELDS = {
    "product_ids": "products",
    "mode": "rebate_mode",
    "tier_key": "promotion_tier",
    "parameters": "bands",
}


class PlanForm(TenantModelForm):
    class Meta:
        model = CommissionPlan
        fields = ("name", "description")

    def clean_name(self):
        name = (self.cleaned_data.get("name") or "").strip()
        if CommissionPlan.objects.filter(name=name).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("A plan with this name already exists."), code="unique")
        return name


class BandsField(forms.CharField):
    """Rebate bands, one per line: "limit: rate". The last band has no limit
    ("*: 5" or ": 5")."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{band.get('up_to') or '*'}: {band.get('rate')}" for band in value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        bands = []
        for raw_line in text.splitlines():
            line = raw_line.strip()
            if not line:
                continue
            limit, sep, rate = line.partition(":")
            if not sep:
                raise forms.ValidationError(
                    _("Write each band as “limit: rate”, e.g. “100000: 2”."), code="format"
                )
            limit = limit.strip().replace(",", "")
            rate = rate.strip().rstrip("%").strip()
            try:
                up_to = None if limit in ("", "*") else str(Decimal(limit))
                rate_value = str(Decimal(rate))
            except InvalidOperation:
                raise forms.ValidationError(
                    _("Write each band as “limit: rate”, e.g. “100000: 2”."), code="format"
                ) from None
            bands.append({"up_to": up_to, "rate": rate_value})
        return bands


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=RuleKind.choices)
    priority = forms.IntegerField(
        label=_("Priority"),
        initial=0,
        help_text=_("Among matching rules of the same kind, the highest priority pays."),
    )
    starts_on = forms.DateField(label=_("Starts on"), required=False)
    ends_on = forms.DateField(label=_("Ends on"), required=False)
    # --- matching ---
    partner_type_keys = ValuesField(
        label=_("Partner types"),
        required=False,
        help_text=_("Comma-separated partner type keys, e.g. “reseller, msp_var”. Empty: any."),
    )
    tier_keys = ValuesField(
        label=_("Tiers"),
        required=False,
        help_text=_("Comma-separated tier keys, e.g. “gold, platinum”. Empty: any."),
    )
    products: forms.ModelMultipleChoiceField[Product] = forms.ModelMultipleChoiceField(
        label=_("Products"), queryset=None, required=False
    )
    product_lines = ValuesField(
        label=_("Product lines"), required=False, help_text=_("Comma-separated. Empty: any.")
    )
    countries = ValuesField(
        label=_("Countries"),
        required=False,
        help_text=_("Comma-separated two-letter codes, e.g. “MY, SG”. Empty: any."),
    )
    regions = ValuesField(
        label=_("Regions"), required=False, help_text=_("Comma-separated. Empty: any.")
    )
    deal_types = forms.MultipleChoiceField(
        label=_("Deal types"),
        choices=DealRegistration.DealType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any."),
    )
    registered = forms.ChoiceField(
        label=_("Registration"), choices=CommissionRule.Registered.choices
    )
    co_sell_role = forms.ChoiceField(
        label=_("Co-sell role"), choices=CommissionRule.CoSellRole.choices
    )
    # --- payout ---
    payout = forms.ChoiceField(label=_("Payout"), choices=CommissionRule.Payout.choices)
    rate = forms.DecimalField(
        label=_("Rate (%)"), max_digits=7, decimal_places=4, required=False, localize=True
    )
    base = forms.ChoiceField(
        label=_("Base"),
        choices=CommissionRule.Base.choices,
        help_text=_("For rules on deals; other kinds have their own base."),
    )
    fixed_amount = forms.DecimalField(
        label=_("Fixed amount"), max_digits=14, decimal_places=2, required=False, localize=True
    )
    currency = forms.ChoiceField(
        label=_("Currency of the fixed amount"),
        choices=[("", _("The deal's currency")), *[(c, c) for c in settings.CURRENCIES]],
        required=False,
    )
    # --- kind-specific ---
    rebate_mode = forms.ChoiceField(
        label=_("Rebate mode"),
        choices=[
            ("", "—"),
            ("marginal", _("Marginal: each band at its own rate")),
            ("retroactive", _("Retroactive: the reached band's rate on the whole volume")),
        ],
        required=False,
    )
    bands = BandsField(
        label=_("Rebate bands"),
        required=False,
        help_text=_(
            "One band per line, “volume limit: rate %”; the last band has no limit, "
            "e.g. “100000: 2”, “250000: 3”, “*: 5”."
        ),
    )
    threshold = forms.DecimalField(
        label=_("Threshold (%)"),
        max_digits=7,
        decimal_places=2,
        required=False,
        localize=True,
        help_text=_("Renewal rate or usage growth the partner must reach."),
    )
    min_renewals = forms.IntegerField(
        label=_("Minimum renewals"), min_value=1, required=False, initial=1
    )
    promotion_tier = forms.ChoiceField(label=_("Tier to reach"), required=False)
    reached_by = forms.DateField(label=_("Reached by"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        products = self.fields["products"]
        assert isinstance(products, forms.ModelMultipleChoiceField)
        products.queryset = Product.objects.order_by("product_line", "name")
        tier_field = self.fields["promotion_tier"]
        assert isinstance(tier_field, forms.ChoiceField)
        tier_field.choices = [
            ("", "—"),
            *Tier.objects.order_by("rank").values_list("key", "name"),
        ]

    @staticmethod
    def initial_from(rule: CommissionRule) -> dict[str, Any]:
        params = rule.parameters or {}
        return {
            **{
                name: getattr(rule, name)
                # Products and parameters have fields of their own below.
                for name in RULE_FIELDS
                if name not in ("product_ids", "parameters")
            },
            "products": list(rule.product_ids),
            "rebate_mode": params.get("mode", ""),
            "bands": params.get("bands", []),
            "threshold": params.get("threshold"),
            "min_renewals": params.get("min_renewals", 1),
            "promotion_tier": params.get("tier_key", ""),
            "reached_by": params.get("reached_by"),
        }

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["kind"]
        parameters: dict[str, Any] = {}
        if kind == RuleKind.STEPPED_REBATE:
            parameters = {"mode": data.get("rebate_mode") or "", "bands": data.get("bands") or []}
        elif kind in (RuleKind.RENEWAL_RATE_BONUS, RuleKind.USAGE_GROWTH_BONUS):
            threshold = data.get("threshold")
            parameters = {"threshold": str(threshold) if threshold is not None else ""}
            if kind == RuleKind.RENEWAL_RATE_BONUS:
                parameters["min_renewals"] = data.get("min_renewals") or 1
        elif kind == RuleKind.TIER_PROMOTION_BONUS:
            reached = data.get("reached_by")
            parameters = {
                "tier_key": data.get("promotion_tier") or "",
                "reached_by": reached.isoformat() if reached else "",
            }
        return {
            "name": data["name"],
            "kind": kind,
            "priority": data["priority"],
            "starts_on": data.get("starts_on"),
            "ends_on": data.get("ends_on"),
            "partner_type_keys": data.get("partner_type_keys") or [],
            "tier_keys": data.get("tier_keys") or [],
            "product_ids": [p.pk for p in data.get("products") or []],
            "product_lines": data.get("product_lines") or [],
            "countries": data.get("countries") or [],
            "regions": data.get("regions") or [],
            "deal_types": data.get("deal_types") or [],
            "registered": data["registered"],
            "co_sell_role": data["co_sell_role"],
            "payout": data["payout"],
            "rate": data.get("rate"),
            "base": data["base"],
            "fixed_amount": data.get("fixed_amount"),
            "currency": data.get("currency") or "",
            "parameters": parameters,
        }


class PublishForm(forms.Form):
    effective_from = forms.DateField(
        label=_("Effective from"),
        help_text=_("Deals closed and revenue received from this day on are paid by this version."),
    )


class RetireForm(forms.Form):
    retired_on = forms.DateField(
        label=_("No longer applies from"),
        help_text=_("From this day on the plan pays nothing under this version."),
    )


class ConfirmForm(forms.Form):
    """A workflow step with nothing to fill in: the button confirms it."""
