"""A partner answers a lead on a 375 px phone screen, in a real Chromium: the list
and the lead page fit the screen, accepting and converting lead to the deal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from deals.leads import build_lead, lead_routing
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD, MembershipFactory, PartnerFactory, TenantFactory, UserFactory
from tests.leads_web.conftest import offer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def partner_rep():
    tenant = TenantFactory(slug="awan", name="Awan Teknologi", default_language="en")
    with tenant_context(tenant):
        routing = lead_routing()
        routing.route_on_arrival = False
        routing.save()
        partner = PartnerFactory(legal_name="Kenanga Solutions Sdn Bhd", country="MY")
        user = UserFactory(email="rep@kenanga.example", full_name="Nur Aisyah")
        MembershipFactory(user=user, partner=partner, role=Role.PARTNER_REP)
        lead = build_lead(
            company="Syarikat Perabot Antarabangsa Berhad",
            contact_name="Ahmad bin Abdullah",
            contact_email="ahmad.abdullah@perabot-antarabangsa.example",
            country="MY",
            region="Wilayah Persekutuan Kuala Lumpur",
            industry="Furniture manufacturing",
        )
        lead.save()
    offer(tenant, lead, partner, due_in=timedelta(hours=6))
    return tenant, user, lead


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 375


def test_partner_answers_and_converts_a_lead_on_a_phone(live_server, page, partner_rep):
    tenant, user, lead = partner_rep
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://{tenant.slug}.localhost:{port}"

    page.goto(f"{base}/accounts/login/?next=/leads/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(f"{base}/leads/")

    body = page.locator("body").inner_text()
    assert "Syarikat Perabot Antarabangsa Berhad" in body
    assert "Waiting for your answer" in body
    assert fits(page)

    page.get_by_role("link", name="Syarikat Perabot Antarabangsa Berhad").click()
    page.wait_for_url(f"{base}/leads/{lead.reference}/")
    assert "ahmad.abdullah@perabot-antarabangsa.example" in page.locator("body").inner_text()
    assert fits(page)

    page.get_by_role("button", name="Accept the lead").click()
    page.wait_for_url(f"{base}/leads/{lead.reference}/")
    assert "You accepted lead" in page.locator(".messages").inner_text()
    assert fits(page)

    page.get_by_role("button", name="Convert to a deal registration").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/deals/DR-[^/]+/"))
    assert "Syarikat Perabot Antarabangsa Berhad" in page.locator("h1").inner_text()
    assert (
        f"Lead {lead.reference} is now deal registration" in page.locator(".messages").inner_text()
    )
