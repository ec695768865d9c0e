"""The deal-registration journey in a real Chromium: a partner registers a deal
for a customer another partner already claimed, sees it wait in review as a
conflict, a channel manager resolves it as co-sell in the console, and the
partner reads the decision on their deal page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services
from deals.models import DealRegistration, Decision
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD, MembershipFactory, PartnerFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def journey():
    tenant = TenantFactory(
        slug="journey", name="Journey Cloud", default_language="en", default_currency="MYR"
    )
    with tenant_context(tenant):
        first = PartnerFactory(legal_name="First Movers Sdn Bhd", default_currency="MYR")
        second = PartnerFactory(legal_name="Second Wave Sdn Bhd", default_currency="MYR")
        first_rep = MembershipFactory(role=Role.PARTNER_REP, partner=first)
        second_user = UserFactory(email="rep@secondwave.example", full_name="Siti Aminah")
        MembershipFactory(user=second_user, partner=second, role=Role.PARTNER_REP)
        manager = UserFactory(email="manager@journey.example", full_name="Chen Wei")
        MembershipFactory(user=manager, partner=None, role=Role.CHANNEL_MANAGER)
        claimed = services.register_deal(
            membership=first_rep,
            actor=first_rep.user,
            customer_company="Acme Holdings Sdn Bhd",
            contact_name="Tan Ah Kow",
            contact_email="tan@acme.com.my",
            estimated_close_date=timezone.localdate() + timedelta(days=60),
        )
    assert claimed.stage == DealRegistration.Stage.APPROVED
    return tenant, second_user, manager, claimed


def sign_in(page, base: str, email: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=login], input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()


def test_register_conflict_resolve_in_console_and_read_decision_in_portal(
    live_server, browser, journey
):
    tenant, partner_user, manager, claimed = journey
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://{tenant.slug}.localhost:{port}"
    close_date = (timezone.localdate() + timedelta(days=45)).isoformat()

    # 1. The second partner registers the same customer (a differently written name).
    partner_context = browser.new_context(viewport={"width": 375, "height": 812}, locale="en-US")
    portal = partner_context.new_page()
    portal.set_default_timeout(15_000)
    sign_in(portal, base, partner_user.email, "/deals/new/")
    portal.wait_for_url(f"{base}/deals/new/")
    portal.fill("input[name=customer_company]", "ACME HOLDINGS SDN. BHD.")
    portal.fill("input[name=contact_name]", "Lim Mei Ling")
    portal.fill("input[name=contact_email]", "meiling@acme.com.my")
    portal.fill("input[name=estimated_close_date]", close_date)
    portal.get_by_role("button", name="Register the deal").click()
    portal.wait_for_url(re.compile(r"/deals/DR-[A-Z0-9]+/$"))
    reference = portal.url.rstrip("/").rsplit("/", 1)[1]
    body = portal.locator("body").inner_text()
    assert "may conflict" in body
    # The partner learns that there is a conflict, never with whom.
    assert "First Movers" not in body
    assert portal.evaluate("document.documentElement.scrollWidth") <= 375

    with tenant_context(tenant):
        deal = DealRegistration.objects.get(reference=reference)
        assert deal.stage == DealRegistration.Stage.SUBMITTED and deal.is_conflict
        assert deal.matches.filter(other_deal=claimed).exists()

    # 2. The channel manager finds it in the review queue and marks it co-sell.
    console_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    console = console_context.new_page()
    console.set_default_timeout(15_000)
    sign_in(console, base, manager.email, "/console/deals/dealregistration/")
    console.wait_for_url(re.compile(r"/console/deals/dealregistration/"))
    console.get_by_role("link", name=reference).click()
    console.wait_for_url(re.compile(rf"/console/deals/dealregistration/{deal.pk}/change/"))
    queue_page = console.locator("body").inner_text()
    assert claimed.reference in queue_page  # the match, side by side
    console.get_by_role("link", name="Mark co-sell").click()
    console.wait_for_url(re.compile(r"/co-sell/$"))
    console.fill("input[name=partner_share]", "30")
    console.fill("textarea[name=reason]", "Both partners work this account; the first leads.")
    console.locator("form input[type=submit], form button[type=submit]").last.click()
    console.wait_for_load_state("networkidle")

    with tenant_context(tenant):
        deal.refresh_from_db()
        assert deal.stage == DealRegistration.Stage.APPROVED
        decision = deal.decisions.get()
        assert decision.outcome == Decision.Outcome.CO_SELL
        assert str(decision.partner_share) == "30.00"

    # 3. Back in the portal, the partner reads the decision and its reason.
    portal.goto(f"{base}/deals/{reference}/")
    body = portal.locator("body").inner_text()
    assert "Co-sell with a commission split" in body
    assert "Both partners work this account; the first leads." in body
    assert "30%" in body
    assert "First Movers" not in body

    partner_context.close()
    console_context.close()
