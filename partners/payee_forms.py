"""Input validation for payee details (portal and console); no side effects.

The account number and tax id fields are never pre-filled: a blank value keeps
what is on file, and the masked value on file is shown in the help text.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerPayee
from partners.payee import DETAIL_FIELDS, SECRET_FIELDS

CURRENCY_CHOICES = [("", "—"), *((code, code) for code in settings.CURRENCIES)]
KEEP_HELP = _("On file: %(masked)s. Leave blank to keep it.")


class NoEchoInput(forms.TextInput):
    """A text input that never renders a value, not even the one just typed
    into a form with errors: a full number appears on no page but the reveal."""

    def format_value(self, value):
        return None


def _secret_input() -> NoEchoInput:
    return NoEchoInput(attrs={"autocomplete": "off", "spellcheck": "false"})


class PayeeForm(forms.Form):
    legal_name = forms.CharField(
        label=_("Payee legal name"),
        max_length=200,
        help_text=_("The account holder's name, exactly as the bank knows it."),
    )
    payout_currency = forms.ChoiceField(label=_("Payout currency"), choices=CURRENCY_CHOICES)
    payment_method = forms.ChoiceField(
        label=_("Payment method"), choices=PartnerPayee.Method.choices
    )
    bank_name = forms.CharField(label=_("Bank name"), max_length=200, required=False)
    account_number = forms.CharField(
        label=_("Bank account number or IBAN"),
        max_length=50,
        required=False,
        widget=_secret_input(),
    )
    swift_bic = forms.CharField(label=_("SWIFT/BIC"), max_length=15, required=False)
    bank_country = forms.CharField(
        label=_("Bank country"),
        max_length=2,
        required=False,
        help_text=_("Two-letter code, like MY or CN."),
    )
    tax_id = forms.CharField(
        label=_("Tax id"), max_length=40, required=False, widget=_secret_input()
    )
    tax_country = forms.CharField(
        label=_("Tax country"),
        max_length=2,
        required=False,
        help_text=_("Two-letter code, like MY or CN."),
    )

    def __init__(self, *args, payee: PartnerPayee | None = None, **kwargs):
        if payee is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(payee, name) for name in self.detail_fields()}
        super().__init__(*args, **kwargs)
        if payee is not None:
            for name, masked in (
                ("account_number", payee.masked_account_number),
                ("tax_id", payee.masked_tax_id),
            ):
                if masked:
                    self.fields[name].help_text = KEEP_HELP % {"masked": masked}

    @classmethod
    def detail_fields(cls) -> tuple[str, ...]:
        return DETAIL_FIELDS

    def service_data(self) -> dict:
        """What the service receives: details, plus secrets only when typed."""
        data = {name: self.cleaned_data[name] for name in self.detail_fields()}
        for name in SECRET_FIELDS:
            if self.cleaned_data.get(name):
                data[name] = self.cleaned_data[name]
        return data


class FinancePayeeForm(PayeeForm):
    """Finance also records the tax form it received."""

    tax_form_status = forms.ChoiceField(label=_("Tax form"), choices=PartnerPayee.TaxForm.choices)

    @classmethod
    def detail_fields(cls) -> tuple[str, ...]:
        return (*DETAIL_FIELDS, "tax_form_status")
