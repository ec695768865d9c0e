"""The partner portal's lead pages: my leads, the lead page, accepting, declining
and converting — and who may see what, across partners, tenants and roles."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from deals import routing
from deals.models import DealRegistration, Lead, LeadAssignment, PartnerLeadProfile
from prm.tenancy.context import tenant_context
from tests.leads_web.conftest import (
    HOST_A,
    HOST_B,
    accept,
    convert,
    new_lead,
    offer,
    reject,
    reload,
)

pytestmark = pytest.mark.django_db
Status = Lead.Status
Outcome = LeadAssignment.Outcome
LIST = "/leads/"
ACTIONS = ("accept", "reject", "convert")


def detail_url(lead: Lead) -> str:
    return reverse("leads:detail", args=[lead.reference])


def action_url(lead: Lead, name: str) -> str:
    return reverse(f"leads:{name}", args=[lead.reference])


def html_of(response) -> str:
    return response.content.decode()


def rows_of(html: str) -> list[str]:
    """The lead references in a list page, in order."""
    return re.findall(r'<tr data-lead="([^"]+)"', html)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# --- My leads -------------------------------------------------------------------------


def test_my_leads_lists_waiting_offers_first_nearest_due_with_absolute_time_in_tenant_zone(
    english, world
):
    world.tenant_a.time_zone = "Asia/Kuala_Lumpur"
    world.tenant_a.save()
    accepted = new_lead(world.tenant_a, "Accepted Trading")
    offer(world.tenant_a, accepted, world.partner_x)
    accept(world.tenant_a, accepted, world.rep_x)
    later = new_lead(world.tenant_a, "Later Logistics", region="Shanghai", industry="Logistics")
    offer(world.tenant_a, later, world.partner_x, due_in=timedelta(hours=30))
    sooner = new_lead(world.tenant_a, "Sooner Foods")
    sooner_offer = offer(world.tenant_a, sooner, world.partner_x, due_in=timedelta(hours=5))
    english.force_login(world.rep_x.user)

    response = english.get(LIST, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = html_of(response)
    assert rows_of(html) == [sooner.reference, later.reference, accepted.reference]
    assert "Later Logistics" in html and "Shanghai" in html and "Logistics" in html
    assert html.count('data-state="waiting"') == 2
    assert html.count('data-state="accepted"') == 1
    kl_due = timezone.localtime(sooner_offer.due_at, ZoneInfo("Asia/Kuala_Lumpur"))
    assert date_format(kl_due, "DATETIME_FORMAT") in html
    assert "4\xa0hours from now" in html  # relative, from the humanize catalogue
    assert 'data-overdue="yes"' not in html


def test_an_overdue_offer_is_flagged_and_can_no_longer_be_answered(english, world):
    lead = new_lead(world.tenant_a, "Late Answer Bhd")
    offer(
        world.tenant_a,
        lead,
        world.partner_x,
        offered_at=timezone.now() - timedelta(hours=50),
        due_in=timedelta(hours=48),
    )
    english.force_login(world.rep_x.user)

    listing = html_of(english.get(LIST, HTTP_HOST=HOST_A))
    page = html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A))
    accepted = english.post(action_url(lead, "accept"), HTTP_HOST=HOST_A, follow=True)

    assert 'data-overdue="yes"' in listing and "Overdue" in listing
    assert 'data-overdue="yes"' in page
    assert "The lead is being offered to another partner." in page
    assert action_url(lead, "accept") not in page  # no answer forms
    assert reload(world.tenant_a, lead).status == Status.OFFERED
    assert any("The time to accept this lead ended" in m for m in messages_of(accepted))


def test_tabs_filter_by_state_and_count_each_state(english, world):
    waiting = new_lead(world.tenant_a, "Waiting Co")
    offer(world.tenant_a, waiting, world.partner_x)
    accepted = new_lead(world.tenant_a, "Accepted Co")
    offer(world.tenant_a, accepted, world.partner_x)
    accept(world.tenant_a, accepted, world.rep_x)
    converted = new_lead(world.tenant_a, "Converted Co")
    offer(world.tenant_a, converted, world.partner_x)
    accept(world.tenant_a, converted, world.rep_x)
    convert(world.tenant_a, converted, world.rep_x)
    declined = new_lead(world.tenant_a, "Declined Co")
    offer(world.tenant_a, declined, world.partner_x)
    reject(world.tenant_a, declined, world.rep_x, "Outside our focus")
    english.force_login(world.rep_x.user)

    tabs = {
        state: rows_of(html_of(english.get(LIST, {"state": state}, HTTP_HOST=HOST_A)))
        for state in ("waiting", "accepted", "converted", "declined")
    }
    everything = html_of(english.get(LIST, HTTP_HOST=HOST_A))

    assert tabs == {
        "waiting": [waiting.reference],
        "accepted": [accepted.reference],
        "converted": [converted.reference],
        "declined": [declined.reference],
    }
    assert rows_of(everything)[0] == waiting.reference
    assert len(rows_of(everything)) == 4
    for label, count in [
        ("All", 4),
        ("Waiting for your answer", 1),
        ("Accepted", 1),
        ("Converted", 1),
        ("Declined", 1),
    ]:
        assert f"{label} ({count})" in everything
    assert 'aria-current="page">All (4)' in everything


def test_search_finds_by_company_or_reference_within_the_tab(english, world):
    acme = new_lead(world.tenant_a, "Acme Trading")
    offer(world.tenant_a, acme, world.partner_x)
    other = new_lead(world.tenant_a, "Beta Foods")
    offer(world.tenant_a, other, world.partner_x)
    english.force_login(world.rep_x.user)

    by_name = html_of(english.get(LIST, {"q": "acme"}, HTTP_HOST=HOST_A))
    by_reference = html_of(english.get(LIST, {"q": other.reference.lower()}, HTTP_HOST=HOST_A))
    in_other_tab = html_of(english.get(LIST, {"q": "acme", "state": "declined"}, HTTP_HOST=HOST_A))
    nothing = html_of(english.get(LIST, {"q": "zzz"}, HTTP_HOST=HOST_A))

    assert rows_of(by_name) == [acme.reference]
    assert rows_of(by_reference) == [other.reference]
    assert rows_of(in_other_tab) == []
    assert "No leads match your search." in nothing
    # The tabs keep the search.
    assert f"{LIST}?state=waiting&amp;q=acme" in by_name


def test_my_leads_paginates_and_keeps_the_tab_in_page_links(english, world):
    for n in range(27):
        offer(world.tenant_a, new_lead(world.tenant_a, f"Firm {n:02d}"), world.partner_x)
    english.force_login(world.rep_x.user)

    first = html_of(english.get(LIST, {"state": "waiting"}, HTTP_HOST=HOST_A))
    second = html_of(english.get(LIST, {"state": "waiting", "page": 2}, HTTP_HOST=HOST_A))

    assert len(rows_of(first)) == 25 and len(rows_of(second)) == 2
    assert "27 leads" in first and "Page 1 of 2" in first
    assert "?state=waiting&amp;page=2" in first


def test_empty_states_say_what_to_expect(english, world):
    english.force_login(world.rep_x.user)

    everything = html_of(english.get(LIST, HTTP_HOST=HOST_A))
    waiting = html_of(english.get(LIST, {"state": "waiting"}, HTTP_HOST=HOST_A))
    declined = html_of(english.get(LIST, {"state": "declined"}, HTTP_HOST=HOST_A))

    assert "The vendor has not offered you any leads yet." in everything
    assert "No lead is waiting for your answer." in waiting
    assert "You have no leads with this status." in declined
    assert "<table" not in everything


def test_tables_are_wrapped_for_narrow_screens(english, world):
    offer(world.tenant_a, new_lead(world.tenant_a), world.partner_x)
    english.force_login(world.rep_x.user)

    html = html_of(english.get(LIST, HTTP_HOST=HOST_A))

    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert html.count("<table") == 1
    assert re.search(r'<div class="table-wrap">\s*<table class="table table--stack">', html)
    cells = re.findall(r"<td( data-label=\"[^\"]+\")?", html)
    assert cells and all(cells)  # every cell names its column for the stacked layout


# --- The lead page and its answers -------------------------------------------------------


def test_lead_page_shows_details_contact_and_due_time_while_waiting(english, world):
    lead = new_lead(
        world.tenant_a,
        "Acme Holdings Sdn Bhd",
        phone="+60 3 1234 5678",
        website="acme.example",
        industry="Retail",
        notes="Asked for a demo in March.",
    )
    assigned = offer(world.tenant_a, lead, world.partner_x, due_in=timedelta(hours=20))
    english.force_login(world.rep_x.user)

    html = html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A))

    assert "Acme Holdings Sdn Bhd" in html
    assert "siti@acme.example" in html and "+60 3 1234 5678" in html
    assert "acme.example" in html and "Retail" in html
    assert "Asked for a demo in March." in html
    assert date_format(timezone.localtime(assigned.due_at), "DATETIME_FORMAT") in html
    assert "hours from now" in html
    assert action_url(lead, "accept") in html and action_url(lead, "reject") in html
    assert action_url(lead, "convert") not in html


def test_accepting_then_converting_redirects_to_the_new_deal(english, world):
    lead = new_lead(world.tenant_a, "Convertible Trading Sdn Bhd", estimated_amount=None)
    offer(world.tenant_a, lead, world.partner_x)
    english.force_login(world.rep_x.user)

    accepted = english.post(action_url(lead, "accept"), HTTP_HOST=HOST_A)
    page = html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A))
    converted = english.post(action_url(lead, "convert"), HTTP_HOST=HOST_A)

    assert accepted.status_code == 302 and accepted["Location"] == detail_url(lead)
    assert "You accepted this lead" in page and action_url(lead, "convert") in page
    after = reload(world.tenant_a, lead)
    assert after.status == Status.CONVERTED
    with tenant_context(world.tenant_a):
        deal = DealRegistration.objects.get(pk=after.deal_id)
    assert deal.partner_id == world.partner_x.pk
    assert deal.customer_company == "Convertible Trading Sdn Bhd"
    assert converted.status_code == 302
    assert converted["Location"] == reverse("deals:detail", args=[deal.reference])
    assert any(deal.reference in m for m in messages_of(converted))
    converted_page = html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A))
    assert f'data-deal="{deal.reference}"' in converted_page
    assert reverse("deals:detail", args=[deal.reference]) in converted_page
    assert action_url(lead, "convert") not in converted_page


def test_converting_twice_is_refused_with_a_message(english, world):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    accept(world.tenant_a, lead, world.rep_x)
    convert(world.tenant_a, lead, world.rep_x)
    english.force_login(world.admin_x.user)

    response = english.post(action_url(lead, "convert"), HTTP_HOST=HOST_A)

    assert response.status_code == 302 and response["Location"] == detail_url(lead)
    with tenant_context(world.tenant_a):
        assert DealRegistration.objects.count() == 1
    assert any("already been converted" in m for m in messages_of(response))


def test_declining_requires_a_reason(english, world):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    english.force_login(world.rep_x.user)

    response = english.post(action_url(lead, "reject"), {"reason": "  "}, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = html_of(response)
    assert "This field is required." in html
    assert '<details id="decline" open>' in html
    assert reload(world.tenant_a, lead).status == Status.OFFERED


def test_declining_keeps_the_lead_listed_with_the_partners_own_reason_only(english, world):
    lead = new_lead(world.tenant_a, "Declinable Foods", phone="+86 21 5555 0000")
    offer(world.tenant_a, lead, world.partner_x)
    english.force_login(world.rep_x.user)

    response = english.post(
        action_url(lead, "reject"), {"reason": "No capacity this quarter"}, HTTP_HOST=HOST_A
    )
    # The lead goes to partner Y, which declines it too, with its own reason.
    with tenant_context(world.tenant_a):
        routing.route_leads(lead_ids=[lead.pk], via=LeadAssignment.Via.REROUTE)
    assert reload(world.tenant_a, lead).partner_id == world.partner_y.pk
    reject(world.tenant_a, lead, world.rep_y, "Yonder does not sell to food companies")

    assert response.status_code == 302
    declined = html_of(english.get(LIST, {"state": "declined"}, HTTP_HOST=HOST_A))
    page = html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A))
    assert rows_of(declined) == [lead.reference]
    assert "No capacity this quarter" in page
    assert "Yonder" not in page and "Yonder" not in declined
    assert "siti@acme.example" not in page and "+86 21 5555 0000" not in page
    assert action_url(lead, "accept") not in page


def test_a_partner_never_sees_the_other_partners_routing_considered(english, world):
    """Real routing: X is chosen, Y is the runner-up and Z' is outside the territory."""
    with tenant_context(world.tenant_a):
        PartnerLeadProfile.objects.create(partner=world.partner_y, accepts_leads=True)
        lead = new_lead(world.tenant_a, "Traced Customer Ltd")
        routing.route_leads(lead_ids=[lead.pk], via=LeadAssignment.Via.ARRIVAL)
        assignment = LeadAssignment.objects.get(lead=lead)
    assert assignment.partner_id == world.partner_x.pk
    assert [entry["name"] for entry in assignment.trace["runners_up"]] == [world.partner_y.name]
    english.force_login(world.rep_x.user)

    pages = [
        html_of(english.get(LIST, HTTP_HOST=HOST_A)),
        html_of(english.get(detail_url(lead), HTTP_HOST=HOST_A)),
        html_of(english.get("/", HTTP_HOST=HOST_A)),
    ]

    for html in pages:
        assert "Traced Customer Ltd" in html
        assert world.partner_y.name not in html
        assert "0.5000" not in html  # no scores either


