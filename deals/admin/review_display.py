"""The review queue's words: timeline events, stages, match reasons and
percentages as the console shows them, and the rows its change page lists."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.template.defaultfilters import floatformat
from django.utils.translation import gettext_lazy as _

from deals.models import DealEvent, DealMatch, DealRegistration, Decision

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Stage = DealRegistration.Stage

EVENT_LABELS: dict[str, StrOrPromise] = {
    "submitted": _("Submitted"),
    "conflict_found": _("Conflict found"),
    "needs_review": _("Sent to review by a rule of engagement"),
    "auto_approved": _("Approved automatically"),
    "decided": _("Decided"),
    "appealed": _("Appealed"),
    "stage_changed": _("Stage changed"),
    "reversed": _("Closed-won reversed"),
    "extension_requested": _("Extension requested"),
    "extension_approved": _("Extension approved"),
    "extension_denied": _("Extension denied"),
    "expired": _("Protection expired"),
}


def stage_label(value: str) -> StrOrPromise:
    if not value:
        return ""
    try:
        return Stage(value).label
    except ValueError:
        return value


def percent(value: Decimal | str | None) -> str:
    """A confidence or similarity (0–1) as a localised percentage: 0.95 → "95%"."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return "—"
    return share_percent(number * 100, decimals=0)


def share_percent(value: Decimal, *, decimals: int = -2) -> str:
    """A percentage as stored (70.00), localised, without needless decimals: "70%"."""
    return _("%(number)s%%") % {"number": floatformat(value, decimals)}


def reason_label(reason: dict[str, Any]) -> str:
    """One reason of a match (see ``deals.matching``) in words."""
    code = reason.get("code")
    value = reason.get("value", "")
    if code == "same_name":
        return _("Same company name: %(name)s") % {"name": value}
    if code == "same_domain":
        return _("Same domain: %(domain)s") % {"domain": value}
    if code == "similar_name":
        return _("Similar company name: %(name)s (%(similarity)s similar)") % {
            "name": value,
            "similarity": percent(reason.get("similarity")),
        }
    return str(code or "—")


@dataclass
class MatchRow:
    match: DealMatch
    reasons: list[str]
    confidence: str


@dataclass
class EventRow:
    event: DealEvent
    label: StrOrPromise
    from_stage: StrOrPromise
    to_stage: StrOrPromise


@dataclass
class DecisionRow:
    decision: Decision
    considered: list[str]
