"""Console exports and payment results import: the role matrix, cross-tenant
404s, open periods refused with a message, the upload → preview → confirm
flow, what the period and statement pages show, and constant query counts."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incentives import payouts
from incentives.models import PayoutPeriod, Statement
from incentives.payouts import exports
from prm.audit.models import AuditEvent
from prm.ledger.models import Kind, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payout_exports.conftest import HOST_A, SEP_15, close, read_csv, results_csv
from tests.payouts.conftest import SEPTEMBER, earn, give_payee, period

pytestmark = pytest.mark.django_db

EXPORTS = ("statements_zip", "payout_csv", "payout_xlsx", "journal_csv")


def url(name: str, pk: int) -> str:
    return reverse(f"admin:incentives_payoutperiod_{name}", args=[pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# who gets what: finance everything; tenant admins read money (ZIP, journal)
# but not bank details (payout file) and import nothing; the rest nothing.
MATRIX = {
    "finance": {
        "statements_zip": 200,
        "payout_csv": 200,
        "payout_xlsx": 200,
        "journal_csv": 200,
        "payment_results": 200,
    },
    "tenant_admin": {
        "statements_zip": 200,
        "payout_csv": 403,
        "payout_xlsx": 403,
        "journal_csv": 200,
        "payment_results": 403,
    },
    "manager": dict.fromkeys([*EXPORTS, "payment_results"], 403),
    "partner_admin": dict.fromkeys([*EXPORTS, "payment_results"], 403),
    "partner_rep": dict.fromkeys([*EXPORTS, "payment_results"], 403),
}


@pytest.mark.parametrize("member", list(MATRIX))
def test_the_role_matrix_of_exports_and_import(exports_world, sign_in, member):
    world = exports_world
    client = sign_in(getattr(world, member))
    for name, status in MATRIX[member].items():
        response = client.get(url(name, world.period.pk), HTTP_HOST=HOST_A)
        assert response.status_code == status, (member, name)
    response = client.post(url("payment_results", world.period.pk), {}, HTTP_HOST=HOST_A)
    assert response.status_code == MATRIX[member]["payment_results"]
    with tenant_context(world.tenant):
        reveals = AuditEvent.objects.filter(action="partner_payee.revealed").count()
    assert reveals == (6 if member == "finance" else 0)  # 3 payees, CSV and XLSX


def test_the_downloads_are_the_exports(exports_world, sign_in):
    world = exports_world
    client = sign_in(world.finance)
    response = client.get(url("statements_zip", world.period.pk), HTTP_HOST=HOST_A)
    assert response["Content-Type"] == "application/zip"
    assert 'filename="statements-2026-09.zip"' in response["Content-Disposition"]
    assert len(zipfile.ZipFile(io.BytesIO(body(response))).namelist()) == 6
    response = client.get(url("payout_csv", world.period.pk), HTTP_HOST=HOST_A)
    assert 'filename="payouts-2026-09.csv"' in response["Content-Disposition"]
    rows = read_csv(body(response))
    assert rows[0] == list(exports.PAYOUT_COLUMNS)
    assert sorted(row[9] + " " + row[10] for row in rows[1:]) == [
        "165.10 USD",
        "2400.55 CNY",
        "300.00 CNY",
    ]
    response = client.get(url("payout_xlsx", world.period.pk), HTTP_HOST=HOST_A)
    book = openpyxl.load_workbook(io.BytesIO(body(response)))
    assert book["payouts"].max_row == 4
    response = client.get(url("journal_csv", world.period.pk), HTTP_HOST=HOST_A)
    rows = read_csv(body(response))
    assert [row[3:] for row in rows if row[0] == "total"] == [
        ["CNY", "", "", "5010.55", "5010.55"],
        ["USD", "", "", "165.10", "165.10"],
    ]


def test_an_open_period_refuses_exports_and_import_with_a_message(exports_world, sign_in):
    world = exports_world
    client = sign_in(world.finance)
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
    for name in (*EXPORTS, "payment_results"):
        response = client.get(url(name, following.pk), HTTP_HOST=HOST_A)
        assert response.status_code == 302, name
        assert response["Location"] == url("change", following.pk)
        assert "still open" in str(list(get_messages(response.wsgi_request))[-1])
    page = client.get(url("change", following.pk), HTTP_HOST=HOST_A).content.decode()
    assert url("payout_csv", following.pk) not in page


def test_another_tenants_period_is_404(exports_world, sign_in, tenant_b):
    with tenant_context(tenant_b):
        other = PartnerFactory(default_currency="MYR")
        give_payee(other, "MYR")
        sep_b = period(SEPTEMBER)
        earn(other, "10.00", SEP_15, currency="MYR")
        finance_b = MembershipFactory(role="finance", partner=None)
        sep_b = close(sep_b, finance_b)
    client = sign_in(exports_world.finance)
    for name in (*EXPORTS, "payment_results", "change"):
        assert client.get(url(name, sep_b.pk), HTTP_HOST=HOST_A).status_code == 404, name
    response = client.post(
        url("payment_results", sep_b.pk),
        {"file": SimpleUploadedFile("r.csv", results_csv("PO-202609-000001,2026-10-05,W,paid,,,"))},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 404


def test_the_period_page_offers_exports_by_role_and_shows_references(exports_world, sign_in):
    world = exports_world
    acme = world.statement(world.acme)
    page = sign_in(world.finance).get(url("change", world.period.pk), HTTP_HOST=HOST_A)
    html = page.content.decode()
    for name in (*EXPORTS, "payment_results"):
        assert url(name, world.period.pk) in html, name
    assert exports.payment_reference(acme) in html
    assert html.count("Paid by the file") == 3
    assert "No payee or tax details are on file." in html
    assert "Nothing payable: the balance is carried forward." in html
    assert '2,700.55 CNY</span> · <span class="payout-total">165.10 USD' in html
    html = sign_in(world.tenant_admin).get(url("change", world.period.pk), HTTP_HOST=HOST_A)
    html = html.content.decode()
    assert url("statements_zip", world.period.pk) in html
    assert url("journal_csv", world.period.pk) in html
    assert url("payout_csv", world.period.pk) not in html
    assert url("payment_results", world.period.pk) not in html


def upload(client, world, data: bytes):
    return client.post(
        url("payment_results", world.period.pk),
        {"file": SimpleUploadedFile("results.csv", data, content_type="text/csv")},
        HTTP_HOST=HOST_A,
    )


def test_upload_preview_confirm_marks_statements_paid(exports_world, sign_in):
    world = exports_world
    client = sign_in(world.finance)
    acme, chinese = world.statement(world.acme), world.statement(world.chinese)
    acme_reference = exports.payment_reference(acme)
    data = results_csv(
        f"{acme_reference},2026-10-05,WIRE-1,paid,2400.55,CNY,",
        f"{exports.payment_reference(chinese)},2026-10-05,,failed,,,Account closed",
    )
    assert client.get(url("payment_results", world.period.pk), HTTP_HOST=HOST_A).status_code == 200
    preview = upload(client, world, data)
    assert preview.status_code == 200
    payload = preview.context["payload"]
    assert payload and 'id="confirm-results"' in preview.content.decode()
    with tenant_context(world.tenant):
        assert not LedgerTransaction.objects.filter(kind=Kind.PAYMENT).exists()
    done = client.post(
        url("payment_results", world.period.pk), {"payload": payload}, HTTP_HOST=HOST_A
    )
    html = done.content.decode()
    assert done.status_code == 200
    assert html.count('class="paid-row"') == 1 and html.count('class="failed-row"') == 1
    assert "Account closed" in html
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.filter(kind=Kind.PAYMENT).count() == 1
    with tenant_context(world.tenant):
        acme.refresh_from_db()
    assert (acme.status, acme.payment_reference) == (Statement.Status.PAID, "WIRE-1")
    # The statement pages show it: paid with the reference; the failure is listed.
    html = client.get(
        reverse("admin:incentives_statement_change", args=[acme.pk]), HTTP_HOST=HOST_A
    ).content.decode()
    assert "Paid on 10/05/2026, reference WIRE-1." in html
    assert f"Payment reference in the payout file: {acme_reference}" in html
    html = client.get(
        reverse("admin:incentives_statement_change", args=[chinese.pk]), HTTP_HOST=HOST_A
    ).content.decode()
    assert 'id="payment-failures"' in html and "Account closed" in html
    # Confirming the same preview again imports nothing more.
    again = client.post(
        url("payment_results", world.period.pk), {"payload": payload}, HTTP_HOST=HOST_A
    )
    assert again.status_code == 200
    assert "already paid" in again.content.decode()
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.filter(kind=Kind.PAYMENT).count() == 1


def test_a_file_with_errors_shows_them_per_row_and_cannot_be_confirmed(exports_world, sign_in):
    world = exports_world
    client = sign_in(world.finance)
    acme = world.statement(world.acme)
    data = results_csv(
        f"{exports.payment_reference(acme)},2026-10-05,WIRE-1,paid,,,",
        "PO-202609-999999,2026-10-05,WIRE-2,paid,,,",
    )
    preview = upload(client, world, data)
    html = preview.content.decode()
    assert preview.context["payload"] == ""
    assert 'id="confirm-results"' not in html
    assert "No statement of this period has this payment reference." in html
    assert 'class="import-row--invalid"' in html
    with tenant_context(world.tenant):
        assert not LedgerTransaction.objects.filter(kind=Kind.PAYMENT).exists()


def test_a_file_level_problem_is_a_form_error(exports_world, sign_in):
    preview = upload(sign_in(exports_world.finance), exports_world, b"payment_reference\nx\n")
    assert preview.status_code == 200
    assert "Required columns are missing: paid_on, status." in preview.content.decode()


def test_an_altered_payload_is_refused(exports_world, sign_in):
    world = exports_world
    client = sign_in(world.finance)
    acme = world.statement(world.acme)
    preview = upload(
        client, world, results_csv(f"{exports.payment_reference(acme)},2026-10-05,W,paid,,,")
    )
    payload = preview.context["payload"]
    response = client.post(
        url("payment_results", world.period.pk), {"payload": payload[:-2] + "xx"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302
    with tenant_context(world.tenant):
        assert not LedgerTransaction.objects.filter(kind=Kind.PAYMENT).exists()


def _grow(world, partners: int) -> None:
    """Another closed period with ``partners`` payable statements."""
    with tenant_context(world.tenant):
        october = PayoutPeriod.objects.get(status="open")
        for _ in range(partners):
            partner = PartnerFactory(default_currency="CNY")
            give_payee(partner)
            earn(partner, "10.00", date(2026, 10, 3))
        return close(october, world.finance)


def _count(client, page) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page, HTTP_HOST=HOST_A)
        assert response.status_code == 200
        body(response)
    return len(captured)


def test_the_period_page_and_the_payout_csv_cost_the_same_queries_as_statements_grow(
    exports_world, sign_in
):
    world = exports_world
    client = sign_in(world.finance)
    small = _grow(world, 2)
    page, csv_ = (
        _count(client, url("change", small.pk)),
        _count(client, url("payout_csv", small.pk)),
    )
    journal = _count(client, url("journal_csv", small.pk))
    with tenant_context(world.tenant):
        november = PayoutPeriod.objects.get(status="open")
        for _ in range(9):
            partner = PartnerFactory(default_currency="CNY")
            give_payee(partner)
            earn(partner, "10.00", date(2026, 11, 3))
        large = payouts.close_period(
            period=november,
            membership=world.finance,
            actor=world.finance.user,
            today=date(2026, 12, 5),
        )
        assert Statement.objects.filter(period=large).count() > 9
    assert _count(client, url("change", large.pk)) == page
    assert _count(client, url("payout_csv", large.pk)) == csv_
    assert _count(client, url("journal_csv", large.pk)) == journal