def test_expired_and_withdrawn_offers_show_under_all_without_contact_details(english, world):
    expired = new_lead(world.tenant_a, "Lapsed Co")
    offer(world.tenant_a, expired, world.partner_x, offered_at=timezone.now() - timedelta(days=3))
    with tenant_context(world.tenant_a):
        routing.run_lead_sweep()
    withdrawn = new_lead(world.tenant_a, "Withdrawn Co")
    offer(world.tenant_a, withdrawn, world.partner_x)
    with tenant_context(world.tenant_a):
        from deals.leads import withdraw_lead

        withdraw_lead(
            lead=withdrawn,
            membership=world.staff_a,
            actor=world.staff_a.user,
            reason="Internal: handing it to our enterprise team",
        )
    english.force_login(world.rep_x.user)

    listing = html_of(english.get(LIST, HTTP_HOST=HOST_A))
    lapsed_page = html_of(english.get(detail_url(expired), HTTP_HOST=HOST_A))
    withdrawn_page = html_of(english.get(detail_url(withdrawn), HTTP_HOST=HOST_A))

    assert 'data-state="expired"' in listing and 'data-state="withdrawn"' in listing
    assert "was not answered by" in lapsed_page
    assert "The vendor withdrew this lead." in withdrawn_page
    assert "Internal: handing it" not in withdrawn_page  # staff reasons stay in the console
    for html in (lapsed_page, withdrawn_page):
        assert "siti@acme.example" not in html
        assert action_url(expired, "accept") not in html


