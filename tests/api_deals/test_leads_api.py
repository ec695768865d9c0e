"""Leads over the API: staff bring them in (one, or many all-or-nothing), follow
and steer their routing; partner users see only their own offers and answer them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import DealRegistration, Lead, LeadAssignment
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
Status = Lead.Status
PARTNER_USERS = [Role.PARTNER_ADMIN, Role.PARTNER_REP]
STAFF = [Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE]


def url(lead, action: str = "") -> str:
    return f"{LEADS}{lead.pk}/{action + '/' if action else ''}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def new_lead(**overrides) -> dict:
    data = {
        "company": "Shenzhen Bright Retail Co., Ltd.",
        "contact_name": "Li Na",
        "contact_email": "lina@bright-retail.cn",
        "country": "cn",
        "industry": "retail",
        "company_size": "small",
        "estimated_amount": "88000.10",
        "currency": "CNY",
        "source": "Website form",
    }
    data.update(overrides)
    return data


def lead_count(world) -> int:
    with tenant_context(world.tenant):
        return Lead.objects.count()


# --- bringing leads in -----------------------------------------------------------------


def test_channel_manager_brings_in_one_lead(alpha):
    response = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, new_lead(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reference"].startswith("LD-")
    assert (body["status"], body["partner"], body["country"]) == ("new", None, "CN")
    assert body["estimated_amount"] == "88000.10"
    assert body["created_by"] == str(alpha.members[Role.CHANNEL_MANAGER].user)
    with tenant_context(alpha.tenant):
        lead = Lead.objects.get(pk=body["id"])
        assert lead.estimated_amount == Decimal("88000.10")
        assert AuditEvent.objects.filter(action="lead.created", object_id=str(lead.pk))


def test_an_api_key_brings_in_leads_for_the_tenant(alpha):
    response = alpha.api_key_client(Role.CHANNEL_MANAGER).post(
        LEADS, new_lead(external_id="HUBSPOT-1"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["created_by"] is None
    assert response.json()["external_id"] == "HUBSPOT-1"
    refused = alpha.api_key_client(Role.FINANCE).post(LEADS, new_lead(), format="json")
    assert refused.status_code == 403


@pytest.mark.parametrize("role", [Role.FINANCE, *PARTNER_USERS])
def test_roles_without_lead_management_cannot_bring_leads_in(alpha, role):
    assert alpha.client(role).post(LEADS, new_lead(), format="json").status_code == 403
    assert lead_count(alpha) == 0


def test_one_lead_errors_are_per_field(alpha):
    response = alpha.client(Role.CHANNEL_MANAGER).post(
        LEADS,
        new_lead(company="", country="China", contact_email="x", currency="", website="a b"),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"company", "country", "contact_email", "website"}
    no_currency = alpha.client(Role.CHANNEL_MANAGER).post(
        LEADS, new_lead(currency=""), format="json"
    )
    assert no_currency.json() == {"currency": ["Give the amount's currency."]}


def test_a_duplicate_external_id_is_a_409_naming_the_field(alpha):
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(LEADS, new_lead(external_id="SF-7"), format="json").status_code == 201
    response = client.post(LEADS, new_lead(external_id="SF-7"), format="json")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["field"]) == ("conflict", "external_id")


def test_a_list_of_leads_is_created_in_one_request(alpha):
    batch = [
        new_lead(company="Alpha One Ltd", external_id="B-1"),
        new_lead(company="Alpha Two Ltd", country="MY", estimated_amount=None, currency=""),
    ]
    response = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, batch, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [row["company"] for row in body] == ["Alpha One Ltd", "Alpha Two Ltd"]
    assert body[1]["estimated_amount"] is None and body[1]["currency"] == ""
    assert lead_count(alpha) == 2


def test_a_list_with_invalid_items_creates_nothing_and_names_each_error(alpha):
    batch = [
        new_lead(company="Fine Ltd"),
        new_lead(country=""),
        new_lead(company="Also Fine Ltd"),
        new_lead(contact_email="nope", estimated_amount="-5"),
    ]
    response = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, batch, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"1", "3"}
    assert set(errors["1"]) == {"country"}
    assert set(errors["3"]) == {"contact_email", "estimated_amount"}
    assert lead_count(alpha) == 0


def test_a_list_with_a_duplicate_external_id_creates_nothing(alpha):
    client = alpha.client(Role.CHANNEL_MANAGER)
    client.post(LEADS, new_lead(external_id="EXISTING"), format="json")
    batch = [
        new_lead(external_id="NEW-1"),
        new_lead(external_id="NEW-1"),
        new_lead(external_id="EXISTING"),
    ]
    response = client.post(LEADS, batch, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"1", "2"}
    assert list(errors["1"]) == ["external_id"]
    assert lead_count(alpha) == 1
    with tenant_context(alpha.tenant):
        assert AuditEvent.objects.filter(action="lead.created").count() == 1


def test_an_empty_or_oversized_list_is_refused(alpha):
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(LEADS, [], format="json").status_code == 400
    too_many = [new_lead(company=f"Lead {n} Ltd") for n in range(201)]
    assert client.post(LEADS, too_many, format="json").status_code == 400
    assert lead_count(alpha) == 0


# --- staff reading ---------------------------------------------------------------------------


def test_staff_see_every_lead_and_filter_them(alpha):
    mine = alpha.offer_lead(alpha.partner, industry="retail")
    theirs = alpha.offer_lead(alpha.other_partner, external_id="X-9")
    created = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, new_lead(), format="json").json()
    for role in STAFF:
        assert sorted(ids(alpha.client(role).get(LEADS))) == sorted(
            [mine.pk, theirs.pk, created["id"]]
        )
    client = alpha.api_key_client(Role.FINANCE)
    assert ids(client.get(LEADS, {"status": "new"})) == [created["id"]]
    assert ids(client.get(LEADS, {"partner": alpha.other_partner.pk})) == [theirs.pk]
    assert ids(client.get(LEADS, {"country": "my"})) == [theirs.pk]
    assert ids(client.get(LEADS, {"external_id": "X-9"})) == [theirs.pk]
    assert ids(client.get(LEADS, {"search": mine.reference})) == [mine.pk]
    assert ids(client.get(LEADS, {"search": "X-9"})) == [theirs.pk]
    row = client.get(f"{LEADS}{mine.pk}/").json()
    assert row["partner"] == {"id": alpha.partner.pk, "name": alpha.partner.name}
    assert row["contact_email"] == mine.contact_email


def test_staff_read_a_leads_routing_decisions_with_their_trace(alpha):
    lead = alpha.offer_lead()
    rows = alpha.client(Role.FINANCE).get(url(lead, "assignments")).json()
    assert len(rows) == 1
    assert rows[0]["partner"]["id"] == alpha.partner.pk
    assert rows[0]["trace"]["chosen"] == alpha.partner.pk
    assert (rows[0]["outcome"], rows[0]["via"], rows[0]["score"]) == (
        "pending",
        "arrival",
        "0.5000",
    )


def test_staff_list_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.CHANNEL_MANAGER)
    alpha.offer_lead()
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(LEADS))) == 1
    baseline = len(few.captured_queries)
    for n in range(12):
        alpha.offer_lead(alpha.partner if n % 2 else alpha.other_partner)
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(LEADS))) == 13


# --- partner users reading ---------------------------------------------------------------------


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_partner_users_see_only_leads_offered_to_their_organisation(alpha, role):
    mine = alpha.offer_lead(alpha.partner)
    alpha.offer_lead(alpha.other_partner)
    alpha.client(Role.CHANNEL_MANAGER).post(LEADS, new_lead(), format="json")
    rows = alpha.client(role).get(LEADS).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    row = rows[0]
    assert row["state"] == "waiting"
    assert row["contact_email"] == mine.contact_email
    assert row["phone"] == mine.phone
    for hidden in ("trace", "partner", "status", "external_id", "created_by", "assignments"):
        assert hidden not in row


def test_staff_filters_do_not_work_for_partner_users(alpha):
    mine = alpha.offer_lead(alpha.partner)
    client = alpha.client(Role.PARTNER_REP)
    # Ignored, so a partner cannot probe what happened to a lead elsewhere.
    assert ids(client.get(LEADS, {"status": "new"})) == [mine.pk]
    assert ids(client.get(LEADS, {"partner": alpha.other_partner.pk})) == [mine.pk]
    assert ids(client.get(LEADS, {"state": "waiting"})) == [mine.pk]
    assert ids(client.get(LEADS, {"state": "declined"})) == []
    assert client.get(LEADS, {"state": "lost"}).status_code == 400


def test_a_declined_lead_keeps_the_partners_reason_and_hides_the_rest(alpha):
    lead = alpha.offer_lead()
    client = alpha.client(Role.PARTNER_REP)
    response = client.post(url(lead, "reject"), {"reason": "Outside our region."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "declined"
    assert body["declined_reason"] == "Outside our region."
    assert body["answered_at"]
    for hidden in ("contact_name", "contact_email", "phone", "website", "notes"):
        assert body[hidden] is None, hidden
    # Re-offered to the other partner: still nothing about it here.
    with tenant_context(alpha.tenant):
        Lead.objects.filter(pk=lead.pk).update(
            status=Status.OFFERED, partner=alpha.other_partner, due_at=lead.due_at
        )
    again = client.get(url(lead)).json()
    assert again["state"] == "declined" and again["contact_email"] is None
    assert alpha.other_partner.name not in str(again)


def test_partner_list_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.PARTNER_ADMIN)
    alpha.offer_lead()
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(LEADS))) == 1
    baseline = len(few.captured_queries)
    for _ in range(10):
        alpha.offer_lead()
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(LEADS))) == 11


# --- answering ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_partner_user_accepts_then_converts_a_lead_into_a_deal(alpha, role):
    lead = alpha.offer_lead(estimated_amount=Decimal("5000.55"), currency="CNY")
    client = alpha.client(role)
    accepted = client.post(url(lead, "accept"))
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "accepted"
    converted = client.post(url(lead, "convert"), {}, format="json")
    assert converted.status_code == 201, converted.content
    deal = converted.json()
    assert deal["customer_company"] == lead.company
    assert deal["estimated_amount"] == "5000.55"
    assert deal["partner"]["id"] == alpha.partner.pk
    assert deal["stage"] == DealRegistration.Stage.APPROVED
    after = client.get(url(lead)).json()
    assert after["state"] == "converted"
    assert after["deal"] == {"id": deal["id"], "reference": deal["reference"]}
    assert client.post(url(lead, "convert")).status_code == 409


def test_convert_takes_an_estimated_close_date(alpha):
    lead = alpha.offer_lead(status=Status.ACCEPTED)
    response = alpha.client(Role.PARTNER_REP).post(
        url(lead, "convert"), {"estimated_close_date": "2099-01-31"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["estimated_close_date"] == "2099-01-31"


def test_converting_before_accepting_is_a_409(alpha):
    lead = alpha.offer_lead()
    response = alpha.client(Role.PARTNER_REP).post(url(lead, "convert"))
    assert response.status_code == 409
    with tenant_context(alpha.tenant):
        assert not DealRegistration.objects.exists()


def test_rejecting_needs_a_reason_and_answering_twice_is_refused(alpha):
    lead = alpha.offer_lead()
    client = alpha.client(Role.PARTNER_ADMIN)
    assert client.post(url(lead, "reject"), {}).json() == {"reason": ["This field is required."]}
    assert client.post(url(lead, "accept")).status_code == 200
    assert client.post(url(lead, "accept")).status_code == 409
    assert client.post(url(lead, "reject"), {"reason": "changed"}).status_code == 409


@pytest.mark.parametrize("role", STAFF)
def test_staff_cannot_answer_for_a_partner(alpha, role):
    lead = alpha.offer_lead()
    client = alpha.client(role)
    for action, data in (("accept", {}), ("reject", {"reason": "x"}), ("convert", {})):
        response = client.post(url(lead, action), data)
        assert response.status_code == 403, action
        assert response.json()["code"] == "partner_user_only"


def test_an_api_key_is_refused_with_a_clear_error_when_answering(alpha):
    lead = alpha.offer_lead()
    client = alpha.api_key_client(Role.TENANT_ADMIN)
    for action, data in (("accept", {}), ("reject", {"reason": "x"}), ("convert", {})):
        response = client.post(url(lead, action), data)
        assert response.status_code == 403, action
        assert response.json()["code"] == "partner_user_only"
        assert "API key" in response.json()["detail"]
    with tenant_context(alpha.tenant):
        assert Lead.objects.get(pk=lead.pk).status == Status.OFFERED


# --- steering ----------------------------------------------------------------------------------


def test_staff_withdraw_a_lead_with_its_pending_offer(alpha):
    lead = alpha.offer_lead()
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(url(lead, "withdraw"), {}).json() == {"reason": ["This field is required."]}
    response = client.post(url(lead, "withdraw"), {"reason": "Customer went direct."})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    with tenant_context(alpha.tenant):
        assert LeadAssignment.objects.get(lead=lead).outcome == LeadAssignment.Outcome.WITHDRAWN
    assert client.post(url(lead, "withdraw"), {"reason": "again"}).status_code == 409
    partner_view = alpha.client(Role.PARTNER_REP).get(url(lead)).json()
    assert partner_view["state"] == "withdrawn" and partner_view["contact_email"] is None


def test_route_now_offers_a_new_lead_to_the_partner_covering_its_country(alpha):
    created = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, new_lead(country="MY"), format="json")
    lead_id = created.json()["id"]
    response = alpha.client(Role.TENANT_ADMIN).post(f"{LEADS}{lead_id}/route-now/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["offered"] == 1
    assert body["lead"]["status"] == "offered"
    assert body["lead"]["partner"]["id"] == alpha.other_partner.pk  # the Malaysian partner
    trail = alpha.client(Role.CHANNEL_MANAGER).get(f"{LEADS}{lead_id}/assignments/").json()
    assert [(row["via"], row["outcome"]) for row in trail] == [("manual", "pending")]
    assert trail[0]["trace"]
    again = alpha.client(Role.TENANT_ADMIN).post(f"{LEADS}{lead_id}/route-now/")
    assert again.status_code == 409


@pytest.mark.parametrize("role", [Role.FINANCE, *PARTNER_USERS])
def test_withdraw_route_and_trace_need_a_lead_manager(alpha, role):
    lead = alpha.offer_lead()
    client = alpha.client(role)
    assert client.post(url(lead, "withdraw"), {"reason": "x"}).status_code == 403
    assert client.post(url(lead, "route-now")).status_code == 403
    if role != Role.FINANCE:
        assert client.get(url(lead, "assignments")).status_code == 403


# --- isolation ------------------------------------------------------------------------------------


def lead_urls(lead) -> list[tuple[str, str, dict]]:
    return [
        ("get", url(lead), {}),
        ("get", url(lead, "assignments"), {}),
        ("post", url(lead, "accept"), {}),
        ("post", url(lead, "reject"), {"reason": "x"}),
        ("post", url(lead, "convert"), {}),
        ("post", url(lead, "withdraw"), {"reason": "x"}),
        ("post", url(lead, "route-now"), {}),
    ]


def assert_all_404(client, urls):
    for method, path, data in urls:
        response = getattr(client, method)(path, data, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_a_lead_offered_to_another_partner_is_404(alpha, role):
    theirs = alpha.offer_lead(alpha.other_partner)
    never_offered = alpha.client(Role.CHANNEL_MANAGER).post(LEADS, new_lead(), format="json")
    assert_all_404(alpha.client(role), lead_urls(theirs))
    with tenant_context(alpha.tenant):
        unrouted = Lead.objects.get(pk=never_offered.json()["id"])
    assert_all_404(alpha.client(role), lead_urls(unrouted))
    with tenant_context(alpha.tenant):
        assert Lead.objects.get(pk=theirs.pk).status == Status.OFFERED


@pytest.mark.parametrize("role", [*PARTNER_USERS, *STAFF])
def test_another_tenants_lead_is_404_on_this_tenants_host(alpha, bravo, role):
    theirs = bravo.offer_lead()
    assert_all_404(alpha.client(role), lead_urls(theirs))
    assert ids(alpha.client(role).get(LEADS)) == []


def test_another_tenants_lead_is_404_for_an_api_key(alpha, bravo):
    theirs = bravo.offer_lead()
    assert_all_404(alpha.api_key_client(Role.TENANT_ADMIN), lead_urls(theirs))
