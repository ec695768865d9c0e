"""Input validation for the partner portal's lead pages; no side effects."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from deals.lead_selectors import PartnerLeadState

# The list's tabs, in order; "" is every lead. Leads that lapsed or were withdrawn
# appear under "All" only.
TABS = (
    ("", _("All")),
    (PartnerLeadState.WAITING.value, _("Waiting for your answer")),
    (PartnerLeadState.ACCEPTED.value, _("Accepted")),
    (PartnerLeadState.CONVERTED.value, _("Converted")),
    (PartnerLeadState.DECLINED.value, _("Declined")),
)


class LeadListForm(forms.Form):
    """The lead list's tab and search, read from the query string."""

    q = forms.CharField(
        label=_("Search"),
        max_length=200,
        required=False,
        help_text=_("Company or lead reference."),
    )
    state = forms.ChoiceField(
        label=_("Show"),
        choices=[("", _("All"))] + list(PartnerLeadState.choices),
        required=False,
        widget=forms.HiddenInput,
    )


class RejectLeadForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you decline this lead?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Only the vendor's channel managers read it. The lead goes to another partner."
        ),
    )