# --- Who may see what ------------------------------------------------------------------


def _posts(client, lead, host):
    return {
        name: client.post(action_url(lead, name), {"reason": "x"}, HTTP_HOST=host)
        for name in ACTIONS
    }


def test_a_lead_offered_only_to_another_partner_is_not_found(client, world):
    theirs = new_lead(world.tenant_a, "Theirs Only")
    offer(world.tenant_a, theirs, world.partner_y)
    client.force_login(world.admin_x.user)

    page = client.get(detail_url(theirs), HTTP_HOST=HOST_A)
    posts = _posts(client, theirs, HOST_A)
    listing = html_of(client.get(LIST, {"q": theirs.reference}, HTTP_HOST=HOST_A))

    assert page.status_code == 404
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 404)
    assert rows_of(listing) == []
    after = reload(world.tenant_a, theirs)
    assert (after.status, after.partner_id) == (Status.OFFERED, world.partner_y.pk)


def test_after_declining_a_partner_cannot_act_on_the_lead_again(client, world):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    reject(world.tenant_a, lead, world.rep_x, "Not for us")
    offer(world.tenant_a, lead, world.partner_y)
    client.force_login(world.rep_x.user)

    accepted = client.post(action_url(lead, "accept"), HTTP_HOST=HOST_A)

    assert accepted.status_code == 302
    after = reload(world.tenant_a, lead)
    assert (after.status, after.partner_id) == (Status.OFFERED, world.partner_y.pk)


