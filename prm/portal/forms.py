"""Input validation for the partner portal's team page; no side effects."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Role

PARTNER_ROLE_CHOICES = [
    (Role.PARTNER_REP.value, Role.PARTNER_REP.label),
    (Role.PARTNER_ADMIN.value, Role.PARTNER_ADMIN.label),
]


class InviteForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=PARTNER_ROLE_CHOICES,
        initial=Role.PARTNER_REP.value,
        help_text=_("Partner admins can also manage this team."),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=PARTNER_ROLE_CHOICES)


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("1", _("Reactivate")), ("0", _("Deactivate"))],
        coerce=lambda value: value == "1",
    )
