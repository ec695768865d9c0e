"""Input validation for the partner portal's deal pages; no side effects.

Labels repeat the models' verbose names so a field reads the same in the form,
the deal page and the console. Product lines take the product list from the
view (one query for the whole formset, not one per line).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.forms import BaseFormSet, formset_factory
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deals.models import (
    EXTENSION_MAX_DAYS,
    EXTENSION_MIN_DAYS,
    CompanySize,
    DealRegistration,
    Product,
)

MAX_LINES = 5
CURRENCY_CHOICES = [(code, code) for code in settings.CURRENCIES]
BLANK = [("", "—")]
Stage = DealRegistration.Stage


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        # The browser's date picker sends ISO dates whatever the language.
        super().__init__(attrs, format="%Y-%m-%d")


def _money(label, *, required: bool = False, minimum: str = "0") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=14,
        decimal_places=2,
        min_value=Decimal(minimum),
        localize=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


country_code = RegexValidator(
    r"^[A-Za-z]{2}$", _("Enter the two-letter country code, like MY, CN or SG.")
)
website_or_domain = RegexValidator(
    r"^(https?://)?[^\s/]+\.[^\s/]+(/\S*)?$",
    _("Enter a website address or domain, like example.com."),
)


class RegistrationForm(forms.Form):
    customer_company = forms.CharField(label=capfirst(_("customer company")), max_length=200)
    contact_name = forms.CharField(label=capfirst(_("contact name")), max_length=200)
    contact_email = forms.EmailField(label=capfirst(_("contact e-mail")), max_length=254)
    estimated_close_date = forms.DateField(
        label=capfirst(_("estimated close date")), widget=DateInput(), input_formats=["%Y-%m-%d"]
    )
    website = forms.CharField(
        label=capfirst(_("website or domain")),
        max_length=253,
        required=False,
        validators=[website_or_domain],
    )
    country = forms.CharField(
        label=capfirst(_("country")),
        max_length=2,
        required=False,
        validators=[country_code],
        help_text=_("Two-letter code, like MY."),
    )
    region = forms.CharField(label=capfirst(_("region")), max_length=100, required=False)
    industry = forms.CharField(label=capfirst(_("industry")), max_length=60, required=False)
    company_size = forms.ChoiceField(
        label=capfirst(_("company size")), choices=BLANK + list(CompanySize.choices), required=False
    )
    deal_type = forms.ChoiceField(
        label=capfirst(_("deal type")),
        choices=DealRegistration.DealType.choices,
        initial=DealRegistration.DealType.NEW,
    )
    estimated_amount = _money(capfirst(_("estimated amount")))
    currency = forms.ChoiceField(label=capfirst(_("currency")), choices=CURRENCY_CHOICES)
    notes = forms.CharField(
        label=capfirst(_("notes")), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()

    def service_data(self) -> dict:
        """The cleaned values as ``register_deal`` keyword arguments (without lines)."""
        data = dict(self.cleaned_data)
        if data.get("estimated_amount") is None:
            data.pop("estimated_amount", None)
        return data


class LineForm(forms.Form):
    product = forms.TypedChoiceField(label=capfirst(_("product")), coerce=int, required=False)
    quantity = forms.IntegerField(
        label=capfirst(_("quantity")), min_value=1, max_value=1_000_000, initial=1, required=False
    )
    amount = _money(capfirst(_("amount")), required=False)

    def __init__(self, *args, products: list[Product], **kwargs):
        super().__init__(*args, **kwargs)
        self.products = {product.pk: product for product in products}
        field = self.fields["product"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = BLANK + [(product.pk, str(product)) for product in products]

    def clean(self):
        cleaned = super().clean() or {}
        product_id = cleaned.get("product")
        if not product_id:
            if cleaned.get("amount") is not None or cleaned.get("quantity") not in (None, 1):
                self.add_error("product", _("Choose the product for this line."))
            return cleaned
        cleaned["product"] = self.products[product_id]
        if cleaned.get("quantity") is None and "quantity" not in self.errors:
            cleaned["quantity"] = 1
        if cleaned.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", _("Enter the amount of this line."))
        return cleaned


class BaseLineFormSet(BaseFormSet):
    def filled(self) -> list[dict]:
        """The lines the partner filled in (blank rows are ignored)."""
        return [form.cleaned_data for form in self.forms if form.cleaned_data.get("product")]


LineFormSet = formset_factory(
    LineForm,
    formset=BaseLineFormSet,
    extra=MAX_LINES,
    max_num=MAX_LINES,
    absolute_max=MAX_LINES,
    validate_max=True,
)


class ClaimCheckForm(forms.Form):
    """The fields of the registration form that say who the customer is."""

    customer_company = forms.CharField(label=capfirst(_("customer company")), max_length=200)
    contact_email = forms.EmailField(
        label=capfirst(_("contact e-mail")), max_length=254, required=False
    )
    website = forms.CharField(
        label=capfirst(_("website or domain")),
        max_length=253,
        required=False,
        validators=[website_or_domain],
    )


class DealListForm(forms.Form):
    """The deal list's search and filters, read from the query string."""

    EXPIRY_CHOICES = [
        ("", _("Any time")),
        ("7", _("Within 7 days")),
        ("14", _("Within 14 days")),
        ("30", _("Within 30 days")),
        ("60", _("Within 60 days")),
        ("90", _("Within 90 days")),
    ]

    q = forms.CharField(label=_("Search"), max_length=200, required=False)
    stage = forms.ChoiceField(
        label=capfirst(_("stage")),
        choices=[("", _("All stages"))] + list(Stage.choices),
        required=False,
    )
    expiring = forms.TypedChoiceField(
        label=_("Protection expires"),
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )
    product = forms.TypedChoiceField(
        label=capfirst(_("product")), coerce=int, empty_value=None, required=False
    )

    def __init__(self, *args, products: list[Product], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["product"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("All products"))] + [(p.pk, str(p)) for p in products]


