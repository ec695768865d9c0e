"""The statements, payout-periods and payout-status endpoints: who sees which
statement, what a statement's lines say, the PDF, finance's actions and their
refusals, the role matrix, constant queries and the schema."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incentives.models import PayoutPeriod, Statement
from incentives.payouts.services import month_bounds
from prm.accounts.roles import Role
from prm.ledger.models import Kind, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.api.conftest import build_world
from tests.api_incentives.story import book, close_more, give_payee

pytestmark = pytest.mark.django_db

STATEMENTS = "/api/v1/statements/"
PERIODS = "/api/v1/payout-periods/"
STATUS = "/api/v1/earnings/payout-status/"
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_REP)


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def client(story, who):
    return story.world.client(who)


# --- reading statements -------------------------------------------------------------------


@pytest.mark.parametrize("who", PARTNER_ROLES)
def test_a_partner_user_lists_only_their_own_statements(story, who):
    rows = results(client(story, who).get(STATEMENTS))
    assert [(row["id"], row["period"]["key"]) for row in rows] == [
        (story.unpaid.pk, "2026-10"),
        (story.paid.pk, "2026-09"),
    ]
    assert {row["partner"]["id"] for row in rows} == {story.world.partner.pk}
    october, september = rows
    assert (october["status"], october["payable_amount"], october["carried_forward"]) == (
        "closed",
        "1560.00",
        "0.00",
    )
    assert (october["earned_total"], october["adjustments_total"], october["line_count"]) == (
        "1510.00",
        "50.00",
        3,
    )
    assert (september["status"], september["paid_on"], september["payment_reference"]) == (
        "paid",
        "2026-10-10",
        "PAY-SEPT-1",
    )
    assert september["clawed_back_total"] == "-200.00"
    assert september["pdf"] == f"{STATEMENTS}{story.paid.pk}/pdf/"


def test_a_partner_users_filters_cannot_widen_the_scope(story):
    rep = client(story, Role.PARTNER_REP)
    other = story.world.other_partner.pk
    rows = results(rep.get(STATEMENTS, {"partner": other}))
    assert {row["partner"]["id"] for row in rows} == {story.world.partner.pk}
    assert [row["id"] for row in results(rep.get(STATEMENTS, {"status": "paid"}))] == [
        story.paid.pk
    ]
    assert results(rep.get(STATEMENTS, {"period": story.november.pk})) == []


def test_another_partners_statement_is_not_found(story):
    rep = client(story, Role.PARTNER_REP)
    theirs = story.theirs.pk
    assert rep.get(f"{STATEMENTS}{theirs}/").status_code == 404
    assert rep.get(f"{STATEMENTS}{theirs}/pdf/").status_code == 404
    refused = rep.post(f"{STATEMENTS}{theirs}/mark-paid/", {"reference": "X"}, format="json")
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"
    # And the other partner sees its own statements only.
    mine = results(client(story, "other_partner_admin").get(STATEMENTS))
    assert {row["partner"]["id"] for row in mine} == {story.world.other_partner.pk}
    assert len(mine) == 2


def test_another_tenants_statement_is_not_found(story, bravo_story):
    for who in (Role.PARTNER_REP, Role.FINANCE):
        assert client(story, who).get(f"{STATEMENTS}{bravo_story.unpaid.pk}/").status_code == 404
        assert (
            client(story, who).get(f"{STATEMENTS}{bravo_story.unpaid.pk}/pdf/").status_code == 404
        )
    finance = client(story, Role.FINANCE)
    ids = {row["id"] for row in results(finance.get(STATEMENTS))}
    assert ids.isdisjoint({bravo_story.paid.pk, bravo_story.unpaid.pk, bravo_story.theirs.pk})
    assert finance.get(f"{PERIODS}{bravo_story.october.pk}/").status_code == 404
    closing = finance.post(f"{PERIODS}{bravo_story.november.pk}/close/")
    assert closing.status_code == 404
    paying = finance.post(
        f"{STATEMENTS}{bravo_story.theirs.pk}/mark-paid/", {"reference": "X"}, format="json"
    )
    assert paying.status_code == 404
    with tenant_context(bravo_story.world.tenant):
        assert Statement.objects.get(pk=bravo_story.theirs.pk).status == "closed"


@pytest.mark.parametrize("who", [Role.FINANCE, Role.TENANT_ADMIN])
def test_finance_and_tenant_admins_read_every_partners_statements(story, who):
    reader = client(story, who)
    rows = results(reader.get(STATEMENTS))
    assert len(rows) == 4
    other = story.world.other_partner.pk
    by_partner = results(reader.get(STATEMENTS, {"partner": other}))
    assert [row["payable_amount"] for row in by_partner] == ["600.00", "400.00"]
    in_october = results(reader.get(STATEMENTS, {"period": story.october.pk}))
    assert {row["id"] for row in in_october} == {story.unpaid.pk, story.theirs.pk}
    closed = results(reader.get(STATEMENTS, {"status": "closed", "partner": other}))
    assert len(closed) == 2
    bad = reader.get(STATEMENTS, {"status": "lost", "period": "x"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"status", "period"}


def test_finance_api_keys_read_statements(story):
    assert len(results(story.world.api_key_client(Role.FINANCE).get(STATEMENTS))) == 4


def test_a_statement_lists_its_lines_with_explanation_rate_and_rate_date(story):
    body = client(story, Role.PARTNER_REP).get(f"{STATEMENTS}{story.unpaid.pk}/").json()
    assert body["closing_amount"] == "1560.00"
    lines = body["lines"]
    assert [(line["kind"], line["effective_date"], line["amount"]) for line in lines] == [
        (Kind.COMMISSION, "2026-10-03", "800.00"),
        (Kind.ADJUSTMENT, "2026-10-15", "50.00"),
        (Kind.COMMISSION, "2026-10-20", "710.00"),
    ]
    same, adjustment, converted = lines
    assert (same["rate"], same["rate_date"], same["original_currency"]) == (None, None, "CNY")
    assert (converted["original_amount"], converted["original_currency"]) == ("100.00", "USD")
    assert (converted["rate"], converted["rate_date"]) == ("7.1000000000", "2026-10-01")
    assert converted["explanation"]["formula"] == "500.00 × 20% = 100.00"
    explained = {item["label"]: item["value"] for item in converted["explained"]}
    assert explained["Rate"] == "20%"
    assert explained["Base"] == "Deal amount: 500.00 USD"
    assert {item["label"]: item["value"] for item in adjustment["explained"]} == {
        "Reason": "Goodwill"
    }
    with tenant_context(story.world.tenant):
        assert converted["transaction"] in set(
            LedgerTransaction.objects.filter(partner=story.world.partner).values_list(
                "pk", flat=True
            )
        )


# --- the PDF -----------------------------------------------------------------------------


def test_a_partner_user_downloads_their_statement_as_pdf(story):
    rep = client(story, Role.PARTNER_REP)
    for accept in ("*/*", "application/pdf"):
        response = rep.get(f"{STATEMENTS}{story.paid.pk}/pdf/", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert "statement-2026-09-" in response["Content-Disposition"]
    missing = rep.get(f"{STATEMENTS}{story.theirs.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    bad = rep.get(f"{STATEMENTS}{story.paid.pk}/pdf/", {"language": "xx"})
    assert bad.status_code == 400 and "language" in bad.json()


def test_finance_downloads_any_statement_as_pdf(story):
    response = client(story, Role.FINANCE).get(
        f"{STATEMENTS}{story.theirs.pk}/pdf/", {"language": "zh-hans"}
    )
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


# --- marking paid --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (Role.PARTNER_ADMIN, 403),
        (Role.PARTNER_REP, 403),
        (Role.TENANT_ADMIN, 403),
        (Role.CHANNEL_MANAGER, 403),
        (Role.FINANCE, 200),
    ],
)
def test_only_finance_marks_a_statement_paid(story, who, expected):
    response = client(story, who).post(
        f"{STATEMENTS}{story.unpaid.pk}/mark-paid/",
        {"reference": "PAY-OCT-1", "paid_on": "2026-11-12"},
        format="json",
    )
    assert response.status_code == expected, response.content
    with tenant_context(story.world.tenant):
        statement = Statement.objects.get(pk=story.unpaid.pk)
    if expected == 200:
        body = response.json()
        assert (body["status"], body["paid_on"], body["payment_reference"]) == (
            "paid",
            "2026-11-12",
            "PAY-OCT-1",
        )
        assert statement.status == "paid" and statement.payment_transaction_id
        status = client(story, Role.PARTNER_REP).get(STATUS).json()
        assert status[0] == {
            "currency": "CNY",
            "pending": "300.00",
            "approved": "0.00",
            "paid": "2860.00",
        }
    else:
        assert response.json()["code"] == "permission_denied"
        assert statement.status == "closed"


def test_mark_paid_refusals_are_mapped_to_codes(story):
    finance = client(story, Role.FINANCE)
    again = finance.post(
        f"{STATEMENTS}{story.paid.pk}/mark-paid/", {"reference": "PAY-2"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_paid"
    blank = finance.post(f"{STATEMENTS}{story.unpaid.pk}/mark-paid/", {}, format="json")
    assert blank.status_code == 400 and "reference" in blank.json()
    today = finance.post(
        f"{STATEMENTS}{story.theirs.pk}/mark-paid/", {"reference": "PAY-3"}, format="json"
    )
    assert today.status_code == 200
    assert today.json()["paid_on"] == timezone.localdate().isoformat()


def test_an_api_key_of_finance_marks_paid(story):
    response = story.world.api_key_client(Role.FINANCE).post(
        f"{STATEMENTS}{story.unpaid.pk}/mark-paid/", {"reference": "PAY-KEY"}, format="json"
    )
    assert response.status_code == 200, response.content


# --- payout periods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "read"),
    [
        (Role.FINANCE, 200),
        (Role.TENANT_ADMIN, 200),
        (Role.CHANNEL_MANAGER, 403),
        (Role.PARTNER_ADMIN, 403),
        (Role.PARTNER_REP, 403),
    ],
)
def test_who_reads_payout_periods(story, who, read):
    response = client(story, who).get(PERIODS)
    assert response.status_code == read
    detail = client(story, who).get(f"{PERIODS}{story.october.pk}/")
    assert detail.status_code == read
    if read == 200:
        rows = results(response)
        assert [(row["key"], row["status"], row["statement_count"]) for row in rows] == [
            ("2026-11", "open", 0),
            ("2026-10", "closed", 2),
            ("2026-09", "closed", 2),
        ]
        assert detail.json()["closed_by"] == story.finance.user.email


@pytest.mark.parametrize("who", [Role.PARTNER_ADMIN, Role.PARTNER_REP, Role.TENANT_ADMIN])
def test_only_finance_may_close_a_period(story, who):
    response = client(story, who).post(f"{PERIODS}{story.november.pk}/close/")
    assert response.status_code == 403
    with tenant_context(story.world.tenant):
        assert PayoutPeriod.objects.get(pk=story.november.pk).is_open


def test_closing_refusals_are_mapped_to_codes(story):
    finance = client(story, Role.FINANCE)
    closed = finance.post(f"{PERIODS}{story.october.pk}/close/")
    assert closed.status_code == 409
    assert closed.json()["code"] == "period_closed"
    with tenant_context(story.world.tenant):
        # A period that ends in the far future has not ended yet.
        later = PayoutPeriod.objects.create(start=date(2099, 1, 1), end=date(2099, 1, 31))
    not_ended = finance.post(f"{PERIODS}{later.pk}/close/")
    assert not_ended.status_code == 409
    assert not_ended.json()["code"] in {"period_not_ended", "earlier_period_open"}


@pytest.fixture
def last_month(tenant_a):
    """A fresh tenant A world whose only period is last month, with earnings in it."""
    world = build_world(tenant_a)
    start, end = month_bounds(timezone.localdate().replace(day=1) - timedelta(days=1))
    with tenant_context(tenant_a):
        give_payee(world.partner)
        period = PayoutPeriod.objects.create(start=start, end=end)
        book(world.partner, "250.00", start)
    return world, period


def test_finance_closes_a_period_then_marks_its_statement_paid(last_month):
    world, period = last_month
    finance = world.client(Role.FINANCE)
    response = finance.post(f"{PERIODS}{period.pk}/close/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["statement_count"], body["closed_by"]) == (
        "closed",
        1,
        world.members[Role.FINANCE].user.email,
    )
    assert body["closed_at"]
    (statement,) = results(world.client(Role.PARTNER_REP).get(STATEMENTS))
    assert (statement["payable_amount"], statement["status"]) == ("250.00", "closed")
    assert world.client(Role.PARTNER_REP).get(STATUS).json() == [
        {"currency": "CNY", "pending": "0.00", "approved": "250.00", "paid": "0.00"}
    ]
    paid = finance.post(
        f"{STATEMENTS}{statement['id']}/mark-paid/", {"reference": "PAY-9"}, format="json"
    )
    assert paid.status_code == 200
    assert world.client(Role.PARTNER_REP).get(STATUS).json() == [
        {"currency": "CNY", "pending": "0.00", "approved": "0.00", "paid": "250.00"}
    ]
    # The close opened the period after it.
    keys = [row["key"] for row in results(finance.get(PERIODS))]
    assert keys == [timezone.localdate().strftime("%Y-%m"), period.key]


def test_a_missing_exchange_rate_refuses_the_close_with_its_code(last_month):
    world, period = last_month
    with tenant_context(world.tenant):
        book(world.partner, "10.00", period.start, currency="USD")
    response = world.client(Role.FINANCE).post(f"{PERIODS}{period.pk}/close/")
    assert response.status_code == 400
    assert response.json()["code"] == "rate_missing"
    with tenant_context(world.tenant):
        assert PayoutPeriod.objects.get(pk=period.pk).is_open
        assert not Statement.objects.exists()


# --- pending, approved, paid ------------------------------------------------------------------


def test_payout_status_of_a_partner_user(story):
    assert client(story, Role.PARTNER_REP).get(STATUS).json() == [
        {"currency": "CNY", "pending": "300.00", "approved": "1560.00", "paid": "1300.00"},
        {"currency": "USD", "pending": "20.00", "approved": "0.00", "paid": "0.00"},
    ]
    # The partner filter is finance's only.
    other = story.world.other_partner.pk
    assert (
        client(story, Role.PARTNER_REP).get(STATUS, {"partner": other}).json()[0]["approved"]
        == "1560.00"
    )


def test_payout_status_for_finance(story):
    finance = client(story, Role.FINANCE)
    other = story.world.other_partner.pk
    assert finance.get(STATUS, {"partner": other}).json() == [
        {"currency": "CNY", "pending": "0.00", "approved": "1000.00", "paid": "0.00"}
    ]
    everyone = {row["currency"]: row for row in finance.get(STATUS).json()}
    assert everyone["CNY"]["approved"] == "2560.00"
    assert everyone["CNY"]["paid"] == "1300.00"
    assert finance.get(STATUS, {"partner": 999_999}).json() == []
    assert client(story, Role.CHANNEL_MANAGER).get(STATUS).status_code == 403


# --- constant queries ---------------------------------------------------------------------------


def _count(request) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = request()
        assert response.status_code == 200, response.content
    return len(queries.captured_queries)


def test_statement_queries_stay_constant_as_statements_grow(story):
    rep = client(story, Role.PARTNER_REP)
    finance = client(story, Role.FINANCE)
    requests = {
        "partner list": lambda: rep.get(STATEMENTS),
        "finance list": lambda: finance.get(STATEMENTS),
        "periods": lambda: finance.get(PERIODS),
        "status": lambda: rep.get(STATUS),
        "detail": lambda: rep.get(f"{STATEMENTS}{story.unpaid.pk}/"),
    }
    few = {name: _count(request) for name, request in requests.items()}
    close_more(story, 3)
    with tenant_context(story.world.tenant):
        for index in range(4):
            book(story.world.partner, f"{index + 1}.00", date(2027, 3, 1))
    many = {name: _count(request) for name, request in requests.items()}
    assert many == few
    assert len(results(rep.get(STATEMENTS))) == 5
    assert len(results(finance.get(STATEMENTS))) == 10


def test_statement_detail_queries_do_not_grow_with_lines(story):
    finance = client(story, Role.FINANCE)
    one_line = finance.get(f"{STATEMENTS}{story.theirs.pk}/")
    assert len(one_line.json()["lines"]) == 1
    few = _count(lambda: finance.get(f"{STATEMENTS}{story.theirs.pk}/"))
    many = _count(lambda: finance.get(f"{STATEMENTS}{story.unpaid.pk}/"))
    assert len(finance.get(f"{STATEMENTS}{story.unpaid.pk}/").json()["lines"]) == 3
    assert few == many


# --- schema -------------------------------------------------------------------------------------

NEW_OPERATIONS = {
    "/api/v1/statements/": {"get"},
    "/api/v1/statements/{id}/": {"get"},
    "/api/v1/statements/{id}/pdf/": {"get"},
    "/api/v1/statements/{id}/mark-paid/": {"post"},
    "/api/v1/payout-periods/": {"get"},
    "/api/v1/payout-periods/{id}/": {"get"},
    "/api/v1/payout-periods/{id}/close/": {"post"},
    "/api/v1/earnings/payout-status/": {"get"},
    "/api/v1/revenue-events/": {"get"},
}


def test_the_schema_documents_the_payout_endpoints(tmp_path):
    target = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", target
    )
    schema = json.loads(target.read_text())
    paths = schema["paths"]
    for path, methods in NEW_OPERATIONS.items():
        assert path in paths, path
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
            assert {"200", "403"} <= set(operation["responses"]), (path, method)
            if method == "post":
                assert {"400", "404", "409"} <= set(operation["responses"]), (path, method)
    pdf = paths["/api/v1/statements/{id}/pdf/"]["get"]["responses"]["200"]["content"]
    assert pdf["application/pdf"]["schema"]["format"] == "binary"
    listed = {p["name"] for p in paths["/api/v1/statements/"]["get"]["parameters"]}
    assert {"period", "partner", "status", "page"} <= listed
    events = {p["name"] for p in paths["/api/v1/revenue-events/"]["get"]["parameters"]}
    assert {"occurred_from", "occurred_to", "customer", "kind", "partner"} <= events
    components = schema["components"]["schemas"]
    line = components["StatementLine"]["properties"]
    assert {"explanation", "explained", "rate", "rate_date"} <= set(line)
    assert line["rate"]["type"] == "string"
    assert components["Statement"]["properties"]["payable_amount"]["type"] == "string"
    assert set(components["StatementStatus"]["enum"]) == {"closed", "held", "blocked", "paid"}
    assert components["PayoutStatus"]["properties"]["approved"]["type"] == "string"


# --- earnings per payout period ------------------------------------------------------------------

EARNINGS = "/api/v1/earnings/"


def test_earnings_filter_by_payout_period(story):
    rep = client(story, Role.PARTNER_REP)
    september = results(rep.get(EARNINGS, {"period": story.september.pk}))
    assert sorted(row["amount"] for row in september) == sorted(
        ["1000.00", "500.00", "-200.00", "-1300.00"]
    )
    november = results(rep.get(EARNINGS, {"period": story.november.pk}))
    assert sorted((row["amount"], row["currency"]) for row in november) == [
        ("20.00", "USD"),
        ("300.00", "CNY"),
    ]
    assert results(rep.get(EARNINGS, {"period": 999_999})) == []
    finance = client(story, Role.FINANCE)
    october = results(finance.get(EARNINGS, {"period": story.october.pk}))
    assert sorted(row["amount"] for row in october) == ["100.00", "50.00", "600.00", "800.00"]
    theirs = results(
        finance.get(EARNINGS, {"period": story.october.pk, "partner": story.world.other_partner.pk})
    )
    assert [row["amount"] for row in theirs] == ["600.00"]
