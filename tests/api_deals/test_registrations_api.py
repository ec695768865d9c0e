"""The staff review queue over the API: matches with their reasons, the four
decisions, extension requests, and who may do what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Account, DealRegistration, Decision, ExtensionRequest
from deals.normalize import normalize_company_name
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/registrations/"
EXTENSIONS = "/api/v1/extension-requests/"
Stage = DealRegistration.Stage
PARTNER_USERS = [Role.PARTNER_ADMIN, Role.PARTNER_REP]


def url(obj, action: str = "", base: str = QUEUE) -> str:
    return f"{base}{obj.pk}/{action + '/' if action else ''}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def conflict_pair(world, company="Kedai Runcit Sdn Bhd"):
    """The first registration (approved) and a second, conflicting one (in review)."""
    first = world.register("other_partner_admin", company=company)
    second = world.register(Role.PARTNER_REP, company=company.upper())
    assert second.stage == Stage.SUBMITTED
    return first, second


# --- the queue --------------------------------------------------------------------------


def test_the_queue_lists_submitted_registrations_oldest_first(alpha):
    _first, older = conflict_pair(alpha, "Alor Setar Trading Sdn Bhd")
    _other, newer = conflict_pair(alpha, "Bukit Jalil Foods Sdn Bhd")
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert ids(client.get(QUEUE)) == [older.pk, newer.pk]
    everything = ids(client.get(QUEUE, {"stage": "all"}))
    assert len(everything) == 4 and everything[:1] == [_first.pk]
    assert sorted(ids(client.get(QUEUE, {"stage": "approved"}))) == sorted([_first.pk, _other.pk])
    assert ids(client.get(QUEUE, {"partner": alpha.partner.pk})) == [older.pk, newer.pk]
    assert ids(client.get(QUEUE, {"search": "bukit"})) == [newer.pk]
    assert client.get(QUEUE, {"stage": "pending"}).status_code == 400


def test_each_registration_shows_every_match_with_reasons_and_the_other_partner(alpha):
    first = alpha.register("other_partner_admin", company="Kedai Runcit Sdn Bhd")
    with tenant_context(alpha.tenant):
        account = Account.objects.create(
            kind=Account.Kind.DIRECT,
            name="Kedai Runcit Berhad",
            normalized_name=normalize_company_name("Kedai Runcit Berhad"),
            owner="Direct sales MY",
        )
    second = alpha.register(Role.PARTNER_REP, company="KEDAI RUNCIT SDN BHD")
    row = alpha.client(Role.FINANCE).get(QUEUE).json()["results"][0]
    assert row["id"] == second.pk
    by_kind = {("deal" if m["other_deal"] else "account"): m for m in row["matches"]}
    deal_match = by_kind["deal"]
    assert deal_match["other_deal"]["reference"] == first.reference
    assert deal_match["other_deal"]["partner"] == {
        "id": alpha.other_partner.pk,
        "name": alpha.other_partner.name,
    }
    assert deal_match["confidence"] == "1.000"
    assert {r["code"] for r in deal_match["reasons"]} == {"same_name"}
    account_match = by_kind["account"]
    assert account_match["account"] == {
        "id": account.pk,
        "kind": "direct",
        "name": "Kedai Runcit Berhad",
        "domain": "",
        "owner": "Direct sales MY",
    }
    assert account_match["other_deal"] is None


CUSTOMERS = [
    "Anggerik Tech",
    "Bayu Marine",
    "Cempaka Dairy",
    "Delima Textiles",
    "Embun Pharma",
    "Fajar Printing",
    "Gemilang Steel",
    "Harimau Couriers",
]


def test_queue_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.CHANNEL_MANAGER)
    conflict_pair(alpha, CUSTOMERS[0])
    everything = {"stage": "all"}  # with the approved ones and their decisions
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(QUEUE, everything))) == 2
    # Read now: the log is reset by the next request.
    baseline = len(few.captured_queries)
    for name in CUSTOMERS[1:]:
        conflict_pair(alpha, name)
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(QUEUE, everything))) == 16


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_partner_users_cannot_open_the_queue(alpha, role):
    _first, second = conflict_pair(alpha)
    client = alpha.client(role)
    for path in (QUEUE, url(second), EXTENSIONS):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json()["code"] == "permission_denied"
    assert client.post(url(second, "approve"), {"reason": "mine"}).status_code == 403
    with tenant_context(alpha.tenant):
        second.refresh_from_db()
        assert second.stage == Stage.SUBMITTED


# --- decisions ----------------------------------------------------------------------------


def test_approve_protects_the_deal_and_records_the_decision(alpha):
    _first, second = conflict_pair(alpha)
    response = alpha.client(Role.CHANNEL_MANAGER).post(
        url(second, "approve"), {"reason": "Different branch of the customer."}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "approved"
    assert body["policy"]
    assert body["decided_by"] == str(alpha.members[Role.CHANNEL_MANAGER].user)
    assert len(body["matches_considered"]) == 1
    assert body["matches_considered"][0]["deal"] == _first.pk
    assert body["registration"]["stage"] == Stage.APPROVED
    assert body["registration"]["protected_until"]
    with tenant_context(alpha.tenant):
        assert AuditEvent.objects.filter(action="deal.approved", object_id=str(second.pk))


def test_reject_needs_a_reason_and_the_partner_reads_it(alpha):
    _first, second = conflict_pair(alpha)
    client = alpha.client(Role.TENANT_ADMIN)
    assert client.post(url(second, "reject"), {}).json() == {"reason": ["This field is required."]}
    response = client.post(url(second, "reject"), {"reason": "Already registered by another."})
    assert response.status_code == 201
    assert response.json()["registration"]["stage"] == Stage.REJECTED
    partner_view = alpha.client(Role.PARTNER_REP).get(f"/api/v1/deals/{second.pk}/").json()
    assert partner_view["decisions"][0]["reason"] == "Already registered by another."
    assert partner_view["decisions"][0]["matches_considered_count"] == 1


def test_award_first_rejects_the_later_registration(alpha):
    _first, second = conflict_pair(alpha)
    response = alpha.client(Role.CHANNEL_MANAGER).post(
        url(second, "award-first"), {"reason": "First to register wins."}
    )
    assert response.status_code == 201
    assert response.json()["outcome"] == "awarded_first"
    assert response.json()["registration"]["stage"] == Stage.REJECTED


def test_co_sell_defaults_to_the_programs_partner_share(alpha):
    alpha.set_program(partner_sourced_partner_share=Decimal("70.00"))
    _first, second = conflict_pair(alpha)
    response = alpha.client(Role.CHANNEL_MANAGER).post(
        url(second, "co-sell"), {"reason": "Both bring value."}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["partner_share"] == "70.00"
    assert body["registration"]["partner_share"] == "70.00"
    assert body["registration"]["stage"] == Stage.APPROVED


def test_co_sell_with_an_explicit_share_is_exact(alpha):
    _first, second = conflict_pair(alpha)
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(url(second, "co-sell"), {"reason": "x", "partner_share": "100.01"}).json()[
        "partner_share"
    ]
    response = client.post(url(second, "co-sell"), {"reason": "Split", "partner_share": "33.35"})
    assert response.status_code == 201
    with tenant_context(alpha.tenant):
        second.refresh_from_db()
        assert second.partner_share == Decimal("33.35")


def test_a_decided_registration_cannot_be_decided_again(alpha):
    _first, second = conflict_pair(alpha)
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(url(second, "approve"), {"reason": "ok"}).status_code == 201
    again = client.post(url(second, "reject"), {"reason": "changed my mind"})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    with tenant_context(alpha.tenant):
        assert Decision.objects.filter(deal=second).count() == 1


def test_finance_reads_the_queue_but_cannot_decide(alpha):
    _first, second = conflict_pair(alpha)
    client = alpha.client(Role.FINANCE)
    assert client.get(url(second)).status_code == 200
    for action in ("approve", "reject", "award-first", "co-sell"):
        response = client.post(url(second, action), {"reason": "x"})
        assert response.status_code == 403, action


def test_api_keys_decide_with_their_role(alpha):
    _first, second = conflict_pair(alpha)
    refused = alpha.api_key_client(Role.FINANCE).post(url(second, "approve"), {"reason": "x"})
    assert refused.status_code == 403
    response = alpha.api_key_client(Role.CHANNEL_MANAGER).post(
        url(second, "approve"), {"reason": "Approved by the CRM sync."}
    )
    assert response.status_code == 201
    assert response.json()["decided_by"] is None


def test_another_tenants_registration_is_404(alpha, bravo):
    _first, theirs = conflict_pair(bravo)
    for client in (alpha.client(Role.CHANNEL_MANAGER), alpha.api_key_client()):
        assert client.get(url(theirs)).status_code == 404
        for action in ("approve", "reject", "award-first", "co-sell"):
            response = client.post(url(theirs, action), {"reason": "x"})
            assert response.status_code == 404, action
        assert ids(client.get(QUEUE, {"stage": "all"})) == []
    with tenant_context(bravo.tenant):
        theirs.refresh_from_db()
        assert theirs.stage == Stage.SUBMITTED


# --- extension requests ----------------------------------------------------------------------


def extension_request(world, days=30):
    deal = world.register()
    response = world.client(Role.PARTNER_REP).post(
        f"/api/v1/deals/{deal.pk}/request-extension/",
        {"days": days, "reason": "Procurement is slow."},
    )
    assert response.status_code == 201, response.content
    with tenant_context(world.tenant):
        return ExtensionRequest.objects.select_related("deal").get(pk=response.json()["id"])


def test_staff_list_pending_extension_requests_oldest_first(alpha):
    first = extension_request(alpha)
    second = extension_request(alpha)
    client = alpha.client(Role.FINANCE)
    assert ids(client.get(EXTENSIONS)) == [first.pk, second.pk]
    row = client.get(EXTENSIONS).json()["results"][0]
    assert row["deal"]["reference"] == first.deal.reference
    assert row["deal"]["partner"]["id"] == alpha.partner.pk
    assert row["requested_by"] == str(alpha.members[Role.PARTNER_REP].user)
    alpha.client(Role.CHANNEL_MANAGER).post(url(first, "deny", EXTENSIONS), {"reason": "No"})
    assert ids(client.get(EXTENSIONS)) == [second.pk]
    assert ids(client.get(EXTENSIONS, {"status": "denied"})) == [first.pk]
    assert ids(client.get(EXTENSIONS, {"status": "all"})) == [first.pk, second.pk]


def test_approving_an_extension_moves_the_window(alpha):
    request = extension_request(alpha, days=30)
    before = request.deal.protected_until
    response = alpha.client(Role.CHANNEL_MANAGER).post(url(request, "approve", EXTENSIONS))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved"
    assert body["deal"]["protected_until"] == str(before + timedelta(days=30))
    again = alpha.client(Role.CHANNEL_MANAGER).post(url(request, "approve", EXTENSIONS))
    assert again.status_code == 409


def test_denying_needs_a_reason(alpha):
    request = extension_request(alpha)
    client = alpha.client(Role.TENANT_ADMIN)
    assert client.post(url(request, "deny", EXTENSIONS), {}).status_code == 400
    response = client.post(url(request, "deny", EXTENSIONS), {"reason": "Window is long enough"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decision_reason"]) == (
        "denied",
        "Window is long enough",
    )


def test_extension_decisions_need_a_channel_manager(alpha):
    request = extension_request(alpha)
    assert alpha.client(Role.FINANCE).post(url(request, "approve", EXTENSIONS)).status_code == 403
    assert (
        alpha.client(Role.PARTNER_ADMIN).post(url(request, "approve", EXTENSIONS)).status_code
        == 403
    )
    key = alpha.api_key_client(Role.CHANNEL_MANAGER)
    assert key.post(url(request, "approve", EXTENSIONS)).status_code == 200


def test_another_tenants_extension_request_is_404(alpha, bravo):
    theirs = extension_request(bravo)
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.get(url(theirs, base=EXTENSIONS)).status_code == 404
    assert client.post(url(theirs, "approve", EXTENSIONS)).status_code == 404
    assert client.post(url(theirs, "deny", EXTENSIONS), {"reason": "x"}).status_code == 404
    assert ids(client.get(EXTENSIONS, {"status": "all"})) == []


def test_extension_list_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.CHANNEL_MANAGER)
    extension_request(alpha)
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(EXTENSIONS))) == 1
    # Read now: the log is reset by the next request.
    baseline = len(few.captured_queries)
    for _ in range(6):
        extension_request(alpha)
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(EXTENSIONS))) == 7