def test_another_tenants_lead_is_not_found_on_this_tenants_host(client, world):
    other = new_lead(world.tenant_b, "Zaman Holdings")
    offer(world.tenant_b, other, world.partner_z)
    client.force_login(world.rep_x.user)

    page = client.get(detail_url(other), HTTP_HOST=HOST_A)
    posts = _posts(client, other, HOST_A)

    assert page.status_code == 404
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 404)
    assert reload(world.tenant_b, other).status == Status.OFFERED
    # Its own partner reaches it on its own host only.
    client.force_login(world.rep_z.user)
    assert client.get(detail_url(other), HTTP_HOST=HOST_B).status_code == 200
    assert client.get(detail_url(other), HTTP_HOST=HOST_A).status_code in (403, 404)


@pytest.mark.parametrize("role", ["tenant_admin", "channel_manager", "finance"])
def test_staff_are_forbidden_on_every_portal_lead_page(client, world, people, role):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    client.force_login(people[role].user)

    pages = [client.get(LIST, HTTP_HOST=HOST_A), client.get(detail_url(lead), HTTP_HOST=HOST_A)]
    posts = _posts(client, lead, HOST_A)

    assert [r.status_code for r in pages] == [403, 403]
    assert {name: r.status_code for name, r in posts.items()} == dict.fromkeys(ACTIONS, 403)
    assert reload(world.tenant_a, lead).status == Status.OFFERED


