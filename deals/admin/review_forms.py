"""The review queue's forms and the four decisions a channel manager can take
(approve, reject, award to the first registrant, co-sell), each with its form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms
from django.utils.translation import gettext_lazy as _

from deals.models import Decision

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Outcome = Decision.Outcome


class DecisionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("The partners affected read this reason with the decision in the portal."),
    )


class CoSellForm(DecisionForm):
    partner_share = forms.DecimalField(
        label=_("Partner share (%)"),
        max_digits=5,
        decimal_places=2,
        localize=True,
    )
    field_order = ["partner_share", "reason"]


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Comment"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Shared with the partner on their deal page."),
    )


class ReversalForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("For example the refund or cancellation; it is recorded on the timeline."),
    )


@dataclass(frozen=True)
class DecisionAction:
    outcome: str
    slug: str
    label: StrOrPromise
    title: StrOrPromise
    form_class: type[DecisionForm]
    intro: StrOrPromise = ""


DECISIONS = (
    DecisionAction(
        Outcome.APPROVED,
        "approve",
        _("Approve"),
        _("Approve %(deal)s"),
        DecisionForm,
        _("Approval protects the deal for the program's protection window."),
    ),
    DecisionAction(
        Outcome.REJECTED,
        "reject",
        _("Reject"),
        _("Reject %(deal)s"),
        DecisionForm,
        _("The partner may appeal a rejection once, which returns it to this queue."),
    ),
    DecisionAction(
        Outcome.AWARDED_FIRST,
        "award-first",
        _("Award to the first registrant"),
        _("Award %(deal)s to the first registrant"),
        DecisionForm,
    ),
    DecisionAction(
        Outcome.CO_SELL, "co-sell", _("Mark co-sell"), _("Mark %(deal)s as co-sell"), CoSellForm
    ),
)
DECISIONS_BY_SLUG = {action.slug: action for action in DECISIONS}
