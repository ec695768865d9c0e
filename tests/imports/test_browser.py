"""The import journey in a real Chromium on a phone-sized screen: upload a
file with one bad row, read the preview, import the valid rows only."""

from __future__ import annotations

import re

import pytest

from deals.models import Lead
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tests.imports.conftest import LEAD_HEADER, csv_bytes, lead_row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_upload_preview_and_import_on_a_phone(live_server, browser, tmp_path):  # noqa: F811
    tenant = TenantFactory(slug="imports", name="Import Cloud", default_language="en")
    with tenant_context(tenant):
        user = UserFactory(email="manager@imports.example")
        MembershipFactory(user=user, partner=None, role=Role.CHANNEL_MANAGER)
    long_name = "Extremely Long Company Name Holdings International Sdn Bhd " * 3
    rows = [
        [*LEAD_HEADER, "notes"],
        [*lead_row(1), long_name],
        [*lead_row(2, contact_email="not-an-email"), ""],
        [*lead_row(3), ""],
    ]
    file = tmp_path / "leads.csv"
    file.write_bytes(csv_bytes(rows, bom=True))
    base = f"http://{tenant.slug}.localhost:{live_server.url.rsplit(':', 1)[1]}"

    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/console/deals/importbatch/add/")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=login], input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/importbatch/add/$"))
    assert fits_the_screen(page)

    page.select_option("select[name=kind]", "leads")
    page.set_input_files("input[name=file]", str(file))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r"/importbatch/\d+/change/$"))
    body = page.locator("#content-main").inner_text()
    assert "1 row has problems" in body
    assert "Enter a valid email address." in body
    assert page.get_by_role("button", name="Import all rows").is_disabled()
    assert fits_the_screen(page)  # wide tables scroll inside their box

    page.get_by_role("button", name="Import the 2 valid rows only").click()
    page.wait_for_url(re.compile(r"/importbatch/\d+/change/$"))
    assert "2 rows of leads.csv imported." in page.locator("body").inner_text()
    assert "This file is imported." in page.locator("#content-main").inner_text()
    assert fits_the_screen(page)
    context.close()
    with tenant_context(tenant):
        assert sorted(Lead.objects.values_list("company", flat=True)) == [
            "Company 1 Sdn Bhd",
            "Company 3 Sdn Bhd",
        ]
