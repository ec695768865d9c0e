"""Lead routing: which partner is offered which lead, and why.

**Rules.** Active ``RoutingRule`` rows are tried in priority order; the first
whose non-empty conditions (countries, regions, industries, company sizes) all
match the lead applies. ``reserve_direct`` keeps the lead for direct sales
(status ``direct``, one ``direct`` assignment with its trace). ``route`` names
what a partner must meet. When no rule applies, the *default rule* routes with
the territory required and nothing else (``{"default": true}`` in the trace).

**Candidates.** The universe is every active partner. A partner is excluded,
with the first reason that holds, when it: does not accept leads
(``not_accepting_leads``; a partner without a ``PartnerLeadProfile`` accepts
them), does not cover the lead's country — its home country plus its
profile's territories — when the rule requires the territory
(``outside_territory``), does not list the lead's industry when the rule
requires it (``industry_not_listed``), is of a type or tier the rule does not
allow (``partner_type_not_allowed``, ``tier_not_allowed``), was offered this
lead before in any earlier assignment (``offered_before``; the constraint
``deals_lead_once_per_partner`` backs this), or holds as many open leads
(offered or accepted) as its capacity — its profile's, else the tenant's
default (``at_capacity``).

**Ranking.** The performance score looks at the partner's offers of the last
180 days (one aggregate query): acceptance rate (accepted / accepted, rejected
or expired), conversion rate (converted / accepted) and response time (the
mean hours from offer to answer, linearly from 0 h → 1 to the SLA → 0). Every
component starts from a *neutral prior*: a rate of 0.5 worth two offers
(``(successes + 1) / (trials + 2)``), so a newcomer scores 0.5 — the middle
of the field, not the bottom — and one lucky or unlucky offer moves a partner
only part of the way. The score is the weighted mean of the three
(``LeadRouting`` weights). Partners whose scores fall in the same band
(``floor(score / score_band)``) are equals; the highest band goes first and
among equals the least recently offered partner (``last_offered_at``, never
first, then id) — round-robin. Each offer moves the partner's cursor by at
least one microsecond past every cursor of the tenant, so the rotation order
is exact across chunks and runs.

**Traces.** Every assignment stores ids, names, codes and numbers only (the UI
translates reason codes): the rule, the requirements, the number of partners
considered and eligible, the chosen partner with its score components and
band, up to 5 runners-up likewise, the count of excluded
partners for every reason code, and up to 50 excluded partners listed with
their reason, nearest misses first; of the far misses (another territory, no
leads taken — for a country, the same partners every time) at most 10 are
listed, which keeps traces small in a tenant of thousands of partners.

**Outcomes.** A chosen partner gets a ``pending`` assignment due after the
tenant's SLA and the lead becomes ``offered``. Without a candidate the lead
becomes ``unrouted`` and keeps an ``unrouted`` assignment with the trace; a
later run retries it, and writes a new ``unrouted`` record only when the
lead's last record is not already one, so a rerun changes nothing. A lead
whose last offer was rejected or expired is routed ``via=reroute`` whatever
started the run.

**Set-based, chunked, concurrent.** A run reads the rules, settings, active
partners with their profiles, and their scores once (a run decides by the
configuration and history as they were when it started); it then works through the
leads in chunks, each chunk in one transaction: a per-tenant advisory lock (so
concurrent runs take turns chunk by chunk and capacity and rotation stay
exact), the leads selected with ``FOR UPDATE SKIP LOCKED``, their earlier
assignments, the open-lead counts and rotation cursors, then three bulk
statements (insert assignments, update leads, upsert profiles). Queries per
chunk are constant. A run killed after a chunk leaves that chunk committed and
the rest untouched; the unique constraints (one pending offer per lead, one
offer per lead and partner) make a double offer impossible whatever runs.
"""

from deals.routing.reasons import CHUNK_SIZE, HISTORY_DAYS, Progress, Reason
from deals.routing.runs import route_leads, run_lead_sweep
from deals.routing.scores import PartnerScore, partner_scores, score_band

__all__ = [
    "CHUNK_SIZE",
    "HISTORY_DAYS",
    "PartnerScore",
    "Progress",
    "Reason",
    "partner_scores",
    "route_leads",
    "run_lead_sweep",
    "score_band",
]