class CloseWonForm(forms.Form):
    final_amount = _money(capfirst(_("final amount")), required=True, minimum="0.01")
    currency = forms.ChoiceField(label=capfirst(_("currency")), choices=CURRENCY_CHOICES)
    closed_on = forms.DateField(
        label=capfirst(_("closed on")), widget=DateInput(), input_formats=["%Y-%m-%d"]
    )
    contract_term_months = forms.IntegerField(
        label=capfirst(_("contract term (months)")),
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )

    def clean_closed_on(self):
        closed_on = self.cleaned_data["closed_on"]
        if closed_on > timezone.localdate():
            raise forms.ValidationError(_("The close date cannot be in the future."))
        return closed_on


class CloseLostForm(forms.Form):
    reason = forms.CharField(
        label=_("Why was the deal lost?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class AppealForm(forms.Form):
    comment = forms.CharField(
        label=_("Why do you appeal?"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label=capfirst(_("comment")), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


def _extension_days_help() -> str:
    return gettext(
        "From %(min)d to %(max)d days, counted from the current end of the protection."
    ) % {
        "min": EXTENSION_MIN_DAYS,
        "max": EXTENSION_MAX_DAYS,
    }


class ExtensionRequestForm(forms.Form):
    days = forms.IntegerField(
        label=_("Extra days"),
        min_value=EXTENSION_MIN_DAYS,
        max_value=EXTENSION_MAX_DAYS,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=lazy(_extension_days_help, str)(),
    )
    reason = forms.CharField(
        label=_("Why do you need more time?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A channel manager reads this when deciding."),
    )

    def __init__(self, *args, **kwargs):
        # The deal page has other forms with a "reason": keep the element ids unique.
        kwargs.setdefault("auto_id", "id_extension_%s")
        super().__init__(*args, **kwargs)
