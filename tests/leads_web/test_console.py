"""Leads and routing in the staff console: the lead list and page with its decision
traces, withdrawing and routing now, adding a lead, routing rules, routing
settings, partner lead profiles — with who may look and who may act, tenant
isolation and query counts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals import routing
from deals.leads import lead_routing
from deals.models import (
    Lead,
    LeadAssignment,
    LeadRouting,
    PartnerLeadProfile,
    RoutingRule,
)
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory
from tests.leads_web.conftest import HOST_A, accept, new_lead, offer, reject, reload

pytestmark = pytest.mark.django_db
Status = Lead.Status
Outcome = LeadAssignment.Outcome
LEADS = reverse("admin:deals_lead_changelist")
ADD = reverse("admin:deals_lead_add")
RULES = reverse("admin:deals_routingrule_changelist")
RULE_ADD = reverse("admin:deals_routingrule_add")
SETTINGS = reverse("admin:deals_leadrouting_changelist")
PROFILES = reverse("admin:deals_partnerleadprofile_changelist")
PROFILE_ADD = reverse("admin:deals_partnerleadprofile_add")
STAFF = ("tenant_admin", "channel_manager", "finance")
ACTORS = ("tenant_admin", "channel_manager")


def change_url(lead: Lead) -> str:
    return reverse("admin:deals_lead_change", args=[lead.pk])


def workflow_url(lead: Lead, name: str) -> str:
    return reverse(f"admin:deals_lead_{name}", args=[lead.pk])


def html_of(response) -> str:
    return response.content.decode()


def notes_of(response, level=None) -> list[str]:
    return [
        str(m) for m in get_messages(response.wsgi_request) if level is None or m.level == level
    ]


@pytest.fixture
def as_role(english, people):
    def login(role: str):
        english.force_login(people[role].user)
        return english

    return login


# --- who gets in ----------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_staff_roles_see_every_lead_page(as_role, world, role):
    lead = new_lead(world.tenant_a)
    client = as_role(role)

    for url in (LEADS, change_url(lead), RULES, PROFILES):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 200, url
    settings_page = client.get(SETTINGS, HTTP_HOST=HOST_A)
    assert settings_page.status_code == 302


@pytest.mark.parametrize("role", ["partner_admin", "partner_rep"])
def test_partner_users_never_get_into_the_console_lead_pages(as_role, world, role):
    lead = new_lead(world.tenant_a)
    client = as_role(role)

    for url in (
        LEADS,
        change_url(lead),
        ADD,
        workflow_url(lead, "withdraw"),
        workflow_url(lead, "route"),
        reverse("admin:deals_lead_fairness"),
        RULES,
        PROFILES,
    ):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403, url


def test_finance_looks_but_cannot_act(as_role, world):
    lead = new_lead(world.tenant_a)
    client = as_role("finance")

    page = html_of(client.get(change_url(lead), HTTP_HOST=HOST_A))
    listing = html_of(client.get(LEADS, HTTP_HOST=HOST_A))
    refused = {
        "add": client.post(ADD, {"company": "X"}, HTTP_HOST=HOST_A).status_code,
        "withdraw": client.post(
            workflow_url(lead, "withdraw"), {"reason": "x"}, HTTP_HOST=HOST_A
        ).status_code,
        "route": client.post(workflow_url(lead, "route"), HTTP_HOST=HOST_A).status_code,
        "rule": client.post(RULE_ADD, {"name": "x"}, HTTP_HOST=HOST_A).status_code,
        "profile": client.post(PROFILE_ADD, {}, HTTP_HOST=HOST_A).status_code,
    }

    assert workflow_url(lead, "withdraw") not in page
    assert workflow_url(lead, "route") not in page
    assert ADD not in listing
    assert refused == dict.fromkeys(refused, 403)
    assert reload(world.tenant_a, lead).status == Status.NEW
    with tenant_context(world.tenant_a):
        assert not RoutingRule.objects.exists()


def test_another_tenants_lead_is_not_found(as_role, world):
    other = new_lead(world.tenant_b, "Zaman Holdings")
    client = as_role("channel_manager")

    for url in (change_url(other), workflow_url(other, "withdraw"), workflow_url(other, "route")):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 404, url
    assert (
        client.post(workflow_url(other, "withdraw"), {"reason": "x"}, HTTP_HOST=HOST_A).status_code
        == 404
    )
    assert reload(world.tenant_b, other).status == Status.NEW


# --- the lead list -------------------------------------------------------------------


def test_lead_list_shows_status_partner_country_industry_and_due(as_role, world):
    offered = new_lead(world.tenant_a, "Offered Ltd", industry="Retail")
    assignment = offer(world.tenant_a, offered, world.partner_x)
    waiting = new_lead(world.tenant_a, "Waiting Ltd", country="MY")
    client = as_role("channel_manager")

    response = client.get(LEADS, HTTP_HOST=HOST_A)
    by_status = client.get(LEADS, {"status__exact": "offered"}, HTTP_HOST=HOST_A)
    by_search = client.get(LEADS, {"q": waiting.reference}, HTTP_HOST=HOST_A)

    assert [lead.reference for lead in response.context["cl"].result_list] == [
        waiting.reference,
        offered.reference,
    ]
    html = html_of(response)
    for text in ("Offered Ltd", "Qiming Information Technology Co Ltd", "Retail", "MY", "Offered"):
        assert text in html
    assert assignment.due_at is not None
    assert [lead.pk for lead in by_status.context["cl"].result_list] == [offered.pk]
    assert [lead.pk for lead in by_search.context["cl"].result_list] == [waiting.pk]
    assert reverse("admin:deals_lead_fairness") in html


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LEADS, HTTP_HOST=HOST_A).status_code == 200
    return len(queries)


def test_lead_list_query_count_does_not_grow_with_leads(as_role, world):
    client = as_role("channel_manager")
    for n in range(3):
        offer(world.tenant_a, new_lead(world.tenant_a, f"Few {n}"), world.partner_x)
    few = _list_queries(client)
    with tenant_context(world.tenant_a):
        partners = [PartnerFactory(legal_name=f"Listed Partner {n}") for n in range(10)]
    for n in range(30):
        lead = new_lead(world.tenant_a, f"Many {n}", country="MY" if n % 2 else "CN")
        offer(world.tenant_a, lead, partners[n % 10])
    assert _list_queries(client) == few


# --- the lead page and its decision trace ----------------------------------------------


@pytest.fixture
def traced(world):
    """Real routing of one CN lead: X chosen, Y runner-up, W outside the territory,
    V not accepting leads."""
    with tenant_context(world.tenant_a):
        PartnerFactory(legal_name="Westward Malaysia Sdn Bhd", country="MY")
        not_accepting = PartnerFactory(legal_name="Vacant Partners Ltd", country="CN")
        PartnerLeadProfile.objects.create(partner=not_accepting, accepts_leads=False)
        lead_routing()
    lead = new_lead(world.tenant_a, "Traced Customer Ltd")
    with tenant_context(world.tenant_a):
        counts = routing.route_leads(lead_ids=[lead.pk], via=LeadAssignment.Via.ARRIVAL)
    assert counts["offered"] == 1
    return lead


def test_lead_page_renders_the_decision_trace_readably(as_role, world, traced):
    client = as_role("finance")

    response = client.get(change_url(traced), HTTP_HOST=HOST_A)

    assert response.status_code == 200
    [trace] = response.context["traces"]
    assert trace.chosen.name == world.partner_x.name
    assert [c.name for c in trace.runners_up] == [world.partner_y.name]
    assert trace.considered == 4 and trace.eligible == 2
    assert dict(trace.excluded_counts) == {
        "Does not cover the lead's country": 1,
        "Does not accept leads": 1,
    }
    html = html_of(response)
    for text in (
        "Default rule: no routing rule applies to this lead",
        "covers the lead&#x27;s country",
        "4 partners considered, 2 eligible",
        "Chosen partner and runners-up",
        "Qiming Information Technology Co Ltd",
        "Yonder Systems Ltd",
        "Runner-up",
        "No history yet: neutral score",
        "50.0%",  # the neutral acceptance, conversion and response components
        "Westward Malaysia Sdn Bhd",
        "Vacant Partners Ltd",
        "Partners excluded, by reason",
        "Score = 0.40 × acceptance",
    ):
        assert text in html, text
    assert re.search(r"<td>Does not accept leads</td><td>1</td>", html)
    assert "outside_territory" not in html  # codes are translated, never shown raw


def test_a_rejected_then_rerouted_lead_shows_every_decision_newest_first(as_role, world, traced):
    reject(world.tenant_a, traced, world.rep_x, "Too small for us")
    with tenant_context(world.tenant_a):
        routing.route_leads(lead_ids=[traced.pk], via=LeadAssignment.Via.REROUTE)
    client = as_role("channel_manager")

    response = client.get(change_url(traced), HTTP_HOST=HOST_A)

    traces = response.context["traces"]
    assert [t.assignment.outcome for t in traces] == [Outcome.PENDING, Outcome.REJECTED]
    assert traces[0].chosen.name == world.partner_y.name
    assert dict(traces[0].excluded_counts)["Was offered this lead before"] == 1
    html = html_of(response)
    assert "Too small for us" in html and "re-routed" in html


def test_a_lead_kept_for_direct_sales_names_the_rule(as_role, world):
    with tenant_context(world.tenant_a):
        RoutingRule.objects.create(
            name="Enterprise stays direct",
            action=RoutingRule.Action.RESERVE_DIRECT,
            company_sizes=["enterprise"],
        )
    lead = new_lead(world.tenant_a, "Big Corp", company_size="enterprise")
    with tenant_context(world.tenant_a):
        routing.route_leads(lead_ids=[lead.pk], via=LeadAssignment.Via.SWEEP)
    client = as_role("channel_manager")

    html = html_of(client.get(change_url(lead), HTTP_HOST=HOST_A))

    assert "Enterprise stays direct" in html and "keep for direct sales" in html
    assert reload(world.tenant_a, lead).status == Status.DIRECT


def _page_queries(client, lead) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(change_url(lead), HTTP_HOST=HOST_A).status_code == 200
    return len(queries)


def test_lead_page_query_count_does_not_grow_with_its_decisions(as_role, world):
    client = as_role("channel_manager")
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    one = _page_queries(client, lead)
    reject(world.tenant_a, lead, world.rep_x, "No")
    with tenant_context(world.tenant_a):
        for n in range(6):
            partner = PartnerFactory(legal_name=f"Extra Partner {n}", country="CN")
            offer(world.tenant_a, lead, partner)
            LeadAssignment.objects.filter(lead=lead, partner=partner).update(
                outcome=Outcome.EXPIRED
            )
    offer(world.tenant_a, lead, world.partner_y)
    assert _page_queries(client, lead) == one


# --- withdraw and route now --------------------------------------------------------------


@pytest.mark.parametrize("role", ACTORS)
def test_withdrawing_needs_a_reason_and_calls_the_service(as_role, world, role):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    client = as_role(role)

    page = html_of(client.get(change_url(lead), HTTP_HOST=HOST_A))
    blank = client.post(workflow_url(lead, "withdraw"), {"reason": ""}, HTTP_HOST=HOST_A)
    done = client.post(
        workflow_url(lead, "withdraw"), {"reason": "Customer asked us directly"}, HTTP_HOST=HOST_A
    )

    assert workflow_url(lead, "withdraw") in page
    assert blank.status_code == 200 and "This field is required." in html_of(blank)
    assert done.status_code == 302 and done["Location"] == change_url(lead)
    assert reload(world.tenant_a, lead).status == Status.WITHDRAWN
    with tenant_context(world.tenant_a):
        assert LeadAssignment.objects.get(lead=lead).outcome == Outcome.WITHDRAWN
        assert AuditEvent.objects.filter(action="lead.withdrawn").count() == 1


def test_withdrawing_a_converted_lead_is_refused_with_a_message(as_role, world):
    from tests.leads_web.conftest import convert

    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    accept(world.tenant_a, lead, world.rep_x)
    convert(world.tenant_a, lead, world.rep_x)
    client = as_role("channel_manager")

    page = html_of(client.get(change_url(lead), HTTP_HOST=HOST_A))
    response = client.post(workflow_url(lead, "withdraw"), {"reason": "x"}, HTTP_HOST=HOST_A)

    assert workflow_url(lead, "withdraw") not in page
    assert response.status_code == 200
    assert "cannot be withdrawn" in html_of(response)
    assert reload(world.tenant_a, lead).status == Status.CONVERTED


def test_route_now_offers_a_waiting_lead(as_role, world):
    lead = new_lead(world.tenant_a)
    client = as_role("channel_manager")

    page = html_of(client.get(change_url(lead), HTTP_HOST=HOST_A))
    confirm = client.get(workflow_url(lead, "route"), HTTP_HOST=HOST_A)
    assert confirm.status_code == 200 and reload(world.tenant_a, lead).status == Status.NEW
    routed = client.post(workflow_url(lead, "route"), HTTP_HOST=HOST_A)

    assert workflow_url(lead, "route") in page
    assert routed.status_code == 302 and routed["Location"] == change_url(lead) + "#routing"
    after = reload(world.tenant_a, lead)
    assert (after.status, after.partner_id) == (Status.OFFERED, world.partner_x.pk)
    with tenant_context(world.tenant_a):
        assert LeadAssignment.objects.get(lead=lead).via == LeadAssignment.Via.MANUAL
    assert notes_of(routed, messages.SUCCESS) == [
        f"Lead {lead.reference} is offered to {world.partner_x.name}."
    ]
    # Once offered, there is nothing to route.
    assert workflow_url(lead, "route") not in html_of(
        client.get(change_url(lead), HTTP_HOST=HOST_A)
    )


def test_route_now_without_an_eligible_partner_says_so(as_role, world):
    lead = new_lead(world.tenant_a, country="SG")
    client = as_role("tenant_admin")

    routed = client.post(workflow_url(lead, "route"), HTTP_HOST=HOST_A)

    assert reload(world.tenant_a, lead).status == Status.UNROUTED
    assert notes_of(routed, messages.WARNING) == [
        f"No partner can take lead {lead.reference} now; the decision trace says why."
    ]


# --- add a lead -------------------------------------------------------------------------


def test_adding_a_lead_shows_per_field_errors(as_role, world):
    client = as_role("channel_manager")

    response = client.post(
        ADD,
        {
            "company": "Acme",
            "contact_name": "",
            "contact_email": "not-an-email",
            "country": "Malaysia",
            "estimated_amount": "1000",
            "currency": "",
        },
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"contact_name", "contact_email", "country", "currency"}
    with tenant_context(world.tenant_a):
        assert not Lead.objects.exists()


@pytest.mark.parametrize("role", ACTORS)
def test_adding_a_lead_calls_create_lead_and_opens_its_page(as_role, world, people, role):
    client = as_role(role)
    assert client.get(ADD, HTTP_HOST=HOST_A).status_code == 200

    response = client.post(
        ADD,
        {
            "company": "Acme Holdings Sdn Bhd",
            "contact_name": "Siti Aminah",
            "contact_email": "Siti@Acme.example",
            "country": "my",
            "industry": "Retail",
            "estimated_amount": "12500.50",
            "currency": "MYR",
            "external_id": "CRM-1",
        },
        HTTP_HOST=HOST_A,
    )

    with tenant_context(world.tenant_a):
        lead = Lead.objects.get()
        assert AuditEvent.objects.filter(action="lead.created", object_id=str(lead.pk)).exists()
    assert response.status_code == 302 and response["Location"] == change_url(lead)
    assert (lead.country, lead.contact_email, lead.estimated_amount, lead.currency) == (
        "MY",
        "siti@acme.example",
        Decimal("12500.50"),
        "MYR",
    )
    assert lead.normalized_name  # filled in by the service
    assert lead.created_by == people[role].user


def test_a_duplicate_external_id_is_an_error_on_its_field(as_role, world):
    new_lead(world.tenant_a, "First", external_id="CRM-9")
    client = as_role("channel_manager")

    response = client.post(
        ADD,
        {
            "company": "Second",
            "contact_name": "A",
            "contact_email": "a@b.example",
            "country": "CN",
            "external_id": "CRM-9",
        },
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["external_id"]
    with tenant_context(world.tenant_a):
        assert Lead.objects.count() == 1


# --- routing rules ----------------------------------------------------------------------


def _rule_data(**overrides) -> dict:
    data = {
        "name": "Retail in Malaysia",
        "priority": "10",
        "is_active": "on",
        "action": "route",
        "countries": "my, sg",
        "regions": "",
        "industries": "Retail, Logistics",
        "company_sizes": "small, medium",
        "require_territory": "on",
        "partner_type_keys": "",
        "tier_keys": "gold",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize("role", ACTORS)
def test_routing_rules_are_edited_as_comma_separated_text(as_role, world, role):
    client = as_role(role)

    created = client.post(RULE_ADD, _rule_data(), HTTP_HOST=HOST_A)

    assert created.status_code == 302
    with tenant_context(world.tenant_a):
        rule = RoutingRule.objects.get()
        assert AuditEvent.objects.filter(action="routingrule.created").exists()
    assert rule.countries == ["MY", "SG"]
    assert rule.industries == ["Retail", "Logistics"]
    assert rule.company_sizes == ["small", "medium"]
    assert rule.tier_keys == ["gold"]
    change = reverse("admin:deals_routingrule_change", args=[rule.pk])
    html = html_of(client.get(change, HTTP_HOST=HOST_A))
    assert 'value="MY, SG"' in html and 'value="Retail, Logistics"' in html
    listing = html_of(client.get(RULES, HTTP_HOST=HOST_A))
    assert "countries: MY, SG" in listing and "tiers: gold" in listing
    deleted = client.post(
        reverse("admin:deals_routingrule_delete", args=[rule.pk]),
        {"post": "yes"},
        HTTP_HOST=HOST_A,
    )
    assert deleted.status_code == 302
    with tenant_context(world.tenant_a):
        assert not RoutingRule.objects.exists()


def test_routing_rule_values_are_validated(as_role, world):
    client = as_role("channel_manager")

    response = client.post(
        RULE_ADD,
        _rule_data(countries="Malaysia", company_sizes="huge", tier_keys="diamond"),
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"countries", "company_sizes", "tier_keys"}
    assert errors["tier_keys"][0].startswith("Unknown tier: diamond. Use: gold")
    with tenant_context(world.tenant_a):
        assert not RoutingRule.objects.exists()


# --- routing settings -------------------------------------------------------------------


def test_routing_settings_list_opens_the_one_row_and_saves(as_role, world):
    client = as_role("channel_manager")

    opened = client.get(SETTINGS, HTTP_HOST=HOST_A)
    with tenant_context(world.tenant_a):
        row = LeadRouting.objects.get()
    saved = client.post(
        opened["Location"],
        {
            "sla_hours": "24",
            "default_capacity": "5",
            "route_on_arrival": "on",
            "weight_acceptance": "0.50",
            "weight_conversion": "0.30",
            "weight_response": "0.20",
            "score_band": "0.10",
        },
        HTTP_HOST=HOST_A,
    )
    zero = client.post(
        opened["Location"],
        {
            "sla_hours": "24",
            "default_capacity": "5",
            "weight_acceptance": "0",
            "weight_conversion": "0",
            "weight_response": "0",
            "score_band": "0.10",
        },
        HTTP_HOST=HOST_A,
    )

    assert opened["Location"] == reverse("admin:deals_leadrouting_change", args=[row.pk])
    assert saved.status_code == 302
    with tenant_context(world.tenant_a):
        row.refresh_from_db()
    assert (row.sla_hours, row.default_capacity, row.weight_acceptance) == (
        24,
        5,
        Decimal("0.50"),
    )
    assert zero.status_code == 200
    assert "At least one weight" in html_of(zero)


def test_finance_reads_the_routing_settings_without_saving(as_role, world):
    client = as_role("finance")
    opened = client.get(SETTINGS, HTTP_HOST=HOST_A)

    page = client.get(opened["Location"], HTTP_HOST=HOST_A)
    post = client.post(opened["Location"], {"sla_hours": "1"}, HTTP_HOST=HOST_A)

    assert page.status_code == 200 and 'name="sla_hours"' not in html_of(page)
    assert post.status_code == 403
    with tenant_context(world.tenant_a):
        assert LeadRouting.objects.get().sla_hours == 48


# --- partner lead profiles --------------------------------------------------------------


def test_a_profile_is_saved_through_set_lead_profile(as_role, world):
    client = as_role("channel_manager")

    form = html_of(client.get(PROFILE_ADD, HTTP_HOST=HOST_A))
    bad = client.post(
        PROFILE_ADD,
        {"partner": world.partner_x.pk, "accepts_leads": "on", "territories": "Singapore"},
        HTTP_HOST=HOST_A,
    )
    created = client.post(
        PROFILE_ADD,
        {
            "partner": world.partner_x.pk,
            "accepts_leads": "on",
            "territories": "sg, my",
            "capacity": "3",
        },
        HTTP_HOST=HOST_A,
    )

    option = f'<option value="{world.partner_x.pk}">'
    assert option in form
    assert bad.status_code == 200 and "territories" in bad.context["adminform"].form.errors
    assert created.status_code == 302
    with tenant_context(world.tenant_a):
        profile = PartnerLeadProfile.objects.get(partner=world.partner_x)
        assert AuditEvent.objects.filter(action="lead_profile.changed").count() == 1
    assert (profile.territories, profile.capacity, profile.accepts_leads) == (["SG", "MY"], 3, True)
    # A partner that has a profile is no longer offered on the add page.
    assert option not in html_of(client.get(PROFILE_ADD, HTTP_HOST=HOST_A))

    changed = client.post(
        reverse("admin:deals_partnerleadprofile_change", args=[profile.pk]),
        {"territories": "", "capacity": ""},
        HTTP_HOST=HOST_A,
    )
    assert changed.status_code == 302
    with tenant_context(world.tenant_a):
        profile.refresh_from_db()
        assert AuditEvent.objects.filter(action="lead_profile.changed").count() == 2
    assert (profile.territories, profile.capacity, profile.accepts_leads) == ([], None, False)


def test_profiles_list_live_open_leads_and_performance(as_role, world):
    with tenant_context(world.tenant_a):
        PartnerLeadProfile.objects.create(partner=world.partner_x, capacity=4)
        PartnerLeadProfile.objects.create(partner=world.partner_y)
    for n in range(3):
        offer(world.tenant_a, new_lead(world.tenant_a, f"Open {n}"), world.partner_x)
    accepted = new_lead(world.tenant_a, "Taken")
    offer(world.tenant_a, accepted, world.partner_x)
    accept(world.tenant_a, accepted, world.rep_x)
    declined = new_lead(world.tenant_a, "Declined")
    offer(world.tenant_a, declined, world.partner_x)
    reject(world.tenant_a, declined, world.rep_x, "No")
    client = as_role("finance")

    response = client.get(PROFILES, HTTP_HOST=HOST_A)

    rows = {row.partner_id: row for row in response.context["cl"].result_list}
    assert rows[world.partner_x.pk].open_lead_count == 4  # 3 offered + 1 accepted
    assert rows[world.partner_y.pk].open_lead_count == 0
    with tenant_context(world.tenant_a):
        expected = routing.partner_scores(partner_ids=[world.partner_x.pk])[world.partner_x.pk]
    assert rows[world.partner_x.pk].lead_score == expected
    html = html_of(response)
    assert "10 (default)" in html  # partner Y uses the tenant's default capacity
    assert f'<td class="field-score_display">{expected.score:.2f}</td>' in html


def test_profiles_list_query_count_does_not_grow_with_partners(as_role, world):
    client = as_role("channel_manager")
    with tenant_context(world.tenant_a):
        PartnerLeadProfile.objects.create(partner=world.partner_x)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PROFILES, HTTP_HOST=HOST_A).status_code == 200
        return len(captured)

    few = queries()
    with tenant_context(world.tenant_a):
        for n in range(12):
            PartnerLeadProfile.objects.create(
                partner=PartnerFactory(legal_name=f"Listed {n}"), capacity=n + 1
            )
    for n in range(5):
        offer(world.tenant_a, new_lead(world.tenant_a, f"Load {n}"), world.partner_x)
    assert queries() == few


def test_another_tenants_rules_settings_and_profiles_are_not_found(as_role, world):
    with tenant_context(world.tenant_b):
        rule = RoutingRule.objects.create(name="Bravo rule", action=RoutingRule.Action.ROUTE)
        settings_row = lead_routing()
        profile = PartnerLeadProfile.objects.create(partner=world.partner_z)
    client = as_role("tenant_admin")

    urls = [
        reverse("admin:deals_routingrule_change", args=[rule.pk]),
        reverse("admin:deals_routingrule_delete", args=[rule.pk]),
        reverse("admin:deals_leadrouting_change", args=[settings_row.pk]),
        reverse("admin:deals_partnerleadprofile_change", args=[profile.pk]),
    ]

    assert [client.get(url, HTTP_HOST=HOST_A).status_code for url in urls] == [404] * 4
    assert client.post(urls[0], _rule_data(name="Hijacked"), HTTP_HOST=HOST_A).status_code == 404
    with tenant_context(world.tenant_b):
        assert RoutingRule.objects.get().name == "Bravo rule"
    # This tenant's own rules list does not show it either.
    assert "Bravo rule" not in html_of(client.get(RULES, HTTP_HOST=HOST_A))
