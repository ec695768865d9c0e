"""Lead and routing figures in words, for the console's lead and routing pages.

Ratios (acceptance, conversion, share) become localised percentages and lists
are joined for reading. ``read_trace`` turns the decision trace routing stores
on each assignment (see ``deals.routing``) into a ``TraceView``: the rule that
fired with its requirements, the partner chosen and the runners-up with their
score components, and the partners excluded with the reason for each, read
from the stored trace without queries. ``FairnessLine`` writes out a row of
``deals.lead_selectors.fairness_report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.template.defaultfilters import floatformat
from django.utils.translation import gettext_lazy as _

from deals.models import LeadAssignment, RoutingRule

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def percent(value: Decimal | None, decimals: int = 1) -> str:
    """A ratio (0–1) as a localised percentage, "—" when there is none."""
    if value is None:
        return "—"
    return _("%(number)s%%") % {"number": floatformat(value * 100, decimals)}


def listed(values) -> str:
    return ", ".join(str(value) for value in values or []) or "—"


# --- decision traces ------------------------------------------------------------------

# The reason codes of ``deals.routing.Reason``, in words.
REASON_LABELS: dict[str, StrOrPromise] = {
    "not_accepting_leads": _("Does not accept leads"),
    "outside_territory": _("Does not cover the lead's country"),
    "industry_not_listed": _("Does not list the lead's industry"),
    "partner_type_not_allowed": _("Partner type not allowed by the rule"),
    "tier_not_allowed": _("Tier not allowed by the rule"),
    "offered_before": _("Was offered this lead before"),
    "at_capacity": _("Holds as many open leads as its capacity"),
}


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except (ArithmeticError, ValueError):
        return None


@dataclass(frozen=True)
class TraceCandidate:
    """A partner routing ranked (chosen or runner-up), with its score components."""

    id: int | None
    name: str
    score: str
    band: Any
    acceptance: str
    conversion: str
    response: str
    response_hours: str
    history: bool

    @classmethod
    def of(cls, entry: dict[str, Any]) -> TraceCandidate:
        score = _decimal(entry.get("score"))
        hours = _decimal(entry.get("response_hours"))
        return cls(
            id=entry.get("id"),
            name=str(entry.get("name") or "—"),
            score=floatformat(score, 4) if score is not None else "—",
            band=entry.get("band", "—"),
            acceptance=percent(_decimal(entry.get("acceptance"))),
            conversion=percent(_decimal(entry.get("conversion"))),
            response=percent(_decimal(entry.get("response"))),
            response_hours=(
                _("%(hours)s h") % {"hours": floatformat(hours, 1)} if hours is not None else "—"
            ),
            history=bool(entry.get("history", True)),
        )


@dataclass(frozen=True)
class TraceExclusion:
    id: int | None
    name: str
    reason: str


@dataclass(frozen=True)
class TraceView:
    """One routing decision (an assignment) and its decision trace, in words."""

    assignment: LeadAssignment
    rule: str
    action: str
    requirements: list[str]
    considered: int | None
    eligible: int | None
    chosen: TraceCandidate | None
    runners_up: list[TraceCandidate]
    excluded_counts: list[tuple[str, int]]
    excluded: list[TraceExclusion]
    excluded_total: int
    weights: str

    @property
    def excluded_notlisted(self) -> int:
        return max(0, self.excluded_total - len(self.excluded))


def _rule_words(rule: dict[str, Any], assignment: LeadAssignment) -> tuple[str, str, list[str]]:
    """The rule that fired, its action and its requirements on partners."""
    if rule.get("default"):
        name = str(_("Default rule: no routing rule applies to this lead"))
    else:
        name = str(rule.get("name") or assignment.rule_name or _("a rule deleted since"))
    if rule.get("action") == RoutingRule.Action.RESERVE_DIRECT:
        return name, str(RoutingRule.Action.RESERVE_DIRECT.label), []
    requires = rule.get("requires") or {}
    words = []
    if requires.get("territory"):
        words.append(str(_("covers the lead's country")))
    if requires.get("industry"):
        words.append(str(_("lists the lead's industry")))
    if requires.get("partner_types"):
        words.append(_("partner types: %(values)s") % {"values": listed(requires["partner_types"])})
    if requires.get("tiers"):
        words.append(_("tiers: %(values)s") % {"values": listed(requires["tiers"])})
    return name, str(RoutingRule.Action.ROUTE.label), words or [str(_("any partner"))]


def _weights(settings: dict[str, Any]) -> str:
    weights = settings.get("weights") or {}
    if not weights:
        return ""
    return _(
        "Score = %(acceptance)s × acceptance + %(conversion)s × conversion + "
        "%(response)s × response speed; equals within bands of %(band)s."
    ) % {
        "acceptance": floatformat(_decimal(weights.get("acceptance")), 2),
        "conversion": floatformat(_decimal(weights.get("conversion")), 2),
        "response": floatformat(_decimal(weights.get("response")), 2),
        "band": floatformat(_decimal(settings.get("score_band")), 2),
    }


def read_trace(assignment: LeadAssignment) -> TraceView:
    trace = assignment.trace if isinstance(assignment.trace, dict) else {}
    rule, action, requirements = _rule_words(trace.get("rule") or {}, assignment)
    counts = {str(code): int(n) for code, n in (trace.get("excluded_counts") or {}).items()}
    chosen = trace.get("chosen")
    return TraceView(
        assignment=assignment,
        rule=rule,
        action=action,
        requirements=requirements,
        considered=trace.get("considered"),
        eligible=trace.get("eligible"),
        chosen=TraceCandidate.of(chosen) if isinstance(chosen, dict) else None,
        runners_up=[TraceCandidate.of(entry) for entry in trace.get("runners_up") or []],
        excluded_counts=sorted(
            ((reason_label(code), n) for code, n in counts.items() if n),
            key=lambda item: (-item[1], item[0]),
        ),
        excluded=[
            TraceExclusion(
                id=entry.get("id"),
                name=str(entry.get("name") or "—"),
                reason=reason_label(str(entry.get("reason") or "")),
            )
            for entry in trace.get("excluded") or []
        ],
        excluded_total=sum(counts.values()),
        weights=_weights(trace.get("settings") or {}),
    )


def read_traces(assignments: list[LeadAssignment]) -> list[TraceView]:
    """Every decision of a lead, newest first; read from the stored traces (no queries)."""
    return [read_trace(assignment) for assignment in reversed(assignments)]


# --- the fairness report ------------------------------------------------------------


@dataclass(frozen=True)
class FairnessLine:
    """A fairness row with its rates written out for the page."""

    row: Any
    share: str
    acceptance: str
    conversion: str

    @classmethod
    def of(cls, row) -> FairnessLine:
        return cls(
            row=row,
            share=percent(row.share),
            acceptance=percent(row.acceptance_rate),
            conversion=percent(row.conversion_rate),
        )
