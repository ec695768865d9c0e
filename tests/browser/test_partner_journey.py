"""A partner signs in on their vendor's host, sees the portal in the vendor's
language (Chinese), then switches language — in a real Chromium."""

from __future__ import annotations

import re

import pytest

from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD, MembershipFactory, PartnerFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def partner_admin():
    tenant = TenantFactory(
        slug="yunfan", name="云帆软件", default_language="zh-hans", default_currency="CNY"
    )
    with tenant_context(tenant):
        partner = PartnerFactory(legal_name="上海启明信息技术有限公司", country="CN")
        user = UserFactory(email="partner.admin@qiming.example", full_name="李明")
        MembershipFactory(user=user, partner=partner, role=Role.PARTNER_ADMIN)
    return tenant, user, partner


def test_partner_signs_in_sees_chinese_home_and_switches_language(live_server, page, partner_admin):
    tenant, user, partner = partner_admin
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://{tenant.slug}.localhost:{port}"

    page.goto(f"{base}/")
    # Not signed in: the portal sends the visitor to the login page, in Chinese.
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()

    page.wait_for_url(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    body = page.locator("body").inner_text()
    assert partner.legal_name in body
    assert "首页" in body  # "Home" in the zh-hans catalogue
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    switcher = page.locator("form.lang-switcher")
    switcher.locator("select[name=language]").select_option("ms")
    switcher.locator("button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "ms"
    assert "Laman utama" in page.locator("body").inner_text()  # "Home" in Malay