@pytest.mark.parametrize("role", ["partner_admin", "partner_rep"])
def test_partner_admins_and_reps_both_answer_offers(client, world, people, role):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    client.force_login(people[role].user)

    assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
    assert client.get(detail_url(lead), HTTP_HOST=HOST_A).status_code == 200
    assert client.post(action_url(lead, "accept"), HTTP_HOST=HOST_A).status_code == 302
    assert reload(world.tenant_a, lead).status == Status.ACCEPTED


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    lead = new_lead(world.tenant_a)
    for url in (LIST, detail_url(lead), action_url(lead, "accept")):
        response = (client.post if url.endswith("accept/") else client.get)(url, HTTP_HOST=HOST_A)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_answers_need_post_and_csrf(world):
    lead = new_lead(world.tenant_a)
    offer(world.tenant_a, lead, world.partner_x)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.rep_x.user)

    assert {
        name: strict.get(action_url(lead, name), HTTP_HOST=HOST_A).status_code for name in ACTIONS
    } == dict.fromkeys(ACTIONS, 405)
    assert strict.post(action_url(lead, "accept"), HTTP_HOST=HOST_A).status_code == 403
    assert reload(world.tenant_a, lead).status == Status.OFFERED


# --- Query counts -----------------------------------------------------------------------


def _offer_many(world, count: int, start: int) -> None:
    for n in range(start, start + count):
        lead = new_lead(world.tenant_a, f"Customer {n:03d}", industry="Retail")
        offer(world.tenant_a, lead, world.partner_x)
        if n % 3 == 1:
            accept(world.tenant_a, lead, world.rep_x)
        elif n % 3 == 2:
            reject(world.tenant_a, lead, world.rep_x, f"Reason {n}")


def test_my_leads_query_count_does_not_grow_with_leads(client, world):
    client.force_login(world.rep_x.user)
    _offer_many(world, 3, 0)
    with CaptureQueriesContext(connection) as small:
        assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
    _offer_many(world, 40, 3)
    with CaptureQueriesContext(connection) as large:
        response = client.get(LIST, HTTP_HOST=HOST_A)
        assert len(rows_of(html_of(response))) == 25
    with CaptureQueriesContext(connection) as searched:
        client.get(LIST, {"q": "customer", "state": "accepted"}, HTTP_HOST=HOST_A)

    assert len(large) == len(small)
    assert len(searched) == len(small)


def test_lead_page_and_home_query_counts_do_not_grow_with_other_leads(client, world):
    lead = new_lead(world.tenant_a, "Watched Lead")
    offer(world.tenant_a, lead, world.partner_x)
    client.force_login(world.rep_x.user)
    with CaptureQueriesContext(connection) as page_small:
        client.get(detail_url(lead), HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as home_small:
        client.get("/", HTTP_HOST=HOST_A)
    _offer_many(world, 30, 0)
    with CaptureQueriesContext(connection) as page_large:
        client.get(detail_url(lead), HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as home_large:
        assert "Watched Lead" in html_of(client.get("/", HTTP_HOST=HOST_A))

    assert len(page_large) == len(page_small)
    assert len(home_large) == len(home_small)


# --- The home panel -----------------------------------------------------------------------


def test_home_panel_lists_the_leads_waiting_with_the_nearest_due_first(english, world):
    for n, hours in enumerate([40, 3, 20, 30, 10, 45]):
        offer(
            world.tenant_a,
            new_lead(world.tenant_a, f"Panel Lead {n}"),
            world.partner_x,
            due_in=timedelta(hours=hours),
        )
    offer(world.tenant_a, new_lead(world.tenant_a, "Not Mine Ltd"), world.partner_y)
    english.force_login(world.rep_x.user)

    html = html_of(english.get("/", HTTP_HOST=HOST_A))

    panel = html[html.index('id="leads-panel"') :]
    shown = re.findall(r"Panel Lead (\d)", panel)
    assert shown == ["1", "4", "2", "3", "0"]  # 3 h, 10 h, 20 h, 30 h, 40 h; 45 h left out
    assert "6 leads wait for your answer." in panel
    assert "Not Mine Ltd" not in html
    assert f"{LIST}?state=waiting" in panel


def test_home_panel_says_when_nothing_waits_and_staff_do_not_get_it(english, world):
    english.force_login(world.rep_x.user)
    partner_home = html_of(english.get("/", HTTP_HOST=HOST_A))
    english.force_login(world.staff_a.user)
    staff_home = html_of(english.get("/", HTTP_HOST=HOST_A))

    assert "No lead is waiting for your answer." in partner_home
    assert 'id="leads-panel"' not in staff_home
