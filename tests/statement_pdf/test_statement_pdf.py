"""Statement PDFs: real text and CJK glyphs, language, totals, downloads, permissions,
cross-partner and cross-tenant 404s, and a query count independent of line count."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from incentives import payouts
from incentives.models import Statement
from incentives.statement_pdf import (
    pdf_filename,
    render_statement_html,
    render_statement_pdf,
    statement_for_pdf,
    statement_language,
)
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory
from tests.statement_pdf.conftest import (
    CHINESE_CUSTOMER,
    CHINESE_NAME,
    DEAL_REFERENCE,
    HOST_A,
    OCTOBER,
    close,
    earn,
    give_payee,
)

pytestmark = pytest.mark.django_db


def partner_url(statement: Statement) -> str:
    return reverse("earnings:statement_pdf", args=[statement.pk])


def console_url(statement: Statement) -> str:
    return reverse("admin:incentives_statement_pdf", args=[statement.pk])


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    # Drop layout whitespace so words wrapped across table cells still match.
    return "".join("".join(page.extract_text().split()) for page in reader.pages)


def fonts_of(pdf: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.get_object().values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def compact(value: str) -> str:
    return "".join(value.split())


def draw(world, statement: Statement, language: str) -> bytes:
    with tenant_context(world.tenant):
        loaded = statement_for_pdf(pk=statement.pk)
        return render_statement_pdf(statement=loaded, language=language)


def test_chinese_statement_embeds_cjk_glyphs_and_totals(pdf_world):
    pdf = draw(pdf_world, pdf_world.chinese_statement, "zh-hans")
    assert pdf.startswith(b"%PDF")
    text = text_of(pdf)
    assert CHINESE_NAME in text
    assert "结算单" in text  # "statement"
    assert "合作伙伴" in text  # "Partner"
    assert "佣金" in text and "追回" in text  # the kinds Commission and Clawback
    assert "计算基数" in text  # the explanation's "Base"
    assert DEAL_REFERENCE in text and CHINESE_CUSTOMER in text  # the line's deal
    assert "应付" in text and "结转" in text  # Payable, Carried forward
    # earned 2400, clawed back -400, payable 2000 CNY (zh-hans numbers are ungrouped)
    for amount in ("已赚取2400.00CNY", "已追回-400.00CNY", "应付2000.00CNY"):
        assert amount in text
    assert any("CJK" in name for name in fonts_of(pdf)), fonts_of(pdf)


def test_english_statement_shows_conversion_rate_and_date(pdf_world):
    pdf = draw(pdf_world, pdf_world.yoyo_statement, "en")
    text = text_of(pdf)
    assert "Statement" in text
    assert "YoyoResellersInc" in text
    assert "结算单" not in text
    assert "Commission" in text and "Carriedforward" in text and "Payable" in text
    # 1,000.00 CNY at 0.14 (rate of 1 September) = 140.00 USD
    assert "1,000.00CNY" in text
    assert "0.14" in text
    assert "09/01/2026" in text
    assert "140.00" in text and "USD" in text


def test_html_is_tenant_branded(pdf_world):
    with tenant_context(pdf_world.tenant):
        pdf_world.tenant.brand_color = "#c0ffee"
        pdf_world.tenant.save(update_fields=["brand_color"])
        statement = statement_for_pdf(pk=pdf_world.chinese_statement.pk)
        html = render_statement_html(statement=statement, language="en")
    assert "color: #c0ffee" in html
    assert pdf_world.tenant.name in html


def test_statement_language_is_the_tenants(pdf_world):
    with tenant_context(pdf_world.tenant):
        assert statement_language() == "zh-hans"


def test_filename_is_ascii(pdf_world):
    with tenant_context(pdf_world.tenant):
        chinese = statement_for_pdf(pk=pdf_world.chinese_statement.pk)
        yoyo = statement_for_pdf(pk=pdf_world.yoyo_statement.pk)
    assert pdf_filename(chinese) == f"statement-2026-09-partner-{pdf_world.chinese.pk}.pdf"
    assert pdf_filename(yoyo) == "statement-2026-09-yoyo-resellers-inc.pdf"


def test_paid_statement_shows_payment_reference(pdf_world):
    with tenant_context(pdf_world.tenant):
        payouts.mark_paid(
            statement=pdf_world.chinese_statement,
            reference="WIRE-20261010",
            paid_on=date(2026, 10, 10),
            membership=pdf_world.finance,
            actor=pdf_world.finance.user,
        )
    text = text_of(draw(pdf_world, pdf_world.chinese_statement, "en"))
    assert "Paid" in text and "WIRE-20261010" in text and "paidonOct.10,2026" in text


def test_held_statement_shows_status_and_reason(pdf_world):
    with tenant_context(pdf_world.tenant):
        held = PartnerFactory(legal_name="Held Partner Ltd", default_currency="CNY")
        give_payee(held, "CNY")
        payouts.hold(
            partner=held,
            reason="Audit pending",
            membership=pdf_world.finance,
            actor=pdf_world.finance.user,
        )
        earn(held, "50.00", date(2026, 10, 3))
        close(OCTOBER, pdf_world.finance)
        statement = Statement.objects.get(partner=held)
    assert statement.status == Statement.Status.HELD
    text = text_of(draw(pdf_world, statement, "en"))
    assert "Held" in text and "Auditpending" in text


# --- downloads and permissions ------------------------------------------------------------


def test_partner_downloads_own_statement(pdf_world, sign_in):
    client = sign_in(pdf_world.rep_chinese, "zh-hans")
    response = client.get(partner_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="statement-2026-09-partner-{pdf_world.chinese.pk}.pdf"'
    )
    assert response.content.startswith(b"%PDF")
    assert "结算单" in text_of(response.content)


def test_partner_may_ask_for_another_language(pdf_world, sign_in):
    client = sign_in(pdf_world.rep_chinese, "zh-hans")
    response = client.get(
        partner_url(pdf_world.chinese_statement), {"language": "en"}, HTTP_HOST=HOST_A
    )
    text = text_of(response.content)
    assert "Statement" in text and "结算单" not in text


def test_other_partners_statement_is_404(pdf_world, sign_in):
    client = sign_in(pdf_world.rep_yoyo)
    response = client.get(partner_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 404


def test_other_tenants_statement_is_404(pdf_world, sign_in):
    client = sign_in(pdf_world.rep_chinese)
    assert (
        client.get(partner_url(pdf_world.other_tenant_statement), HTTP_HOST=HOST_A).status_code
        == 404
    )
    client = sign_in(pdf_world.finance)
    assert (
        client.get(console_url(pdf_world.other_tenant_statement), HTTP_HOST=HOST_A).status_code
        == 404
    )


def test_staff_cannot_use_the_partner_download(pdf_world, sign_in):
    client = sign_in(pdf_world.finance)
    response = client.get(partner_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 403


@pytest.mark.parametrize("who", ["finance", "tenant_admin"])
def test_money_readers_download_any_statement_from_console(pdf_world, sign_in, who):
    client = sign_in(getattr(pdf_world, who))
    response = client.get(console_url(pdf_world.yoyo_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        'attachment; filename="statement-2026-09-yoyo-resellers-inc.pdf"'
    )
    # Drawn in the tenant's (the partner users') language by default.
    assert "结算单" in text_of(response.content)


@pytest.mark.parametrize("who", ["manager", "rep_chinese"])
def test_others_get_403_from_console_download(pdf_world, sign_in, who):
    client = sign_in(getattr(pdf_world, who))
    response = client.get(console_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 403


def test_anonymous_is_sent_to_sign_in(pdf_world, client):
    response = client.get(partner_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    response = client.get(console_url(pdf_world.chinese_statement), HTTP_HOST=HOST_A)
    assert response.status_code == 302


def test_missing_statement_is_404(pdf_world, sign_in):
    client = sign_in(pdf_world.finance)
    response = client.get(
        reverse("admin:incentives_statement_pdf", args=[999999]), HTTP_HOST=HOST_A
    )
    assert response.status_code == 404


# --- queries ----------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_lines(pdf_world, sign_in):
    with tenant_context(pdf_world.tenant):
        small = PartnerFactory(legal_name="Small Co", default_currency="CNY")
        large = PartnerFactory(legal_name="Large Co", default_currency="CNY")
        give_payee(small, "CNY")
        give_payee(large, "CNY")
        for _ in range(2):
            earn(small, "10.00", date(2026, 10, 3))
        for _ in range(20):
            earn(large, "10.00", date(2026, 10, 3))
        close(OCTOBER, pdf_world.finance)
        small_statement = Statement.objects.get(partner=small)
        large_statement = Statement.objects.get(partner=large)
    client = sign_in(pdf_world.finance)
    counts = []
    for statement in (small_statement, large_statement):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(console_url(statement), HTTP_HOST=HOST_A)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with tenant_context(pdf_world.tenant):
        assert len(statement_for_pdf(pk=small_statement.pk).lines.all()) == 2
        assert len(statement_for_pdf(pk=large_statement.pk).lines.all()) == 20
