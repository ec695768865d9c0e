"""The plans, earnings and revenue-event endpoints: scope, roles, filters,
money as strings, all-or-nothing imports, query counts and the schema."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incentives.models import RevenueEvent
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.earnings.conftest import months_ago

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans/"
EARNINGS = "/api/v1/earnings/"
SUMMARY = "/api/v1/earnings/summary/"
EVENTS = "/api/v1/revenue-events/"


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


# --- plans -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FINANCE, Role.TENANT_ADMIN])
def test_finance_and_tenant_admins_read_plans_with_versions_and_rules(alpha, role):
    (plan,) = results(alpha.client(role).get(PLANS))
    assert plan["name"] == "Partner plan"
    (version,) = plan["versions"]
    assert version["status"] == "published"
    assert version["effective_from"] == "2025-01-01"
    (rule,) = version["rules"]
    assert (rule["name"], rule["kind"], rule["rate"]) == (
        "Resale commission",
        "tier_commission",
        "20.0000",
    )
    assert alpha.client(role).get(f"{PLANS}{plan['id']}/").json()["id"] == plan["id"]


@pytest.mark.parametrize("who", [Role.PARTNER_ADMIN, Role.PARTNER_REP, Role.CHANNEL_MANAGER])
def test_partners_and_channel_managers_may_not_read_plans(alpha, who):
    response = alpha.client(who).get(PLANS)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_another_tenants_plan_is_not_found(alpha, bravo):
    (theirs,) = results(bravo.client(Role.FINANCE).get(PLANS))
    assert alpha.client(Role.FINANCE).get(f"{PLANS}{theirs['id']}/").status_code == 404


# --- earnings ----------------------------------------------------------------------------


def test_a_partner_user_lists_their_own_earnings_with_entries_and_explanation(alpha, money):
    rows = results(alpha.client(Role.PARTNER_REP).get(EARNINGS))
    assert len(rows) == 5
    assert {row["partner"]["id"] for row in rows} == {alpha.partner.pk}
    commission = next(row for row in rows if row["deal_reference"] == money["first"].reference)
    assert commission["amount"] == "2000.00"
    assert commission["kind"] == "commission"
    assert commission["rule_name"] == "Resale commission"
    assert commission["explanation"]["formula"] == "10000.00 × 20% = 2000.00"
    explained = {item["label"]: item["value"] for item in commission["explained"]}
    assert explained["Rate"] == "20%"
    assert explained["Base"] == "First-year contract value: 10,000.00 CNY"
    assert sorted((e["account"], e["amount"]) for e in commission["entries"]) == [
        ("commission_expense", "2000.00"),
        ("partner_payable", "-2000.00"),
    ]


def test_a_partner_user_never_reads_another_partners_earnings(alpha, money):
    client = alpha.client(Role.PARTNER_REP)
    theirs = results(alpha.client("other_partner_admin").get(EARNINGS))
    assert [row["amount"] for row in theirs] == ["1600.00"]
    assert client.get(f"{EARNINGS}{theirs[0]['id']}/").status_code == 404
    # Filters cannot widen the scope: the partner filter is ignored and
    # the other partner's deal matches nothing.
    by_partner = results(client.get(EARNINGS, {"partner": alpha.other_partner.pk}))
    assert {row["partner"]["id"] for row in by_partner} == {alpha.partner.pk}
    assert results(client.get(EARNINGS, {"deal": money["other"].reference})) == []
    summary = client.get(SUMMARY, {"partner": alpha.other_partner.pk}).json()
    assert [row["balance"] for row in summary] == ["1050.00"]


def test_another_tenants_earning_is_not_found(alpha, bravo, money):
    bravo.close_deal("7777.00")
    bravo.run_job()
    (theirs,) = results(bravo.client(Role.PARTNER_REP).get(EARNINGS))
    assert theirs["amount"] == "1555.40"
    assert alpha.client(Role.PARTNER_REP).get(f"{EARNINGS}{theirs['id']}/").status_code == 404
    assert alpha.client(Role.FINANCE).get(f"{EARNINGS}{theirs['id']}/").status_code == 404
    everything = results(alpha.client(Role.FINANCE).get(EARNINGS))
    assert theirs["id"] not in {row["id"] for row in everything}


def test_finance_reads_every_partner_and_filters_by_partner(alpha, money):
    finance = alpha.client(Role.FINANCE)
    assert len(results(finance.get(EARNINGS))) == 6
    only = results(finance.get(EARNINGS, {"partner": alpha.other_partner.pk}))
    assert [(row["partner"]["id"], row["amount"]) for row in only] == [
        (alpha.other_partner.pk, "1600.00")
    ]
    assert [row["balance"] for row in finance.get(SUMMARY).json()] == ["2650.00"]
    one = finance.get(SUMMARY, {"partner": alpha.partner.pk}).json()
    assert one == [
        {
            "currency": "CNY",
            "earned": "3111.11",
            "clawed_back": "-1111.11",
            "adjustments": "50.00",
            "reimbursed": "0.00",
            "converted": "0.00",
            "paid": "1000.00",
            "balance": "1050.00",
        }
    ]


def test_finance_api_keys_read_earnings(alpha, money):
    client = alpha.api_key_client(Role.FINANCE)
    assert len(results(client.get(EARNINGS))) == 6


@pytest.mark.parametrize("who", [Role.CHANNEL_MANAGER])
def test_staff_without_money_access_may_not_read_earnings(alpha, who):
    assert alpha.client(who).get(EARNINGS).status_code == 403
    assert alpha.client(who).get(SUMMARY).status_code == 403
    assert alpha.api_key_client(Role.CHANNEL_MANAGER).get(EARNINGS).status_code == 403


def test_earnings_filters(alpha, money):
    client = alpha.client(Role.PARTNER_REP)
    kinds = [row["kind"] for row in results(client.get(EARNINGS, {"kind": "clawback"}))]
    assert kinds == ["clawback"]
    month = months_ago(2).strftime("%Y-%m")
    in_month = results(client.get(EARNINGS, {"month": month}))
    assert [row["deal_reference"] for row in in_month] == [money["first"].reference]
    of_deal = results(client.get(EARNINGS, {"deal": money["second"].reference}))
    assert sorted(row["amount"] for row in of_deal) == ["-1111.11", "1111.11"]
    assert results(client.get(EARNINGS, {"currency": "MYR"})) == []
    bad = client.get(EARNINGS, {"month": "2026-13", "kind": "gift"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"month", "kind"}


def test_summary_for_a_partner_user(alpha, money):
    summary = alpha.client(Role.PARTNER_ADMIN).get(SUMMARY).json()
    assert [(row["earned"], row["paid"], row["balance"]) for row in summary] == [
        ("3111.11", "1000.00", "1050.00")
    ]


def test_earnings_list_queries_stay_constant(alpha, money):
    client = alpha.client(Role.PARTNER_REP)
    with CaptureQueriesContext(connection) as few:
        assert len(results(client.get(EARNINGS))) == 5
    for index in range(5):
        alpha.close_deal(f"{2000 + index}.00", closed_on=months_ago(index % 3))
    alpha.run_job()
    with CaptureQueriesContext(connection) as many:
        assert len(results(client.get(EARNINGS))) == 10
    assert len(many.captured_queries) == len(few.captured_queries)
    finance = alpha.client(Role.FINANCE)
    with CaptureQueriesContext(connection) as staff_few:
        finance.get(EARNINGS)
    alpha.close_deal("3000.00", who="other_partner_admin")
    alpha.run_job()
    with CaptureQueriesContext(connection) as staff_many:
        assert len(results(finance.get(EARNINGS))) == 12
    assert len(staff_many.captured_queries) == len(staff_few.captured_queries)


# --- revenue events ------------------------------------------------------------------------


def event(alpha, external_id: str, **extra) -> dict:
    data = {
        "external_id": external_id,
        "partner": alpha.partner.pk,
        "customer_name": "Acme Trading",
        "kind": "invoice_paid",
        "amount": "1200.00",
        "currency": "CNY",
        "occurred_on": "2026-03-05",
    }
    data.update(extra)
    return data


def test_finance_records_one_event(alpha, money):
    response = alpha.client(Role.FINANCE).post(
        EVENTS, event(alpha, "INV-1", deal=money["first"].reference), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["external_id"], body["amount"], body["deal_reference"]) == (
        "INV-1",
        "1200.00",
        money["first"].reference,
    )
    assert [row["external_id"] for row in results(alpha.client(Role.FINANCE).get(EVENTS))] == [
        "INV-1"
    ]


def test_a_finance_api_key_records_a_list(alpha):
    client = alpha.api_key_client(Role.FINANCE)
    response = client.post(
        EVENTS, [event(alpha, "INV-2"), event(alpha, "INV-3", kind="refund")], format="json"
    )
    assert response.status_code == 201, response.content
    assert [row["external_id"] for row in response.json()] == ["INV-2", "INV-3"]


def test_a_list_is_recorded_entirely_or_not_at_all(alpha, money):
    client = alpha.client(Role.FINANCE)
    response = client.post(
        EVENTS,
        [
            event(alpha, "INV-4"),
            event(alpha, "INV-5", deal=money["other"].reference),
            event(alpha, "INV-6", partner=999999),
        ],
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "1": {"deal": ["This partner has no deal with this reference."]},
        "2": {"partner": ["No partner has this id."]},
    }
    with tenant_context(alpha.tenant):
        assert not RevenueEvent.objects.exists()
    invalid = client.post(EVENTS, [event(alpha, "INV-7", amount="-1")], format="json")
    assert invalid.status_code == 400
    assert "amount" in invalid.json()["0"]


def test_a_repeated_id_with_other_details_conflicts(alpha):
    client = alpha.client(Role.FINANCE)
    assert client.post(EVENTS, event(alpha, "INV-8"), format="json").status_code == 201
    same = client.post(EVENTS, event(alpha, "INV-8"), format="json")
    assert same.status_code == 201
    differs = client.post(EVENTS, event(alpha, "INV-8", amount="1.00"), format="json")
    assert differs.status_code == 409
    assert differs.json()["code"] == "revenue_event_differs"


def test_another_tenants_partner_cannot_receive_events(alpha, bravo):
    response = alpha.client(Role.FINANCE).post(
        EVENTS, event(alpha, "INV-9", partner=bravo.partner.pk), format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "partner"


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [
        (Role.TENANT_ADMIN, 200, 403),
        (Role.CHANNEL_MANAGER, 403, 403),
        (Role.PARTNER_ADMIN, 403, 403),
        (Role.PARTNER_REP, 403, 403),
    ],
)
def test_revenue_event_roles(alpha, who, read, write):
    client = alpha.client(who)
    assert client.get(EVENTS).status_code == read
    assert client.post(EVENTS, event(alpha, "INV-10"), format="json").status_code == write


def test_revenue_event_of_another_tenant_is_not_found(alpha, bravo):
    created = bravo.client(Role.FINANCE).post(EVENTS, event(bravo, "INV-11"), format="json")
    assert created.status_code == 201
    assert alpha.client(Role.FINANCE).get(f"{EVENTS}{created.json()['id']}/").status_code == 404


def test_a_recorded_event_reaches_the_job_and_earns_nothing_without_a_share_rule(alpha):
    # The plan has no revenue-share rule: the event is recorded, the job posts nothing for it.
    alpha.client(Role.FINANCE).post(EVENTS, event(alpha, "INV-12"), format="json")
    counts = alpha.run_job()
    assert counts["revenue_events"] == 1 and counts["earnings_posted"] == 0
    assert results(alpha.client(Role.PARTNER_REP).get(EARNINGS)) == []


# --- schema -------------------------------------------------------------------------------

NEW_OPERATIONS = {
    "/api/v1/plans/": {"get"},
    "/api/v1/plans/{id}/": {"get"},
    "/api/v1/earnings/": {"get"},
    "/api/v1/earnings/{id}/": {"get"},
    "/api/v1/earnings/summary/": {"get"},
    "/api/v1/revenue-events/": {"get", "post"},
    "/api/v1/revenue-events/{id}/": {"get"},
}


def test_schema_generates_without_warnings_and_documents_every_operation(tmp_path):
    target = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", target
    )
    paths = json.loads(target.read_text())["paths"]
    for path, methods in NEW_OPERATIONS.items():
        assert path in paths, path
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
            responses = set(operation["responses"])
            assert responses & {"200", "201"} and "403" in responses, (path, method)
            if method == "post":
                assert {"400", "409"} <= responses
    parameters = {p["name"] for p in paths["/api/v1/earnings/"]["get"]["parameters"]}
    assert {"kind", "currency", "month", "deal", "partner", "page"} <= parameters
    schema = json.loads(target.read_text())["components"]["schemas"]
    assert schema["Earning"]["properties"]["amount"]["type"] == "string"
    assert schema["Summary"]["properties"]["balance"]["type"] == "string"
