"""Routing decisions: rules, every partner filter, the performance score, bands
and round-robin among equals, capacity, and what each decision's trace says."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import routing
from deals.leads import lead_routing
from deals.models import Lead, LeadAssignment, PartnerLeadProfile, RoutingRule
from partners.models import PartnerOrganization
from prm.tenancy.context import tenant_context
from tests.leads.conftest import make_lead, make_leads, past_offer

pytestmark = pytest.mark.django_db

Outcome = LeadAssignment.Outcome
Status = Lead.Status
REASONS = {
    "not_accepting_leads",
    "outside_territory",
    "industry_not_listed",
    "partner_type_not_allowed",
    "tier_not_allowed",
    "offered_before",
    "at_capacity",
}


def route(**kwargs) -> dict[str, int]:
    return routing.route_leads(via=LeadAssignment.Via.SWEEP, **kwargs)


def last_assignment(lead: Lead) -> LeadAssignment:
    return LeadAssignment.objects.filter(lead=lead).order_by("-pk").first()


def holders(leads) -> list[int | None]:
    found = dict(Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("pk", "partner"))
    return [found[x.pk] for x in leads]


def counts(**nonzero) -> dict[str, int]:
    return {reason: nonzero.get(reason, 0) for reason in REASONS}


# --- Territory and the default rule -------------------------------------------------------


def test_a_lead_goes_to_a_partner_covering_its_country_at_home_or_as_a_territory(world):
    with tenant_context(world.tenant):
        home = world.partner("Home MY")
        covering = world.partner("Singapore covering MY", country="SG", territories=["MY"])
        away = world.partner("China only", country="CN")
        lead = make_lead(country="my")

        assert route() == {"offered": 1, "direct": 0, "unrouted": 0, "still_unrouted": 0}

        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.OFFERED, home.pk)
        offer = last_assignment(lead)
        assert (offer.outcome, offer.partner_id, offer.via) == (Outcome.PENDING, home.pk, "sweep")
        assert offer.due_at == lead.due_at == lead.offered_at + timedelta(hours=48)
        assert (offer.rule, offer.rule_name) == (None, "")
        trace = offer.trace
        assert trace["rule"] == {
            "id": None,
            "name": "",
            "default": True,
            "action": "route",
            "requires": {"territory": True, "industry": False, "partner_types": [], "tiers": []},
        }
        assert (trace["considered"], trace["eligible"]) == (3, 2)
        assert trace["chosen"]["id"] == home.pk
        assert [p["id"] for p in trace["runners_up"]] == [covering.pk]
        assert trace["excluded"] == [
            {"id": away.pk, "name": "China only", "reason": "outside_territory"}
        ]
        assert trace["excluded_counts"] == counts(outside_territory=1)


def test_without_a_partner_in_the_country_the_lead_is_unrouted_with_its_trace(world):
    with tenant_context(world.tenant):
        away = world.partner("China only", country="CN")
        lead = make_lead(country="TH")

        assert route()["unrouted"] == 1

        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.UNROUTED, None)
        record = last_assignment(lead)
        assert (record.outcome, record.partner_id, record.due_at) == (Outcome.UNROUTED, None, None)
        assert record.trace["chosen"] is None
        assert record.trace["eligible"] == 0
        assert record.trace["excluded"] == [
            {"id": away.pk, "name": "China only", "reason": "outside_territory"}
        ]


# --- Every partner filter ----------------------------------------------------------------


def test_every_partner_filter_excludes_with_its_reason_code(world):
    with tenant_context(world.tenant):
        RoutingRule.objects.create(
            name="Software to gold resellers",
            priority=10,
            action=RoutingRule.Action.ROUTE,
            industries=["Software"],
            require_industry=True,
            partner_type_keys=["reseller"],
            tier_keys=["gold"],
        )
        good: dict = {"industries": ("Software", "Retail"), "tier": world.gold}
        chosen = world.partner("Chosen", **good)
        retail = world.partner("Retail only", industries=("Retail",), tier=world.gold)
        referral = world.partner("Referral", partner_type=world.referral, **good)
        bronze = world.partner("Bronze", industries=("software",))
        untiered = world.partner("Untiered", industries=("Software",), tier=None)
        away = world.partner("Away", country="CN", **good)
        closed = world.partner("Closed", accepts_leads=False, **good)
        world.partner("Suspended", status=PartnerOrganization.Status.SUSPENDED, **good)
        full = world.partner("Full", capacity=1, **good)
        held = make_lead("Held")
        Lead.objects.filter(pk=held.pk).update(
            status=Status.OFFERED, partner=full, due_at=timezone.now()
        )
        lead = make_lead(industry="SOFTWARE ")

        route()

        offer = last_assignment(lead)
        assert offer.partner_id == chosen.pk
        assert offer.rule_name == "Software to gold resellers"
        trace = offer.trace
        assert trace["rule"]["requires"] == {
            "territory": True,
            "industry": True,
            "partner_types": ["reseller"],
            "tiers": ["gold"],
        }
        # The suspended partner is not a candidate at all.
        assert (trace["considered"], trace["eligible"]) == (8, 1)
        assert [(p["id"], p["reason"]) for p in trace["excluded"]] == [
            (full.pk, "at_capacity"),
            (bronze.pk, "tier_not_allowed"),
            (untiered.pk, "tier_not_allowed"),
            (referral.pk, "partner_type_not_allowed"),
            (retail.pk, "industry_not_listed"),
            (away.pk, "outside_territory"),
            (closed.pk, "not_accepting_leads"),
        ]
        assert trace["excluded_counts"] == counts(
            at_capacity=1,
            tier_not_allowed=2,
            partner_type_not_allowed=1,
            industry_not_listed=1,
            outside_territory=1,
            not_accepting_leads=1,
        )


def test_rules_apply_in_priority_order_and_only_when_all_their_conditions_match(world):
    with tenant_context(world.tenant):
        singapore = RoutingRule.objects.create(
            name="Singapore", priority=10, action=RoutingRule.Action.ROUTE, countries=["SG"]
        )
        direct = RoutingRule.objects.create(
            name="Enterprise finance",
            priority=20,
            action=RoutingRule.Action.RESERVE_DIRECT,
            industries=["Finance"],
            company_sizes=["enterprise"],
        )
        selangor = RoutingRule.objects.create(
            name="Selangor anywhere",
            priority=30,
            action=RoutingRule.Action.ROUTE,
            regions=["Selangor"],
            require_territory=False,
        )
        RoutingRule.objects.create(
            name="Switched off",
            priority=1,
            is_active=False,
            action=RoutingRule.Action.RESERVE_DIRECT,
        )
        # China is the least recently offered partner.
        world.partner("Malaysia", last_offered_at=timezone.now() - timedelta(hours=2))
        world.partner("Singapore", country="SG", last_offered_at=timezone.now())
        china = world.partner("China", country="CN")
        leads = {
            "direct": make_lead(industry="finance", company_size="enterprise"),
            "small finance": make_lead(industry="Finance", company_size="small", region="Penang"),
            "selangor": make_lead(country="TH", region="selangor"),
            "singapore": make_lead(country="SG", industry="Finance", company_size="enterprise"),
        }
        # The Selangor lead is in Thailand: only a rule without the territory
        # requirement can route it.

        assert route() == {"offered": 3, "direct": 1, "unrouted": 0, "still_unrouted": 0}

        fired = {name: last_assignment(lead).trace["rule"] for name, lead in leads.items()}
        assert fired["direct"] == {
            "id": direct.pk,
            "name": "Enterprise finance",
            "default": False,
            "action": "reserve_direct",
        }
        assert fired["small finance"]["default"] is True
        assert fired["selangor"]["id"] == selangor.pk
        assert fired["singapore"]["id"] == singapore.pk
        assert last_assignment(leads["selangor"]).partner_id == china.pk


def test_a_segment_reserved_for_direct_sales_is_never_offered(world):
    with tenant_context(world.tenant):
        rule = RoutingRule.objects.create(
            name="Enterprise is direct",
            priority=5,
            action=RoutingRule.Action.RESERVE_DIRECT,
            company_sizes=["enterprise"],
        )
        world.partner("Malaysia")
        lead = make_lead(company_size="enterprise")

        assert route()["direct"] == 1
        assert route()["direct"] == 0  # a direct lead is not routed again
        assert routing.run_lead_sweep() == {
            "expired": 0,
            "offered": 0,
            "direct": 0,
            "unrouted": 0,
            "still_unrouted": 0,
        }

        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.DIRECT, None)
        (record,) = LeadAssignment.objects.filter(lead=lead)
        assert (record.outcome, record.partner_id, record.rule_id, record.rule_name) == (
            Outcome.DIRECT,
            None,
            rule.pk,
            "Enterprise is direct",
        )
        assert record.trace == {
            "rule": {
                "id": rule.pk,
                "name": "Enterprise is direct",
                "default": False,
                "action": "reserve_direct",
            }
        }


# --- The performance score -----------------------------------------------------------------


def test_scores_combine_acceptance_conversion_and_response_time_with_a_neutral_prior(world):
    with tenant_context(world.tenant):
        proven = world.partner("Proven")
        past_offer(proven, Outcome.ACCEPTED, hours=12, converted=True)
        past_offer(proven, Outcome.ACCEPTED, hours=12)
        past_offer(proven, Outcome.REJECTED, hours=24)
        newcomer = world.partner("Newcomer")
        slow = world.partner("Lets offers lapse")
        past_offer(slow, Outcome.EXPIRED)
        past_offer(slow, Outcome.EXPIRED)
        forgotten = world.partner("Lapsed long ago")
        past_offer(forgotten, Outcome.EXPIRED, days_ago=200)

        scores = routing.partner_scores()

        # acceptance (2+1)/(3+2), conversion (1+1)/(2+2), mean response 16 h of a
        # 48 h SLA → 2/3, over 3 answers with the prior: (3·2/3+1)/(3+2).
        assert scores[proven.pk] == routing.PartnerScore(
            decided=3,
            accepted=2,
            converted=1,
            answered=3,
            acceptance=Decimal("0.6000"),
            conversion=Decimal("0.5000"),
            response_hours=Decimal("16.00"),
            response=Decimal("0.6000"),
            score=Decimal("0.5600"),  # 0.4·0.6 + 0.4·0.5 + 0.2·0.6
        )
        # No history: 0.5 everywhere.
        assert scores[newcomer.pk].score == Decimal("0.5000")
        assert not scores[newcomer.pk].has_history
        assert scores[newcomer.pk].response_hours is None
        # Two lapses: acceptance (0+1)/(2+2) = 0.25 → 0.4·0.25 + 0.4·0.5 + 0.2·0.5.
        assert (scores[slow.pk].acceptance, scores[slow.pk].score) == (
            Decimal("0.2500"),
            Decimal("0.4000"),
        )
        # Offers older than 180 days no longer count.
        assert scores[forgotten.pk].score == Decimal("0.5000")
        assert routing.partner_scores(partner_ids=[slow.pk]).keys() == {slow.pk}


def test_the_tenants_weights_decide_the_score(world):
    with tenant_context(world.tenant):
        settings = lead_routing()
        settings.weight_acceptance = Decimal("1")
        settings.weight_conversion = Decimal("0")
        settings.weight_response = Decimal("1")
        settings.save()
        proven = world.partner("Proven")
        past_offer(proven, Outcome.ACCEPTED, hours=12, converted=True)
        past_offer(proven, Outcome.ACCEPTED, hours=12)
        past_offer(proven, Outcome.REJECTED, hours=24)
        # (0.6 + 0.6) / 2
        assert routing.partner_scores()[proven.pk].score == Decimal("0.6000")


def test_the_higher_score_band_goes_first_and_the_trace_shows_every_component(world):
    with tenant_context(world.tenant):
        slow = world.partner("Lets offers lapse")
        past_offer(slow, Outcome.EXPIRED)
        past_offer(slow, Outcome.EXPIRED)
        newcomer = world.partner("Newcomer")
        proven = world.partner("Proven")
        past_offer(proven, Outcome.ACCEPTED, hours=12, converted=True)
        past_offer(proven, Outcome.ACCEPTED, hours=12)
        past_offer(proven, Outcome.REJECTED, hours=24)
        lead = make_lead()

        route()

        offer = last_assignment(lead)
        assert offer.partner_id == proven.pk
        assert offer.score == Decimal("0.5600")
        trace = offer.trace
        assert trace["chosen"] == {
            "id": proven.pk,
            "name": "Proven",
            "score": "0.5600",
            "band": 11,
            "acceptance": "0.6000",
            "conversion": "0.5000",
            "response": "0.6000",
            "response_hours": "16.00",
            "history": True,
        }
        assert [(p["id"], p["score"], p["band"]) for p in trace["runners_up"]] == [
            (newcomer.pk, "0.5000", 10),
            (slow.pk, "0.4000", 8),
        ]
        assert trace["settings"] == {
            "score_band": "0.05",
            "weights": {"acceptance": "0.40", "conversion": "0.40", "response": "0.20"},
            "sla_hours": 48,
            "history_days": 180,
            "prior": {"rate": "0.5", "offers": 2},
        }


# --- Round-robin among equals ------------------------------------------------------------


def test_equal_partners_take_turns_in_a_predictable_order(world):
    with tenant_context(world.tenant):
        a, b, c = (world.partner(name) for name in ("A", "B", "C"))
        leads = make_leads(6)

        assert route()["offered"] == 6

        assert holders(leads) == [a.pk, b.pk, c.pk, a.pk, b.pk, c.pk]
        # The rotation carries on in the next run where this one stopped.
        more = make_leads(2)
        route()
        assert holders(more) == [a.pk, b.pk]
        cursors = list(
            PartnerLeadProfile.objects.order_by("last_offered_at").values_list(
                "partner_id", flat=True
            )
        )
        assert cursors == [c.pk, a.pk, b.pk]


def test_scores_in_the_same_band_are_equals(world):
    with tenant_context(world.tenant):
        newcomer = world.partner("Newcomer")  # 0.5000, band 10
        quick = world.partner("Quick")
        # One instant, unconverted acceptance: 0.4·2/3 + 0.4·1/3 + 0.2·2/3 = 0.5333, band 10.
        past_offer(quick, Outcome.ACCEPTED, hours=0)
        assert routing.partner_scores()[quick.pk].score == Decimal("0.5333")
        leads = make_leads(4)

        route()

        assert holders(leads) == [newcomer.pk, quick.pk, newcomer.pk, quick.pk]


def test_a_partner_offered_recently_waits_for_its_equals(world):
    with tenant_context(world.tenant):
        a, b = world.partner("A"), world.partner("B")
        PartnerLeadProfile.objects.create(partner=a, last_offered_at=timezone.now())
        leads = make_leads(3)
        route()
        assert holders(leads) == [b.pk, a.pk, b.pk]


# --- Capacity -----------------------------------------------------------------------


def test_partners_at_capacity_are_skipped_and_then_the_lead_is_unrouted(world):
    with tenant_context(world.tenant):
        settings = lead_routing()
        settings.default_capacity = 1
        settings.save()
        roomy = world.partner("Roomy", capacity=2)
        small = world.partner("Small")  # the tenant's default: 1
        leads = make_leads(4)

        assert route() == {"offered": 3, "direct": 0, "unrouted": 1, "still_unrouted": 0}

        assert holders(leads) == [roomy.pk, small.pk, roomy.pk, None]
        trace = last_assignment(leads[3]).trace
        assert trace["excluded_counts"] == counts(at_capacity=2)
        assert [(p["id"], p["reason"]) for p in trace["excluded"]] == [
            (small.pk, "at_capacity"),
            (roomy.pk, "at_capacity"),
        ]


def test_accepted_leads_count_against_capacity_and_converted_ones_do_not(world):
    with tenant_context(world.tenant):
        busy = world.partner("Busy", capacity=1)
        past_offer(busy, Outcome.ACCEPTED, hours=0, converted=True)
        past_offer(busy, Outcome.ACCEPTED, hours=0)  # still open: fills its capacity
        done = world.partner("Done", capacity=1)
        past_offer(done, Outcome.ACCEPTED, hours=0, converted=True)
        world.partner("Newcomer")
        scores = routing.partner_scores()
        assert (scores[busy.pk].score, scores[done.pk].score) == (
            Decimal("0.6500"),  # 0.4·3/4 + 0.4·2/4 + 0.2·3/4
            Decimal("0.6667"),
        )
        lead = make_lead()

        route()

        assert holders([lead]) == [done.pk]
        trace = last_assignment(lead).trace
        assert trace["excluded"] == [{"id": busy.pk, "name": "Busy", "reason": "at_capacity"}]


# --- Trace limits ------------------------------------------------------------------------


def bulk_partners(world, names, *, country="MY", industries=("Software",)):
    return PartnerOrganization.objects.bulk_create(
        PartnerOrganization(
            tenant=world.tenant,
            legal_name=name,
            country=country,
            industries=list(industries),
            partner_type=world.reseller,
            tier=world.bronze,
            status=PartnerOrganization.Status.ACTIVE,
        )
        for name in names
    )


def software_rule() -> RoutingRule:
    return RoutingRule.objects.create(
        name="Software specialists",
        action=RoutingRule.Action.ROUTE,
        industries=["Software"],
        require_industry=True,
    )


def test_the_trace_lists_50_excluded_partners_nearest_first_and_counts_all(world):
    with tenant_context(world.tenant):
        software_rule()
        retail = bulk_partners(world, [f"Retail {n:02d}" for n in range(55)], industries=["Retail"])
        bulk_partners(world, [f"Far {n:02d}" for n in range(12)], country="CN")
        near = bulk_partners(world, [f"Near {n}" for n in range(8)])
        lead = make_lead(industry="Software")

        route()

        trace = last_assignment(lead).trace
        assert (trace["considered"], trace["eligible"]) == (75, 8)
        assert trace["chosen"]["id"] == near[0].pk
        assert trace["runners_up"] == [
            {
                "id": p.pk,
                "name": p.legal_name,
                "score": "0.5000",
                "band": 10,
                "acceptance": "0.5000",
                "conversion": "0.5000",
                "response": "0.5000",
                "response_hours": None,
                "history": False,
            }
            for p in near[1:6]
        ]
        assert [(p["id"], p["reason"]) for p in trace["excluded"]] == [
            (p.pk, "industry_not_listed") for p in retail[:50]
        ]
        assert trace["excluded_counts"] == counts(industry_not_listed=55, outside_territory=12)


def test_far_misses_are_listed_after_the_near_ones_and_at_most_10(world):
    with tenant_context(world.tenant):
        software_rule()
        retail = bulk_partners(world, ["Retail 1", "Retail 2", "Retail 3"], industries=["Retail"])
        far = bulk_partners(world, [f"Far {n:02d}" for n in range(12)], country="CN")
        lead = make_lead(industry="Software")

        route()

        trace = last_assignment(lead).trace
        assert trace["chosen"] is None
        assert [(p["id"], p["reason"]) for p in trace["excluded"]] == [
            (p.pk, "industry_not_listed") for p in retail
        ] + [(p.pk, "outside_territory") for p in far[:10]]
        assert trace["excluded_counts"] == counts(industry_not_listed=3, outside_territory=12)


# --- Queries ----------------------------------------------------------------------------


def test_routing_costs_the_same_queries_for_10_leads_as_for_100(
    world, django_assert_max_num_queries
):
    with tenant_context(world.tenant):
        RoutingRule.objects.create(
            name="Enterprise is direct",
            priority=5,
            action=RoutingRule.Action.RESERVE_DIRECT,
            company_sizes=["enterprise"],
        )
        for n in range(30):
            partner = world.partner(f"P{n}", country=("MY", "SG", "TH")[n % 3], capacity=3)
            past_offer(partner, Outcome.ACCEPTED, hours=n)

        def leads(count: int) -> None:
            for n in range(count):
                make_lead(
                    f"Lead {count} {n}",
                    country=("MY", "SG", "TH", "CN")[n % 4],
                    company_size="enterprise" if n % 5 == 0 else "small",
                )

        leads(10)
        with CaptureQueriesContext(connection) as few:
            route()
        leads(100)
        with django_assert_max_num_queries(len(few)):
            result = route()
        # 30 partners × 3 slots − the 10 first leads' offers: the rest is unrouted.
        assert result["offered"] + result["direct"] + result["unrouted"] == 100
        assert result["unrouted"] > 0
        assert Lead.objects.filter(status=Status.NEW).count() == 0
