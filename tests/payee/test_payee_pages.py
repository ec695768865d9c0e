"""Payee pages: the partner admin's portal page and finance's console pages.

The full account number and tax id appear on no page but the audited reveal;
partner reps, staff other than finance, other partners and other tenants are
refused; list pages cost the same number of queries as payees grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partners.models import PartnerPayee
from partners.payee import save_payee_details
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory
from tests.payee.conftest import ACCOUNT, ACCOUNT_COMPACT, HOST_A, TAX_ID, full_details

pytestmark = pytest.mark.django_db
PORTAL = "/payee/"


def login(client, member):
    client.force_login(member.user)
    client.cookies["django_language"] = "en"  # tenant A speaks Chinese; the assertions read English
    return client


def save(member, partner, **data):
    with tenant_context(member.tenant):
        return save_payee_details(partner=partner, data=data, actor=member.user, membership=member)


def assert_never_in_full(html: str) -> None:
    for secret in (ACCOUNT, ACCOUNT_COMPACT, TAX_ID):
        assert secret not in html


def console(name: str, *args) -> str:
    return reverse(f"admin:partners_partnerpayee_{name}", args=args)


# --- portal: the partner admin's own page -------------------------------------------


def test_the_portal_url_is_mounted_at_payee():
    assert reverse("payee:details") == PORTAL


def test_a_partner_admin_adds_details_and_then_sees_them_masked(client, payee_world):
    login(client, payee_world.admin_x)
    empty = client.get(PORTAL, HTTP_HOST=HOST_A)
    assert empty.status_code == 200
    assert "No payee or tax details are on file." in empty.content.decode()
    assert empty.context["form"].initial == {
        "legal_name": "Qiming Information Technology Co Ltd",
        "payout_currency": "MYR",
        "bank_country": "CN",
        "tax_country": "CN",
    }
    response = client.post(PORTAL, full_details(), HTTP_HOST=HOST_A, follow=True)
    assert response.redirect_chain == [(PORTAL, 302)]
    html = response.content.decode()
    assert "•••• 9012" in html and "•••• XQ7K" in html
    assert "Finance has not recorded the partner&#x27;s tax form." in html
    assert_never_in_full(html)
    with tenant_context(payee_world.tenant_a):
        payee = PartnerPayee.objects.get()
    assert (payee.partner_id, payee.updated_by_id) == (
        payee_world.partner_x.pk,
        payee_world.admin_x.user.pk,
    )


def test_a_refused_form_does_not_echo_the_account_number(client, payee_world):
    login(client, payee_world.admin_x)
    response = client.post(PORTAL, full_details(swift_bic="nope"), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["form"].errors["swift_bic"]
    assert_never_in_full(response.content.decode())
    with tenant_context(payee_world.tenant_a):
        assert not PartnerPayee.objects.exists()


def test_the_portal_never_lets_a_partner_admin_set_the_tax_form(client, payee_world):
    login(client, payee_world.admin_x)
    client.post(PORTAL, full_details(tax_form_status="w9"), HTTP_HOST=HOST_A)
    with tenant_context(payee_world.tenant_a):
        assert PartnerPayee.objects.get().tax_form_status == PartnerPayee.TaxForm.MISSING


def test_each_partner_admin_sees_only_their_own_organisation(client, payee_world):
    save(payee_world.admin_x, payee_world.partner_x, **full_details())
    login(client, payee_world.admin_y)
    html = client.get(PORTAL, HTTP_HOST=HOST_A).content.decode()
    assert "Yonder Systems Ltd" in html
    assert "•••• 9012" not in html and "Bank of China" not in html
    client.post(PORTAL, full_details(legal_name="Yonder Systems Ltd"), HTTP_HOST=HOST_A)
    with tenant_context(payee_world.tenant_a):
        by_partner = dict(PartnerPayee.objects.values_list("partner_id", "legal_name"))
    assert by_partner == {
        payee_world.partner_x.pk: "Qiming Information Technology Co Ltd",
        payee_world.partner_y.pk: "Yonder Systems Ltd",
    }


@pytest.mark.parametrize("who", ["rep_x", "finance", "manager", "tenant_admin"])
def test_only_partner_admins_have_a_portal_payee_page(client, payee_world, who):
    login(client, getattr(payee_world, who))
    assert client.get(PORTAL, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(PORTAL, full_details(), HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(payee_world.tenant_a):
        assert not PartnerPayee.objects.exists()


def test_another_tenants_partner_admin_gets_nothing_here(client, payee_world):
    login(client, payee_world.admin_z)
    assert client.post(PORTAL, full_details(), HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(payee_world.tenant_a):
        assert not PartnerPayee.objects.exists()


def test_the_portal_page_does_not_get_slower_with_more_payees(
    client, payee_world, django_assert_max_num_queries
):
    save(payee_world.admin_x, payee_world.partner_x, **full_details())
    login(client, payee_world.admin_x)
    client.get(PORTAL, HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as baseline:
        client.get(PORTAL, HTTP_HOST=HOST_A)
    with tenant_context(payee_world.tenant_a):
        for _ in range(5):
            partner = PartnerFactory()
            save(payee_world.finance, partner, **full_details(legal_name=partner.legal_name))
    with django_assert_max_num_queries(len(baseline.captured_queries)):
        assert client.get(PORTAL, HTTP_HOST=HOST_A).status_code == 200


# --- console: finance -----------------------------------------------------------------


@pytest.fixture
def payee_x(payee_world):
    return save(payee_world.admin_x, payee_world.partner_x, **full_details())


def test_finance_lists_payees_masked(client, payee_world, payee_x):
    login(client, payee_world.finance)
    response = client.get(console("changelist"), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    html = response.content.decode()
    assert "•••• 9012" in html and "•••• XQ7K" in html
    assert_never_in_full(html)


def test_finance_edits_details_and_records_the_tax_form(client, payee_world, payee_x):
    login(client, payee_world.finance)
    page = client.get(console("change", payee_x.pk), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert_never_in_full(page.content.decode())
    assert console("reveal", payee_x.pk) in page.content.decode()
    data = {**full_details(account_number="", tax_id=""), "tax_form_status": "w8bene"}
    response = client.post(console("change", payee_x.pk), data, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(payee_world.tenant_a):
        payee = PartnerPayee.objects.get()
        assert payee.tax_form_status == "w8bene"
        assert payee.masked_account_number == "•••• 9012"  # blank kept it
        event = AuditEvent.objects.filter(action="partner_payee.updated").get()
    assert event.data["fields"] == ["tax_form_status"]
    assert event.actor_id == payee_world.finance.user.pk
    after = client.get(console("change", payee_x.pk), HTTP_HOST=HOST_A).content.decode()
    assert "Everything a payout needs is on file." in after


def test_finance_adds_details_for_a_partner(client, payee_world):
    login(client, payee_world.finance)
    data = {
        **full_details(legal_name="Yonder Systems Ltd"),
        "partner": payee_world.partner_y.pk,
        "tax_form_status": "missing",
    }
    response = client.post(console("add"), data, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(payee_world.tenant_a):
        assert PartnerPayee.objects.get().partner_id == payee_world.partner_y.pk


def test_reveal_shows_the_full_values_only_after_an_audited_post(client, payee_world, payee_x):
    login(client, payee_world.finance)
    confirm = client.get(console("reveal", payee_x.pk), HTTP_HOST=HOST_A)
    assert confirm.status_code == 200
    assert_never_in_full(confirm.content.decode())
    with tenant_context(payee_world.tenant_a):
        assert not AuditEvent.objects.filter(action="partner_payee.revealed").exists()
    revealed = client.post(console("reveal", payee_x.pk), {}, HTTP_HOST=HOST_A)
    assert revealed.status_code == 200
    assert "no-store" in revealed["Cache-Control"]
    html = revealed.content.decode()
    assert ACCOUNT_COMPACT in html and TAX_ID in html
    with tenant_context(payee_world.tenant_a):
        event = AuditEvent.objects.get(action="partner_payee.revealed")
    assert (event.actor_id, event.object_id) == (payee_world.finance.user.pk, str(payee_x.pk))


@pytest.mark.parametrize("who", ["tenant_admin", "manager"])
def test_staff_other_than_finance_are_refused_in_the_console(client, payee_world, payee_x, who):
    login(client, getattr(payee_world, who))
    for url in (console("changelist"), console("add"), console("change", payee_x.pk)):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(console("reveal", payee_x.pk), {}, HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(payee_world.tenant_a):
        assert not AuditEvent.objects.filter(action="partner_payee.revealed").exists()


@pytest.mark.parametrize("who", ["admin_x", "rep_x"])
def test_partner_users_never_reach_the_console_page(client, payee_world, payee_x, who):
    login(client, getattr(payee_world, who))
    for url in (
        console("changelist"),
        console("change", payee_x.pk),
        console("reveal", payee_x.pk),
    ):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403


def test_another_tenants_payee_is_not_found(client, payee_world, payee_x):
    payee_z = save(payee_world.finance_b, payee_world.partner_z, **full_details())
    login(client, payee_world.finance)
    for name in ("change", "reveal"):
        assert client.get(console(name, payee_z.pk), HTTP_HOST=HOST_A).status_code == 404
    assert client.post(console("reveal", payee_z.pk), {}, HTTP_HOST=HOST_A).status_code == 404
    listing = client.get(console("changelist"), HTTP_HOST=HOST_A)
    assert [p.pk for p in listing.context["cl"].result_list] == [payee_x.pk]


def test_the_console_list_query_count_does_not_grow_with_payees(
    client, payee_world, payee_x, django_assert_max_num_queries
):
    login(client, payee_world.finance)
    client.get(console("changelist"), HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as baseline:
        client.get(console("changelist"), HTTP_HOST=HOST_A)
    with tenant_context(payee_world.tenant_a):
        for _ in range(8):
            partner = PartnerFactory()
            save(payee_world.finance, partner, **full_details(legal_name=partner.legal_name))
    with django_assert_max_num_queries(len(baseline.captured_queries)):
        response = client.get(console("changelist"), HTTP_HOST=HOST_A)
    assert len(response.context["cl"].result_list) == 9
