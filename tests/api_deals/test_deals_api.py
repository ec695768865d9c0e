"""Deal registrations over the API: scope, filters, registering, claim checks,
the deal's actions, money as exact decimal strings, and query counts."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import Account, DealComment, DealRegistration, Decision, ExtensionRequest
from deals.services import LineInput
from prm.accounts.roles import Role
from prm.accounts.services import create_user_token
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.api.conftest import client_on

pytestmark = pytest.mark.django_db

DEALS = "/api/v1/deals/"
Stage = DealRegistration.Stage
STAFF = [Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE]
PARTNER_USERS = [Role.PARTNER_ADMIN, Role.PARTNER_REP]


def url(deal, action: str = "") -> str:
    return f"{DEALS}{deal.pk}/{action + '/' if action else ''}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def submission(world, **overrides) -> dict:
    data = {
        "customer_company": "Nusantara Retail Sdn Bhd",
        "contact_name": "Nur Aisyah",
        "contact_email": "aisyah@nusantara-retail.com.my",
        "estimated_close_date": (timezone.localdate() + timedelta(days=45)).isoformat(),
        "website": "https://www.nusantara-retail.com.my",
        "country": "my",
        "region": "Selangor",
        "industry": "retail",
        "company_size": "medium",
        "deal_type": "new",
        "estimated_amount": "120000.50",
        "currency": "MYR",
        "notes": "Pilot in two stores first.",
        "lines": [
            {"product": world.licence.pk, "quantity": 40, "amount": "96000.25"},
            {"product": world.support.pk, "amount": "24000.25"},
        ],
    }
    data.update(overrides)
    return data


# --- reading -----------------------------------------------------------------------


def test_partner_users_see_their_organisations_deals_and_staff_see_all(alpha):
    mine = alpha.register(Role.PARTNER_REP)
    colleague = alpha.register(Role.PARTNER_ADMIN)
    theirs = alpha.register("other_partner_admin")
    for role in PARTNER_USERS:
        assert sorted(ids(alpha.client(role).get(DEALS))) == sorted([mine.pk, colleague.pk])
    for role in STAFF:
        assert sorted(ids(alpha.client(role).get(DEALS))) == sorted(
            [mine.pk, colleague.pk, theirs.pk]
        )
    assert sorted(ids(alpha.api_key_client(Role.FINANCE).get(DEALS))) == sorted(
        [mine.pk, colleague.pk, theirs.pk]
    )


def test_list_shape_has_money_as_exact_strings_and_no_match_details(alpha):
    alpha.register(
        estimated_amount=Decimal("1234567.89"),
        currency="CNY",
        lines=[_line(alpha.licence, 3, "1234567.89")],
    )
    row = alpha.client(Role.PARTNER_REP).get(DEALS).json()["results"][0]
    assert row["estimated_amount"] == "1234567.89"
    assert row["currency"] == "CNY"
    assert row["partner"] == {"id": alpha.partner.pk, "name": alpha.partner.name}
    assert row["lines"][0]["amount"] == "1234567.89"
    assert row["lines"][0]["product"]["sku"] == alpha.licence.sku
    assert row["stage"] == Stage.APPROVED
    assert row["partner_share"] == "100.00"
    assert "matches" not in row


def _line(product, quantity, amount):
    return LineInput(product=product, quantity=quantity, amount=Decimal(amount))


def test_staff_filter_by_stage_partner_product_conflict_and_search(alpha):
    first = alpha.register(Role.PARTNER_REP, company="Acme Holdings Sdn Bhd")
    conflict = alpha.register("other_partner_admin", company="ACME HOLDINGS SDN. BHD.")
    with_line = alpha.register(lines=[_line(alpha.support, 1, "10.00")])
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert ids(client.get(DEALS, {"stage": "submitted"})) == [conflict.pk]
    assert sorted(ids(client.get(DEALS, {"stage": ["submitted", "approved"]}))) == sorted(
        [first.pk, conflict.pk, with_line.pk]
    )
    assert ids(client.get(DEALS, {"partner": alpha.other_partner.pk})) == [conflict.pk]
    assert ids(client.get(DEALS, {"product": alpha.support.pk})) == [with_line.pk]
    assert ids(client.get(DEALS, {"is_conflict": "true"})) == [conflict.pk]
    assert sorted(ids(client.get(DEALS, {"search": "acme"}))) == sorted([first.pk, conflict.pk])
    assert ids(client.get(DEALS, {"search": with_line.reference})) == [with_line.pk]
    assert client.get(DEALS, {"stage": "won"}).status_code == 400
    assert client.get(DEALS, {"partner": "1.5"}).status_code == 400


def test_expiry_filter_keeps_protected_deals_ending_within_the_days(alpha):
    soon = alpha.register()
    later = alpha.register()
    lapsed = alpha.register()
    today = timezone.localdate()
    with tenant_context(alpha.tenant):
        DealRegistration.objects.filter(pk=soon.pk).update(protected_until=today + timedelta(5))
        DealRegistration.objects.filter(pk=later.pk).update(protected_until=today + timedelta(50))
        DealRegistration.objects.filter(pk=lapsed.pk).update(
            protected_until=today + timedelta(3), stage=Stage.EXPIRED
        )
    client = alpha.client(Role.PARTNER_ADMIN)
    assert ids(client.get(DEALS, {"expiring_within_days": 7})) == [soon.pk]
    assert sorted(ids(client.get(DEALS, {"expiring_within_days": 60}))) == sorted(
        [soon.pk, later.pk]
    )
    assert client.get(DEALS, {"expiring_within_days": -1}).status_code == 400


def test_filters_never_widen_a_partner_users_scope(alpha):
    alpha.register("other_partner_admin", company="Hidden Customer Bhd")
    client = alpha.client(Role.PARTNER_REP)
    assert ids(client.get(DEALS, {"partner": alpha.other_partner.pk})) == []
    assert ids(client.get(DEALS, {"search": "Hidden"})) == []


def test_ordering_and_pagination(alpha):
    deals = [alpha.register(estimated_amount=Decimal(amount)) for amount in ("30", "10", "20")]
    client = alpha.client(Role.PARTNER_REP)
    assert ids(client.get(DEALS)) == [d.pk for d in reversed(deals)]  # newest first
    assert ids(client.get(DEALS, {"ordering": "estimated_amount"})) == [
        deals[1].pk,
        deals[2].pk,
        deals[0].pk,
    ]
    page = client.get(DEALS, {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


def test_detail_has_timeline_decisions_comments_and_only_a_count_of_matches(alpha):
    first = alpha.register("other_partner_admin", company="Sunway Logistics Bhd")
    deal = alpha.register(company="Sunway Logistics Berhad")
    alpha.decide(deal, Decision.Outcome.REJECTED, "The other partner registered first.")
    with tenant_context(alpha.tenant):
        DealComment.objects.create(
            deal=deal, author=alpha.members[Role.CHANNEL_MANAGER].user, body="Sorry."
        )
    body = alpha.client(Role.PARTNER_REP).get(url(deal)).json()
    assert body["stage"] == Stage.REJECTED
    assert body["match_count"] == 1
    assert [e["kind"] for e in body["timeline"]] == ["submitted", "conflict_found", "decided"]
    decided = body["timeline"][-1]
    assert (decided["from_stage"], decided["to_stage"], decided["outcome"]) == (
        "submitted",
        "rejected",
        "rejected",
    )
    assert decided["actor"] == str(alpha.members[Role.CHANNEL_MANAGER].user)
    assert body["timeline"][1]["actor"] is None  # automatic
    [decision] = body["decisions"]
    assert decision["outcome"] == "rejected"
    assert decision["reason"] == "The other partner registered first."
    assert decision["matches_considered_count"] == 1
    # Never who the match was, nor what it was worth.
    assert "matches_considered" not in decision
    text = str(body)
    assert first.reference not in text and alpha.other_partner.name not in text
    assert body["comments"][0]["body"] == "Sorry."
    assert body["extension_requests"] == []


def test_detail_query_count_does_not_grow_with_its_timeline(alpha, django_assert_max_num_queries):
    deal = alpha.register()
    client = alpha.client(Role.PARTNER_REP)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(deal)).status_code == 200
    # Read now: the log is reset by the next request.
    baseline = len(few.captured_queries)
    manager = alpha.members[Role.CHANNEL_MANAGER]
    with tenant_context(alpha.tenant):
        for n in range(10):
            DealComment.objects.create(deal=deal, author=manager.user, body=f"note {n}")
            Decision.objects.create(
                deal=deal,
                outcome=Decision.Outcome.APPROVED,
                policy="p",
                reason=f"r{n}",
                decided_by=manager.user,
            )
    with django_assert_max_num_queries(baseline):
        body = client.get(url(deal)).json()
    assert len(body["comments"]) == 10 and len(body["decisions"]) == 11


@pytest.mark.parametrize("who", [Role.PARTNER_REP, Role.CHANNEL_MANAGER])
def test_list_query_count_does_not_grow_with_deals(alpha, who, django_assert_max_num_queries):
    def add(count):
        for _ in range(count):
            alpha.register(
                lines=[_line(alpha.licence, 2, "10.00"), _line(alpha.support, 1, "5.00")]
            )

    client = alpha.client(who)
    add(2)
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(DEALS))) == 2
    # Read now: the log is reset by the next request.
    baseline = len(few.captured_queries)
    add(18)
    with django_assert_max_num_queries(baseline):
        assert len(ids(client.get(DEALS))) == 20


# --- registering ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", PARTNER_USERS)
def test_partner_user_registers_a_deal_with_lines_and_it_is_approved(alpha, who):
    response = alpha.client(who).post(DEALS, submission(alpha), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["stage"] == Stage.APPROVED
    assert body["protected_until"] == str(timezone.localdate() + timedelta(days=90))
    assert body["country"] == "MY"
    assert body["estimated_amount"] == "120000.50"
    assert [(line["quantity"], line["amount"]) for line in body["lines"]] == [
        (40, "96000.25"),
        (1, "24000.25"),
    ]
    assert body["registered_by"] == str(alpha.members[who].user)
    with tenant_context(alpha.tenant):
        deal = DealRegistration.objects.get(pk=body["id"])
        assert deal.partner == alpha.partner
        assert deal.estimated_amount == Decimal("120000.50")
        assert sum(line.amount for line in deal.lines.all()) == Decimal("120000.50")
        assert AuditEvent.objects.filter(action="deal.registered", object_id=str(deal.pk))


def test_currency_defaults_to_the_partners_and_lines_are_optional(alpha):
    data = submission(alpha)
    for name in ("currency", "lines", "estimated_amount", "website", "country"):
        data.pop(name)
    response = alpha.client(Role.PARTNER_REP).post(DEALS, data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "CNY"
    assert response.json()["lines"] == []
    assert response.json()["estimated_amount"] is None


def test_a_conflicting_registration_goes_to_review(alpha):
    alpha.register("other_partner_admin", company="Nusantara Retail Bhd")
    response = alpha.client(Role.PARTNER_REP).post(DEALS, submission(alpha), format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["stage"], body["is_conflict"], body["match_count"]) == ("submitted", True, 1)
    assert body["protected_until"] is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer_company": ""}, "customer_company"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"estimated_close_date": "23/11/2026"}, "estimated_close_date"),
        ({"website": "no spaces allowed.com x"}, "website"),
        ({"country": "Malaysia"}, "country"),
        ({"company_size": "huge"}, "company_size"),
        ({"deal_type": "gift"}, "deal_type"),
        ({"estimated_amount": "-1.00"}, "estimated_amount"),
        ({"estimated_amount": "12.345"}, "estimated_amount"),
        ({"currency": "XXX"}, "currency"),
    ],
)
def test_invalid_fields_are_reported_per_field(alpha, overrides, field):
    response = alpha.client(Role.PARTNER_REP).post(
        DEALS, submission(alpha, **overrides), format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    with tenant_context(alpha.tenant):
        assert not DealRegistration.objects.exists()


def test_line_errors_name_the_line_and_the_field(alpha, bravo):
    lines = [
        {"product": alpha.licence.pk, "amount": "1.00"},
        {"product": alpha.retired.pk, "amount": "1.00"},
        {"product": bravo.licence.pk, "amount": "1.00"},
        {"product": alpha.support.pk, "quantity": 0},
    ]
    response = alpha.client(Role.PARTNER_REP).post(
        DEALS, submission(alpha, lines=lines), format="json"
    )
    assert response.status_code == 400
    # DRF reports the lines in error by their index in the list.
    errors = response.json()["lines"]
    assert set(errors) == {"1", "2", "3"}
    assert set(errors["1"]) == {"product"}  # inactive
    assert set(errors["2"]) == {"product"}  # another tenant's: does not exist here
    assert set(errors["3"]) == {"quantity", "amount"}


def test_at_most_five_lines(alpha):
    lines = [{"product": alpha.licence.pk, "amount": "1.00"}] * 6
    response = alpha.client(Role.PARTNER_REP).post(
        DEALS, submission(alpha, lines=lines), format="json"
    )
    assert response.status_code == 400 and "lines" in response.json()


def test_a_close_date_in_the_past_is_a_field_error_from_the_service(alpha):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = alpha.client(Role.PARTNER_REP).post(
        DEALS, submission(alpha, estimated_close_date=yesterday), format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "estimated_close_date"


@pytest.mark.parametrize("role", STAFF)
def test_staff_cannot_register_deals(alpha, role):
    response = alpha.client(role).post(DEALS, submission(alpha), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "partner_user_only"


def test_an_api_key_is_refused_with_a_clear_error_when_registering(alpha):
    response = alpha.api_key_client(Role.TENANT_ADMIN).post(DEALS, submission(alpha), format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "partner_user_only"
    assert "API key" in body["detail"]
    with tenant_context(alpha.tenant):
        assert not DealRegistration.objects.exists()


def test_unauthenticated_and_other_tenants_tokens_are_401(alpha, bravo):
    assert client_on(alpha.tenant).get(DEALS).status_code == 401
    anonymous = client_on(alpha.tenant).post(DEALS, submission(alpha), format="json")
    assert anonymous.status_code == 401
    # A token of tenant B's partner user, presented on tenant A's host.
    _token, key = create_user_token(user=bravo.members[Role.PARTNER_REP].user, name="b")
    response = client_on(alpha.tenant, token=key).get(DEALS)
    assert response.status_code == 401
    response = client_on(alpha.tenant, token=key).post(DEALS, submission(alpha), format="json")
    assert response.status_code == 401
    # And tenant B's API key on tenant A's host.
    assert client_on(alpha.tenant, api_key=bravo.api_key()).get(DEALS).status_code == 401


# --- is the customer claimed? ----------------------------------------------------------


def test_claim_check_answers_only_yes_or_no(alpha):
    alpha.register("other_partner_admin", company="Genting Foods Bhd")
    client = alpha.client(Role.PARTNER_REP)
    claimed = client.post(f"{DEALS}claim-check/", {"customer_company": "GENTING FOODS BERHAD"})
    assert claimed.status_code == 200
    assert claimed.json() == {"claimed": True}
    free = client.post(f"{DEALS}claim-check/", {"customer_company": "Completely New Co"})
    assert free.json() == {"claimed": False}


def test_claim_check_sees_the_vendors_accounts_and_not_the_partners_own_deals(alpha):
    with tenant_context(alpha.tenant):
        Account.objects.create(
            kind=Account.Kind.CUSTOMER, name="Maybank", normalized_name="maybank", domain="mbb.my"
        )
    alpha.register(company="Own Customer Sdn Bhd")
    client = alpha.client(Role.PARTNER_ADMIN)
    by_domain = {"customer_company": "Some Bank", "contact_email": "it@mbb.my"}
    assert client.post(f"{DEALS}claim-check/", by_domain).json() == {"claimed": True}
    own = {"customer_company": "Own Customer Sdn Bhd"}
    assert client.post(f"{DEALS}claim-check/", own).json() == {"claimed": False}


def test_claim_check_validates_and_refuses_staff_and_api_keys(alpha):
    client = alpha.client(Role.PARTNER_REP)
    response = client.post(f"{DEALS}claim-check/", {"website": "x y"})
    assert response.status_code == 400
    assert set(response.json()) == {"customer_company", "website"}
    for other in (alpha.client(Role.CHANNEL_MANAGER), alpha.api_key_client()):
        refused = other.post(f"{DEALS}claim-check/", {"customer_company": "Acme"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "partner_user_only"


# --- the deal's actions -------------------------------------------------------------------


@pytest.mark.parametrize("who", [Role.PARTNER_REP, Role.CHANNEL_MANAGER])
def test_start_then_close_won_records_the_facts_exactly(alpha, who):
    deal = alpha.register()
    client = alpha.client(who)
    started = client.post(url(deal, "start"))
    assert started.status_code == 200, started.content
    assert started.json()["stage"] == Stage.IN_PROGRESS
    won = client.post(
        url(deal, "close-won"),
        {
            "final_amount": "98765432.10",
            "currency": "USD",
            "closed_on": timezone.localdate().isoformat(),
            "contract_term_months": 24,
        },
        format="json",
    )
    assert won.status_code == 200, won.content
    body = won.json()
    assert (body["stage"], body["final_amount"], body["currency"]) == (
        "closed_won",
        "98765432.10",
        "USD",
    )
    assert body["contract_term_months"] == 24
    with tenant_context(alpha.tenant):
        deal.refresh_from_db()
        assert deal.final_amount == Decimal("98765432.10")
    assert [e["kind"] for e in body["timeline"]][-2:] == ["stage_changed", "stage_changed"]


def test_close_won_validation(alpha):
    deal = alpha.register()
    client = alpha.client(Role.PARTNER_REP)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(
        url(deal, "close-won"),
        {"final_amount": "0", "currency": "CNY", "closed_on": tomorrow, "contract_term_months": 0},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"final_amount", "closed_on", "contract_term_months"}


def test_actions_in_the_wrong_stage_are_409(alpha):
    deal = alpha.register(company="Rival Bhd")
    conflict = alpha.register("other_partner_admin", company="Rival Berhad")
    client = alpha.client("other_partner_admin")
    response = client.post(url(conflict, "start"))
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    lost = client.post(url(conflict, "close-lost"), {"reason": "Lost"})
    assert lost.status_code == 409
    assert alpha.client(Role.PARTNER_REP).post(url(deal, "start")).status_code == 200


def test_close_lost_needs_a_reason(alpha):
    deal = alpha.register()
    client = alpha.client(Role.PARTNER_ADMIN)
    assert client.post(url(deal, "close-lost"), {}).json() == {
        "reason": ["This field is required."]
    }
    response = client.post(url(deal, "close-lost"), {"reason": "Chose a competitor"})
    assert response.status_code == 200
    assert response.json()["stage"] == Stage.CLOSED_LOST
    assert response.json()["timeline"][-1]["reason"] == "Chose a competitor"


def test_finance_reads_but_cannot_act_on_deals(alpha):
    deal = alpha.register()
    client = alpha.client(Role.FINANCE)
    assert client.get(url(deal)).status_code == 200
    assert client.get(url(deal, "comments")).status_code == 200
    for action, data in [
        ("start", {}),
        ("close-lost", {"reason": "x"}),
        ("reverse", {"reason": "x"}),
        ("comments", {"body": "x"}),
        ("appeal", {"decision": 1, "comment": "x"}),
        ("request-extension", {"days": 10, "reason": "x"}),
    ]:
        response = client.post(url(deal, action), data, format="json")
        assert response.status_code == 403, (action, response.content)


def test_reverse_is_for_channel_managers_and_needs_a_closed_won_deal(alpha):
    deal = alpha.register()
    manager = alpha.client(Role.CHANNEL_MANAGER)
    assert manager.post(url(deal, "reverse"), {"reason": "Refund"}).status_code == 409
    alpha.client(Role.PARTNER_REP).post(
        url(deal, "close-won"),
        {
            "final_amount": "500.00",
            "currency": "CNY",
            "closed_on": timezone.localdate().isoformat(),
            "contract_term_months": 12,
        },
    )
    assert (
        alpha.client(Role.PARTNER_ADMIN).post(url(deal, "reverse"), {"reason": "x"}).status_code
        == 403
    )
    response = manager.post(url(deal, "reverse"), {"reason": "Refund in full"})
    assert response.status_code == 200, response.content
    assert response.json()["reversal_reason"] == "Refund in full"
    assert response.json()["reversed_at"]
    assert manager.post(url(deal, "reverse"), {"reason": "again"}).status_code == 409


def test_an_api_key_acting_as_channel_manager_can_close_and_reverse(alpha):
    deal = alpha.register()
    client = alpha.api_key_client(Role.CHANNEL_MANAGER)
    won = client.post(
        url(deal, "close-won"),
        {
            "final_amount": "10.00",
            "currency": "CNY",
            "closed_on": timezone.localdate().isoformat(),
            "contract_term_months": 1,
        },
    )
    assert won.status_code == 200, won.content
    assert won.json()["timeline"][-1]["actor"] is None
    assert client.post(url(deal, "reverse"), {"reason": "Cancelled"}).status_code == 200


def test_comments_are_shared_between_partner_and_channel_manager(alpha):
    deal = alpha.register()
    partner = alpha.client(Role.PARTNER_REP)
    added = partner.post(url(deal, "comments"), {"body": "Customer asked for a demo."})
    assert added.status_code == 201
    assert added.json()["author"] == str(alpha.members[Role.PARTNER_REP].user)
    reply = alpha.client(Role.CHANNEL_MANAGER).post(url(deal, "comments"), {"body": "Booked."})
    assert reply.status_code == 201
    listed = partner.get(url(deal, "comments")).json()
    assert [c["body"] for c in listed["results"]] == ["Customer asked for a demo.", "Booked."]
    assert partner.post(url(deal, "comments"), {"body": ""}).status_code == 400


def test_an_api_key_cannot_comment_because_a_comment_needs_an_author(alpha):
    deal = alpha.register()
    response = alpha.api_key_client(Role.CHANNEL_MANAGER).post(
        url(deal, "comments"), {"body": "hello"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "person_only"


def test_comment_list_query_count_does_not_grow(alpha, django_assert_max_num_queries):
    deal = alpha.register()
    client = alpha.client(Role.PARTNER_REP)
    users = [alpha.members[r].user for r in (Role.PARTNER_REP, Role.CHANNEL_MANAGER)]

    def add(count):
        with tenant_context(alpha.tenant):
            for n in range(count):
                DealComment.objects.create(deal=deal, author=users[n % 2], body=str(n))

    add(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(deal, "comments")).json()["count"] == 2
    # Read now: the log is reset by the next request.
    baseline = len(few.captured_queries)
    add(20)
    with django_assert_max_num_queries(baseline):
        assert client.get(url(deal, "comments")).json()["count"] == 22


def test_appeal_once_returns_the_registration_to_review(alpha):
    alpha.register("other_partner_admin", company="Petaling Motors Bhd")
    deal = alpha.register(company="Petaling Motors Berhad")
    decision = alpha.decide(deal, Decision.Outcome.REJECTED, "First come, first served.")
    client = alpha.client(Role.PARTNER_REP)
    response = client.post(
        url(deal, "appeal"),
        {"decision": decision.pk, "comment": "We met them a year ago."},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stage"] == Stage.SUBMITTED
    assert body["decisions"][0]["appeal_comment"] == "We met them a year ago."
    again = client.post(url(deal, "appeal"), {"decision": decision.pk, "comment": "Again"})
    assert again.status_code == 409


def test_appeal_names_a_decision_of_this_deal(alpha):
    deal = alpha.register()
    other = alpha.register()
    with tenant_context(alpha.tenant):
        decision_of_other = Decision.objects.get(deal=other)
    client = alpha.client(Role.PARTNER_REP)
    response = client.post(url(deal, "appeal"), {"decision": decision_of_other.pk, "comment": "x"})
    assert response.status_code == 400
    assert "decision" in response.json()
    missing = client.post(url(deal, "appeal"), {"decision": 999999, "comment": ""})
    assert set(missing.json()) == {"decision", "comment"}


def test_appeal_and_extension_are_refused_to_staff_and_api_keys(alpha):
    deal = alpha.register()
    with tenant_context(alpha.tenant):
        decision = Decision.objects.get(deal=deal)
    for client in (alpha.client(Role.CHANNEL_MANAGER), alpha.api_key_client(Role.TENANT_ADMIN)):
        appeal = client.post(url(deal, "appeal"), {"decision": decision.pk, "comment": "x"})
        assert (appeal.status_code, appeal.json()["code"]) == (403, "partner_user_only")
        extension = client.post(url(deal, "request-extension"), {"days": 10, "reason": "x"})
        assert (extension.status_code, extension.json()["code"]) == (403, "partner_user_only")


def test_partner_asks_for_a_longer_protection_window(alpha):
    deal = alpha.register()
    client = alpha.client(Role.PARTNER_ADMIN)
    response = client.post(
        url(deal, "request-extension"), {"days": 30, "reason": "Board meets next month"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["deal"], body["requested_days"], body["status"]) == (deal.pk, 30, "pending")
    assert body["protected_until_at_request"] == str(deal.protected_until)
    again = client.post(url(deal, "request-extension"), {"days": 5, "reason": "More"})
    assert again.status_code == 409
    assert client.post(url(deal, "request-extension"), {"days": 91, "reason": "x"}).json()["days"]
    detail = client.get(url(deal)).json()
    assert [e["requested_days"] for e in detail["extension_requests"]] == [30]
    with tenant_context(alpha.tenant):
        assert ExtensionRequest.objects.get().requested_by == alpha.members[Role.PARTNER_ADMIN].user


# --- isolation ------------------------------------------------------------------------------


def deal_urls(deal, decision_id: int = 1) -> list[tuple[str, str, dict]]:
    return [
        ("get", url(deal), {}),
        ("post", url(deal, "start"), {}),
        (
            "post",
            url(deal, "close-won"),
            {
                "final_amount": "1.00",
                "currency": "CNY",
                "closed_on": timezone.localdate().isoformat(),
                "contract_term_months": 1,
            },
        ),
        ("post", url(deal, "close-lost"), {"reason": "x"}),
        ("post", url(deal, "reverse"), {"reason": "x"}),
        ("get", url(deal, "comments"), {}),
        ("post", url(deal, "comments"), {"body": "x"}),
        ("post", url(deal, "appeal"), {"decision": decision_id, "comment": "x"}),
        ("post", url(deal, "request-extension"), {"days": 10, "reason": "x"}),
    ]


def assert_all_404(client, urls):
    for method, path, data in urls:
        response = getattr(client, method)(path, data, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", PARTNER_USERS)
def test_another_partners_deal_is_404_for_every_action(alpha, role):
    theirs = alpha.register("other_partner_admin")
    with tenant_context(alpha.tenant):
        decision = Decision.objects.get(deal=theirs)
    assert_all_404(alpha.client(role), deal_urls(theirs, decision.pk))
    with tenant_context(alpha.tenant):
        theirs.refresh_from_db()
        assert theirs.stage == Stage.APPROVED
        assert not DealComment.objects.exists()


@pytest.mark.parametrize("role", [*PARTNER_USERS, *STAFF])
def test_another_tenants_deal_is_404_on_this_tenants_host(alpha, bravo, role):
    theirs = bravo.register()
    with tenant_context(bravo.tenant):
        decision = Decision.objects.get(deal=theirs)
    assert_all_404(alpha.client(role), deal_urls(theirs, decision.pk))
    assert ids(alpha.client(role).get(DEALS)) == []


def test_another_tenants_deal_is_404_for_an_api_key(alpha, bravo):
    theirs = bravo.register()
    assert_all_404(alpha.api_key_client(Role.TENANT_ADMIN), deal_urls(theirs))


# --- the OpenAPI schema ------------------------------------------------------------------------

NEW_OPERATIONS = {
    "/api/v1/deals/": {"get", "post"},
    "/api/v1/deals/{id}/": {"get"},
    "/api/v1/deals/claim-check/": {"post"},
    "/api/v1/deals/{id}/start/": {"post"},
    "/api/v1/deals/{id}/close-won/": {"post"},
    "/api/v1/deals/{id}/close-lost/": {"post"},
    "/api/v1/deals/{id}/reverse/": {"post"},
    "/api/v1/deals/{id}/comments/": {"get", "post"},
    "/api/v1/deals/{id}/appeal/": {"post"},
    "/api/v1/deals/{id}/request-extension/": {"post"},
    "/api/v1/registrations/": {"get"},
    "/api/v1/registrations/{id}/": {"get"},
    "/api/v1/registrations/{id}/approve/": {"post"},
    "/api/v1/registrations/{id}/reject/": {"post"},
    "/api/v1/registrations/{id}/award-first/": {"post"},
    "/api/v1/registrations/{id}/co-sell/": {"post"},
    "/api/v1/extension-requests/": {"get"},
    "/api/v1/extension-requests/{id}/": {"get"},
    "/api/v1/extension-requests/{id}/approve/": {"post"},
    "/api/v1/extension-requests/{id}/deny/": {"post"},
    "/api/v1/leads/": {"get", "post"},
    "/api/v1/leads/{id}/": {"get"},
    "/api/v1/leads/{id}/accept/": {"post"},
    "/api/v1/leads/{id}/reject/": {"post"},
    "/api/v1/leads/{id}/convert/": {"post"},
    "/api/v1/leads/{id}/withdraw/": {"post"},
    "/api/v1/leads/{id}/route-now/": {"post"},
    "/api/v1/leads/{id}/assignments/": {"get"},
    "/api/v1/accounts/": {"get", "post"},
    "/api/v1/accounts/{id}/": {"get"},
    "/api/v1/products/": {"get"},
    "/api/v1/products/{id}/": {"get"},
}


def test_schema_generates_without_warnings_and_documents_every_new_operation(tmp_path):
    target = tmp_path / "schema.json"
    # --fail-on-warn turns any warning into an error; --validate checks OpenAPI 3.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", target
    )
    schema = json.loads(target.read_text())
    paths = schema["paths"]
    for path, methods in NEW_OPERATIONS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
            responses = set(operation["responses"])
            assert responses & {"200", "201"}, (path, method)
            assert "404" in responses or path in ("/api/v1/deals/", "/api/v1/deals/claim-check/")
            if method == "post":
                assert {"400", "403"} <= responses, (path, method)
    # Actions that take input document it; those that take none say so.
    assert "requestBody" in paths["/api/v1/deals/{id}/close-won/"]["post"]
    assert "requestBody" not in paths["/api/v1/deals/{id}/start/"]["post"]
    lead_body = paths["/api/v1/leads/"]["post"]["requestBody"]["content"]["application/json"]
    one_or_many = schema["components"]["schemas"][lead_body["schema"]["$ref"].split("/")[-1]]
    assert one_or_many["oneOf"][1]["type"] == "array"
    deal_params = {p["name"] for p in paths["/api/v1/deals/"]["get"]["parameters"]}
    assert {"stage", "partner", "product", "expiring_within_days", "search"} <= deal_params
    # Money is a decimal string, never a float.
    amount = schema["components"]["schemas"]["Deal"]["properties"]["estimated_amount"]
    assert amount["type"] == "string" and amount["format"] == "decimal"


def test_schema_is_served_with_the_new_paths_on_a_tenant_host(alpha):
    response = alpha.client(Role.PARTNER_REP).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert set(NEW_OPERATIONS) <= set(response.json()["paths"])
