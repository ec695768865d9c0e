"""Input validation for the ledger's console forms (no side effects)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerOrganization
from prm.ledger.models import CURRENCY_CHOICES
from prm.tenancy.context import require_tenant

SUBMISSION_TOKEN = re.compile(r"^[0-9a-f]{32}$")


class AdjustmentForm(forms.Form):
    # A token drawn when the form is shown and posted as the adjustment's
    # idempotency key: submitting the same form twice (a double click, a
    # resent request) posts one adjustment.
    submission = forms.CharField(widget=forms.HiddenInput, required=True)
    partner: forms.ModelChoiceField[PartnerOrganization] = forms.ModelChoiceField(
        queryset=None, label=_("Partner")
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES)
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=18,
        decimal_places=2,
        help_text=_("Positive in the partner's favour, negative against it."),
    )
    effective_date = forms.DateField(
        label=_("Effective date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Decides the payout period and the exchange rate."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Shown to the partner on the statement and kept in the audit trail."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        partner_field = self.fields["partner"]
        assert isinstance(partner_field, forms.ModelChoiceField)
        partner_field.queryset = PartnerOrganization.objects.order_by("legal_name")
        self.fields["currency"].initial = require_tenant().default_currency
        self.fields["effective_date"].initial = timezone.localdate()
        self.fields["submission"].initial = uuid.uuid4().hex

    def clean_submission(self) -> str:
        token = self.cleaned_data["submission"]
        if not SUBMISSION_TOKEN.match(token):
            raise forms.ValidationError(_("This form has expired; reload the page."))
        return token

    def idempotency_key(self) -> str:
        """The adjustment's ledger key, from the form's submission token."""
        return f"adjustment:{self.cleaned_data['submission']}:-:adjustment:-"

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("An adjustment cannot be zero."))
        return amount
