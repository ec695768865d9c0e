"""The ledger in the console: read-only for VIEW_MONEY, adjustments for finance only."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from prm.audit.models import AuditEvent
from prm.ledger.models import Kind, LedgerTransaction, SourceType
from prm.ledger.services import reverse as reverse_transaction
from prm.tenancy.context import tenant_context
from tests.ledger.conftest import HOST_A, earning

pytestmark = pytest.mark.django_db

LIST = reverse("admin:ledger_ledgertransaction_changelist")
ADJUST = reverse("admin:ledger_ledgertransaction_adjust")


def detail(tx) -> str:
    return reverse("admin:ledger_ledgertransaction_change", args=[tx.pk])


@pytest.fixture
def sign_in(client):
    """``sign_in(membership)``: the test client as that person, in English."""

    def sign(membership):
        client.force_login(membership.user)
        client.cookies["django_language"] = "en"
        return client

    return sign


@pytest.fixture
def commission(world):
    with tenant_context(world.tenant):
        tx, _ = earning(
            partner=world.partner_x,
            amount="2400.00",
            key="deal:41:7:commission:-",
            source_id=41,
            rule_id=7,
            explanation={"base": Decimal("12000.00"), "rate": Decimal("0.20"), "tier": "Bronze"},
        )
        return tx


@pytest.mark.parametrize(
    ("member", "status"),
    [("finance", 200), ("tenant_admin", 200), ("manager", 403), ("rep_x", 403)],
)
def test_who_may_see_the_ledger(world, sign_in, commission, member, status):
    client = sign_in(getattr(world, member))
    assert client.get(LIST, HTTP_HOST=HOST_A).status_code == status
    assert client.get(detail(commission), HTTP_HOST=HOST_A).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client, commission):
    response = client.get(LIST, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_the_detail_page_shows_entries_and_the_explanation(world, sign_in, commission):
    html = sign_in(world.finance).get(detail(commission), HTTP_HOST=HOST_A).content.decode()
    assert "Commission expense" in html
    assert "Partner payable" in html
    assert html.count("2,400.00") == 3  # the amount, the debit and the credit
    assert html.count('class="ledger-entry"') == 2
    assert "<dt>Base</dt><dd>12,000.00</dd>" in html
    assert "<dt>Rate</dt><dd>0.20</dd>" in html
    assert "<dt>Tier</dt><dd>Bronze</dd>" in html
    assert "Deal #41" in html
    assert "Xin Partners Sdn Bhd" in html


def test_the_detail_page_links_an_original_and_its_reversal(world, sign_in, commission):
    with tenant_context(world.tenant):
        mirror, _ = reverse_transaction(
            transaction=commission,
            key="deal:41:7:clawback:-",
            effective_date=date(2026, 12, 1),
            memo="Customer cancelled",
        )
    client = sign_in(world.finance)
    original_html = client.get(detail(commission), HTTP_HOST=HOST_A).content.decode()
    assert detail(mirror) in original_html
    mirror_html = client.get(detail(mirror), HTTP_HOST=HOST_A).content.decode()
    assert detail(commission) in mirror_html
    assert "Customer cancelled" in mirror_html


def test_another_tenants_transaction_is_a_404_and_not_listed(
    world, sign_in, commission, tenant_b, partner_b
):
    with tenant_context(tenant_b):
        theirs, _ = earning(partner=partner_b, amount="777.00", key="b1", currency="MYR")
    client = sign_in(world.finance)
    assert client.get(detail(theirs), HTTP_HOST=HOST_A).status_code == 404
    html = client.get(LIST, HTTP_HOST=HOST_A).content.decode()
    assert "Bravo Partner" not in html
    assert "777.00" not in html


def test_nobody_adds_changes_or_deletes_ledger_rows(world, sign_in, commission):
    client = sign_in(world.finance)
    add = reverse("admin:ledger_ledgertransaction_add")
    delete = reverse("admin:ledger_ledgertransaction_delete", args=[commission.pk])
    assert client.get(add, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(detail(commission), {"memo": "edited"}, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(delete, {"post": "yes"}, HTTP_HOST=HOST_A).status_code == 403
    response = client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [commission.pk]},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code in (200, 302)
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.get().memo == ""


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "bonus"}, {"bonus-x"}),
        ({"currency": "USD"}, {"usd-x"}),
        ({"partner__id__exact": "Y"}, {"comm-y"}),
        ({"period_key": "2026-10"}, {"usd-x"}),
        ({"source_type": "revenue_event"}, {"comm-y"}),
        ({"effective_date__gte": "2026-11-01", "effective_date__lt": "2026-12-01"}, {"comm-y"}),
    ],
)
def test_the_list_filters(world, sign_in, query, expected):
    with tenant_context(world.tenant):
        rows = {
            "bonus-x": earning(
                partner=world.partner_x,
                amount="11.00",
                key="bonus-x",
                kind=Kind.BONUS,
                effective_date=date(2026, 9, 1),
            )[0],
            "usd-x": earning(
                partner=world.partner_x,
                amount="12.00",
                key="usd-x",
                currency="USD",
                period_key="2026-10",
                effective_date=date(2026, 10, 1),
            )[0],
            "comm-y": earning(
                partner=world.partner_y,
                amount="13.00",
                key="comm-y",
                source_type=SourceType.REVENUE_EVENT,
                effective_date=date(2026, 11, 5),
            )[0],
        }
    if query.get("partner__id__exact") == "Y":
        query = {"partner__id__exact": str(world.partner_y.pk)}
    response = sign_in(world.finance).get(LIST, query, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    shown = {key for key, tx in rows.items() if detail(tx) in response.content.decode()}
    assert shown == expected


def test_the_list_costs_the_same_queries_as_the_ledger_grows(world, sign_in):
    client = sign_in(world.finance)

    def add(count: int, prefix: str) -> None:
        with tenant_context(world.tenant):
            for n in range(count):
                partner = world.partner_x if n % 2 else world.partner_y
                earning(partner=partner, amount=f"{n + 1}.00", key=f"{prefix}{n}")

    add(2, "a")
    client.get(LIST, HTTP_HOST=HOST_A)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST, HTTP_HOST=HOST_A).status_code == 200
    add(30, "b")
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert len(many) == len(few)
    assert len(response.context["cl"].result_list) == 32


def test_the_detail_page_costs_the_same_queries_for_any_entries(world, sign_in, commission):
    client = sign_in(world.finance)
    client.get(detail(commission), HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as first:
        client.get(detail(commission), HTTP_HOST=HOST_A)
    with tenant_context(world.tenant):
        other, _ = earning(partner=world.partner_y, amount="5.00", key="other")
    with CaptureQueriesContext(connection) as second:
        client.get(detail(other), HTTP_HOST=HOST_A)
    assert len(first) == len(second)


# --- manual adjustments ------------------------------------------------------------


def adjustment_data(world, **overrides) -> dict[str, str]:
    return {
        "submission": uuid.uuid4().hex,
        "partner": str(world.partner_x.pk),
        "currency": "CNY",
        "amount": "-80.00",
        "effective_date": "2026-11-20",
        "reason": "Duplicate payment in October",
        **overrides,
    }


def test_finance_posts_an_adjustment_from_the_console(world, sign_in):
    client = sign_in(world.finance)
    listing = client.get(LIST, HTTP_HOST=HOST_A).content.decode()
    assert ADJUST in listing
    form = client.get(ADJUST, HTTP_HOST=HOST_A)
    assert form.status_code == 200
    assert "Xin Partners Sdn Bhd" in form.content.decode()
    response = client.post(ADJUST, adjustment_data(world), HTTP_HOST=HOST_A)
    with tenant_context(world.tenant):
        tx = LedgerTransaction.objects.get()
        assert response.status_code == 302
        assert response["Location"] == detail(tx)
        assert (tx.kind, tx.partner_id, tx.memo, tx.effective_date) == (
            Kind.ADJUSTMENT,
            world.partner_x.pk,
            "Duplicate payment in October",
            date(2026, 11, 20),
        )
        assert AuditEvent.objects.get().action == "ledger.adjustment_posted"


def test_submitting_the_same_adjustment_form_twice_posts_once(world, sign_in):
    client = sign_in(world.finance)
    form = client.get(ADJUST, HTTP_HOST=HOST_A).content.decode()
    token = re.search(r'name="submission" value="([0-9a-f]{32})"', form).group(1)
    data = adjustment_data(world, submission=token)
    first = client.post(ADJUST, data, HTTP_HOST=HOST_A)
    second = client.post(ADJUST, data, HTTP_HOST=HOST_A)
    with tenant_context(world.tenant):
        tx = LedgerTransaction.objects.get()
        assert first["Location"] == second["Location"] == detail(tx)
        assert AuditEvent.objects.filter(action="ledger.adjustment_posted").count() == 1
    # The same form sent back with other figures is refused, not dropped.
    client.cookies["django_language"] = "en"
    changed = client.post(ADJUST, {**data, "amount": "-90.00"}, HTTP_HOST=HOST_A)
    assert changed.status_code == 200
    assert "already used to post another adjustment" in changed.content.decode()
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 1
    # A fresh form is a new adjustment.
    client.post(ADJUST, adjustment_data(world), HTTP_HOST=HOST_A)
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 2


def test_a_forged_submission_token_is_a_form_error(world, sign_in):
    client = sign_in(world.finance)
    response = client.post(
        ADJUST, adjustment_data(world, submission="adjustment:x"), HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    with tenant_context(world.tenant):
        assert not LedgerTransaction.objects.exists()


def test_an_adjustment_without_a_reason_or_amount_is_a_form_error(world, sign_in):
    client = sign_in(world.finance)
    response = client.post(ADJUST, adjustment_data(world, reason="", amount="0"), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.content.decode().count('class="errorlist') >= 2
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 0


def test_an_adjustment_cannot_name_another_tenants_partner(world, sign_in, partner_b):
    client = sign_in(world.finance)
    assert "Bravo Partner" not in client.get(ADJUST, HTTP_HOST=HOST_A).content.decode()
    response = client.post(
        ADJUST, adjustment_data(world, partner=str(partner_b.pk)), HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 0


@pytest.mark.parametrize(("member", "status"), [("tenant_admin", 403), ("manager", 403)])
def test_only_finance_may_adjust(world, sign_in, member, status):
    client = sign_in(getattr(world, member))
    assert client.get(ADJUST, HTTP_HOST=HOST_A).status_code == status
    assert client.post(ADJUST, adjustment_data(world), HTTP_HOST=HOST_A).status_code == status
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 0


def test_the_adjust_button_is_for_finance_only(world, sign_in):
    html = sign_in(world.tenant_admin).get(LIST, HTTP_HOST=HOST_A).content.decode()
    assert ADJUST not in html


def test_partner_users_never_reach_the_adjustment_form(world, sign_in):
    client = sign_in(world.rep_x)
    assert client.get(ADJUST, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(ADJUST, adjustment_data(world), HTTP_HOST=HOST_A).status_code == 403
